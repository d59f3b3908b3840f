"""End to end: the tests that need root (``-m root``), with real NetworkManager daemons or the
kernel alone in network namespaces, the emulator and the metadata service."""
