"""``nm-cloud-metadata-ctl`` (service/ctl.py) against the service on loopback: each command,
an error as one line naming the field, the token file's mode."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.vm_documents import vm
from tests.unit.service.conftest import TOKEN


@pytest.fixture
def ctl(served, tmp_path):
    _, api = served()
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)

    def run(*args: str, stdin: str = "", token_file=token) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nm_cloud_setup.service.ctl", "--api", api,
                               "--token-file", str(token_file), *args], input=stdin,
                              capture_output=True, text=True, timeout=30)
    return run


def test_put_get_list_patch_delete(ctl, tmp_path):
    document = tmp_path / "web-1.json"
    document.write_text(json.dumps(vm(hostname="web-1")))
    created = ctl("put", "web-1", str(document))
    assert created.returncode == 0 and json.loads(created.stdout)["instance_id"].startswith("i-")
    assert ctl("put", "db-1", "-", stdin=json.dumps(vm(mac="02:00:00:00:00:02",
                                                       addresses=["10.0.0.6"]))).returncode == 0
    assert ctl("list").stdout.split() == ["db-1", "web-1"]
    assert set(json.loads(ctl("list", "--json").stdout)) == {"db-1", "web-1"}
    patched = ctl("patch", "web-1", "-", stdin='{"hostname": "www"}')
    assert json.loads(patched.stdout)["hostname"] == "www"
    assert json.loads(ctl("get", "web-1").stdout)["hostname"] == "www"
    assert json.loads(ctl("health").stdout) == {"status": "ok", "vms": 2}
    assert ctl("delete", "web-1").returncode == 0 and ctl("list").stdout.split() == ["db-1"]


def test_errors_are_one_line_and_exit_1(ctl, tmp_path):
    taken = ctl("put", "x", "-", stdin=json.dumps(vm()))
    assert taken.returncode == 0
    clash = ctl("put", "y", "-", stdin=json.dumps(vm()))
    assert clash.returncode == 1
    assert clash.stderr == ("Error: 409 interfaces[0].mac: 02:00:00:00:00:01 is held by VM "
                            "'x'\n")
    assert ctl("get", "nobody").stderr == "Error: 404 no VM 'nobody'\n"
    assert ctl("get", "../v1/vms").returncode == 1  # a name is a name, never a path
    assert "not JSON" in ctl("put", "z", "-", stdin="{").stderr
    loose = tmp_path / "loose"
    loose.write_text(TOKEN)
    loose.chmod(0o644)
    refused = ctl("list", token_file=loose)
    assert refused.returncode == 1 and "others may read the API token" in refused.stderr
    assert ctl("bogus").returncode == 2
