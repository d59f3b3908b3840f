"""IMDSv2 tokens against hostile VMs, from inside their namespaces (issue 22's table): a token
flood, a container behind NAT in a VM, ``--tokens required``, proxies, TTL headers, a VM
deleted and created again (docs/metadata-service.md, "Tokens")."""

from __future__ import annotations

import pytest

from harness.sandbox import run
from tests.support.metadata_lab import TTL, body, hostile, lab_of, token
from tests.support.requirements import require_root

pytestmark = pytest.mark.root
TOKEN = "X-aws-ec2-metadata-token"
USER_DATA = "/latest/user-data"


@pytest.fixture(scope="module")
def lab():
    require_root(with_nm=False)
    with lab_of(2) as lab:
        yield lab


@pytest.fixture
def restart(lab):
    """Start the service with other options; the defaults again after the test."""
    yield lab.start_service
    lab.start_service()


def test_a_token_flood_revokes_no_other_vm_token(lab, restart):
    vm1, vm2 = lab.machines["vm1"], lab.machines["vm2"]
    restart("--vm-rate", "1000000", "--vm-burst", "1000000")  # the tokens alone, no budget
    token2 = token(vm2)
    _, peak_before = lab.service_memory()
    flood = hostile(vm1, "tokens", 20000, 4)
    _, peak_after = lab.service_memory()
    assert flood["statuses"] == {"200": 20000}
    assert peak_after - peak_before < 8 * 1024  # KiB: tokens are kept nowhere
    assert vm2.fetch("GET", USER_DATA, {TOKEN: token2}) == (200, body(2)["user_data"].encode())
    restart()  # the default budget: the same flood is throttled; tokens outlive a restart
    assert vm2.fetch("GET", USER_DATA, {TOKEN: token2})[0] == 200
    throttled = hostile(vm1, "tokens", 2000, 4)
    assert throttled["statuses"].get("429", 0) > 1000, throttled


def test_a_container_behind_nat_gets_no_token(lab, restart):
    vm1 = lab.machines["vm1"]
    container = vm1.add_container()
    ttl = "X-aws-ec2-metadata-token-ttl-seconds: 60"
    put = hostile(container, "request", "PUT", "/latest/api/token", 3, ttl)
    assert put == {"status": None, "timeout": True}  # the answer's TTL ran out in the VM
    assert token(vm1)  # the VM itself is one hop away: it gets its token
    # IMDSv1 (tokens optional) answers a GET as EC2 does: the hop limit guards the token.
    assert hostile(container, "request", "GET", "/latest/meta-data/hostname", 3)["status"] == 200
    restart("--token-hop-limit", "2")
    put = hostile(container, "request", "PUT", "/latest/api/token", 3, ttl)
    assert put["status"] == 200 and len(put["body"]) == 43


SECRET_PATHS = ["/", "/latest/meta-data/", USER_DATA, "/latest/meta-data/public-keys/0/openssh-key",
                "/latest/dynamic/instance-identity/document", "/openstack",
                "/openstack/latest/meta_data.json", "/openstack/latest/user_data",
                "/openstack/2018-08-27/network_data.json"]


def test_tokens_required_guards_every_path_openstack_too(lab, restart):
    vm1 = lab.machines["vm1"]
    restart("--tokens", "required")
    for path in SECRET_PATHS:
        assert vm1.fetch("GET", path)[0] == 401, path
    with_token = {TOKEN: token(vm1)}
    status, meta = vm1.fetch("GET", "/openstack/latest/meta_data.json", with_token)
    assert status == 200 and body(1)["ssh_keys"][0].encode() in meta
    assert vm1.fetch("GET", "/openstack/latest/user_data", with_token)[0] == 200
    assert "tokens required on every path, EC2's and OpenStack's" in lab.service_log()


@pytest.mark.parametrize("header", ["X-Forwarded-For: 10.50.0.12", "Forwarded: for=10.50.0.12",
                                    "X-Real-IP: 10.50.0.12"])
def test_proxied_token_requests_are_refused(lab, header):
    vm1 = lab.machines["vm1"]
    name, _, value = header.partition(": ")
    assert vm1.fetch("PUT", "/latest/api/token", {**TTL, name: value})[0] == 403
    with_token = {TOKEN: token(vm1)}
    assert vm1.fetch("GET", USER_DATA, {**with_token, name: value})[0] == 403
    assert vm1.fetch("GET", USER_DATA, with_token)[0] == 200
    assert vm1.fetch("GET", USER_DATA, {name: value})[0] == 200  # IMDSv1, as EC2 answers it


@pytest.mark.parametrize("ttl", ["²", "1" * 5000, "٣٠", "0", "21601", "", "+60", "6e1", "0x3c",
                                 "60.0"])
def test_a_bad_ttl_is_400(lab, ttl):
    header = f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}"
    put = hostile(lab.machines["vm2"], "request", "PUT", "/latest/api/token", 3, header)
    assert put["status"] == 400, put
    assert "Traceback" not in lab.service_log()


@pytest.mark.parametrize("ttl", ["1", "21600", "060"])
def test_a_good_ttl(lab, ttl):
    header = f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}"
    put = hostile(lab.machines["vm2"], "request", "PUT", "/latest/api/token", 3, header)
    assert put["status"] == 200


def test_a_token_dies_with_its_vm(lab):
    vm1 = lab.machines["vm1"]
    old = {TOKEN: token(vm1)}
    assert lab.request("DELETE", "/v1/vms/vm1")[0] == 204
    moved = body(1)
    moved["interfaces"][0]["addresses"] = ["10.50.0.60"]
    assert lab.request("PUT", "/v1/vms/vm1", moved)[0] == 201
    run("ip", "-n", vm1.host_ns, "addr", "add", "10.50.0.60/24", "dev", "eth1")
    try:
        assert vm1.fetch("GET", USER_DATA, old, source="10.50.0.60")[0] == 401
        new = {TOKEN: vm1.fetch("PUT", "/latest/api/token", TTL, source="10.50.0.60")[1].decode()}
        assert vm1.fetch("GET", USER_DATA, new, source="10.50.0.60")[0] == 200
        # A new instance id is a new instance (cloud-init sees it so): its tokens go too.
        assert lab.request("PATCH", "/v1/vms/vm1", {"hostname": "renamed"})[0] == 200
        assert vm1.fetch("GET", USER_DATA, new, source="10.50.0.60")[0] == 200
        assert lab.request("PATCH", "/v1/vms/vm1", {"instance_id": None})[0] == 200
        assert vm1.fetch("GET", USER_DATA, new, source="10.50.0.60")[0] == 401
    finally:
        assert lab.request("PUT", "/v1/vms/vm1", body(1))[0] == 200
