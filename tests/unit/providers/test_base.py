"""What every provider shares (providers/base.py), on canned answers and a fake clock: a
key not there yet asked again once a second for upstream's 10 s, a MAC not listed yet
for its 15 s, optional keys, upstream's keys one after the other, the one-request
document and its refusal, and the session tokens."""

from __future__ import annotations

import logging
from typing import Dict, List, Union

import pytest

from nm_cloud_setup.errors import HttpError, MetadataError
from nm_cloud_setup.providers import base
from nm_cloud_setup.providers.http import HttpClient, Response

Answer = Union[str, HttpError, MetadataError]


def not_found(path: str) -> HttpError:
    return HttpError(path, "HTTP 404 Not Found", 404)


class Clock:
    """``time`` for base.py: monotonic and sleep, without waiting."""

    def __init__(self) -> None:
        self.now, self.sleeps = 100.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(base, "time", fake)
    return fake


class Canned(base.Provider):
    """Answers per path: a list is consumed one per request (its last one then stays)."""

    key = "ec2"

    def __init__(self, answers: Dict[str, Union[Answer, List[Answer]]]) -> None:
        super().__init__(HttpClient("http://127.0.0.1:9"))  # asked nothing
        self.answers, self.asked = answers, []

    def get(self, path: str) -> str:
        self.asked.append(path)
        answer = self.answers.get(path, not_found(path))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


# -- a key upstream needs: a 404 is waited for, once a second, 10 s ----------------------

def test_a_key_not_there_yet_is_asked_once_a_second_until_it_is(clock, caplog):
    provider = Canned({"/k": [not_found("/k")] * 3 + ["v"]})
    with caplog.at_level(logging.DEBUG, logger=base.LOG.name):
        assert provider.required("/k")() == "v"
    assert provider.asked == ["/k"] * 4 and clock.sleeps == [1.0] * 3
    assert [r.getMessage() for r in caplog.records] == [
        "/k: not there (yet); asking again in 1 s"] * 3


def test_a_key_never_there_fails_after_10_s(clock):
    provider = Canned({})
    with pytest.raises(HttpError) as caught:
        provider.required("/k")()
    assert caught.value.code == 404
    # asked at 0, 1, ..., 10 s: the last ask ends past the deadline
    assert provider.asked == ["/k"] * 11 and clock.sleeps == [1.0] * 10


def test_a_first_failure_already_had_counts_from_its_time(clock):
    provider = Canned({})
    with pytest.raises(HttpError):
        provider.required("/k", not_found("/k"), clock.now - 4.0)()
    assert provider.asked == ["/k"] * 6  # 4 s of the 10 are gone


@pytest.mark.parametrize("err", [HttpError("/k", "HTTP 500 Internal Server Error", 500),
                                 HttpError("/k", "no answer within 1 s"),
                                 MetadataError("/k: the body is not UTF-8 text")])
def test_other_failures_of_a_needed_key_are_not_waited_for(clock, err):
    provider = Canned({"/k": err})
    with pytest.raises(type(err)):
        provider.required("/k")()
    assert provider.asked == ["/k"] and clock.sleeps == []


def test_upstreams_keys_one_after_the_other_the_first_failure_ends_them(clock):
    err = HttpError("/b", "HTTP 500 Internal Server Error", 500)
    provider = Canned({"/a": "1", "/b": err, "/c": "3"})
    assert provider.fetch_keys("/", ["a", "b", "c"]) == {"a": "1", "b": err}
    assert provider.asked == ["/a", "/b"]


# -- a key upstream never reads: optional ------------------------------------------

def test_optional_keys_go_without_a_word_on_404_else_with_a_warning(clock, caplog):
    err = HttpError("/b", "HTTP 500 Internal Server Error", 500)
    bad = MetadataError("/c: the body is not UTF-8 text")
    provider = Canned({"/a": " x \n", "/b": err, "/c": bad, "/e": "\n"})
    assert provider.fetch_texts({"a": "/a", "b": "/b", "c": "/c", "d": "/d", "e": "/e"}) == {
        "a": "x", "b": None, "c": None, "d": None, "e": None}
    assert sorted(r.getMessage() for r in caplog.records) == [
        f"/b: optional, going without it: {err}", f"/c: optional, going without it: {bad}"]
    assert base.Provider.as_optional("/a", "text") == "text"


