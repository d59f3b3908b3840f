"""EC2's instance metadata tree (IMDS), as EC2 serves it.

Listings name exactly what answers: values that are not set are left out (a
client crawling the tree, as cloud-init does, gives up on the first 404), and
directories end in ``/``.  A path answers with or without a trailing slash.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from nm_cloud_setup.shapes.common import Answer, as_list, raw, text
from nm_cloud_setup.shapes.instance import ACCOUNT_ID, Instance, subnet6

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"

# What EC2's "/" lists (cloud-init probes 2021-03-23, 2018-09-24, 2016-09-02, 2009-04-04).
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
            "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12",
            "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02",
            "2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03",
            "2021-03-23", "2021-07-15", "2022-09-24", "latest")


class Listing(dict):
    """A directory whose listing is given, not derived from its keys."""

    def __init__(self, entries: Dict[str, Any], lines: List[str]) -> None:
        super().__init__(entries)
        self.lines = lines


def interface(iface: Dict[str, Any], hostname: str) -> Dict[str, Any]:
    """The keys under ``network/interfaces/macs/MAC/``."""
    mac = iface["mac"].lower()
    values: Dict[str, Any] = {}
    if iface.get("device_number") is not None:
        values["device-number"] = str(iface["device_number"])
    values["interface-id"] = f"eni-{mac.replace(':', '')}"
    if iface.get("network_card") is not None:  # multi-card types only; 404 elsewhere
        values["network-card"] = str(iface["network_card"])
    if iface.get("ipv6s"):
        values["ipv6s"] = "\n".join(iface["ipv6s"])
    values["local-hostname"] = hostname
    if iface.get("addresses"):
        values["local-ipv4s"] = "\n".join(iface["addresses"])
    values["mac"] = mac
    if iface.get("public_ipv4"):
        values["public-ipv4s"] = "\n".join(as_list(iface["public_ipv4"]))
    if iface.get("subnet"):
        values["subnet-ipv4-cidr-block"] = iface["subnet"]
    if iface.get("ipv6_subnet") or iface.get("ipv6s"):
        values["subnet-ipv6-cidr-blocks"] = subnet6(iface)
    for key, name in (("ipv4_prefixes", "ipv4-prefix"), ("ipv6_prefixes", "ipv6-prefix")):
        if iface.get(key):  # delegated prefixes
            values[name] = "\n".join(iface[key])
    return dict(sorted(values.items()))


def meta_data(inst: Instance) -> Dict[str, Any]:
    """The ``meta-data/`` tree: nested dicts (directories) and strings (values)."""
    macs: Dict[str, Any] = {}
    for iface in inst.interfaces:  # the first of a duplicated MAC answers (scenario faults)
        macs.setdefault(iface["mac"].lower(), interface(iface, inst.hostname))
    listed = [f"{iface['mac'].lower()}/" for iface in inst.interfaces]
    tree: Dict[str, Any] = {
        "ami-id": inst.image_id, "ami-launch-index": "0", "hostname": inst.hostname,
        "instance-id": inst.instance_id, "instance-type": inst.instance_type,
        "local-hostname": inst.hostname}
    if inst.private_ipv4:
        tree["local-ipv4"] = inst.private_ipv4
    if inst.primary:
        tree["mac"] = inst.primary["mac"].lower()
    tree["network"] = {"interfaces": {"macs": Listing(macs, listed)}}
    tree["placement"] = {"availability-zone": inst.availability_zone, "region": inst.region}
    if inst.public_ipv4:
        tree["public-ipv4"] = inst.public_ipv4
    if inst.ssh_keys:
        keys = {str(n): {"openssh-key": key} for n, key in enumerate(inst.ssh_keys)}
        tree["public-keys"] = Listing(keys, [f"{n}=key-{n}" for n in range(len(keys))])
    return tree


def identity_document(inst: Instance) -> Dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID, "architecture": "x86_64",
        "availabilityZone": inst.availability_zone, "billingProducts": None,
        "devpayProductCodes": None, "marketplaceProductCodes": None,
        "imageId": inst.image_id, "instanceId": inst.instance_id,
        "instanceType": inst.instance_type, "kernelId": None, "pendingTime": inst.launched,
        "privateIp": inst.private_ipv4, "ramdiskId": None, "region": inst.region,
        "version": "2017-09-30"}


def lookup(tree: Dict[str, Any], segments: List[str]) -> Optional[str]:
    """A directory's listing or a value; None for a path that is not there."""
    node: Any = tree
    for segment in segments:
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    if isinstance(node, Listing):
        return "\n".join(node.lines)
    if isinstance(node, dict):
        return "\n".join(k + ("/" if isinstance(v, dict) else "") for k, v in node.items())
    return node


def get(inst: Instance, path: str) -> Optional[Answer]:
    """The answer to a GET of ``path`` (tokens already checked), or None for a 404."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return text("\n".join(VERSIONS))
    if parts[0] not in VERSIONS:
        return None
    kind, rest = (parts[1], parts[2:]) if len(parts) > 1 else (None, [])
    if kind is None:
        return text("dynamic\nmeta-data" + ("\nuser-data" if inst.user_data is not None else ""))
    if kind == "user-data":
        return raw(inst.user_data) if inst.user_data is not None and not rest else None
    if kind == "meta-data":
        value = lookup(meta_data(inst), rest)
    elif kind == "dynamic":
        document = json.dumps(identity_document(inst), indent=2)
        value = lookup({"instance-identity": {"document": document}}, rest)
    else:
        return None
    return None if value is None else text(value)
