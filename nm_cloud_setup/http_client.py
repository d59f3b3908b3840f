"""The one place that talks HTTP: requests for the transfer, tenacity for retries.

Metadata services are link-local and must be reached directly: proxies and
netrc from the environment are ignored, redirects are refused, every request
has a timeout, bodies are capped, and only what is worth retrying is retried
(connection errors, timeouts, 5xx, 429 honouring Retry-After) within a
deadline.  A failure is always an ``HttpError``, never an empty answer.
tenacity is imported only when a first attempt has failed.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

import requests

from nm_cloud_setup import __version__
from nm_cloud_setup.errors import HttpError, MetadataError

LOG = logging.getLogger(__name__)

MAX_BODY = 512 * 1024
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one request may be tried.

    ``deadline`` bounds the time from the first attempt to the start of the
    last one; a Retry-After beyond it ends the retries at once.
    """

    attempts: int = 5
    deadline: float = 10.0
    base_wait: float = 0.2
    max_wait: float = 2.0

    def retryable(self, err: BaseException) -> bool:
        return isinstance(err, HttpError) and (err.code is None and err.reason != "redirect"
                                               or err.code in RETRY_STATUSES)

    def wait(self, err: HttpError, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if err.retry_after is not None:
            return err.retry_after
        return min(self.max_wait, self.base_wait * (2 ** (attempt - 1))) * (0.5 + jitter / 2)


NO_RETRY = RetryPolicy(attempts=1, deadline=0.0)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def text(self, url: str = "") -> str:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MetadataError(f"{url}: the body is not UTF-8 text ({err.reason} at byte "
                                f"{err.start})") from None


class HttpClient:
    """A metadata client for one base URL (``http://169.254.169.254``)."""

    def __init__(self, base_url: str, headers: Optional[Mapping[str, str]] = None,
                 timeout: Tuple[float, float] = (3.0, 3.0), max_body: int = MAX_BODY,
                 policy: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 session: Optional[requests.Session] = None,
                 rate: Optional[float] = None, budget: Optional[float] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": f"nm-cloud-setup/{__version__}", **(headers or {})}
        self.timeout = timeout
        self.max_body = max_body
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._session = session or _new_session()
        self._lock = threading.Lock()
        self._interval = 1.0 / rate if rate else 0.0
        self._next_slot = 0.0
        self._budget = budget
        self._budget_ends = clock() + budget if budget else None
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, headers: Optional[Mapping[str, str]] = None,
            policy: Optional[RetryPolicy] = None) -> Response:
        return self.request("GET", path, headers, policy)

    def request(self, method: str, path: str, headers: Optional[Mapping[str, str]] = None,
                policy: Optional[RetryPolicy] = None) -> Response:
        """One request; 2xx is returned, anything else raised as ``HttpError``."""
        url = self.base_url + path
        policy = policy or self.policy
        started = self._clock()
        self._check_budget(url, started)
        try:
            return self._once(method, url, headers)
        except HttpError as err:
            if not policy.retryable(err) or policy.attempts <= 1:
                raise
            return self._retry(method, url, headers, policy, started, err)

    def _retry(self, method: str, url: str, headers: Optional[Mapping[str, str]],
               policy: RetryPolicy, started: float, first: HttpError) -> Response:
        import tenacity

        def should_retry(err: BaseException) -> bool:
            return policy.retryable(err)

        def next_wait(state: "tenacity.RetryCallState") -> float:
            err = state.outcome.exception() if state.outcome else None
            return self._wait_or_give_up(err, state.attempt_number + 1, policy, started)

        self._sleep(self._wait_or_give_up(first, 1, policy, started))
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts - 1),
            retry=tenacity.retry_if_exception(should_retry),
            wait=next_wait, sleep=self._sleep, reraise=True)
        return retrying(self._once, method, url, headers)

    def _check_budget(self, url: str, now: float) -> None:
        if self._budget_ends is not None and now >= self._budget_ends:
            raise HttpError(url, f"the metadata time budget of {self._budget:g} s is used up")

    def _wait_or_give_up(self, err: Optional[BaseException], attempt: int,
                         policy: RetryPolicy, started: float) -> float:
        assert isinstance(err, HttpError)
        wait = policy.wait(err, attempt, random.random())
        now = self._clock()
        if self._budget_ends is not None and now + wait >= self._budget_ends:
            raise HttpError(err.url, f"{err.reason} (gave up: the metadata time budget of "
                            f"{self._budget:g} s is used up)", err.code)
        if now + wait - started > policy.deadline:
            raise HttpError(err.url, f"{err.reason} (gave up after {attempt} attempts: the "
                            f"retry deadline of {policy.deadline:g} s was reached)", err.code)
        LOG.debug("%s %s: %s; retrying in %.2f s", "request", err.url, err.reason, wait)
        return wait

    def _pace(self) -> None:
        """Keep request starts ``1/rate`` apart (the provider's documented limit)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot)
            self._next_slot = start + self._interval
            self.requests_sent += 1
        if start > now:
            self._sleep(start - now)

    def _once(self, method: str, url: str, headers: Optional[Mapping[str, str]]) -> Response:
        self._pace()
        try:
            with self._session.request(method, url, headers={**self.headers, **(headers or {})},
                                       timeout=self.timeout, allow_redirects=False,
                                       stream=True) as resp:
                if 300 <= resp.status_code < 400:
                    raise HttpError(url, "redirect", resp.status_code)
                body = _read_capped(resp, url, self.max_body) if resp.ok else b""
        except requests.Timeout:
            raise HttpError(url, f"no answer within {self.timeout[1]:g} s") from None
        except requests.ConnectionError as err:
            raise HttpError(url, f"cannot connect ({_root_cause(err)})") from None
        except requests.RequestException as err:
            raise HttpError(url, f"request failed ({_root_cause(err)})") from None
        LOG.log(5, "%s %s -> %d (%d bytes)", method, url, resp.status_code, len(body))
        if not resp.ok:
            raise HttpError(url, f"HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
                            resp.status_code, _retry_after(resp.headers.get("Retry-After")))
        return Response(resp.status_code, body, dict(resp.headers))


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no *_proxy, no netrc, no REQUESTS_CA_BUNDLE
    session.proxies = {}
    return session


def _read_capped(resp: requests.Response, url: str, limit: int) -> bytes:
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise HttpError(url, f"body too large ({length} bytes, the limit is {limit})")
    chunks = []
    size = 0
    for chunk in resp.iter_content(65536):
        size += len(chunk)
        if size > limit:
            raise HttpError(url, f"body too large (over {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _root_cause(err: BaseException) -> str:
    while err.__context__ is not None and err.__context__ is not err:
        err = err.__context__
    text = str(err)
    for marker in ("Connection refused", "timed out", "No route to host",
                   "Network is unreachable", "Connection reset"):
        if marker in text:
            return marker
    return text[:200] or type(err).__name__

