"""OpenStack (providers/openstack.py): where ``network_data.json`` comes from.  The config
drive given as a directory, or found by its label (mounted already, mounted read-only for
the moment, or not mountable), the metadata service otherwise, and the service asked for
a NIC the drive does not name.  ``mount`` is never run: a stand-in records what would be."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from nm_cloud_setup.emulator.openstack import write_config_drive
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import openstack
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.scenarios import openstack_scenario

ETH1, ETH2, ETH3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
NOWHERE = "02:00:00:00:00:09"  # a local NIC no document names
MACS = {ETH1: "eth1", ETH2: "eth2", ETH3: "eth3"}
LOGGER = "nm_cloud_setup.providers.openstack"


def provider(url: str, **options) -> openstack.OpenStack:
    return openstack.OpenStack(HttpClient(url, policy=RetryPolicy(attempts=1)), options)


def found(instance) -> list:
    return [(i.mac, i.addresses) for i in instance.interfaces]


def messages(caplog, level: int) -> list:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


@pytest.fixture
def no_label(monkeypatch, tmp_path):
    """No drive by label on this machine, whatever the test machine has."""
    monkeypatch.setattr(openstack, "LABELS", (str(tmp_path / "by-label" / "config-2"),))


# -- the drive given as a directory (option config_drive) --------------------------------

def test_the_drive_given_is_read_and_nothing_is_asked(make_emulator, tmp_path, caplog):
    """The drive's document (eth3 at .20; the service would say .10), no request."""
    emulator = make_emulator("openstack", openstack_scenario())
    drive = write_config_drive(openstack_scenario(eth3_addresses=("172.31.48.20",)), tmp_path)
    os_provider = provider(emulator.url, config_drive=str(drive))
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        os_provider.detect()
        instance = os_provider.get_config(MACS)
    assert found(instance) == [(ETH2, ("172.31.32.10", "172.31.32.11")),
                               (ETH3, ("172.31.48.20",))]
    assert (instance.provider, instance.dhcp) == ("openstack", (ETH1,))  # eth1: Nova's DHCP
    assert messages(caplog, logging.DEBUG) == [f"openstack: reading the config drive at {drive}"]
    assert os_provider.identity(instance).hostname == "ip-172-31-16-10"  # meta_data.json
    assert emulator.state.requests == 0


def test_nics_the_drive_does_not_name_are_asked_of_the_metadata_service(make_emulator, tmp_path,
                                                                        caplog):
    """The drive is written when the VM is made: eth3, plugged later, is not on it."""
    emulator = make_emulator("openstack", openstack_scenario())
    drive = write_config_drive(openstack_scenario(eth3=False), tmp_path)
    os_provider = provider(emulator.url, config_drive=str(drive))
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        os_provider.detect()
        instance = os_provider.get_config({**MACS, NOWHERE: "eth9"})
    assert found(instance) == [(ETH2, ("172.31.32.10", "172.31.32.11")),
                               (ETH3, ("172.31.48.10",))]
    assert instance.dhcp == (ETH1,) and emulator.state.requests == 1
    assert messages(caplog, logging.DEBUG)[1:] == [
        f"openstack: the config drive does not name {ETH3}, {NOWHERE} (plugged after boot?); "
        "asking the metadata service"]


def test_a_drive_lacking_nics_and_no_metadata_service_keeps_the_drives(make_emulator, tmp_path,
                                                                      caplog):
    """The metadata service cannot be asked (here it has no OpenStack paths: 404): the
    drive's NICs are configured, the others named in a warning."""
    elsewhere = make_emulator("ec2")
    drive = write_config_drive(openstack_scenario(eth3=False), tmp_path)
    os_provider = provider(elsewhere.url, config_drive=str(drive))
    os_provider.detect()
    instance = os_provider.get_config({**MACS, NOWHERE: "eth9"})
    assert found(instance) == [(ETH2, ("172.31.32.10", "172.31.32.11"))]
    assert instance.dhcp == (ETH1,)
    assert messages(caplog, logging.WARNING) == [
        f"openstack: {ETH3}, {NOWHERE}: not on the config drive, and the metadata service "
        f"cannot be asked ({elsewhere.url}/{openstack.PATH}: HTTP 404 Not Found)"]


def test_without_a_drive_the_metadata_service_is_asked_once(make_emulator, no_label, caplog):
    """A NIC the service does not name either is left for the next run: no second GET."""
    emulator = make_emulator("openstack", openstack_scenario())
    os_provider = provider(emulator.url)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        os_provider.detect()
        instance = os_provider.get_config({**MACS, NOWHERE: "eth9"})
    assert found(instance)[-1] == (ETH3, ("172.31.48.10",)) and instance.dhcp == (ETH1,)
    assert emulator.state.requests == 1 and messages(caplog, logging.DEBUG) == []


def test_a_drive_given_without_the_document_is_an_error(tmp_path):
    os_provider = provider("http://192.0.2.1", config_drive=str(tmp_path))
    missing = tmp_path / openstack.PATH
    with pytest.raises(MetadataError) as raised:
        os_provider.detect()
    assert str(raised.value) == (f"cannot read {missing} ([Errno 2] No such file or "
                                 f"directory: '{missing}')")


