"""OpenStack's ``network_data.json`` (beyond upstream): where it comes from.

From a config drive (filesystem label ``config-2``) when one is mounted or
mountable, or given as a directory (option ``config_drive``); else from the
metadata service, ``/openstack/latest/network_data.json``, one request fetched
while detecting and reused.  The drive is written when the VM is made: a NIC it
does not name is looked up in the metadata service.  What the document means is
``network_data``'s business.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Optional

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InstanceData
from nm_cloud_setup.providers.base import BulkProvider
from nm_cloud_setup.providers.network_data import dhcp_macs  # noqa: F401 - re-exported
from nm_cloud_setup.providers.network_data import named_macs, parse_network_data

LOG = logging.getLogger(__name__)

PATH = "openstack/latest/network_data.json"
LABELS = ("/dev/disk/by-label/config-2", "/dev/disk/by-label/CONFIG-2")


class OpenStack(BulkProvider):
    key = "openstack"
    default_host = "http://169.254.169.254"
    bulk_path = f"/{PATH}"

    from_drive = False

    def fetch_bulk(self) -> str:
        from_drive = self._from_config_drive()
        self.from_drive = from_drive is not None
        return from_drive if from_drive is not None else self.get(self.bulk_path)

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        """The drive's document; when it does not name a local NIC (the drive is written
        when the VM is made: a NIC plugged later), the metadata service's.  A NIC that
        neither names yet (Nova's metadata API answers from a 15 s cache) is left for
        the next run: the udev rule runs the tool again 20 s after a plug."""
        text = self.bulk()
        missing = set(macs) - named_macs(text)
        if missing and self.from_drive:
            LOG.debug("openstack: the config drive does not name %s (plugged after boot?); "
                      "asking the metadata service", ", ".join(sorted(missing)))
            try:
                text, self.from_drive = self.get(self.bulk_path), False
            except CloudSetupError as err:
                LOG.warning("openstack: %s: not on the config drive, and the metadata service "
                            "cannot be asked (%s)", ", ".join(sorted(missing)), err)
        return InstanceData(self.name, tuple(parse_network_data(text, macs)),
                            dhcp=dhcp_macs(text, macs))

    def _from_config_drive(self) -> Optional[str]:
        return self.config_drive_file(PATH)

    def config_drive_file(self, name: str) -> Optional[str]:
        """A file of the config drive (given, or found by label); None without one."""
        where = self.options.get("config_drive")
        if where:
            LOG.debug("openstack: reading the config drive at %s", where)
            return _read(Path(where), name)
        for device in LABELS:
            if Path(device).exists():
                return _read_device(Path(device).resolve(), name)
        return None


def _read(root: Path, name: str = PATH) -> str:
    try:
        return (root / name).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise MetadataError(f"cannot read {root / name} ({err})") from None


def _read_device(device: Path, name: str = PATH) -> Optional[str]:
    """Read from a config drive: where it is mounted, or mounted read-only for a moment.

    None when it cannot be mounted (the metadata service is asked instead).
    """
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, target = line.split()[:2]
        if Path(source).resolve() == device:
            return _read(Path(target.replace("\\040", " ")), name)
    with tempfile.TemporaryDirectory(prefix="nm-cloud-setup-") as mnt:
        mount = subprocess.run(["mount", "-o", "ro", str(device), mnt], capture_output=True,
                               text=True)
        if mount.returncode != 0:
            LOG.info("openstack: cannot mount the config drive %s (%s); asking the metadata "
                     "service", device, mount.stderr.strip())
            return None
        try:
            return _read(Path(mnt), name)
        finally:
            subprocess.run(["umount", mnt], capture_output=True)
