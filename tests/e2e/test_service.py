"""The metadata service end to end: VMs are network namespaces on a bridge that carries
169.254.169.254, so requests come from the VMs' own addresses through real routing.

Three VMs are registered through the API: vm1 and vm2 run the real clients
(cloud-init from Debian's package, with Debian's python3; ec2-metadata and botocore
from PyPI), vm3 runs a real NetworkManager and this project's nm-cloud-setup.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab import Lab, LabVm
from harness.sandbox import Nic
from tests.support.cloud_init import DEBIAN_PYTHON, need_cloud_init
from tests.support.requirements import require_root

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENTS = ROOT / "tests" / "support" / "clients"
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
       "alice@example")

NICS = {
    "vm1": [Nic("eth1", "02:00:00:00:01:01", "10.50.0.11", "10.50.0.0/24"),
            Nic("eth2", "02:00:00:00:01:02", "10.60.0.11", "10.60.0.0/24")],
    "vm2": [Nic("eth1", "02:00:00:00:02:01", "10.50.0.12", "10.50.0.0/24")],
    "vm3": [Nic("eth1", "02:00:00:00:03:01", "10.50.0.21", "10.50.0.0/24"),
            Nic("eth2", "02:00:00:00:03:02", "10.60.0.21", "10.60.0.0/24")],
    "stranger": [Nic("eth1", "02:00:00:00:09:01", "10.50.0.99", "10.50.0.0/24")],
}
VMS = {
    "vm1": {"hostname": "vm1", "region": "eu-west-1", "instance_type": "t3.small",
            "user_data": "#cloud-config\nwrite_files: [{path: /tmp/vm1, content: one}]\n",
            "ssh_keys": [KEY], "public_ipv4": "203.0.113.11",
            "interfaces": [
                {"mac": "02:00:00:00:01:01", "device_number": 0, "subnet": "10.50.0.0/24",
                 "addresses": ["10.50.0.11", "10.50.0.111"]},
                {"mac": "02:00:00:00:01:02", "device_number": 1, "subnet": "10.60.0.0/24",
                 "addresses": ["10.60.0.11"], "ipv6_subnet": "fd00:60::/64",
                 "ipv6s": ["fd00:60::11"]}]},
    "vm2": {"hostname": "vm2.lab.example", "availability_zone": "ap-south-1c",
            "user_data": "#!/bin/sh\necho vm2\n",
            "interfaces": [{"mac": "02:00:00:00:02:01", "subnet": "10.50.0.0/24",
                            "addresses": ["10.50.0.12"]}]},
    "vm3": {"hostname": "vm3",
            "interfaces": [
                {"mac": "02:00:00:00:03:01", "device_number": 0, "subnet": "10.50.0.0/24",
                 "addresses": ["10.50.0.21", "10.50.0.22", "10.50.0.23"]},
                {"mac": "02:00:00:00:03:02", "device_number": 1, "subnet": "10.60.0.0/24",
                 "addresses": ["10.60.0.21", "10.60.0.22"]}]},
}


@pytest.fixture(scope="module")
def lab():
    require_root(with_nm=True)
    need_cloud_init()
    with Lab() as lab:
        lab.start_service()
        lab.mode = "optional"
        lab.machines = {name: lab.add_vm(nics, with_nm=name == "vm3")
                        for name, nics in NICS.items()}
        lab.ids = {}
        for name, body in VMS.items():
            status, stored = lab.request("PUT", f"/v1/vms/{name}", body)
            assert status == 201, stored
            lab.ids[name] = stored["instance_id"]
        yield lab


@pytest.fixture(params=["optional", "required"])
def tokens(request, lab) -> str:
    """The service with ``--tokens optional`` (the default) or ``required``."""
    if lab.mode != request.param:
        lab.start_service("--tokens", request.param)
        lab.mode = request.param
    return request.param


def client(vm: LabVm, *args: str) -> dict:
    result = vm.run(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def own_macs(name: str) -> set:
    return {nic["mac"] for nic in VMS[name]["interfaces"]}


@pytest.mark.parametrize("name", ["vm1", "vm2"])
def test_cloud_init_ec2_crawler_and_user_data(lab, tokens, name):
    # Off AWS, cloud-init's EC2 datasource sends no token; on AWS (what DMI tells it) it
    # does IMDSv2.  Both read the same tree; only the second works with tokens required.
    for mode in (["ec2", "ec2-aws"] if tokens == "optional" else ["ec2-aws"]):
        read = client(lab.machines[name], DEBIAN_PYTHON, str(CLIENTS / "cloudinit_read.py"),
                      mode)
        assert read["ok"], read
        metadata = read["metadata"]
        assert read["instance_id"] == metadata["instance-id"] == lab.ids[name]
        assert metadata["local-ipv4"] == VMS[name]["interfaces"][0]["addresses"][0]
        assert set(metadata["network"]["interfaces"]["macs"]) == own_macs(name)
        assert read["user_data"] == VMS[name]["user_data"]
        assert read["api_version"] == "2021-03-23"
        assert read["hostname"] == name  # the short name of vm2.lab.example
        assert read["public_keys"] == VMS[name].get("ssh_keys", [])
        assert read["availability_zone"][:-1] == read["region"]
        if mode == "ec2-aws":
            assert read["identity"]["instanceId"] == lab.ids[name]
            assert read["identity"]["privateIp"] == metadata["local-ipv4"]
    if name == "vm1":
        nic = metadata["network"]["interfaces"]["macs"]["02:00:00:00:01:01"]
        assert nic["local-ipv4s"] == ["10.50.0.11", "10.50.0.111"]
        assert read["user_data_parts"][-1] == "text/cloud-config"
        assert metadata["public-ipv4"] == "203.0.113.11"


def test_cloud_init_off_aws_cannot_read_with_tokens_required(lab):
    if lab.mode != "required":
        lab.start_service("--tokens", "required")
        lab.mode = "required"
    read = client(lab.machines["vm2"], DEBIAN_PYTHON, str(CLIENTS / "cloudinit_read.py"),
                  "ec2", "2")
    assert read["ok"] is False  # it sends no token off AWS: why "optional" is the default


@pytest.mark.parametrize("name", ["vm1", "vm2"])
def test_cloud_init_openstack_reader(lab, tokens, name):
    if tokens == "required":  # Nova has no tokens: the mode protects OpenStack's paths too
        result = lab.machines[name].run(DEBIAN_PYTHON, str(CLIENTS / "cloudinit_read.py"),
                                        "openstack")
        assert result.returncode != 0 and "meta_data.json" in result.stderr
        return
    read = client(lab.machines[name], DEBIAN_PYTHON, str(CLIENTS / "cloudinit_read.py"),
                  "openstack")
    assert read["version"] == "2018-08-27"
    assert read["metadata"]["hostname"] == VMS[name]["hostname"] and read["metadata"]["instance-id"]
    assert read["metadata"]["name"] == name  # Nova's name is the VM's, not its hostname
    assert list(read["metadata"]["public_keys"].values()) == VMS[name].get("ssh_keys", [])
    assert read["user_data"] == VMS[name]["user_data"]
    physical = [c for c in read["network_config"]["config"] if c["type"] == "physical"]
    assert {c["mac_address"] for c in physical} == own_macs(name)
    addresses = {s["address"] for c in physical for s in c["subnets"]}
    assert addresses == {a for nic in VMS[name]["interfaces"]
                         for a in nic["addresses"] + nic.get("ipv6s", [])}  # static ipv6 too


@pytest.mark.parametrize("name", ["vm1", "vm2"])
def test_ec2_metadata_and_botocore(lab, tokens, name):
    read = client(lab.machines[name], sys.executable, str(CLIENTS / "pypi_read.py"))
    md, vm = read["ec2_metadata"], VMS[name]
    assert md["instance_id"] == lab.ids[name] == md["instance_identity_document"]["instanceId"]
    assert md["private_ipv4"] == vm["interfaces"][0]["addresses"][0]
    assert md["private_hostname"] == vm["hostname"] and md["mac"] == vm["interfaces"][0]["mac"]
    assert md["instance_type"] == vm.get("instance_type", "m5.large")
    assert md["availability_zone"][:-1] == md["region"] == read["botocore"]["region"]
    assert md["public_ipv4"] == vm.get("public_ipv4")
    assert md["account_id"] and md["ami_id"]
    assert list(md["public_keys"].values()) == vm.get("ssh_keys", [])
    assert md["user_data"] == vm["user_data"]
    assert set(md["interfaces"]) == own_macs(name)
    for nic in vm["interfaces"]:
        got = md["interfaces"][nic["mac"]]
        assert got["private_ipv4s"] == nic["addresses"]
        assert got["subnet_ipv4_cidr_block"] == nic["subnet"]
        assert got["ipv6s"] == nic.get("ipv6s", [])
    assert read["botocore"]["token"] is True


def fetch(vm: LabVm, method: str, path: str, headers=None) -> tuple:
    """One request from inside ``vm`` to the metadata address (its own source address)."""
    return vm.fetch(method, path, headers)


def test_isolation(lab, tokens):
    vm1, vm2, stranger = (lab.machines[n] for n in ("vm1", "vm2", "stranger"))
    macs = "/latest/meta-data/network/interfaces/macs/"
    assert fetch(vm2, "GET", macs + "02:00:00:00:01:01/local-ipv4s")[0] in (401, 404)
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    status, token1 = fetch(vm1, "PUT", "/latest/api/token", ttl)
    status2, token2 = fetch(vm2, "PUT", "/latest/api/token", ttl)
    assert status == status2 == 200
    with_1 = {"X-aws-ec2-metadata-token": token1.decode()}
    with_2 = {"X-aws-ec2-metadata-token": token2.decode()}
    assert fetch(vm1, "GET", "/latest/user-data", with_1) == (200, VMS["vm1"]["user_data"].encode())
    assert fetch(vm2, "GET", "/latest/user-data", with_1)[0] == 401  # vm1's token
    assert fetch(vm2, "GET", "/latest/user-data", with_2) == (200, VMS["vm2"]["user_data"].encode())
    assert fetch(vm2, "GET", macs + "02:00:00:00:01:01/local-ipv4s", with_2)[0] == 404
    assert fetch(vm2, "GET", macs, with_2) == (200, b"02:00:00:00:02:01/")
    assert fetch(vm1, "PUT", "/latest/api/token", {**ttl, "X-Forwarded-For": "10.50.0.12"}
                 )[0] == 403
    for path in ("/", "/latest/meta-data/", "/latest/user-data", "/openstack",
                 "/openstack/latest/meta_data.json"):
        assert fetch(stranger, "GET", path)[0] == 404, path
    assert fetch(stranger, "PUT", "/latest/api/token", ttl)[0] == 404
    assert fetch(vm1, "GET", "/v1/vms")[0] in (401, 404)  # no API on the metadata listener


def vm3_run(vm: LabVm) -> subprocess.CompletedProcess:
    env = vm.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_LOG="TRACE",
                 NM_CLOUD_SETUP_STATE_DIR=str(vm.workdir / "state"))
    result = vm.run(sys.executable, "-m", "nm_cloud_setup", env=env)
    vm.settle()
    return result


def test_nm_cloud_setup_configures_a_vm_from_the_service(lab, tokens):
    vm3 = lab.machines["vm3"]
    vm3.reset_profiles(method="manual")  # primaries as the hypervisor gave them
    assert vm3.addresses("eth1") == ["10.50.0.21/24"]
    result = vm3_run(vm3)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert vm3.addresses("eth1") == ["10.50.0.21/24", "10.50.0.22/24", "10.50.0.23/24"]
    assert vm3.addresses("eth2") == ["10.60.0.21/24", "10.60.0.22/24"]
    rules = {(r.get("priority"), r.get("src")) for r in vm3.rules()}
    assert {(30200, "10.50.0.22"), (30401, "10.60.0.22")} <= rules
    again = vm3_run(vm3)
    assert again.returncode == 0 and "reapply connection" not in again.stdout
    assert "no changes were applied for provider ec2" in again.stdout
    # The cloud moves an address: the next run follows, from a secondary source too.
    nics = json.loads(json.dumps(VMS["vm3"]["interfaces"]))
    nics[1]["addresses"] = ["10.60.0.21", "10.60.0.23"]
    assert lab.request("PATCH", "/v1/vms/vm3", {"interfaces": nics})[0] == 200
    assert vm3_run(vm3).returncode == 0
    assert vm3.addresses("eth2") == ["10.60.0.21/24", "10.60.0.23/24"]
    assert lab.request("PATCH", "/v1/vms/vm3", {"interfaces": VMS["vm3"]["interfaces"]})[0] == 200


BAD_INPUTS = [  # (name, body, status, field)
    ("new", {**VMS["vm2"], "colour": "blue"}, 400, "colour"),
    ("new", {"interfaces": [{"mac": "02:00:00:00:0x:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.50.0.40"]}]}, 400, "interfaces[0].mac"),
    ("new", {"interfaces": [{"mac": "02:00:00:00:04:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.50.0.400"]}]}, 400, "interfaces[0].addresses[0]"),
    ("new", {"interfaces": [{"mac": "02:00:00:00:04:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.60.0.40"]}]}, 400, "interfaces[0].addresses[0]"),
    ("new", {"interfaces": [{"mac": "02:00:00:00:01:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.50.0.40"]}]}, 409, "interfaces[0].mac"),
    ("vm2", {"interfaces": [{"mac": "02:00:00:00:02:01", "subnet": "10.50.0.0/24",
                             "addresses": ["10.50.0.11"]}]}, 409, "interfaces[0].addresses[0]"),
]


def test_bad_api_inputs_change_nothing_and_the_data_survives_a_restart(lab):
    before = lab.request("GET", "/v1/vms")[1]
    for name, body, status, field in BAD_INPUTS:
        got = lab.request("PUT", f"/v1/vms/{name}", body)
        assert (got[0], got[1]["field"]) == (status, field), (body, got)
    got = lab.request("PATCH", "/v1/vms/vm2", {"ssh_keys": "not a list"})
    assert (got[0], got[1]["field"]) == (400, "ssh_keys")
    assert lab.request("PUT", "/v1/vms/new", raw=b"{not json")[0] == 400
    assert lab.request("GET", "/v1/vms")[1] == before
    lab.start_service("--tokens", "optional")  # a restart: everything is still there
    lab.mode = "optional"
    assert lab.request("GET", "/v1/vms")[1] == before
    assert fetch(lab.machines["vm1"], "GET", "/openstack/latest/user_data")[1] == \
        VMS["vm1"]["user_data"].encode()


def test_the_api_token(lab, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("0123456789abcdef0123456789abcdef\n")
    token_file.chmod(0o600)
    lab.api_token = "0123456789abcdef0123456789abcdef"
    try:
        lab.start_service("--tokens", lab.mode, "--api-token-file", str(token_file))
        lab.api_token = None
        assert lab.request("GET", "/v1/vms")[0] == 401
        lab.api_token = "wrong-wrong-wrong-wrong"
        assert lab.request("GET", "/v1/vms")[0] == 401
        lab.api_token = "0123456789abcdef0123456789abcdef"
        assert set(lab.request("GET", "/v1/vms")[1]["vms"]) == set(VMS)
    finally:
        lab.api_token = None
        lab.start_service("--tokens", lab.mode)
