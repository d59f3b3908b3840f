"""The provider contract, and validators shared by the parsers.

A provider is two operations: ``detect()`` (raise if this is not the cloud)
and ``get_config(macs)`` (the per-NIC data for the local MACs).  Parsers are
pure functions that raise ``MetadataError`` with a message naming the bad
value; nothing that fails to parse is ever taken as "no addresses".
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import (Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple,
                    TypeVar, Union)

from nm_cloud_setup.errors import CloudSetupError, HttpError, MetadataError
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
    headers: Mapping[str, str] = {}
    rate: Optional[float] = None
    concurrency = 4

    def __init__(self, client: HttpClient, options: Optional[Mapping[str, Any]] = None) -> None:
        self.client = client
        self.options = dict(options or {})

    def get(self, path: str) -> str:
        """GET a path and decode it; every provider's requests pass here."""
        return self.client.get(path).text(path)

    def detect(self) -> None:
        raise NotImplementedError

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        """The metadata of the NICs whose MACs are keys of ``macs`` (MAC -> ifname)."""
        raise NotImplementedError

    def optional(self, path: str) -> Callable[[], Optional[str]]:
        """A fetch of ``path`` for ``fetch_all`` that answers None on 404."""
        def fetch() -> Optional[str]:
            try:
                return self.get(path)
            except HttpError as err:
                if err.code == 404:
                    return None
                raise
        return fetch

    def per_mac_jobs(self, listing: Sequence[str], macs: Mapping[str, str],
                     path: Callable[[str, str], str], keys: Sequence[str]) -> Dict:
        """Fetches of ``keys`` for each listed MAC that is local (404 -> None), with
        upstream's "start/skip fetching" lines; keyed (MAC, key) for ``fetch_all``."""
        jobs = {}
        for position, mac in enumerate(listing):
            if mac not in macs:
                LOG.debug("get-config: skip fetching meta data for %s (%s)", mac, "not local")
                continue
            LOG.debug("get-config: start fetching meta data for #%d, %s (%s)",
                      position, mac, macs[mac])
            for key in keys:
                jobs[(mac, key)] = self.optional(path(mac, key))
        return jobs

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


