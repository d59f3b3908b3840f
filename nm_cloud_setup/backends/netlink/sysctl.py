"""The two sysctls the netlink backend reads and sets, under ``/proc/sys/net``."""

from __future__ import annotations

import logging
from pathlib import Path

LOG = logging.getLogger(__name__)


def ipv6_off(ifname: str) -> str:
    """Why the link takes no IPv6 change (IPv6 disabled on it, or in the kernel), or ""."""
    try:
        disabled = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").read_text().strip()
    except OSError:
        return "the kernel has no IPv6"
    return f"net.ipv6.conf.{ifname}.disable_ipv6 is 1" if disabled == "1" else ""


def promote_secondaries(ifname: str) -> None:
    """Let the kernel keep a subnet's other IPv4 addresses when its first one is removed.

    Otherwise removing the address the kernel counts as the subnet's primary removes
    every secondary of that subnet with it, wanted or not.  systemd turns this on for
    all interfaces by default; a namespace or a minimal image may not.
    """
    path = Path("/proc/sys/net/ipv4/conf") / ifname / "promote_secondaries"
    try:
        if path.read_text().strip() == "0":
            path.write_text("1")
            LOG.debug("netlink %s: promote_secondaries turned on", ifname)
    except OSError as err:
        LOG.warning("netlink %s: cannot turn on promote_secondaries (%s): removing an "
                    "address may take others of its subnet with it", ifname, err.strerror)
