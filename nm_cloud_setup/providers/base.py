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
import time
from typing import (Any, Callable, Dict, Hashable, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, TypeVar, Union)

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
    # Upstream polls its keys once a second: a key a NIC does not have yet (404, right
    # after a hot-plug) is waited for this long, and a local MAC missing from the
    # interface list this long (upstream's 10 s and 15 s).
    pending_wait = 10.0
    listing_wait = 15.0

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

    def required(self, path: str) -> Callable[[], str]:
        """A fetch of a key upstream needs.  A 404 is asked again once a second for
        ``pending_wait`` seconds (a NIC just hot-plugged gets its keys a moment after
        its MAC is listed; upstream polls so too), then it is an error."""
        def fetch() -> str:
            deadline = time.monotonic() + self.pending_wait
            while True:
                try:
                    return self.get(path)
                except HttpError as err:
                    if err.code != 404 or time.monotonic() + 1.0 > deadline:
                        raise
                LOG.debug("%s: not there (yet); asking again in 1 s", path)
                time.sleep(1.0)
        return fetch

    def optional(self, path: str) -> Callable[[], Optional[str]]:
        """A fetch of a key upstream never reads: None when it is not there (404) or
        cannot be had (logged); it never fails a NIC."""
        def fetch() -> Optional[str]:
            try:
                return self.get(path)
            except CloudSetupError as err:
                if not (isinstance(err, HttpError) and err.code == 404):
                    LOG.warning("%s: optional, going without it: %s", path, err)
                return None
        return fetch

    def listing(self, path: str, macs: Mapping[str, str],
                first: Optional[str] = None) -> List["Listed"]:
        """The MAC listing at ``path`` (``first``: a body already fetched), fetched again
        once a second while a local MAC is missing from it, for ``listing_wait`` s
        (as upstream: a hot-plugged NIC shows up in the metadata a moment later)."""
        deadline = time.monotonic() + self.listing_wait
        while True:
            text = first if first is not None else self.get(path)
            first = None
            listed = parse_mac_listing(text)
            missing = set(macs) - {nic.mac for nic in listed}
            if not missing or time.monotonic() + 1.0 > deadline:
                return listed
            LOG.debug("get-config: %s not listed yet; asking again in 1 s",
                      ", ".join(sorted(missing)))
            time.sleep(1.0)

    def per_mac_jobs(self, listed: Sequence["Listed"], macs: Mapping[str, str],
                     fetch: Callable[["Listed"], Dict[str, Any]]) -> Dict[str, Callable]:
        """``fetch(nic)`` for each listed MAC that is local, with upstream's
        "start/skip fetching" lines; keyed by MAC for ``fetch_all``."""
        jobs: Dict[str, Callable] = {}
        for nic in listed:
            if nic.mac not in macs:
                LOG.debug("get-config: skip fetching meta data for %s (%s)", nic.mac, nic.path)
            elif nic.mac not in jobs:
                LOG.debug("get-config: start fetching meta data for #%d, %s (%s)",
                          nic.position, nic.mac, nic.path)
                jobs[nic.mac] = (lambda nic=nic: fetch(nic))
        return jobs

    def fetch_keys(self, base: str, keys: Sequence[str]) -> Dict[str, Any]:
        """Upstream's ``keys`` under ``base``, one after the other (a 404 is waited for);
        the first failure ends it, as the value of its key."""
        values: Dict[str, Any] = {}
        for key in keys:
            try:
                values[key] = self.required(base + key)()
            except CloudSetupError as err:
                values[key] = err
                break
        return values

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
        self.walk_start: Optional[str] = None

    def detect(self) -> None:
        try:
            self._document = self.fetch_bulk()
        except HttpError as err:
            if self.walk_probe is None or err.code not in self.refused:
                raise
            LOG.debug("%s: the one-request document is refused (%s); walking the text form",
                      self.name, err.reason)
            # The probe is the first request of upstream's walk: kept, so that the walk
            # costs no more than upstream's (its detection request is saved).
            self.walk_start = self.get(self.walk_probe)
            self.walking = True

    def walk_first(self) -> Optional[str]:
        """The walk probe's body, handed out once."""
        text, self.walk_start = self.walk_start, None
        return text

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


class Listed(NamedTuple):
    """One line of a MAC listing: its position among the valid lines (upstream's table
    index), the MAC, and the line as given (the path of its keys)."""

    position: int
    mac: str
    path: str


