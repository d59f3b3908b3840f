"""The provider contract: ``Provider``, ``BulkProvider`` and session tokens.

A provider is two operations: ``detect()`` (raise if this is not the cloud)
and ``get_config(macs)`` (the per-NIC data for the local MACs).  Parsers are
pure functions that raise ``MetadataError`` with a message naming the bad
value; nothing that fails to parse is ever taken as "no addresses".  The
validators live in ``values``, the reading of NIC lists in ``listing``; both are
re-exported here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, TypeVar, Union

from nm_cloud_setup.errors import CloudSetupError, HttpError, MetadataError
from nm_cloud_setup.model import Identity, InstanceData
from nm_cloud_setup.providers import fanout, registry
from nm_cloud_setup.providers.http import HttpClient

from nm_cloud_setup.providers.listing import (  # noqa: F401 - re-exported  # isort: skip
    Listed, check_indexes, checked, listed_nics, parse_mac_listing, per_mac_interfaces,
    unmatched, walk_numbers)
from nm_cloud_setup.providers.values import (  # noqa: F401 - re-exported  # isort: skip
    MAX_ADDRESSES_PER_NIC, field, parse_cidr, parse_index, parse_ipv4, parse_ipv4_list,
    parse_json, parse_netmask, parse_subnet, subnet_of, text_or_none, warn_outside_subnet)

LOG = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Provider:
    """Base of the cloud providers.

    ``key`` is the cloud's row in ``registry.py`` (``NM_CLOUD_SETUP_<KEY>``),
    ``default_host`` the metadata base URL.
    """

    key = ""
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

    @property
    def name(self) -> str:
        """The name upstream's log lines use (``registry.py``)."""
        return registry.BY_KEY[self.key].log_name

    def get(self, path: str) -> str:
        """GET a path and decode it; every provider's requests pass here."""
        return self.client.get(path).text(path)

    def detect(self) -> None:
        raise NotImplementedError

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        """The metadata of the NICs whose MACs are keys of ``macs`` (MAC -> ifname)."""
        raise NotImplementedError

    def identity(self, instance: InstanceData) -> Identity:
        """Who the instance is (``status`` only, after ``get_config``): ``identity.py``."""
        from nm_cloud_setup.providers import identity

        return identity.fetch(self, instance)

    def fetch_texts(self, paths: Mapping[K, str]) -> Dict[K, Optional[str]]:
        """GET each path at once, stripped; None where it is not there (``optional``)."""
        results = self.fetch_all({key: self.optional(path) for key, path in paths.items()})
        return {key: value.strip() or None if isinstance(value, str) else None
                for key, value in results.items()}

    def required(self, path: str, first: Optional[CloudSetupError] = None,
                 started: Optional[float] = None) -> Callable[[], str]:
        """A fetch of a key upstream needs.  A 404 is asked again once a second for
        ``pending_wait`` seconds (a NIC just hot-plugged gets its keys a moment after
        its MAC is listed; upstream polls so too), then it is an error.  ``first``: the
        failure of a first attempt already made at ``started``."""
        def fetch() -> str:
            deadline = (time.monotonic() if started is None else started) + self.pending_wait
            err = first
            while True:
                if err is None:
                    try:
                        return self.get(path)
                    except HttpError as caught:
                        err = caught
                if not isinstance(err, HttpError) or err.code != 404 \
                        or time.monotonic() + 1.0 > deadline:
                    raise err
                LOG.debug("%s: not there (yet); asking again in 1 s", path)
                time.sleep(1.0)
                err = None
        return fetch

    def optional(self, path: str) -> Callable[[], Optional[str]]:
        """A fetch of a key upstream never reads: None when it is not there (404) or
        cannot be had (logged); it never fails a NIC."""
        def fetch() -> Optional[str]:
            try:
                return self.get(path)
            except CloudSetupError as err:
                return self.as_optional(path, err)
        return fetch

    @staticmethod
    def as_optional(path: str, result: Union[str, CloudSetupError]) -> Optional[str]:
        """The answer to an optional key (``optional``), from a fetch's result."""
        if not isinstance(result, CloudSetupError):
            return result
        if not (isinstance(result, HttpError) and result.code == 404):
            LOG.warning("%s: optional, going without it: %s", path, result)
        return None

    def listing(self, path: str, macs: Mapping[str, str],
                first: Optional[str] = None) -> List[Listed]:
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

    def per_mac_jobs(self, listed: Sequence[Listed], macs: Mapping[str, str],
                     fetch: Callable[[Listed], Dict[str, Any]]) -> Dict[str, Callable]:
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
        return fanout.fetch_all(jobs, self.concurrency)

    def run_steps(self, jobs: Mapping[K, Callable[[], fanout.Steps]]) -> Dict[K, Any]:
        """Run fetches that depend on one another (``fanout.run_steps``), at most
        ``concurrency`` requests in flight."""
        return fanout.run_steps(jobs, self.concurrency)


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

    @property
    def name(self) -> str:
        """The name upstream's log lines use (``registry.py``)."""
        return registry.BY_KEY[self.key].log_name

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
