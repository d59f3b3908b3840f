from nm_cloud_setup.service.cli import main

main()
