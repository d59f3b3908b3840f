"""The HTTP client at its edges (providers/http.py), against a scripted server on loopback
that records what it was sent: the base URL, the request line and headers, the status
ranges, the body limits, a kept-alive connection the server closed, the read timeout,
and the URL and words of each error."""

from __future__ import annotations

import email.utils
import http.server
import threading
import time

import pytest

from nm_cloud_setup import __version__
from nm_cloud_setup.errors import HttpError
from nm_cloud_setup.providers import http as http_client
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy

ONCE = RetryPolicy(attempts=1)


class Script(http.server.ThreadingHTTPServer):
    """Answers from a list of (status, reason, headers, body); records each request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers, self.seen = [], []
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        status, reason, headers, body = self.server.answers.pop(0)
        if status == "close":  # drop the connection without an answer
            self.close_connection = True
            return
        self.send_response_only(status, reason)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if headers.get("Connection") == "close":
            self.close_connection = True


@pytest.fixture
def server():
    script = Script()
    yield script
    script.shutdown()
    script.server_close()


def answer(status=200, body=b"ok", reason="OK", **headers):
    return (status, reason, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def error_of(call, *args) -> HttpError:
    with pytest.raises(HttpError) as caught:
        call(*args)
    return caught.value


# -- the request ---------------------------------------------------------------------

def test_the_base_url_and_the_request_sent(server):
    server.answers = [answer(), answer()]
    client = HttpClient(server.url + "/prefix/", policy=ONCE)
    assert client.base_url == server.url + "/prefix"
    client.get("/latest/x", {"X-Token": "t"})
    client.get("")
    (method, path, headers), (_, root, _) = server.seen
    assert (method, path, root) == ("GET", "/prefix/latest/x", "/prefix")
    assert headers["User-Agent"] == f"nm-cloud-setup/{__version__}"
    assert headers["X-Token"] == "t"
    bare = HttpClient(server.url, policy=ONCE)
    server.answers = [answer()]
    bare.get("")
    assert server.seen[-1][1] == "/"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "http://", "127.0.0.1", "https:///x"])
def test_a_base_url_that_is_no_http_one_is_refused(url):
    with pytest.raises(ValueError) as caught:
        HttpClient(url)
    assert str(caught.value) == f"not an http:// base URL: {url}"


def test_an_https_base_url_speaks_tls(server):
    server.answers = [answer()] * 3
    client = HttpClient(server.url.replace("http:", "https:"), policy=ONCE)
    err = error_of(client.get, "/x")  # the plain server cannot answer a TLS hello
    assert err.code is None and err.url == server.url.replace("http:", "https:") + "/x"


# -- the answer ----------------------------------------------------------------------

@pytest.mark.parametrize("status", [300, 301, 399])
def test_3xx_is_a_redirect_not_followed(server, status):
    server.answers = [answer(status, Location="http://192.0.2.1/")]
    err = error_of(HttpClient(server.url).get, "/x")
    assert (err.url, err.reason, err.code, err.transient) == (
        server.url + "/x", "redirect", status, False)


@pytest.mark.parametrize("status, reason, words", [
    (400, "Bad Request", "HTTP 400 Bad Request"), (404, "", "HTTP 404"),
    (300 - 1, "Odd", None), (200, "OK", None), (204, "", None),
])
def test_the_status_ranges(server, status, reason, words):
    server.answers = [answer(status, b"", reason)]
    client = HttpClient(server.url, policy=ONCE)
    if words is None:
        response = client.get("/x")
        assert response.status == status
        return
    err = error_of(client.get, "/x")
    assert (err.url, err.reason, err.code) == (server.url + "/x", words, status)


def test_the_answers_headers_are_kept_lower_case(server):
    server.answers = [answer(X_Thing="1")]
    assert HttpClient(server.url).get("/x").headers["x-thing"] == "1"


def test_a_body_of_the_limit_is_taken_one_byte_more_is_not(server):
    server.answers = [answer(body=b"x" * 10), answer(body=b"x" * 11),
                      answer(body=b"x" * 10, Content_Length="9")]
    client = HttpClient(server.url, max_body=10, policy=ONCE)
    assert client.get("/x").body == b"x" * 10
    err = error_of(client.get, "/x")
    assert (err.url, err.reason, err.transient) == (
        server.url + "/x", "body too large (11 bytes, the limit is 10)", False)


def test_a_body_longer_than_its_length_says_is_cut_at_the_limit():
    class Body:
        def __init__(self, data):
            self.data, self.asked = data, []

        def read(self, size):
            self.asked.append(size)
            return self.data[:size]

    body = Body(b"x" * 20)
    assert http_client._read_capped(body, {}, "u", 20) == b"x" * 20
    assert body.asked == [21]
    err = error_of(http_client._read_capped, Body(b"x" * 21), {}, "u", 20)
    assert (err.url, err.reason, err.code, err.transient) == (
        "u", "body too large (over 20 bytes)", None, False)
    cut = Body(b"abc")
    with pytest.raises(http_client.http.client.IncompleteRead) as short:
        http_client._read_capped(cut, {"content-length": "5"}, "u", 20)
    assert (short.value.partial, short.value.expected) == (b"abc", 2)


@pytest.mark.parametrize("text, number", [("9" * 18, int("9" * 18)), ("9" * 19, None),
                                          ("", None), (" 12 ", 12)])
def test_header_numbers(text, number):
    assert http_client._number(text) == number


def test_retry_after_as_a_date():
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    future = email.utils.formatdate(time.time() + 100, usegmt=True)
    assert http_client._retry_after(past) == 0.0
    assert 97.0 < http_client._retry_after(future) <= 100.0
    assert http_client._retry_after("soon") is None


# -- the connection ------------------------------------------------------------------

def test_a_kept_alive_connection_the_server_closed_is_opened_again_once(server):
    server.answers = [answer(), ("close", "", {}, b""), answer(body=b"again")]
    client = HttpClient(server.url, policy=ONCE)
    assert client.get("/a").body == b"ok"
    assert client.get("/b").body == b"again"  # the same request, on a new connection
    assert [path for _, path, _ in server.seen] == ["/a", "/b", "/b"]


def test_a_fresh_connection_closed_without_an_answer_is_an_error(server):
    server.answers = [("close", "", {}, b""), answer()]
    err = error_of(HttpClient(server.url, policy=ONCE).get, "/a")
    assert err.url == server.url + "/a" and err.reason.startswith("request failed (")
    assert len(server.seen) == 1


def test_the_read_timeout_is_the_second_number(make_emulator):
    from nm_cloud_setup.emulator import scenario as scenarios
    emulator = make_emulator("ec2", scenarios.generate(1, 1))
    with emulator.state.lock:
        emulator.state.rules = [{"match": "/x", "status": 200, "delay": 0.6}]
    err = error_of(HttpClient(emulator.url, timeout=(5.0, 0.2), policy=ONCE).get, "/x")
    assert (err.url, err.reason) == (emulator.url + "/x", "no answer within 0.2 s")


def test_nothing_listening_names_the_url():
    err = error_of(HttpClient("http://127.0.0.1:9", policy=ONCE).get, "/x")
    assert (err.url, err.reason, err.code) == (
        "http://127.0.0.1:9/x", "cannot connect (Connection refused)", None)


# -- the time budget and the attempts --------------------------------------------------

def test_the_budget_refuses_a_request_from_its_end_on():
    now = [0.0]
    client = HttpClient("http://127.0.0.1:9", clock=lambda: now[0], budget=2.0, policy=ONCE)
    now[0] = 2.0
    err = error_of(client.get, "/x")
    assert (err.url, err.reason, err.code, err.transient) == (
        "http://127.0.0.1:9/x", "the metadata time budget of 2 s is used up", None, False)
    assert client.requests_sent == 0


def test_one_attempt_is_one_request(server):
    server.answers = [answer(503, b"", "Service Unavailable"), answer()]
    client = HttpClient(server.url, policy=RetryPolicy(attempts=1))
    assert error_of(client.get, "/x").code == 503
    assert len(server.seen) == 1


def test_a_new_connection_closed_again_is_an_error_not_a_third_try(server):
    server.answers = [answer(), ("close", "", {}, b""), ("close", "", {}, b""), answer()]
    client = HttpClient(server.url, policy=ONCE)
    client.get("/a")
    err = error_of(client.get, "/b")
    assert err.reason == "request failed (Remote end closed connection without response)"
    assert [path for _, path, _ in server.seen] == ["/a", "/b", "/b"]


@pytest.mark.parametrize("status, reason, words", [
    (404, "Not Found", "HTTP 404 Not Found"), (300, "Multiple Choices", "redirect"),
])
def test_an_error_answers_body_is_not_held_to_the_limit(server, status, reason, words):
    """Only a 2xx body is the metadata; another is read up to the limit and dropped."""
    server.answers = [answer(status, b"x" * 50, reason)]
    err = error_of(HttpClient(server.url, max_body=10, policy=ONCE).get, "/x")
    assert (err.code, err.reason) == (status, words)


@pytest.mark.parametrize("err, words", [
    (http_client.http.client.IncompleteRead(b"abc", 2), "body cut short after 3 bytes"),
    (ConnectionRefusedError(), "Connection refused"),
    (OSError(113, "No route to host"), "No route to host"),
    (OSError("odd"), "odd"),
    (http_client.http.client.HTTPException("x" * 300), "x" * 200),
    (http_client.http.client.HTTPException(), "HTTPException"),
])
def test_the_reason_given_for_a_failed_request(err, words):
    assert http_client._reason(err) == words