# -- the MAC listing: a local MAC missing is waited for, once a second, 15 s -------------

LISTED = "02:00:00:00:00:01/\n"
BOTH = LISTED + "02:00:00:00:00:02/\n"
MACS = {"02:00:00:00:00:01": "eth0", "02:00:00:00:00:02": "eth1"}


def test_a_mac_not_listed_yet_is_waited_for(clock, caplog):
    provider = Canned({"/macs/": [LISTED, LISTED, BOTH]})
    with caplog.at_level(logging.DEBUG, logger=base.LOG.name):
        listed = provider.listing("/macs/", MACS)
    assert [n.mac for n in listed] == list(MACS) and clock.sleeps == [1.0, 1.0]
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: 02:00:00:00:00:02 not listed yet; asking again in 1 s"] * 2


def test_a_mac_never_listed_is_given_up_after_15_s(clock, caplog):
    provider = Canned({"/macs/": LISTED})
    macs = dict(MACS, **{"02:00:00:00:00:03": "eth2"})
    with caplog.at_level(logging.DEBUG, logger=base.LOG.name):
        listed = provider.listing("/macs/", macs, first=LISTED)
    assert [n.mac for n in listed] == ["02:00:00:00:00:01"]
    assert len(provider.asked) == 15 and clock.sleeps == [1.0] * 15  # the first was given
    assert caplog.records[0].getMessage() == (
        "get-config: 02:00:00:00:00:02, 02:00:00:00:00:03 not listed yet; asking again in 1 s")


# -- the one-request document --------------------------------------------------------

class Bulk(base.BulkProvider):
    key = "gcp"
    bulk_path = "/doc"
    walk_probe = "/walk/"

    def __init__(self, answers) -> None:
        base.BulkProvider.__init__(self, HttpClient("http://127.0.0.1:9"))
        self.answers, self.asked = answers, []

    get = Canned.get


def test_without_detecting_the_document_is_fetched_when_asked():
    provider = Bulk({"/doc": "one"})
    assert provider.bulk() == "one" and provider.asked == ["/doc"]


def test_the_document_is_fetched_while_detecting_and_handed_out_once():
    provider = Bulk({"/doc": ["one", "two"]})
    provider.detect()
    assert (provider.walking, provider.bulk(), provider.bulk()) == (False, "one", "two")
    assert provider.asked == ["/doc", "/doc"]


@pytest.mark.parametrize("code", [400, 404])
def test_a_refused_document_walks_from_the_probe(code):
    provider = Bulk({"/doc": HttpError("/doc", f"HTTP {code}", code), "/walk/": "0/\n"})
    provider.detect()
    assert provider.walking is True and provider.walk_first() == "0/\n"
    assert provider.walk_first() is None and provider.asked == ["/doc", "/walk/"]


def test_a_document_failing_otherwise_or_without_a_probe_fails_detection():
    err = HttpError("/doc", "HTTP 500", 500)
    with pytest.raises(HttpError):
        Bulk({"/doc": err, "/walk/": "0/\n"}).detect()
    no_probe = Bulk({"/doc": not_found("/doc"), "/walk/": "0/\n"})
    no_probe.walk_probe = None
    with pytest.raises(HttpError):
        no_probe.detect()
    assert no_probe.asked == ["/doc"] and no_probe.walking is False


# -- bodies and session tokens -------------------------------------------------------

class Client:
    """An HttpClient's get and request, canned: the requests and their headers kept."""

    def __init__(self, gets, puts) -> None:
        self.gets, self.puts, self.sent = gets, puts, []

    def get(self, path, headers=None):
        self.sent.append(("GET", path, dict(headers or {})))
        answer = self.gets.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Response(200, answer, {})

    def request(self, method, path, headers=None):
        self.sent.append((method, path, dict(headers or {})))
        answer = self.puts.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Response(200, answer, {})


def tokens(client) -> base.TokenAuth:
    return base.TokenAuth(client, "/token", "X-TTL", "X-Token")


