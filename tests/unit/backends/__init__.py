"""nm_cloud_setup/backends/: what the backends decide, without a daemon or a kernel."""
