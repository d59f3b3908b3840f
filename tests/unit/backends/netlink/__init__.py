"""nm_cloud_setup/backends/netlink/: what the netlink backend owns and records."""
