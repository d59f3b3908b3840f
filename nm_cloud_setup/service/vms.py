"""A VM as the management API takes it: checked field by field, pure.

Bad input raises ``VmError`` naming the field (``interfaces[0].addresses[1]``);
the API answers it with 400 (409 for a conflict with another VM).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Any, Callable, Dict, List, Optional

# Every pattern is applied with fullmatch (``$`` would let a trailing newline through).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", re.ASCII)
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", re.ASCII)
HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", re.ASCII | re.DOTALL)
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
USER_DATA_LIMIT = 1 << 20  # bytes (EC2 allows 16 KiB; a private cloud may want more)
# How many of each a VM may have (a body of 2 MiB could otherwise list 100,000 addresses).
MAX_INTERFACES = 64
MAX_ADDRESSES = 256  # per NIC and family (Azure's limit)
MAX_SSH_KEYS = 64
SSH_KEY_LIMIT = 16 << 10  # bytes per key
INSTANCE_KEYS = ("instance_id", "hostname", "image_id", "instance_type", "region",
                 "availability_zone", "user_data", "ssh_keys", "public_ipv4", "interfaces")
NIC_KEYS = ("mac", "device_number", "subnet", "addresses", "gateway", "ipv6s", "ipv6_subnet",
            "ipv6_gateway", "public_ipv4", "public_ipv6")


class VmError(ValueError):
    """Bad input: ``status`` 400 (invalid) or 409 (held by another VM), and the field."""

    def __init__(self, field: Optional[str], message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.status = status

    def as_json(self) -> Dict[str, Any]:
        return {"error": str(self), "field": self.field}


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise VmError("name", "a VM name is 1-63 letters, digits, '.', '_' or '-'")
    return name


def new_instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def shown(value: Any, limit: int = 80) -> str:
    """A value as an error message may quote it: escaped, so that no control character,
    surrogate or newline reaches a log line or a terminal."""
    return ascii(value if not isinstance(value, str) else value[:limit])


_CONTROLS = "\x00-\x1f\x7f-\x9f"
_SURROGATES = "\ud800-\udfff"
_BAD = {  # what clean_text refuses, by what it allows
    False: re.compile(f"[{_CONTROLS}{_SURROGATES}]"),
    True: re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES}]"),
}


def clean_text(value: str, field: str, lines: bool = False) -> str:
    """``value`` if it is valid Unicode (no lone surrogate) without control characters
    (``lines``: but tab, CR and LF); VmError naming ``field`` otherwise."""
    bad = _BAD[lines].search(value)
    if bad is not None:
        code = ord(bad.group())
        what = ("a lone surrogate (not valid Unicode)" if 0xD800 <= code <= 0xDFFF
                else "a control character")
        raise VmError(field, f"holds {what}, U+{code:04X}, at {bad.start()}")
    return value


def _string(value: Any, field: str, pattern: Optional[re.Pattern] = None) -> str:
    if not isinstance(value, str) or not value:
        raise VmError(field, "must be a non-empty string")
    if pattern is not None and not pattern.fullmatch(value):
        raise VmError(field, f"{shown(value)} is not valid here")
    return value


def _parsed(value: Any, field: str, version: int, parse: Callable[[str], Any], what: str):
    try:
        result = parse(value) if isinstance(value, str) else None
    except ValueError:
        result = None
    if result is None or result.version != version:
        raise VmError(field, f"{shown(value)} is not an IPv{version} {what}")
    return result


def _address(value: Any, field: str, version: int) -> str:
    return str(_parsed(value, field, version, ipaddress.ip_address, "address"))


def _network(value: Any, field: str, version: int) -> ipaddress._BaseNetwork:
    return _parsed(value, field, version, ipaddress.ip_network, "network (CIDR)")


def _addresses(value: Any, field: str, network, version: int) -> List[str]:
    if not isinstance(value, list) or not value:
        raise VmError(field, "must be a non-empty list of addresses")
    if len(value) > MAX_ADDRESSES:
        raise VmError(field, f"lists more than {MAX_ADDRESSES} addresses")
    result = []
    for k, item in enumerate(value):
        address = _address(item, f"{field}[{k}]", version)
        if ipaddress.ip_address(address) not in network:
            raise VmError(f"{field}[{k}]", f"{address} is outside the subnet {network}")
        if address in result:
            raise VmError(f"{field}[{k}]", f"{address} is listed twice")
        result.append(address)
    return result


def _in_subnet(value: Any, field: str, network, version: int) -> str:
    address = _address(value, field, version)
    if ipaddress.ip_address(address) not in network:
        raise VmError(field, f"{address} is outside the subnet {network}")
    return address


def check_interface(nic: Any, field: str, position: int) -> Dict[str, Any]:
    if not isinstance(nic, dict):
        raise VmError(field, "must be an object")
    _unknown(nic, NIC_KEYS, field)
    for key in ("mac", "subnet", "addresses"):
        if key not in nic:
            raise VmError(f"{field}.{key}", "is required")
    mac = _string(nic["mac"], f"{field}.mac").lower()
    if not MAC.fullmatch(mac) or int(mac[:2], 16) & 1:
        raise VmError(f"{field}.mac", f"{shown(mac, 40)} is not a unicast MAC address")
    number = nic.get("device_number", position)
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 1024:
        raise VmError(f"{field}.device_number", "must be an integer 0..1023")
    subnet = _network(nic["subnet"], f"{field}.subnet", 4)
    result: Dict[str, Any] = {"mac": mac, "device_number": number, "subnet": str(subnet),
                              "addresses": _addresses(nic["addresses"], f"{field}.addresses",
                                                      subnet, 4)}
    if "gateway" in nic:
        result["gateway"] = _in_subnet(nic["gateway"], f"{field}.gateway", subnet, 4)
    if "ipv6s" in nic or "ipv6_subnet" in nic:
        if "ipv6_subnet" not in nic:
            raise VmError(f"{field}.ipv6_subnet", "is required with ipv6s")
        subnet6 = _network(nic["ipv6_subnet"], f"{field}.ipv6_subnet", 6)
        result["ipv6_subnet"] = str(subnet6)
        if "ipv6s" in nic:
            result["ipv6s"] = _addresses(nic["ipv6s"], f"{field}.ipv6s", subnet6, 6)
        if "ipv6_gateway" in nic:
            result["ipv6_gateway"] = _address(nic["ipv6_gateway"], f"{field}.ipv6_gateway", 6)
    elif "ipv6_gateway" in nic:
        raise VmError(f"{field}.ipv6_gateway", "needs ipv6_subnet")
    for key, version in (("public_ipv4", 4), ("public_ipv6", 6)):
        if key in nic:
            result[key] = _address(nic[key], f"{field}.{key}", version)
    return result


def _unknown(value: Dict[str, Any], known, field: Optional[str]) -> None:
    for key in value:
        if key not in known:
            name = key if NAME.fullmatch(key) else shown(key, 40)
            raise VmError(f"{field}.{name}" if field else name, "unknown field")


def _ssh_keys(value: Any) -> List[str]:
    if not isinstance(value, list):
        raise VmError("ssh_keys", "must be a list of strings")
    if len(value) > MAX_SSH_KEYS:
        raise VmError("ssh_keys", f"lists more than {MAX_SSH_KEYS} keys")
    for k, key in enumerate(value):
        if not isinstance(key, str) or not key.strip():
            raise VmError(f"ssh_keys[{k}]", "must be one OpenSSH public key on one line")
        clean_text(key.strip(), f"ssh_keys[{k}]")
        if len(key) > SSH_KEY_LIMIT:
            raise VmError(f"ssh_keys[{k}]", f"is longer than {SSH_KEY_LIMIT} characters")
    return [key.strip() for key in value]


def _user_data(value: Any) -> str:
    if not isinstance(value, str):
        raise VmError("user_data", "must be a string (the text as it is, not base64)")
    if len(value) > USER_DATA_LIMIT:  # characters: at least as many bytes
        raise VmError("user_data", f"is larger than {USER_DATA_LIMIT} bytes")
    clean_text(value, "user_data", lines=True)
    if len(value.encode()) > USER_DATA_LIMIT:
        raise VmError("user_data", f"is larger than {USER_DATA_LIMIT} bytes")
    return value


_SIMPLE: Dict[str, Callable[[Any], Any]] = {
    "instance_id": lambda v: _string(v, "instance_id", TOKEN),
    "hostname": lambda v: _string(v, "hostname", HOSTNAME),
    "image_id": lambda v: _string(v, "image_id", TOKEN),
    "instance_type": lambda v: _string(v, "instance_type", TOKEN),
    "region": lambda v: _string(v, "region", TOKEN),
    "availability_zone": lambda v: _string(v, "availability_zone", TOKEN),
    "user_data": _user_data,
    "ssh_keys": _ssh_keys,
    "public_ipv4": lambda v: _address(v, "public_ipv4", 4),
}


def check_vm(vm: Any) -> Dict[str, Any]:
    """A checked, normalised copy of ``vm`` (``instance_id`` generated when absent)."""
    if not isinstance(vm, dict):
        raise VmError(None, "a VM is a JSON object")
    _unknown(vm, INSTANCE_KEYS, None)
    result = {key: _SIMPLE[key](vm[key]) for key in INSTANCE_KEYS[:-1] if key in vm}
    result.setdefault("instance_id", new_instance_id())
    nics = vm.get("interfaces")
    if not isinstance(nics, list) or not nics:
        raise VmError("interfaces", "must be a non-empty list")
    if len(nics) > MAX_INTERFACES:
        raise VmError("interfaces", f"lists more than {MAX_INTERFACES} NICs")
    result["interfaces"] = [check_interface(nic, f"interfaces[{n}]", n)
                            for n, nic in enumerate(nics)]
    _check_unique(result["interfaces"])
    zone, region = result.get("availability_zone"), result.get("region")
    if zone and region and zone[:-1] != region:  # botocore takes the zone minus its letter
        raise VmError("availability_zone", f"must be the region {region!r} and one letter")
    return result


def _check_unique(nics: List[Dict[str, Any]]) -> None:
    seen: Dict[Any, str] = {}
    for n, nic in enumerate(nics):
        items = [("mac", nic["mac"]), ("device_number", nic["device_number"])]
        items += [(f"addresses[{k}]", a) for k, a in enumerate(nic["addresses"])]
        items += [(f"ipv6s[{k}]", a) for k, a in enumerate(nic.get("ipv6s", []))]
        for key, value in items:
            kind = key.split("[")[0]
            if (kind, value) in seen:
                raise VmError(f"interfaces[{n}].{key}", f"{value} is also {seen[(kind, value)]}")
            seen[(kind, value)] = f"interfaces[{n}].{key}"


def merge(vm: Dict[str, Any], changes: Any) -> Dict[str, Any]:
    """PATCH: top-level fields replace (``interfaces`` as a whole); null removes one."""
    if not isinstance(changes, dict):
        raise VmError(None, "a PATCH body is a JSON object")
    merged = dict(vm)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def source_addresses(vm: Dict[str, Any]) -> Dict[str, str]:
    """The addresses a VM's requests come from, each with its field name."""
    result = {}
    for n, nic in enumerate(vm["interfaces"]):
        for key in ("addresses", "ipv6s"):
            for k, address in enumerate(nic.get(key, [])):
                result[address] = f"interfaces[{n}].{key}[{k}]"
    return result
