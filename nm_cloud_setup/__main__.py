from nm_cloud_setup.cli import main

if __name__ == "__main__":
    main()
