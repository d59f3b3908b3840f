"""Who the instance is (``status`` only): each provider's own documented keys.

Fetched after the network configuration, never by the timer's run.  A key the
metadata lacks (404) is None; DigitalOcean and Hetzner keep theirs in their own
modules.  The sources (docs/operating.md, "Status and dry run"):

- EC2, ``/latest/meta-data/``: ``instance-id``, ``instance-type``,
  ``placement/region``, ``placement/availability-zone``, ``hostname``; per MAC
  ``public-ipv4s`` and ``ipv6s`` (EC2's IPv6 addresses are globally routable);
- Azure, ``/metadata/instance``: ``compute.vmId``, ``vmSize``, ``location``,
  ``zone``, ``osProfile.computerName`` (else ``name``); per interface the
  ``publicIpAddress`` of each IPv4/IPv6 address;
- Google Cloud, ``instance/``: ``id``, ``machine-type`` and ``zone`` (their last
  path part; the region is the zone less its last part), ``hostname``; per NIC
  ``accessConfigs[].externalIp`` and ``ipv6AccessConfigs[].externalIpv6``;
- Alibaba Cloud, ``/latest/meta-data/``: ``instance-id``, ``instance/instance-type``,
  ``region-id``, ``zone-id``, ``hostname``; the instance's ``eipv4``, ``public-ipv4``;
- Oracle Cloud, ``/opc/v2/instance/``: ``id``, ``shape``, ``canonicalRegionName``
  (else ``region``), ``availabilityDomain``, ``hostname``; no public address;
- OpenStack, ``meta_data.json``: ``uuid``, ``availability_zone``, ``hostname`` (else
  ``name``); no flavor, region or public address (floating IPs are NAT).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from nm_cloud_setup.errors import HttpError, MetadataError
from nm_cloud_setup.model import Identity, InstanceData, NicIdentity, normalize_mac
from nm_cloud_setup.providers.values import parse_json, text_or_none

EC2 = {"instance_id": "instance-id", "instance_type": "instance-type",
       "region": "placement/region", "zone": "placement/availability-zone",
       "hostname": "hostname"}
ALIYUN = {"instance_id": "instance-id", "instance_type": "instance/instance-type",
          "region": "region-id", "zone": "zone-id", "hostname": "hostname"}
ALIYUN_PUBLIC = ("eipv4", "public-ipv4")
AZURE = "/metadata/instance?api-version=2021-02-01"
GCP = "/computeMetadata/v1/instance"
GCP_NICS = f"{GCP}/network-interfaces/?recursive=true&alt=json"
OCI = "/opc/v2/instance/"
OPENSTACK = "openstack/latest/meta_data.json"


def fetch(provider, instance: InstanceData) -> Identity:
    """The identity of ``provider``'s instance (its ``key`` picks the keys)."""
    return _FETCH[provider.key](provider, instance)


def _ec2(provider, instance: InstanceData) -> Identity:
    paths = {name: f"/latest/meta-data/{path}" for name, path in EC2.items()}
    for iface in instance.interfaces:
        base = f"/latest/meta-data/network/interfaces/macs/{iface.mac.lower()}"
        paths[(iface.mac, 4)] = f"{base}/public-ipv4s"
        paths[(iface.mac, 6)] = f"{base}/ipv6s"
    values = provider.fetch_texts(paths)
    nics = tuple(NicIdentity(i.mac, _lines(values[(i.mac, 4)]), _lines(values[(i.mac, 6)]))
                 for i in instance.interfaces)
    return Identity(**{name: values[name] for name in EC2}, nics=nics)


def _aliyun(provider, instance: InstanceData) -> Identity:
    paths = {**ALIYUN, **{key: key for key in ALIYUN_PUBLIC}}
    values = provider.fetch_texts({key: f"/latest/meta-data/{path}"
                                   for key, path in paths.items()})
    public = tuple(dict.fromkeys(v for v in (values[p] for p in ALIYUN_PUBLIC) if v))
    return Identity(**{name: values[name] for name in ALIYUN}, public_ipv4=public)


def _azure(provider, instance: InstanceData) -> Identity:
    return parse_azure(provider.get(AZURE))


