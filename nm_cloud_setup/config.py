"""Settings from environment variables, upstream's names and boolean forms.

Pure: ``Settings.from_env`` takes a mapping (the CLI passes ``os.environ``).
A malformed value never stops the run: it is reported in ``warnings``, naming
the variable and the value, and the documented default is used.  Except where a
default would take what another program owns: a routing layout whose ranges
overlap or leave their bounds, or an exclusion that cannot be read, is in
``errors``, and the run does not start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from nm_cloud_setup.model import normalize_mac, parse_bool
from nm_cloud_setup.planning import exclusion, mtu
from nm_cloud_setup.planning.exclusion import Exclusion
from nm_cloud_setup.planning.tables import UPSTREAM, Tables
from nm_cloud_setup.providers import registry

GCP_KINDS = ("forwarded_ips", "target_instance_ips", "alias_ips")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERR", "OFF")
_LOG_ALIASES = {"WARNING": "WARN", "ERROR": "ERR", "<TRACE>": "TRACE"}
# variable -> the Tables field it sets
_NUMBERS = {"NM_CLOUD_SETUP_TABLE_SUBNET": "subnet", "NM_CLOUD_SETUP_TABLE_DEFAULT": "default",
            "NM_CLOUD_SETUP_TABLE_EXTRA": "extra", "NM_CLOUD_SETUP_TABLE_CARD": "card",
            "NM_CLOUD_SETUP_PRIORITY_SUPPRESS": "suppress",
            "NM_CLOUD_SETUP_PRIORITY_SUBNET": "subnet_priority",
            "NM_CLOUD_SETUP_PRIORITY_DEFAULT": "default_priority",
            "NM_CLOUD_SETUP_PRIORITY_EXTRA": "extra_priority"}
_RULE_FAMILIES = {"ipv4": 4, "ipv6": 6}


@dataclass(frozen=True)
class Settings:
    enabled: Tuple[str, ...] = ()
    hosts: Dict[str, str] = field(default_factory=dict)
    log_level: str = "WARN"
    map_interfaces: Dict[str, str] = field(default_factory=dict)
    map_interfaces_raw: Optional[str] = None
    allow_new_conn: Optional[bool] = None
    backend: str = "auto"
    options: Dict[str, Dict[str, object]] = field(default_factory=dict)
    state_dir: str = "/run/nm-cloud-setup"
    metrics_dir: Optional[str] = None  # node_exporter's textfile directory
    dmi_dir: str = "/sys/class/dmi/id"
    bus_address: Optional[str] = None
    session_bus: bool = False
    tables: Tables = UPSTREAM
    exclude: Exclusion = exclusion.NOTHING
    mtu: bool = True  # apply the cloud's MTU (GCP, OpenStack); planning/mtu.py
    mtu_max: Optional[int] = None  # the administrator's cap on it
    warnings: Tuple[str, ...] = ()
    errors: Tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        warnings: List[str] = []

        def boolean(name: str, default: Optional[bool]) -> Optional[bool]:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            value = parse_bool(raw)
            if value is None:
                warnings.append(f'{name}="{raw}" is not a boolean (yes/no, true/false, 1/0); '
                                f'using the default ({_default_text(default)})')
                return default
            return value

        enabled = tuple(p for p in registry.KEYS if boolean(f"NM_CLOUD_SETUP_{p.upper()}", False))
        hosts = {}
        for provider in registry.KEYS:
            name = f"NM_CLOUD_SETUP_{provider.upper()}_HOST"
            raw = env.get(name, "").strip()
            if not raw:
                continue
            if re.match(r"^https?://[^/\s]+/?$", raw):
                hosts[provider] = raw.rstrip("/")
            else:
                warnings.append(f'{name}="{raw}" is not a base URL like http://HOST[:PORT]; '
                                "using the provider's own metadata address")
        map_raw = env.get("NM_CLOUD_SETUP_MAP_INTERFACES")
        backend = env.get("NM_CLOUD_SETUP_BACKEND", "").strip().lower() or "auto"
        if backend not in ("auto", "nm", "netlink"):
            warnings.append(f'NM_CLOUD_SETUP_BACKEND="{backend}" is not one of nm, netlink; '
                            "using the default (auto)")
            backend = "auto"
        errors: List[str] = []
        excluded, problems = exclusion.parse(env.get(exclusion.NAME))
        errors += problems
        options: Dict[str, Dict[str, object]] = {
            "ec2": {"prefixes": _prefixes(env.get("NM_CLOUD_SETUP_EC2_PREFIXES"), warnings),
                    "prefix_addresses": boolean("NM_CLOUD_SETUP_EC2_PREFIX_ADDRESSES", False),
                    "interface_ids": bool(excluded.ids)},
            "gcp": {kind: boolean(f"NM_CLOUD_SETUP_GCP_{kind.upper()}", True)
                    for kind in GCP_KINDS},
            "openstack": {"config_drive": env.get("NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE") or None},
        }
        return cls(
            enabled=enabled,
            options=options,
            hosts=hosts,
            log_level=_log_level(env.get("NM_CLOUD_SETUP_LOG"), warnings),
            map_interfaces=_map_interfaces(map_raw, warnings) if map_raw else {},
            map_interfaces_raw=map_raw,
            allow_new_conn=boolean("NM_CLOUD_SETUP_ALLOW_NEW_CONN", None),
            backend=backend,
            state_dir=env.get("NM_CLOUD_SETUP_STATE_DIR") or "/run/nm-cloud-setup",
            metrics_dir=env.get("NM_CLOUD_SETUP_METRICS_DIR", "").strip() or None,
            dmi_dir=env.get("NM_CLOUD_SETUP_DMI_DIR") or "/sys/class/dmi/id",
            bus_address=_bus_address(env),
            session_bus=boolean("LIBNM_USE_SESSION_BUS", False) is True,
            tables=_tables(env, boolean("NM_CLOUD_SETUP_ADDRESSES", True) is not False, errors),
            exclude=excluded,
            mtu=boolean("NM_CLOUD_SETUP_MTU", True) is not False,
            mtu_max=_mtu_max(env.get("NM_CLOUD_SETUP_MTU_MAX"), errors),
            warnings=tuple(warnings),
            errors=tuple(errors),
        )


def _mtu_max(raw: Optional[str], errors: List[str]) -> Optional[int]:
    """NM_CLOUD_SETUP_MTU_MAX: a cap on the cloud's MTU, or None; anything but a number
    from 1280 (IPv6's minimum, so it suits every NIC) to 65535 is an error (a cap
    that is not applied would let a larger MTU through)."""
    text = (raw or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and mtu.MIN_CAP <= int(text) <= mtu.MAX:
        return int(text)
    errors.append(f'NM_CLOUD_SETUP_MTU_MAX="{text}" is not a number from {mtu.MIN_CAP} to '
                  f"{mtu.MAX}")
    return None


def _tables(env: Mapping[str, str], addresses: bool, errors: List[str]) -> Tables:
    """The routing layout's numbers and parts; a problem goes to ``errors``."""
    numbers: Dict[str, int] = {}
    for name, key in _NUMBERS.items():
        raw = env.get(name, "").strip()
        if not raw:
            continue
        if raw.isascii() and raw.isdigit() and int(raw) < 2 ** 32:
            numbers[key] = int(raw)
        else:
            errors.append(f'{name}="{raw}" is not a number from 0 to 4294967295')
    raw = env.get("NM_CLOUD_SETUP_RULES", "").strip().lower()
    routing = frozenset(UPSTREAM.routing)
    if raw:
        names = set(filter(None, re.split(r"[\s,]+", raw)))
        if names == {"none"}:
            routing = frozenset()
        elif names <= set(_RULE_FAMILIES):
            routing = frozenset(_RULE_FAMILIES[n] for n in names)
        else:
            errors.append(f'NM_CLOUD_SETUP_RULES="{raw}" is not "ipv4,ipv6", "ipv4", "ipv6" '
                          'or "none"')
    tables = Tables(**numbers, routing=routing, addresses=addresses)
    errors += [f"the routing layout: {problem} (NM_CLOUD_SETUP_TABLE_* and "
               "NM_CLOUD_SETUP_PRIORITY_*, nm-cloud-setup(8))" for problem in tables.problems()]
    return tables


