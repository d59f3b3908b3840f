"""The provider contract, and validators shared by the parsers.

A provider is two operations: ``detect()`` (raise if this is not the cloud)
and ``get_config(macs)`` (the per-NIC data for the local MACs).  Parsers are
pure functions that raise ``MetadataError`` with a message naming the bad
value; nothing that fails to parse is ever taken as "no addresses".
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Hashable, List, Mapping, Sequence, TypeVar, Union

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.http_client import HttpClient
from nm_cloud_setup.model import InstanceData, InterfaceData

LOG = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
MAX_ADDRESSES_PER_NIC = 1024


class Provider:
    """Base of the cloud providers.

    ``key`` is the configuration name (``NM_CLOUD_SETUP_<KEY>``), ``name`` the
    name upstream's log lines use, ``default_host`` the metadata base URL.
    """

    key = ""
    name = ""
    default_host = ""
    concurrency = 4

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def detect(self) -> None:
        raise NotImplementedError

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        """The metadata of the NICs whose MACs are keys of ``macs`` (MAC -> ifname)."""
        raise NotImplementedError

    def fetch_all(self, jobs: Mapping[K, Callable[[], R]]) -> Dict[K, Union[R, CloudSetupError]]:
        """Run independent fetches, at most ``concurrency`` at once; errors are returned."""
        def call(job: Callable[[], R]) -> Union[R, CloudSetupError]:
            try:
                return job()
            except CloudSetupError as err:
                return err

        if len(jobs) <= 1 or self.concurrency <= 1:
            return {key: call(job) for key, job in jobs.items()}
        with ThreadPoolExecutor(min(self.concurrency, len(jobs))) as pool:
            futures = {key: pool.submit(call, job) for key, job in jobs.items()}
            return {key: future.result() for key, future in futures.items()}


def parse_ipv4(text: str, what: str = "address") -> str:
    """A unicast IPv4 address a NIC can hold, normalised; MetadataError otherwise."""
    value = text.strip()
    try:
        addr = ipaddress.IPv4Address(value)
    except ValueError:
        raise MetadataError(f"invalid IPv4 {what} {_quote(value)}") from None
    if (addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local
            or addr.is_reserved):
        raise MetadataError(f"IPv4 {what} {addr} cannot be assigned to a NIC")
    return str(addr)


def parse_ipv4_list(text: str, what: str = "address") -> tuple:
    """Newline-separated addresses, first (the primary) first, duplicates dropped."""
    items = [line for line in (raw.strip() for raw in text.splitlines()) if line]
    if not items:
        raise MetadataError(f"empty {what} list")
    if len(items) > MAX_ADDRESSES_PER_NIC:
        raise MetadataError(f"{len(items)} addresses for one NIC (more than "
                            f"{MAX_ADDRESSES_PER_NIC}): refusing")
    return tuple(dict.fromkeys(parse_ipv4(item, what) for item in items))


def parse_subnet(text: str) -> str:
    """An IPv4 subnet ``A.B.C.D/N`` (host bits cleared), prefix 1..30."""
    value = text.strip()
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise MetadataError(f"invalid IPv4 subnet {_quote(value)}") from None
    if "/" not in value or not 1 <= net.prefixlen <= 30:
        raise MetadataError(f"IPv4 subnet {_quote(value)} has no usable prefix length (1..30)")
    return str(net)


def check_in_subnet(addresses: Sequence[str], subnet: str) -> None:
    net = ipaddress.IPv4Network(subnet)
    outside = [a for a in addresses if ipaddress.IPv4Address(a) not in net]
    if outside:
        raise MetadataError(f"address {outside[0]} is outside the NIC's subnet {subnet}")


def parse_index(text: str, what: str = "device-number") -> int:
    value = text.strip()
    if not value.isdigit() or int(value) > 65535:
        raise MetadataError(f"invalid {what} {_quote(value)}")
    return int(value)


def check_indexes(interfaces: List[InterfaceData]) -> List[InterfaceData]:
    """Mark NICs whose table index another NIC also has as failed (keep their config)."""
    owners: Dict[int, str] = {}
    for iface in interfaces:
        if iface.error is None:
            owners.setdefault(iface.index, iface.mac)
    result = []
    for iface in interfaces:
        owner = owners.get(iface.index)
        if iface.error is None and owner != iface.mac:
            iface = InterfaceData(iface.mac, iface.index, error=(
                f"index {iface.index} is also that of {owner}: leaving this NIC as it is "
                "until the metadata settles"))
        result.append(iface)
    return result


def _quote(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[:limit] + "..."
    return repr(shown)
