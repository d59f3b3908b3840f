"""The one place that talks HTTP: the standard library's http.client for the transfer,
tenacity for retries.

Metadata services are link-local and must be reached directly: no proxy is ever
used (http.client knows none, and nothing here reads the environment), redirects
are refused, every request has a connect and a read timeout, bodies are capped,
and only what is worth retrying is retried (connection errors, timeouts, 5xx, 429
honouring Retry-After) within a deadline.  A failure is always an ``HttpError``,
never an empty answer.  One keep-alive connection per thread.  tenacity is
imported only when a first attempt has failed.

requests used to be the transfer library here: it cost about 60 ms of imports on
every run (urllib3, charset_normalizer, idna, ...), a fifth of a run's CPU time,
for features this client must switch off (proxies, redirects, netrc).  See
docs/performance.md.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

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
        return isinstance(err, HttpError) and (err.transient or err.code in RETRY_STATUSES)

    def wait(self, err: HttpError, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if err.retry_after is not None:
            return err.retry_after
        return min(self.max_wait, self.base_wait * (2 ** (attempt - 1))) * (0.5 + jitter / 2)


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
    """A metadata client for one base URL (``http://169.254.169.254``).

    ``rate`` paces request starts (requests per second); ``budget`` (seconds from
    creation) ends all requests and retries of this client once used up.
    """

    def __init__(self, base_url: str, headers: Optional[Mapping[str, str]] = None,
                 timeout: Tuple[float, float] = (3.0, 3.0), max_body: int = MAX_BODY,
                 policy: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 rate: Optional[float] = None, budget: Optional[float] = None) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// base URL: {base_url}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self.headers = {"User-Agent": f"nm-cloud-setup/{__version__}", **(headers or {})}
        self.timeout = timeout
        self.max_body = max_body
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._interval = 1.0 / rate if rate else 0.0
        self._next_slot = 0.0
        self._budget = budget
        self._budget_ends = clock() + budget if budget else None
        self.requests_sent = 0

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

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
            return self._once(method, path, url, headers)
        except HttpError as err:
            if not policy.retryable(err) or policy.attempts <= 1:
                raise
            return self._retry(method, path, url, headers, policy, started, err)

    def _retry(self, method: str, path: str, url: str, headers: Optional[Mapping[str, str]],
               policy: RetryPolicy, started: float, first: HttpError) -> Response:
        import tenacity

        # tenacity 8.1 passes ``retry_state=`` by name, later ones by position.  The wait
        # ends the retries (the attempts, the deadline, the budget), not tenacity's stop:
        # tenacity 8.3+ asks for the wait before its stop, 8.2 after.
        def next_wait(retry_state: "tenacity.RetryCallState") -> float:
            outcome = retry_state.outcome
            err = outcome.exception() if outcome else None
            return self._wait_or_give_up(err, retry_state.attempt_number + 1, policy, started)

        self._sleep(self._wait_or_give_up(first, 1, policy, started))
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(policy.retryable),
            wait=next_wait, sleep=self._sleep, reraise=True)
        return retrying(self._once, method, path, url, headers)

    def _check_budget(self, url: str, now: float) -> None:
        if self._budget_ends is not None and now >= self._budget_ends:
            raise HttpError(url, f"the metadata time budget of {self._budget:g} s is used up",
                            transient=False)

    def _wait_or_give_up(self, err: Optional[BaseException], attempt: int,
                         policy: RetryPolicy, started: float) -> float:
        import random

        assert isinstance(err, HttpError)
        if attempt >= policy.attempts:  # the last attempt's answer is the answer
            raise err
        wait = policy.wait(err, attempt, random.random())
        now = self._clock()
        if self._budget_ends is not None and now + wait >= self._budget_ends:
            raise HttpError(err.url, f"{err.reason} (gave up: the metadata time budget of "
                            f"{self._budget:g} s is used up)", err.code, transient=False)
        if now + wait - started > policy.deadline:
            raise HttpError(err.url, f"{err.reason} (gave up after {attempt} attempts: the "
                            f"retry deadline of {policy.deadline:g} s was reached)", err.code,
                            transient=False)
        LOG.debug("request %s: %s; retrying in %.2f s", err.url, err.reason, wait)
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

    def _once(self, method: str, path: str, url: str,
              headers: Optional[Mapping[str, str]]) -> Response:
        self._pace()
        try:
            status, reason, head, body = self._exchange(method, self._prefix + path,
                                                        {**self.headers, **(headers or {})},
                                                        url)
        except socket.timeout:
            self.close()
            raise HttpError(url, f"no answer within {self.timeout[1]:g} s") from None
        except http.client.HTTPException as err:
            self.close()
            raise HttpError(url, f"request failed ({_reason(err)})") from None
        except OSError as err:
            self.close()
            raise HttpError(url, f"cannot connect ({_reason(err)})") from None
        LOG.log(5, "%s %s -> %d (%d bytes)", method, url, status, len(body))
        if 300 <= status < 400:
            raise HttpError(url, "redirect", status, transient=False)
        if not 200 <= status < 300:
            raise HttpError(url, f"HTTP {status} {reason}".rstrip(), status,
                            _retry_after(head.get("retry-after")))
        return Response(status, body, head)

    def _exchange(self, method: str, path: str, headers: Mapping[str, str],
                  url: str) -> Tuple[int, str, Dict[str, str], bytes]:
        """One request on this thread's keep-alive connection.

        A kept-alive connection that the server closed meanwhile is opened again, once.
        """
        conn = getattr(self._local, "conn", None)
        fresh = conn is None
        while True:
            if conn is None:
                conn = self._connect()
            try:
                conn.request(method, path or "/", headers=dict(headers))
                resp = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                conn = None
                if fresh:
                    raise
                fresh = True
        head = {k.lower(): v for k, v in resp.getheaders()}
        try:
            body = _read_capped(resp, head, url, self.max_body) if 200 <= resp.status < 300 \
                else resp.read(self.max_body)
        except HttpError:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, resp.reason or "", head, body

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._host, self._port, timeout=self.timeout[0])
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout[1])
        self._local.conn = conn
        return conn


def _read_capped(resp: http.client.HTTPResponse, head: Mapping[str, str], url: str,
                 limit: int) -> bytes:
    length = _number(head.get("content-length", ""))
    if length is not None and length > limit:
        raise HttpError(url, f"body too large ({length} bytes, the limit is {limit})",
                        transient=False)
    body = resp.read(limit + 1)
    if len(body) > limit:
        raise HttpError(url, f"body too large (over {limit} bytes)", transient=False)
    if length is not None and len(body) < length:
        raise http.client.IncompleteRead(body, length - len(body))
    return body


def _number(text: str) -> Optional[int]:
    """A header's ASCII decimal number (``str.isdigit`` also takes ``²`` and other
    scripts' digits, which ``int`` refuses or reads); None when it is none."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return float(seconds)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(err: BaseException) -> str:
    if isinstance(err, http.client.IncompleteRead):
        return f"body cut short after {len(err.partial)} bytes"
    if isinstance(err, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)[:200] or type(err).__name__