def test_a_drive_given_with_a_document_not_text_is_an_error(tmp_path):
    drive = write_config_drive(openstack_scenario(), tmp_path)
    document = drive / openstack.PATH
    document.write_bytes(b"\xff\xfe{}")
    with pytest.raises(UnicodeDecodeError) as decoding:
        document.read_text()
    with pytest.raises(MetadataError) as raised:
        provider("http://192.0.2.1", config_drive=str(drive)).detect()
    assert str(raised.value) == f"cannot read {document} ({decoding.value})"


# -- the drive found by its label --------------------------------------------------------

class Machine:
    """A block device labelled ``config-2`` (a file here), the mount table, and ``mount``
    and ``umount`` as stand-ins that record their calls."""

    def __init__(self, root: Path, monkeypatch, mount_status: int = 0) -> None:
        self.device = root / "dev" / "sr0"
        self.device.parent.mkdir()
        self.device.write_text("")
        labels = root / "by-label"
        labels.mkdir()
        (labels / "CONFIG-2").symlink_to(self.device)
        self.mounts = root / "mounts"
        self.mounts.write_text("proc /proc proc rw,nosuid 0 0\n")
        self.contents = write_config_drive(openstack_scenario(), root / "image")
        self.mount_status = mount_status
        self.calls: list = []
        self.mount_point: Path = Path()
        monkeypatch.setattr(openstack, "LABELS", (str(labels / "config-2"),
                                                  str(labels / "CONFIG-2")))
        monkeypatch.setattr(openstack, "Path", self.path)
        monkeypatch.setattr(openstack.subprocess, "run", self.run)

    def path(self, *parts):
        return self.mounts if parts == ("/proc/self/mounts",) else Path(*parts)

    def mounted_at(self, target: Path) -> None:
        shutil.copytree(self.contents, target)
        target = str(target).replace(" ", "\\040")
        self.mounts.write_text(self.mounts.read_text()
                               + f"{self.device} {target} iso9660 ro,relatime 0 0\n")

    def run(self, args, **kwargs):
        self.calls.append((args, kwargs))
        if args[0] == "mount":
            self.mount_point = Path(args[-1])
            if self.mount_status:
                return subprocess.CompletedProcess(args, self.mount_status, "",
                                                   "mount: /dev/sr0: wrong fs type.\n")
            shutil.copytree(self.contents, args[-1], dirs_exist_ok=True)
        return subprocess.CompletedProcess(args, 0, "", "")


def test_a_drive_mounted_already_is_read_where_it_is(make_emulator, tmp_path, monkeypatch):
    machine = Machine(tmp_path.resolve(), monkeypatch)
    machine.mounted_at(tmp_path.resolve() / "media" / "config drive")
    emulator = make_emulator("openstack", openstack_scenario(eth3=False))
    os_provider = provider(emulator.url)
    os_provider.detect()
    instance = os_provider.get_config(MACS)
    assert found(instance)[-1] == (ETH3, ("172.31.48.10",))
    assert os_provider.identity(instance).hostname == "ip-172-31-16-10"  # meta_data.json
    assert emulator.state.requests == 0 and machine.calls == []


def test_a_drive_not_mounted_is_mounted_read_only_for_the_moment(make_emulator, tmp_path,
                                                                monkeypatch):
    machine = Machine(tmp_path.resolve(), monkeypatch)
    emulator = make_emulator("openstack", openstack_scenario(eth3=False))
    os_provider = provider(emulator.url)
    os_provider.detect()
    instance = os_provider.get_config(MACS)
    assert found(instance)[-1] == (ETH3, ("172.31.48.10",))
    point = str(machine.mount_point)
    assert machine.calls == [
        (["mount", "-o", "ro", str(machine.device), point],
         {"capture_output": True, "text": True}),
        (["umount", point], {"capture_output": True})]
    assert machine.mount_point.name.startswith("nm-cloud-setup-")
    assert not machine.mount_point.exists()
    machine.calls.clear()
    assert os_provider.identity(instance).hostname == "ip-172-31-16-10"  # meta_data.json
    assert [args[0] for args, _ in machine.calls] == ["mount", "umount"]
    assert emulator.state.requests == 0


def test_a_drive_that_cannot_be_mounted_leaves_it_to_the_metadata_service(
        make_emulator, tmp_path, monkeypatch, caplog):
    machine = Machine(tmp_path.resolve(), monkeypatch, mount_status=32)
    emulator = make_emulator("openstack", openstack_scenario())
    os_provider = provider(emulator.url)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        os_provider.detect()
        instance = os_provider.get_config(MACS)
    assert found(instance)[-1] == (ETH3, ("172.31.48.10",)) and emulator.state.requests == 1
    assert [args[0] for args, _ in machine.calls] == ["mount"]  # nothing to unmount
    assert messages(caplog, logging.INFO) == [
        f"openstack: cannot mount the config drive {machine.device} (mount: /dev/sr0: wrong fs "
        "type.); asking the metadata service"]
