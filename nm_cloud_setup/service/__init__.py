"""The metadata service for private clouds: many VMs, EC2- and OpenStack-compatible.

``vms`` checks a VM's JSON, ``store`` keeps the VMs in SQLite, ``metadata``
answers a VM's metadata requests (which VM asks is told by the source address),
``api`` is the management API, ``httpd`` the only HTTP server code, ``cli`` the
command line.  The answers' shapes come from ``nm_cloud_setup.shapes``, as the
emulator's do.
"""