def test_a_body_that_is_no_text_names_its_path():
    provider = base.Provider(Client([b"\xffx"], []))
    with pytest.raises(MetadataError) as caught:
        provider.get("/x")
    assert str(caught.value) == (
        "/x: the body is not UTF-8 text (invalid start byte at byte 0)")


def test_tokens_are_put_with_their_ttl_sent_and_renewed_once_on_401():
    client = Client([b"a", HttpError("/k", "HTTP 401", 401), b"b", b"\xff"],
                    [b"t1\n", b"t2"])
    auth = tokens(client)
    auth.refresh()
    assert auth.get("/k") == "a"
    assert auth.get("/k") == "b"
    with pytest.raises(MetadataError) as caught:
        auth.get("/k")
    assert str(caught.value).startswith("/k: the body is not UTF-8 text")
    assert client.sent == [("PUT", "/token", {"X-TTL": "180"}), ("GET", "/k", {"X-Token": "t1"}),
                           ("GET", "/k", {"X-Token": "t1"}), ("PUT", "/token", {"X-TTL": "180"}),
                           ("GET", "/k", {"X-Token": "t2"}), ("GET", "/k", {"X-Token": "t2"})]


def test_a_refresh_without_a_stale_token_always_puts_one_with_a_stale_one_only_if_current():
    client = Client([], [b"t1", b"t2", b"t3"])
    auth = tokens(client)
    auth.refresh()
    auth.refresh()
    assert [s[0] for s in client.sent] == ["PUT", "PUT"]
    auth.refresh(stale="t0")  # another thread renewed it meanwhile: nothing to do
    assert [s[0] for s in client.sent] == ["PUT", "PUT"]


def test_a_401_after_another_thread_renewed_the_token_uses_the_new_one():
    auth = None

    def renewed_meanwhile():
        auth._token = "t2"
        return HttpError("/k", "HTTP 401", 401)

    class Renewing(Client):
        def get(self, path, headers=None):
            if callable(self.gets[0]):
                self.gets[0] = self.gets[0]()
            return super().get(path, headers)

    client = Renewing([renewed_meanwhile, b"ok"], [b"t1"])
    auth = tokens(client)
    auth.refresh()
    assert auth.get("/k") == "ok"
    assert client.sent[1:] == [("GET", "/k", {"X-Token": "t1"}), ("GET", "/k", {"X-Token": "t2"})]


def test_a_body_after_a_new_token_that_is_no_text_names_its_path():
    client = Client([HttpError("/k", "HTTP 401", 401), b"\xff"], [b"t1", b"t2"])
    auth = tokens(client)
    with pytest.raises(MetadataError) as caught:
        auth.get("/k")
    assert str(caught.value) == "/k: the body is not UTF-8 text (invalid start byte at byte 0)"


@pytest.mark.parametrize("code", [403, 404, 405])
def test_a_server_without_tokens_gets_plain_gets(code, caplog):
    client = Client([b"a", HttpError("/k", "HTTP 401", 401)],
                    [HttpError("/token", f"HTTP {code}", code)])
    auth = tokens(client)
    with caplog.at_level(logging.DEBUG, logger=base.LOG.name):
        auth.refresh()
    assert auth.supported is False
    assert auth.get("/k") == "a"
    with pytest.raises(HttpError):  # a 401 is then the answer, not a reason for a token
        auth.get("/k")
    assert client.sent[1:] == [("GET", "/k", {}), ("GET", "/k", {})]
    assert caplog.records[0].getMessage() == (
        f"the metadata server has no session tokens (HTTP {code}); using plain GETs")


@pytest.mark.parametrize("body", [b"", b"a\x01b", b"x" * 4097])
def test_a_token_that_is_no_token_is_an_error(body):
    with pytest.raises(MetadataError) as caught:
        tokens(Client([], [body])).refresh()
    assert str(caught.value) == "the metadata session token is empty or not printable"


def test_a_token_of_4096_characters_is_taken_and_one_no_text_names_its_path():
    auth = tokens(Client([], [b"x" * 4096, b"\xff"]))
    auth.refresh()
    assert auth._token == "x" * 4096
    with pytest.raises(MetadataError) as caught:
        auth.refresh()
    assert str(caught.value).startswith("/token: the body is not UTF-8 text")
