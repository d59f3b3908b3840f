"""The metadata answers (service/metadata.py): by source address, the request budget, no
bodies, tokens bound to their VM, proxies refused, ``--tokens required`` on every path."""

from __future__ import annotations

import pytest

from nm_cloud_setup.service.guard import Guard, Limits
from nm_cloud_setup.service.metadata import MetadataService
from nm_cloud_setup.service.request import HOP_LIMIT
from tests.support.vm_documents import vm

TTL_NAME = "X-aws-ec2-metadata-token-ttl-seconds"
TTL = {TTL_NAME: "60"}
GET = "/latest/meta-data/instance-id"


@pytest.fixture
def vms(store):
    store.put("a", vm(user_data="a-data", ssh_keys=["ssh-ed25519 AAAA a"]))
    store.put("b", vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"]))
    return store


def test_metadata_by_source_tokens_and_forwarding(vms):
    service = MetadataService(vms, "optional")
    assert service.handle("GET", GET, {}, "10.0.0.7")[:2] == (404, {
        "Content-Type": "text/plain", "Connection": "close"})  # nobody's: closed too
    assert service.handle("GET", "/", {}, "10.0.0.7")[0] == 404
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.5")[2] == b"a-data"
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.6")[0] == 404
    mac_a = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s"
    assert service.handle("GET", mac_a, {}, "10.0.0.6")[0] == 404
    status, headers, token_a = service.handle("PUT", "/latest/api/token", TTL, "10.0.0.5")
    assert status == 200 and headers[HOP_LIMIT] == "1" and headers[TTL_NAME] == "60"
    with_a = {"X-aws-ec2-metadata-token": token_a.decode()}
    assert service.handle("GET", GET, with_a, "10.0.0.5")[0] == 200
    assert service.handle("GET", GET, with_a, "10.0.0.6")[0] == 401  # a's token, b asks
    assert service.handle("GET", "/openstack/latest/user_data", with_a, "10.0.0.6")[0] == 401
    assert service.handle("PUT", "/latest/api/token", {}, "10.0.0.5")[0] == 400
    assert service.handle("GET", "/latest/api/token", TTL, "10.0.0.5")[0] == 405
    assert service.handle("POST", GET, {}, "10.0.0.5")[0] == 405


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_proxied_token_requests_are_refused(vms, header):
    service = MetadataService(vms, "optional")
    assert service.handle("PUT", "/latest/api/token", {**TTL, header: "x"}, "10.0.0.5")[0] == 403
    token = service.handle("PUT", "/latest/api/token", TTL, "10.0.0.5")[2].decode()
    with_token = {"X-aws-ec2-metadata-token": token}
    assert service.handle("GET", GET, {**with_token, header: "x"}, "10.0.0.5")[0] == 403
    assert service.handle("GET", GET, {header: "x"}, "10.0.0.5")[0] == 200  # IMDSv1


def test_tokens_required_covers_every_path(vms):
    strict = MetadataService(vms, "required")
    for path in ("/", GET, "/latest/user-data", "/openstack", "/openstack/latest/meta_data.json",
                 "/openstack/latest/user_data", "/openstack/latest/network_data.json"):
        assert strict.handle("GET", path, {}, "10.0.0.5")[0] == 401, path
    token = strict.handle("PUT", "/latest/api/token", TTL, "10.0.0.5")[2].decode()
    with_token = {"X-aws-ec2-metadata-token": token}
    assert strict.handle("GET", GET, with_token, "10.0.0.5")[0] == 200
    assert b"ssh-ed25519 AAAA a" in strict.handle(
        "GET", "/openstack/latest/meta_data.json", with_token, "10.0.0.5")[2]
    assert "OpenStack's" in strict.describe()


def test_a_token_flood_keeps_other_vms_tokens(vms):
    service = MetadataService(vms, "optional")
    token_b = service.handle("PUT", "/latest/api/token", TTL, "10.0.0.6")[2].decode()
    for _ in range(200_000):
        service.handle("PUT", "/latest/api/token", TTL, "10.0.0.5")
    assert service.handle("GET", GET, {"X-aws-ec2-metadata-token": token_b}, "10.0.0.6")[0] == 200


@pytest.mark.parametrize("headers,status", [
    ({"Content-Length": "0"}, 200), ({"Content-Length": "1024"}, 200),
    ({"Content-Length": "1025"}, 413), ({"Content-Length": "4194304"}, 413),
    ({"Content-Length": "9" * 5000}, 413), ({"Transfer-Encoding": "chunked"}, 413)])
def test_requests_carry_no_body(vms, headers, status):
    answer = MetadataService(vms, "optional").handle("GET", GET, headers, "10.0.0.5")
    assert answer[0] == status
    assert (answer[1].get("Connection") == "close") == (status == 413)


def test_a_vm_over_its_budget_gets_429(vms):
    guard = Guard(Limits(rate=1.0, burst=3), lambda s: None)
    service = MetadataService(vms, "optional", guard)
    assert [service.handle("GET", GET, {}, "10.0.0.5")[0] for _ in range(4)] == [200] * 3 + [429]
    status, headers, _ = service.handle("GET", GET, {}, "10.0.0.5")
    assert status == 429 and headers["Retry-After"] == "1"
    assert service.handle("GET", GET, {}, "10.0.0.6")[0] == 200  # b has its own budget
    strangers = [service.handle("GET", GET, {}, f"192.0.2.{n}")[:2] for n in range(1, 5)]
    assert [s[0] for s in strangers] == [404] * 3 + [429]  # one budget for all of them
    assert strangers[3][1]["Connection"] == "close"


def test_nova_name_is_the_vms_name(store):
    store.put("web-1", vm(hostname="web-1.example.org"))
    answer = MetadataService(store).handle("GET", "/openstack/latest/meta_data.json", {},
                                           "10.0.0.5")
    assert b'"name": "web-1"' in answer[2] and b'"hostname": "web-1.example.org"' in answer[2]
