"""nm_cloud_setup/pipeline/: the run's phases, with in-memory backends and probes."""
