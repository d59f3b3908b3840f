"""OpenStack's ``network_data.json`` (beyond upstream).

From a config drive (filesystem label ``config-2``) when one is mounted or
mountable, or given as a directory (option ``config_drive``); else from the
metadata service, ``/openstack/latest/network_data.json``, one request fetched
while detecting and reused.  Links are matched by MAC, never by position.  Each
link's static ``ipv4`` networks give its addresses, subnet, gateway (the default
route) and extra routes; the link gives the MTU.  ``ipv4_dhcp`` networks are left
to DHCP.  Static ``ipv6`` networks give the IPv6 part the same way (``ip_address``
with a ``netmask``, which may be an IPv6 mask, a prefix length, or a ``/N`` on the
address); ``ipv6_dhcp``, ``ipv6_slaac`` and the like are left to the link.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from nm_cloud_setup.config import normalize_mac
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, checked, field, parse_ipv4, parse_json,
                                           parse_netmask, subnet_of)
from nm_cloud_setup.providers.ipv6 import (check_in_subnet6, parse_gateway6, parse_ipv6,
                                           parse_prefix6, subnet6_of)

LOG = logging.getLogger(__name__)

PATH = "openstack/latest/network_data.json"
LABELS = ("/dev/disk/by-label/config-2", "/dev/disk/by-label/CONFIG-2")
LINK_TYPES_SKIPPED = ("vlan", "bond")


def parse_network_data(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    doc = parse_json(text, "network_data.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("links"), list) \
            or not isinstance(doc.get("networks"), list):
        raise MetadataError("network_data.json has no 'links' and 'networks' lists")
    links: Dict[str, Tuple[int, str, Any]] = {}
    position = 0
    for link in doc["links"]:
        if not isinstance(link, dict) or link.get("type") in LINK_TYPES_SKIPPED:
            continue
        mac = normalize_mac(str(link.get("ethernet_mac_address", "")))
        if mac is None:
            continue
        links[str(link.get("id"))] = (position, mac, link.get("mtu"))
        position += 1
    by_link: Dict[str, List[Any]] = {}
    by_link6: Dict[str, List[Any]] = {}
    for net in doc["networks"]:
        if isinstance(net, dict) and net.get("type") in ("ipv4", "ipv6"):
            target = by_link if net["type"] == "ipv4" else by_link6
            target.setdefault(str(net.get("link")), []).append(net)
    result = []
    for link_id, (idx, mac, mtu) in links.items():
        if mac not in macs or (link_id not in by_link and link_id not in by_link6):
            continue
        result.append(checked(mac, idx, _interface, idx, mac, mtu, by_link.get(link_id, []),
                              by_link6.get(link_id, [])))
    return result


def _interface(idx: int, mac: str, mtu: Any, networks: List[Any],
               networks6: List[Any] = ()) -> InterfaceData:
    if mtu is not None and (not isinstance(mtu, int) or not 576 <= mtu <= 65535):
        raise MetadataError(f"invalid MTU {mtu!r}")
    ipv6_addresses, ipv6_subnet, ipv6_gateway, routes6 = _ipv6_part(mac, list(networks6))
    ipv6 = {"ipv6_addresses": ipv6_addresses, "ipv6_subnet": ipv6_subnet,
            "ipv6_gateway": ipv6_gateway}
    if not networks:  # an IPv6-only link
        return InterfaceData(mac, idx, routes=routes6, mtu=mtu, **ipv6)
    iface = _ipv4_part(idx, mac, mtu, networks)
    return dataclasses.replace(iface, routes=iface.routes + routes6, **ipv6)


def _ipv4_part(idx: int, mac: str, mtu: Any, networks: List[Any]) -> InterfaceData:
    first = networks[0]
    primary = parse_ipv4(field(first, "ip_address", str, "network"))
    subnet = subnet_of(primary, parse_netmask(field(first, "netmask", str, "network")))
    addresses = [primary]
    for net in networks[1:]:
        address = parse_ipv4(field(net, "ip_address", str, "network"))
        if subnet_of(address, parse_netmask(field(net, "netmask", str, "network"))) != subnet:
            LOG.warning("openstack: %s of %s is in another subnet than %s: not configured",
                        address, mac, subnet)
            continue
        addresses.append(address)
    gateway: Optional[str] = None
    routes = []
    for route in _routes(networks):
        cidr = _route_cidr(route)
        hop = parse_ipv4(field(route, "gateway", str, "route"), "gateway")
        if cidr == "0.0.0.0/0":
            gateway = gateway or hop
        else:
            routes.append((cidr, hop))
    return InterfaceData(mac, idx, tuple(dict.fromkeys(addresses)), subnet, gateway=gateway,
                         routes=tuple(dict.fromkeys(routes)), mtu=mtu)


def _ipv6_part(mac: str, networks: List[Any]) -> Tuple[tuple, Optional[str], Optional[str],
                                                        tuple]:
    """(addresses, subnet, gateway, routes) of a link's static ``ipv6`` networks: the
    first one's subnet; an address in another subnet is logged and left out."""
    if not networks:
        return (), None, None, ()
    addresses: List[str] = []
    subnet: Optional[str] = None
    for net in networks:
        address, prefix = _address6(net)
        if subnet is None:
            subnet = subnet6_of(address, prefix)
        elif subnet6_of(address, prefix) != subnet:
            LOG.warning("openstack: %s of %s is in another subnet than %s: not configured",
                        address, mac, subnet)
            continue
        addresses.append(address)
    assert subnet is not None
    check_in_subnet6(addresses, subnet)
    gateway: Optional[str] = None
    routes = []
    for route in _routes(networks):
        network = field(route, "network", str, "route")
        netmask = field(route, "netmask", str, "route")
        prefix = 0 if netmask.strip() in ("::", "0") else parse_prefix6(netmask)
        hop = parse_gateway6(field(route, "gateway", str, "route"))
        if prefix == 0:
            gateway = gateway or hop
        else:
            routes.append((subnet6_of(parse_ipv6(network, "route network"), prefix), hop))
    return tuple(dict.fromkeys(addresses)), subnet, gateway, tuple(dict.fromkeys(routes))


