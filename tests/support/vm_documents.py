"""VM documents, as the metadata service's API and the shapes take them: ``FULL`` (every
field), ``MINIMAL`` (a bare scenario), ``vm()`` (one NIC, one address, fields as asked)."""

from __future__ import annotations

from nm_cloud_setup.emulator import scenario as scenarios

FULL = {
    "instance_id": "i-0123456789abcdef0", "hostname": "web-1", "image_id": "ami-12345678",
    "instance_type": "t3.small", "region": "eu-west-1", "availability_zone": "eu-west-1b",
    "user_data": "#cloud-config\n", "ssh_keys": ["ssh-ed25519 AAAA alice", "ssh-rsa BBBB bob"],
    "public_ipv4": "203.0.113.7",
    "interfaces": [
        {"mac": "02:00:00:00:00:02", "device_number": 1, "subnet": "10.1.0.0/24",
         "addresses": ["10.1.0.5"], "ipv6_subnet": "fd00:1::/64", "ipv6s": ["fd00:1::5"],
         "public_ipv4": "203.0.113.8"},
        {"mac": "02:00:00:00:00:01", "device_number": 0, "subnet": "10.0.0.0/24",
         "addresses": ["10.0.0.5", "10.0.0.6"]}],
}
MINIMAL = scenarios.generate(1, 1)


def vm(mac="02:00:00:00:00:01", addresses=("10.0.0.5",), subnet="10.0.0.0/24", **extra):
    return {"interfaces": [{"mac": mac, "subnet": subnet, "addresses": list(addresses)}],
            **extra}
