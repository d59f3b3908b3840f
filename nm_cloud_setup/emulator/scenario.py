"""A scenario: the NICs of one VM as the cloud sees them.  JSON in, JSON out.

    {"interfaces": [{"mac": "02:00:00:00:00:01", "device_number": 0,
                     "subnet": "172.31.16.0/20",
                     "addresses": ["172.31.16.10", "172.31.16.11"]}],
     "ec2": {"tokens": "optional"}}

Optional per NIC: ``gateway`` (default: the first host), ``public_ipv4`` and
``public_ipv6`` (an address or a list), ``ipv6s``, ``forwarded_ips``,
``target_instance_ips``, ``alias_ranges`` (GCP), ``mtu`` (GCP: default 1460, None for no
key; OpenStack: default 1500), ``routes`` (a list of
``{"network": CIDR, "gateway": IP}``, OpenStack; IPv6 ones too), ``vlan_tag`` and
``nic_index`` (OCI bare metal), ``network_card`` (EC2's multi-card types: the
NIC's card; ``device_number`` then counts within it); IPv6: ``ipv6s`` (addresses), ``ipv6_subnet``
(default: the /64 of the first), ``ipv6_gateway`` (default: the first host; Azure's is
always its fixed link-local router), ``forwarded_ipv6s`` (GCP), ``ipv4_prefixes``
and ``ipv6_prefixes`` (EC2's delegated prefixes).  ``addresses`` may be empty for
an IPv6-only NIC (EC2).  Per provider:
- ``ec2.tokens``, ``aliyun.tokens``: ``optional`` (with and without a session
  token), ``required`` (GETs without one get 401), ``unsupported`` (no token PUT);
- ``azure.rate`` (requests per second before 429; default 5), ``azure.retry_after``;
- ``azure.bulk``, ``gcp.bulk``, ``aliyun.bulk``: false refuses the one-request
  document, so clients must walk the text form;
- ``oci.baremetal``: VNICs carry ``nicIndex`` and ``vlanTag``.
At the top level, ``upstream_only``: true serves only the paths upstream's
nm-cloud-setup requests (404 to everything else).
Optional per instance, for ``status`` (each shape has its own defaults):
``instance_id``, ``hostname``, ``instance_type``, ``region``,
``availability_zone``, ``public_ipv4``.  DigitalOcean and Hetzner keys: see
``shapes/digitalocean.py`` and ``shapes/hetzner.py``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict

TOKEN_MODES = ("optional", "required", "unsupported")
# NIC N's IPv6 subnet (EC2's documentation prefix style): 2600:1f18:aaaa:bb01::/64, ...
IPV6_BASE = "2600:1f18:aaaa:bb{number:02x}::/64"


def nic(number: int, ips: int, base: str = "172.31.0.0/16", prefix: int = 20,
        primary_host: int = 10, ipv6s: int = 0) -> Dict[str, Any]:
    """NIC ``number`` (0-based) with ``ips`` addresses in its own subnet of ``base``, and
    ``ipv6s`` IPv6 addresses in its own /64 of ``IPV6_BASE`` (``ips`` 0: IPv6-only)."""
    subnet = list(ipaddress.ip_network(base).subnets(new_prefix=prefix))[number + 1]
    first = subnet.network_address + primary_host
    result: Dict[str, Any] = {
        "mac": f"02:00:00:00:{(number + 1) >> 8:02x}:{(number + 1) & 0xff:02x}",
        "device_number": number,
        "subnet": str(subnet),
        "addresses": [str(first + i) for i in range(ips)],
    }
    if ipv6s:
        subnet6 = ipaddress.ip_network(IPV6_BASE.format(number=number + 1))
        result["ipv6_subnet"] = str(subnet6)
        result["ipv6s"] = [str(subnet6.network_address + 0x10 + i) for i in range(ipv6s)]
    return result


def generate(nics: int, ips: int, tokens: str = "optional", ipv6s: int = 0) -> Dict[str, Any]:
    """A scenario of ``nics`` NICs with ``ips`` IPv4 and ``ipv6s`` IPv6 addresses each."""
    return {"interfaces": [nic(n, ips, ipv6s=ipv6s) for n in range(nics)],
            "ec2": {"tokens": tokens}}


def validate(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """Check a scenario's shape; raise ValueError naming the bad field."""
    if not isinstance(scenario, dict) or not isinstance(scenario.get("interfaces"), list):
        raise ValueError('a scenario is an object with an "interfaces" list')
    for i, iface in enumerate(scenario["interfaces"]):
        for key in ("mac", "subnet", "addresses"):
            if key not in iface:
                raise ValueError(f"interfaces[{i}] has no {key!r}")
    for provider in ("ec2", "aliyun"):
        tokens = scenario.get(provider, {}).get("tokens", "optional")
        if tokens not in TOKEN_MODES:
            raise ValueError(f"{provider}.tokens must be one of {', '.join(TOKEN_MODES)}")
    return scenario
