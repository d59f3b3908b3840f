"""nm-cloud-setup: configure cloud VMs' secondary IPv4 addresses from instance metadata."""

__version__ = "0.1.0"
