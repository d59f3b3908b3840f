"""nm_cloud_setup/emulator/: the emulated metadata services."""
