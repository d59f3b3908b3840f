"""One VM's identity with defaults, from the scenario/VM JSON.

Top-level keys (all optional in scenario mode): ``instance_id``, ``hostname``,
``image_id``, ``instance_type``, ``region``, ``availability_zone``, ``user_data``
(text), ``ssh_keys`` (list of OpenSSH public keys), ``public_ipv4``.  Per NIC:
``mac``, ``device_number``, ``subnet``, ``addresses``, ``gateway``, ``ipv6s``,
``ipv6_subnet``, ``ipv6_gateway``, ``public_ipv4``, ``public_ipv6``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Tuple

DEFAULT_REGION = "local-1"
DEFAULT_INSTANCE_TYPE = "m5.large"
DEFAULT_IMAGE_ID = "ami-00000000000000000"
ACCOUNT_ID = "000000000000"
EPOCH = "2026-01-01T00:00:00Z"  # pendingTime when the launch time is not known


@dataclass(frozen=True)
class Instance:
    instance_id: str
    hostname: str
    image_id: str
    instance_type: str
    region: str
    availability_zone: str
    user_data: Optional[bytes]
    ssh_keys: Tuple[str, ...]
    public_ipv4: Optional[str]
    interfaces: Tuple[Dict[str, Any], ...]
    launched: str
    name: str = ""  # what the cloud calls the VM (Nova's "name"); "" in scenario mode

    @property
    def primary(self) -> Optional[Dict[str, Any]]:
        """The NIC with device number 0 (else the first listed), or None."""
        for iface in self.interfaces:
            if iface.get("device_number") == 0:
                return iface
        return self.interfaces[0] if self.interfaces else None

    @property
    def private_ipv4(self) -> Optional[str]:
        primary = self.primary
        return primary["addresses"][0] if primary and primary.get("addresses") else None


def default_instance_id(vm: Dict[str, Any]) -> str:
    """``i-`` and 17 hex digits, stable for the same first MAC (scenario mode)."""
    macs = [i.get("mac", "") for i in vm.get("interfaces", [])]
    return "i-" + hashlib.sha256(" ".join(macs).encode()).hexdigest()[:17]


def hostname_for(address: Optional[str]) -> str:
    """EC2's private DNS name form: ``ip-10-0-0-1``."""
    return f"ip-{address.replace('.', '-')}" if address else "localhost"


def instance(vm: Dict[str, Any], launched: Optional[str] = None, name: str = "") -> Instance:
    interfaces: List[Dict[str, Any]] = list(vm.get("interfaces") or [])
    zone = vm.get("availability_zone")
    region = vm.get("region") or (zone[:-1] if zone else DEFAULT_REGION)
    user_data = vm.get("user_data")
    partial = Instance(
        instance_id=vm.get("instance_id") or default_instance_id(vm),
        hostname="", image_id=vm.get("image_id") or DEFAULT_IMAGE_ID,
        instance_type=vm.get("instance_type") or DEFAULT_INSTANCE_TYPE,
        region=region, availability_zone=zone or f"{region}a",
        user_data=user_data.encode() if isinstance(user_data, str) else user_data,
        ssh_keys=tuple(vm.get("ssh_keys") or ()), public_ipv4=vm.get("public_ipv4"),
        interfaces=tuple(interfaces), launched=launched or EPOCH, name=name)
    return replace(partial, hostname=vm.get("hostname") or hostname_for(partial.private_ipv4))


def gateway(iface: Dict[str, Any]) -> str:
    return iface.get("gateway") or str(ipaddress.ip_network(iface["subnet"])[1])


def subnet6(iface: Dict[str, Any]) -> str:
    """The NIC's IPv6 subnet: its ``ipv6_subnet``, else the /64 of its first IPv6 address."""
    return iface.get("ipv6_subnet") or str(
        ipaddress.ip_network(f"{iface['ipv6s'][0]}/64", strict=False))


def gateway6(iface: Dict[str, Any]) -> str:
    """The NIC's IPv6 router: its ``ipv6_gateway``, else the first host of its IPv6 subnet."""
    return iface.get("ipv6_gateway") or str(ipaddress.ip_network(subnet6(iface))[1])


def netmask(iface: Dict[str, Any]) -> str:
    return str(ipaddress.ip_network(iface["subnet"]).netmask)
