"""nm_cloud_setup/providers/: the clouds' parsers and providers, one file per cloud."""