def _routes(networks: List[Any]) -> Iterator[Any]:
    """Every route of the networks, in order."""
    for net in networks:
        routes_list = net.get("routes") or []
        if not isinstance(routes_list, list):
            raise MetadataError("a network's 'routes' is not a list")
        yield from routes_list


def _address6(net: Any) -> Tuple[str, int]:
    """A network's ``ip_address`` and prefix (``/N`` on it, or its ``netmask``)."""
    text = field(net, "ip_address", str, "network")
    address, _, prefix = text.partition("/")
    if not prefix:
        prefix = net.get("netmask") if isinstance(net.get("netmask"), (str, int)) else ""
    return parse_ipv6(address), parse_prefix6(prefix)


def _route_cidr(route: Any) -> str:
    network = field(route, "network", str, "route")
    netmask = field(route, "netmask", str, "route")
    try:
        net = ipaddress.IPv4Network(f"{network}/{netmask}", strict=False)
    except ValueError:
        raise MetadataError(f"invalid route {network[:40]}/{netmask[:40]}") from None
    return str(net)


class OpenStack(BulkProvider):
    key = "openstack"
    name = "openstack"
    default_host = "http://169.254.169.254"
    bulk_path = f"/{PATH}"

    def fetch_bulk(self) -> str:
        from_drive = self._from_config_drive()
        return from_drive if from_drive is not None else self.get(self.bulk_path)

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        return InstanceData(self.name, tuple(parse_network_data(self.bulk(), macs)))

    def _from_config_drive(self) -> Optional[str]:
        return self.config_drive_file(PATH)

    def config_drive_file(self, name: str) -> Optional[str]:
        """A file of the config drive (given, or found by label); None without one."""
        where = self.options.get("config_drive")
        if where:
            LOG.debug("openstack: reading the config drive at %s", where)
            return _read(Path(where), name)
        for device in LABELS:
            if Path(device).exists():
                return _read_device(Path(device).resolve(), name)
        return None


def _read(root: Path, name: str = PATH) -> str:
    try:
        return (root / name).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise MetadataError(f"cannot read {root / name} ({err})") from None


def _read_device(device: Path, name: str = PATH) -> Optional[str]:
    """Read from a config drive: where it is mounted, or mounted read-only for a moment.

    None when it cannot be mounted (the metadata service is asked instead).
    """
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, target = line.split()[:2]
        if Path(source).resolve() == device:
            return _read(Path(target.replace("\\040", " ")), name)
    with tempfile.TemporaryDirectory(prefix="nm-cloud-setup-") as mnt:
        mount = subprocess.run(["mount", "-o", "ro", str(device), mnt], capture_output=True,
                               text=True)
        if mount.returncode != 0:
            LOG.info("openstack: cannot mount the config drive %s (%s); asking the metadata "
                     "service", device, mount.stderr.strip())
            return None
        try:
            return _read(Path(mnt), name)
        finally:
            subprocess.run(["umount", mnt], capture_output=True)
