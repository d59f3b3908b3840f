"""Reading the NIC lists of the metadata services as upstream reads them: MAC
listings (EC2, Aliyun), numbered text-walk listings (Azure, GCP), and turning the
per-NIC results into data where one bad NIC fails only itself."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InterfaceData
from nm_cloud_setup.providers.values import quote

LOG = logging.getLogger(__name__)


def checked(mac: str, index: int, parse: Callable[..., InterfaceData],
            *args: Any) -> InterfaceData:
    """``parse(*args)``, or the NIC marked failed with the parse error (it keeps its config)."""
    try:
        return parse(*args)
    except MetadataError as err:
        return InterfaceData(mac, index, error=str(err))


class Listed(NamedTuple):
    """One line of a MAC listing: its position among the valid lines (upstream's table
    index), the MAC, and the line as given (the path of its keys)."""

    position: int
    mac: str
    path: str


def parse_mac_listing(text: str) -> List[Listed]:
    """A ``macs/`` listing (``aa:bb:cc:dd:ee:ff/`` per line), as upstream reads it: lines
    that are not a MAC are skipped (logged); no valid line at all is an error."""
    from nm_cloud_setup.model import normalize_mac

    listed: List[Listed] = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        mac = normalize_mac(line[:-1] if line.endswith("/") else line)
        if mac is None:
            LOG.warning("get-config: ignoring invalid MAC address %s in the interface list",
                        quote(line, 40))
            continue
        listed.append(Listed(len(listed), mac, line))
    if not listed:
        raise MetadataError("the interface list is empty" if not text.strip() else
                            "the interface list holds no valid MAC address")
    return listed


def per_mac_interfaces(listed: Sequence[Listed], macs: Mapping[str, str],
                       results: Mapping[str, Any],
                       parse: Callable[[int, str, Dict[str, Any]], InterfaceData]
                       ) -> List[InterfaceData]:
    """The local MACs' fetched keys (``per_mac_jobs`` results) -> their data; a failed
    fetch or a bad value fails only that NIC, naming the key.  A MAC listed twice is
    not guessed at: that NIC keeps its configuration."""
    counts: Dict[str, int] = {}
    for nic in listed:
        counts[nic.mac] = counts.get(nic.mac, 0) + 1
    interfaces: List[InterfaceData] = []
    for nic in listed:
        if nic.mac not in macs or any(i.mac == nic.mac for i in interfaces):
            continue
        values = results[nic.mac]
        failed = [(key, value) for key, value in values.items()
                  if isinstance(value, CloudSetupError)]
        if counts[nic.mac] > 1:
            interfaces.append(InterfaceData(nic.mac, nic.position, error=(
                f"duplicate MAC address {nic.mac} in the interface list")))
        elif failed:
            key, err = failed[0]
            interfaces.append(InterfaceData(nic.mac, nic.position, error=f"{key}: {err}"))
        else:
            interfaces.append(checked(nic.mac, nic.position, parse, nic.position, nic.mac,
                                      values))
    return interfaces


def unmatched(listed: Sequence[str], macs: Mapping[str, str]) -> Tuple[str, ...]:
    """The listed MACs that are no local NIC's (upstream logs "device not found")."""
    return tuple(dict.fromkeys(mac for mac in listed if mac not in macs))


def listed_nics(name: str, mac_texts: Sequence[str],
                numbers: Optional[Sequence[int]] = None) -> List[Tuple[int, str]]:
    """(index, MAC) of each listed NIC with a valid, unique MAC; upstream's log lines,
    which name a NIC by its number in the service's list (``numbers``, default the
    index)."""
    from nm_cloud_setup.model import normalize_mac

    seen = set()
    result = []
    prefix = "GCP " if name == "GCP" else ""
    for idx, text in enumerate(mac_texts):
        number = numbers[idx] if numbers is not None else idx
        LOG.debug("%s interface[%d]: retrieving configuration", name, number)
        mac = normalize_mac(text)
        if mac is None:
            LOG.info("%sinterface[%d]: invalid MAC address returned", prefix, number)
        elif mac in seen:
            LOG.info("%sinterface[%d]: duplicate MAC address %s returned", prefix, number, mac)
        else:
            seen.add(mac)
            result.append((idx, mac))
    return result


def walk_numbers(text: str) -> List[int]:
    """A text-walk listing (``0/``, ``1/``... per line) -> the numbers; as upstream,
    a line that is not one is skipped."""
    numbers = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        value = line[:-1] if line.endswith("/") else line
        if value.isdigit() and value.isascii():
            numbers.append(int(value))
    return numbers


def check_indexes(interfaces: List[InterfaceData]) -> List[InterfaceData]:
    """Mark NICs whose table index (on the same network card) another NIC also has as
    failed (keep their config)."""
    owners: Dict[Tuple[int, int], str] = {}
    for iface in interfaces:
        if iface.error is None:
            owners.setdefault((iface.card, iface.index), iface.mac)
    result = []
    for iface in interfaces:
        owner = owners.get((iface.card, iface.index))
        if iface.error is None and owner != iface.mac:
            card = f" on network card {iface.card}" if iface.card else ""
            iface = InterfaceData(iface.mac, iface.index, card=iface.card, error=(
                f"index {iface.index}{card} is also that of {owner}: leaving this NIC as it "
                "is until the metadata settles"))
        result.append(iface)
    return result
