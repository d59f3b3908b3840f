"""nm_cloud_setup/backends/nm/: NetworkManager's settings, the profiles made here, the record."""
