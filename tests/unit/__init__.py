"""Tests that need no root, laid out as the package nm_cloud_setup/ is."""
