"""OpenStack Nova's metadata service: ``meta_data.json``, ``network_data.json``, ``user_data``.

Served under ``/openstack/VERSION/`` for every version ``/openstack`` lists; a
config drive holds the same files.  cloud-init's reader asks ``/openstack`` for
the versions, requires ``meta_data.json`` with ``uuid``, and reads
``public_keys`` as a name-to-key map and links and networks by their ``type``.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any, Dict, List, Optional

from nm_cloud_setup.shapes.common import Answer, as_json, raw, text
from nm_cloud_setup.shapes.instance import Instance, gateway, gateway6, netmask, subnet6

VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
            "2016-10-06", "2017-02-22", "2018-08-27", "latest")
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # the URL namespace


def instance_uuid(inst: Instance) -> str:
    """A stable UUID for the instance (Nova's ids are UUIDs; ours are EC2's ``i-...``)."""
    return str(uuid.uuid5(_NAMESPACE, inst.instance_id))


def meta_data(inst: Instance) -> Dict[str, Any]:
    keys = {f"key-{n}": key for n, key in enumerate(inst.ssh_keys)}
    return {
        "uuid": instance_uuid(inst), "name": inst.name or inst.hostname,
        "hostname": inst.hostname,
        "availability_zone": inst.availability_zone, "launch_index": 0,
        "public_keys": keys,
        "keys": [{"name": name, "type": "ssh", "data": key} for name, key in keys.items()],
        "meta": {}, "devices": [], "project_id": "0" * 32}


def network_data(inst: Instance, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Links by MAC, one static ``ipv4`` network per address (routes on the first), and
    one static ``ipv6`` network per IPv6 address (its netmask in Nova's IPv6 form).

    Per NIC (scenario mode): ``dhcp`` true makes its IPv4 network Nova's
    ``ipv4_dhcp`` (no address listed), ``ipv6_mode`` (``slaac``,
    ``dhcpv6-stateful``, ...) its IPv6 one ``ipv6_<mode>`` (the address still
    listed, as Nova does), ``dns`` the name servers of its networks.  ``extra``
    (the scenario's ``openstack``): ``dns``, the global name servers (default
    8.8.8.8), and ``links``, VLANs (``{"vlan_id", "parent": MAC, "mac", "subnet",
    "addresses", ...}``) and bonds (``{"bond": true, "members": [MAC...], "mode",
    "miimon", "hash_policy", "mac", "subnet", "addresses", ...}``) as Nova and
    Ironic write them.
    """
    extra = extra or {}
    links: List[Dict[str, Any]] = []
    networks: List[Dict[str, Any]] = []
    ids = {}
    for number, iface in enumerate(inst.interfaces):
        link = f"tap{iface['mac'].replace(':', '')[-6:]}"
        ids[iface["mac"].lower()] = link
        links.append({"id": link, "type": "ovs", "ethernet_mac_address": iface["mac"].lower(),
                      "mtu": iface.get("mtu", 1500), "vif_id": f"vif-{number}"})
        networks += _networks(iface, link, str(number))
    for number, virtual in enumerate(extra.get("links", [])):
        mac = virtual["mac"].lower()
        if virtual.get("bond"):
            link = f"bond-{number}"
            links.append({"id": link, "type": "bond", "ethernet_mac_address": mac,
                          "bond_links": [ids[m.lower()] for m in virtual["members"]],
                          "bond_mode": virtual.get("mode", "active-backup"),
                          "bond_miimon": virtual.get("miimon", 100),
                          "bond_xmit_hash_policy": virtual.get("hash_policy", "layer2"),
                          "mtu": virtual.get("mtu", 1500), "vif_id": f"vif-bond-{number}"})
        else:
            link = f"vlan-{number}"
            links.append({"id": link, "type": "vlan", "vlan_id": virtual["vlan_id"],
                          "vlan_link": ids.get(virtual["parent"].lower(), virtual["parent"]),
                          "vlan_mac_address": mac, "mtu": virtual.get("mtu", 1500),
                          "vif_id": f"vif-vlan-{number}"})
        ids[link] = link
        networks += _networks(virtual, link, f"l{number}")
    dns = extra.get("dns", ["8.8.8.8"])
    return {"links": links, "networks": networks,
            "services": [{"type": "dns", "address": a} for a in dns]}


def _networks(iface: Dict[str, Any], link: str, number: str) -> List[Dict[str, Any]]:
    """A NIC's networks, as Nova writes them."""
    routes = {4: [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": gateway(iface)}],
              6: []}
    if iface.get("ipv6s"):
        routes[6].append({"network": "::", "netmask": "::", "gateway": gateway6(iface)})
    for route in iface.get("routes", []):
        net = ipaddress.ip_network(route["network"])
        routes[net.version].append({"network": str(net.network_address),
                                    "netmask": str(net.netmask), "gateway": route["gateway"]})
    services = [{"type": "dns", "address": a} for a in iface.get("dns", [])]
    networks: List[Dict[str, Any]] = []
    if iface.get("dhcp"):
        networks.append({"id": f"network{number}-dhcp", "link": link, "type": "ipv4_dhcp",
                         "network_id": f"net-{number}"})
    for k, address in enumerate([] if iface.get("dhcp") else iface.get("addresses", [])):
        networks.append({"id": f"network{number}-{k}", "link": link, "type": "ipv4",
                         "ip_address": address, "netmask": netmask(iface),
                         "routes": routes[4] if k == 0 else [],
                         "network_id": f"net-{number}", "services": services})
    mode = iface.get("ipv6_mode")
    for k, address in enumerate(iface.get("ipv6s", [])):
        networks.append({"id": f"network{number}-v6-{k}", "link": link,
                         "type": f"ipv6_{mode}" if mode else "ipv6", "ip_address": address,
                         "netmask": str(ipaddress.ip_network(subnet6(iface)).netmask),
                         "routes": routes[6] if k == 0 else [],
                         "network_id": f"net6-{number}", "services": services})
    return networks


def get(inst: Instance, path: str, extra: Optional[Dict[str, Any]] = None) -> Optional[Answer]:
    """The answer to a GET under ``/openstack``, or None for a 404 (``extra``: as for
    ``network_data``)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p][1:]
    if not parts:
        return text("\n".join(VERSIONS))
    if parts[0] not in VERSIONS or len(parts) > 2:
        return None
    files = {"meta_data.json": lambda: as_json(meta_data(inst)),
             "network_data.json": lambda: as_json(network_data(inst, extra)),
             "vendor_data.json": lambda: as_json({}),
             "vendor_data2.json": lambda: as_json({})}
    if inst.user_data is not None:
        files["user_data"] = lambda: raw(inst.user_data)
    if len(parts) == 1:
        return text("\n".join(files))
    make = files.get(parts[1])
    return make() if make else None