def _prefixes(raw: Optional[str], warnings: List[str]) -> Optional[str]:
    """NM_CLOUD_SETUP_EC2_PREFIXES: None (no, the default), "rules" (source rules to the
    NIC's tables), or "local" (yes: the rules and a local route for the whole prefix)."""
    value = (raw or "").strip().lower()
    if value == "rules":
        return "rules"
    if value in ("", "local"):
        return "local" if value else None
    flag = parse_bool(value)
    if flag is None:
        warnings.append(f'NM_CLOUD_SETUP_EC2_PREFIXES="{raw}" is not yes, rules, local or no; '
                        "using the default (no)")
    return "local" if flag else None


def _default_text(default: Optional[bool]) -> str:
    return "per provider" if default is None else ("yes" if default else "no")


def _log_level(raw: Optional[str], warnings: List[str]) -> str:
    if raw is None or not raw.strip():
        return "WARN"
    value = raw.strip().upper()
    value = _LOG_ALIASES.get(value, value)
    if value not in LOG_LEVELS:
        warnings.append(f'NM_CLOUD_SETUP_LOG="{raw}" is not one of {", ".join(LOG_LEVELS)}; '
                        "using the default (WARN)")
        return "WARN"
    return value


def _map_interfaces(raw: str, warnings: List[str]) -> Dict[str, str]:
    """``eth0=aa:bb:..;eth1=..`` -> {ifname: MAC}; bad entries are warned about and dropped."""
    result = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        ifname, sep, mac = entry.partition("=")
        normalized = normalize_mac(mac) if sep else None
        if not ifname.strip() or normalized is None:
            warnings.append(f'NM_CLOUD_SETUP_MAP_INTERFACES entry "{entry}" is not IFACE=MAC; '
                            "ignoring it")
            continue
        result[ifname.strip()] = normalized
    return result


def _bus_address(env: Mapping[str, str]) -> Optional[str]:
    if parse_bool(env.get("LIBNM_USE_SESSION_BUS", "") or "no"):
        return env.get("DBUS_SESSION_BUS_ADDRESS") or None
    return env.get("DBUS_SYSTEM_BUS_ADDRESS") or None
