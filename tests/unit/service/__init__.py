"""nm_cloud_setup/service/: the metadata service without namespaces."""
