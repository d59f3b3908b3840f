"""nm_cloud_setup/planning/: the layout upstream configures, and the steps between two configs."""
