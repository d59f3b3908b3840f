"""nm_cloud_setup/shapes/: the documents a metadata service answers with."""