class BulkProvider(Provider):
    """A provider whose whole network comes in one document.

    The document is fetched while detecting and used once by ``get_config``,
    so a run costs one request.  If the provider refuses it (``refused``
    statuses) and has a ``walk_probe``, answering that path proves the provider
    and ``walking`` is set: ``get_config`` then walks upstream's text form.
    """

    bulk_path = ""
    walk_probe: Optional[str] = None
    refused: Sequence[int] = (400, 404)

    def __init__(self, client: HttpClient, options: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(client, options)
        self._document: Optional[str] = None
        self.walking = False

    def detect(self) -> None:
        try:
            self._document = self.fetch_bulk()
        except HttpError as err:
            if self.walk_probe is None or err.code not in self.refused:
                raise
            LOG.debug("%s: the one-request document is refused (%s); walking the text form",
                      self.name, err.reason)
            self.get(self.walk_probe)
            self.walking = True

    def fetch_bulk(self) -> str:
        return self.get(self.bulk_path)

    def bulk(self) -> str:
        """The document fetched while detecting (or now), handed out once."""
        text = self._document if self._document is not None else self.fetch_bulk()
        self._document = None
        return text


class TokenAuth:
    """Session tokens as EC2's IMDSv2 and Aliyun's hardened mode have them.

    ``PUT put_path`` with the TTL header gives a token, sent on every GET; a 401
    fetches a new one once.  A server that answers the PUT with 403/404/405 has
    no tokens: plain GETs then.  Tokens are never logged.
    """

    UNSUPPORTED = (403, 404, 405)

    def __init__(self, client: HttpClient, put_path: str, ttl_header: str, token_header: str,
                 ttl: int = 180) -> None:
        self.client = client
        self.put_path = put_path
        self.ttl_header = ttl_header
        self.token_header = token_header
        self.ttl = ttl
        self.supported = True
        self._token: Optional[str] = None
        self._lock = threading.Lock()

    def get(self, path: str) -> str:
        token = self._token
        try:
            return self.client.get(path, self._headers(token)).text(path)
        except HttpError as err:
            if err.code != 401 or not self.supported:
                raise
        self.refresh(stale=token)
        return self.client.get(path, self._headers(self._token)).text(path)

    def _headers(self, token: Optional[str]) -> Mapping[str, str]:
        return {self.token_header: token} if token else {}

    def refresh(self, stale: Optional[str] = None) -> None:
        """Get a token; again only if ``stale`` is still the current one."""
        with self._lock:
            if stale is not None and self._token != stale:
                return
            try:
                response = self.client.request("PUT", self.put_path,
                                               {self.ttl_header: str(self.ttl)})
            except HttpError as err:
                if err.code not in self.UNSUPPORTED:
                    raise
                LOG.debug("the metadata server has no session tokens (%s); using plain GETs",
                          err.reason)
                self.supported = False
                self._token = None
                return
            token = response.text(self.put_path).strip()
            if not token or len(token) > 4096 or not token.isprintable():
                raise MetadataError("the metadata session token is empty or not printable")
            self._token = token


def checked(mac: str, index: int, parse: Callable[..., InterfaceData],
            *args: Any) -> InterfaceData:
    """``parse(*args)``, or the NIC marked failed with the parse error (it keeps its config)."""
    try:
        return parse(*args)
    except MetadataError as err:
        return InterfaceData(mac, index, error=str(err))


def per_mac_interfaces(listing: Sequence[str], macs: Mapping[str, str], results: Mapping,
                       keys: Sequence[str],
                       parse: Callable[[int, str, Dict[str, Any]], InterfaceData]
                       ) -> List[InterfaceData]:
    """The local MACs' fetched keys (``per_mac_jobs`` results) -> their data; a failed
    fetch or a bad value fails only that NIC, naming the key."""
    interfaces = []
    for position, mac in enumerate(listing):
        if mac not in macs:
            continue
        values = {key: results[(mac, key)] for key in keys}
        failed = [(key, value) for key, value in values.items()
                  if isinstance(value, CloudSetupError)]
        if failed:
            key, err = failed[0]
            interfaces.append(InterfaceData(mac, position, error=f"{key}: {err}"))
        else:
            interfaces.append(checked(mac, position, parse, position, mac, values))
    return interfaces


def listed_nics(name: str, mac_texts: Sequence[str]) -> List[Tuple[int, str]]:
    """(index, MAC) of each listed NIC with a valid, unique MAC; upstream's log lines."""
    from nm_cloud_setup.config import normalize_mac

    seen = set()
    result = []
    for idx, text in enumerate(mac_texts):
        LOG.debug("%s interface[%d]: retrieving configuration", name, idx)
        mac = normalize_mac(text)
        if mac is None:
            LOG.info("interface[%d]: invalid MAC address returned", idx)
        elif mac in seen:
            LOG.info("interface[%d]: duplicate MAC address %s returned", idx, mac)
        else:
            seen.add(mac)
            result.append((idx, mac))
    return result


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise MetadataError(f"{what} is not valid JSON ({err})") from None


def field(obj: Any, key: str, kind: type, what: str) -> Any:
    """``obj[key]`` of type ``kind``, or MetadataError naming what is wrong."""
    if not isinstance(obj, dict):
        raise MetadataError(f"{what} is not a JSON object")
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise MetadataError(f"{what}: {key!r} is missing or not a {kind.__name__}")
    return value


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


def parse_netmask(text: str) -> int:
    """A dotted netmask -> prefix length (1..30)."""
    value = text.strip()
    try:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError:
        raise MetadataError(f"invalid IPv4 netmask {_quote(value)}") from None
    if not 1 <= prefix <= 30:
        raise MetadataError(f"IPv4 netmask {_quote(value)} has no usable prefix length (1..30)")
    return prefix


def subnet_of(address: str, prefix: int) -> str:
    return str(ipaddress.IPv4Network(f"{address}/{prefix}", strict=False))


def parse_cidr(text: str, what: str = "range") -> str:
    """An IPv4 CIDR (or a bare address: /32) for a local route, host bits cleared."""
    value = text.strip()
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise MetadataError(f"invalid IPv4 {what} {_quote(value)}") from None
    if net.prefixlen < 8 or net.is_loopback or net.is_multicast or net.is_link_local:
        raise MetadataError(f"IPv4 {what} {net} cannot be delivered to a NIC")
    return str(net)


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