def parse_azure(text: str) -> Identity:
    doc = parse_json(text, "the Azure instance document")
    compute = doc.get("compute") if isinstance(doc, dict) else None
    if not isinstance(compute, dict):
        raise MetadataError("the Azure instance document has no 'compute' object")
    profile = _object(compute, "osProfile")
    nics = []
    for nic in _list(_object(doc, "network"), "interface"):
        mac = normalize_mac(str(nic.get("macAddress", ""))) if isinstance(nic, dict) else None
        if mac is not None:
            nics.append(NicIdentity(mac, _azure_public(nic, "ipv4"), _azure_public(nic, "ipv6")))
    return Identity(instance_id=text_or_none(compute.get("vmId")),
                    instance_type=text_or_none(compute.get("vmSize")),
                    region=text_or_none(compute.get("location")),
                    zone=text_or_none(compute.get("zone")),
                    hostname=text_or_none(profile.get("computerName") or compute.get("name")),
                    nics=tuple(nics))


def _azure_public(nic: Mapping[str, Any], family: str) -> Tuple[str, ...]:
    return _each(_list(_object(nic, family), "ipAddress"), "publicIpAddress")


def _gcp(provider, instance: InstanceData) -> Identity:
    values = provider.fetch_texts({key: f"{GCP}/{key}"
                                   for key in ("id", "machine-type", "zone", "hostname")})
    try:
        interfaces = provider.get(GCP_NICS)
    except HttpError as err:
        if err.code not in (400, 404):
            raise
        interfaces = ""  # the one-request form refused: no external addresses to show
    return parse_gcp(values, interfaces)


def parse_gcp(values: Mapping[str, Any], interfaces_text: str) -> Identity:
    zone = _last(values.get("zone"))
    doc = parse_json(interfaces_text, "the GCP network-interfaces document") \
        if interfaces_text else []
    nics = []
    for nic in doc if isinstance(doc, list) else []:
        mac = normalize_mac(str(nic.get("mac", ""))) if isinstance(nic, dict) else None
        if mac is not None:
            nics.append(NicIdentity(mac, _each(_list(nic, "accessConfigs"), "externalIp"),
                                    _each(_list(nic, "ipv6AccessConfigs"), "externalIpv6")))
    return Identity(instance_id=text_or_none(values.get("id")),
                    instance_type=_last(values.get("machine-type")),
                    region=zone.rsplit("-", 1)[0] if zone and "-" in zone else None, zone=zone,
                    hostname=text_or_none(values.get("hostname")), nics=tuple(nics))


def _oci(provider, instance: InstanceData) -> Identity:
    return parse_oci(provider.get(OCI))


def parse_oci(text: str) -> Identity:
    doc = _json_object(text, "the OCI instance document")
    return Identity(instance_id=text_or_none(doc.get("id")),
                    instance_type=text_or_none(doc.get("shape")),
                    region=text_or_none(doc.get("canonicalRegionName") or doc.get("region")),
                    zone=text_or_none(doc.get("availabilityDomain")),
                    hostname=text_or_none(doc.get("hostname")))


def _openstack(provider, instance: InstanceData) -> Identity:
    from_drive = provider.config_drive_file(OPENSTACK)
    return parse_openstack(from_drive if from_drive is not None else provider.get(f"/{OPENSTACK}"))


def parse_openstack(text: str) -> Identity:
    doc = _json_object(text, "meta_data.json")
    return Identity(instance_id=text_or_none(doc.get("uuid")),
                    zone=text_or_none(doc.get("availability_zone")),
                    hostname=text_or_none(doc.get("hostname") or doc.get("name")))


def _json_object(text: str, what: str) -> Mapping[str, Any]:
    doc = parse_json(text, what)
    if not isinstance(doc, dict):
        raise MetadataError(f"{what} is not a JSON object")
    return doc


def _object(parent: Any, key: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _list(parent: Any, key: str) -> list:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, list) else []


def _each(entries: list, key: str) -> Tuple[str, ...]:
    values = (text_or_none(e.get(key)) for e in entries if isinstance(e, dict))
    return tuple(v for v in values if v)


def _last(value: Any) -> Optional[str]:
    text = text_or_none(value)
    return text.rsplit("/", 1)[-1] if text else None


def _lines(text: Optional[str]) -> Tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


_FETCH = {"ec2": _ec2, "azure": _azure, "gcp": _gcp, "aliyun": _aliyun, "oci": _oci,
          "openstack": _openstack}