def parse_mac_listing(text: str) -> List[Listed]:
    """A ``macs/`` listing (``aa:bb:cc:dd:ee:ff/`` per line), as upstream reads it: lines
    that are not a MAC are skipped (logged); no valid line at all is an error."""
    from nm_cloud_setup.config import normalize_mac

    listed: List[Listed] = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        mac = normalize_mac(line[:-1] if line.endswith("/") else line)
        if mac is None:
            LOG.warning("get-config: ignoring invalid MAC address %s in the interface list",
                        _quote(line, 40))
            continue
        listed.append(Listed(len(listed), mac, line))
    if not listed:
        raise MetadataError("the interface list is empty" if not text.strip() else
                            "the interface list holds no valid MAC address")
    return listed


def per_mac_interfaces(listed: Sequence[Listed], macs: Mapping[str, str],
                       results: Mapping[str, Any],
                       parse: Callable[[int, str, Dict[str, Any]], InterfaceData]
                       ) -> List[InterfaceData]:
    """The local MACs' fetched keys (``per_mac_jobs`` results) -> their data; a failed
    fetch or a bad value fails only that NIC, naming the key.  A MAC listed twice is
    not guessed at: that NIC keeps its configuration."""
    counts: Dict[str, int] = {}
    for nic in listed:
        counts[nic.mac] = counts.get(nic.mac, 0) + 1
    interfaces: List[InterfaceData] = []
    for nic in listed:
        if nic.mac not in macs or any(i.mac == nic.mac for i in interfaces):
            continue
        values = results[nic.mac]
        failed = [(key, value) for key, value in values.items()
                  if isinstance(value, CloudSetupError)]
        if counts[nic.mac] > 1:
            interfaces.append(InterfaceData(nic.mac, nic.position, error=(
                f"duplicate MAC address {nic.mac} in the interface list")))
        elif failed:
            key, err = failed[0]
            interfaces.append(InterfaceData(nic.mac, nic.position, error=f"{key}: {err}"))
        else:
            interfaces.append(checked(nic.mac, nic.position, parse, nic.position, nic.mac,
                                      values))
    return interfaces


def unmatched(listed: Sequence[str], macs: Mapping[str, str]) -> Tuple[str, ...]:
    """The listed MACs that are no local NIC's (upstream logs "device not found")."""
    return tuple(dict.fromkeys(mac for mac in listed if mac not in macs))


def listed_nics(name: str, mac_texts: Sequence[str],
                numbers: Optional[Sequence[int]] = None) -> List[Tuple[int, str]]:
    """(index, MAC) of each listed NIC with a valid, unique MAC; upstream's log lines,
    which name a NIC by its number in the service's list (``numbers``, default the
    index)."""
    from nm_cloud_setup.config import normalize_mac

    seen = set()
    result = []
    prefix = "GCP " if name == "GCP" else ""
    for idx, text in enumerate(mac_texts):
        number = numbers[idx] if numbers is not None else idx
        LOG.debug("%s interface[%d]: retrieving configuration", name, number)
        mac = normalize_mac(text)
        if mac is None:
            LOG.info("%sinterface[%d]: invalid MAC address returned", prefix, number)
        elif mac in seen:
            LOG.info("%sinterface[%d]: duplicate MAC address %s returned", prefix, number, mac)
        else:
            seen.add(mac)
            result.append((idx, mac))
    return result


def walk_numbers(text: str) -> List[int]:
    """A text-walk listing (``0/``, ``1/``... per line) -> the numbers; as upstream,
    a line that is not one is skipped."""
    numbers = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        value = line[:-1] if line.endswith("/") else line
        if value.isdigit() and value.isascii():
            numbers.append(int(value))
    return numbers


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
    """A dotted netmask -> prefix length (1..32)."""
    value = text.strip()
    try:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError:
        raise MetadataError(f"invalid IPv4 netmask {_quote(value)}") from None
    if not 1 <= prefix <= 32:
        raise MetadataError(f"IPv4 netmask {_quote(value)} has no usable prefix length (1..32)")
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
    """An IPv4 subnet ``A.B.C.D/N`` (host bits cleared), prefix 1..32."""
    value = text.strip()
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise MetadataError(f"invalid IPv4 subnet {_quote(value)}") from None
    if "/" not in value or not 1 <= net.prefixlen <= 32:
        raise MetadataError(f"IPv4 subnet {_quote(value)} has no usable prefix length (1..32)")
    return str(net)


def warn_outside_subnet(mac: str, addresses: Sequence[str], subnet: str) -> None:
    """Log the addresses outside the NIC's subnet: they are used all the same, with the
    subnet's prefix (and a route for their own subnet), as upstream does."""
    net = ipaddress.IPv4Network(subnet)
    for address in addresses:
        if ipaddress.IPv4Address(address) not in net:
            LOG.warning("get-config: %s: address %s is outside the NIC's subnet %s; adding it "
                        "with the subnet's prefix, as upstream does", mac, address, subnet)


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
