"""NetworkManager connection settings and the model, both ways: pure, over plain values.

A connection is ``{setting: {key: Value}}``, a ``Value`` being a (D-Bus signature,
value) pair whose value nests the same way (an ``aa{sv}`` is a list of
``{key: Value}``).  ``nm.py``, the only D-Bus user, turns Variants into these and
back; nothing here knows D-Bus, so all of it is tested without a daemon.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from nm_cloud_setup.model import FAMILIES, Address, IpConfig, Route, Rule, parse_bool
from nm_cloud_setup.planning import delta


class Value(NamedTuple):
    signature: str
    value: Any


Settings = Dict[str, Dict[str, Value]]

SKIP_KEY = "org.freedesktop.nm-cloud-setup.skip"
# User data of the profiles this tool makes for OpenStack (upstream's origin key, and
# what each is for): they alone may be VLANs or bonds, and are removed with their device.
ORIGIN_KEY = "org.freedesktop.NetworkManager.origin"
MADE_FOR_KEY = "org.freedesktop.nm-cloud-setup.made-for"
ETHERNET = WIRED = "802-3-ethernet"
OUR_TYPES = (ETHERNET, "vlan", "bond")
SETTING = {4: "ipv4", 6: "ipv6"}
AF = {4: 2, 6: 10}  # AF_INET, AF_INET6
# Methods under which NetworkManager refuses addresses of that family (its own check):
# the family is then left exactly as it is.
METHODS_OFF = {4: ("disabled", "link-local"), 6: ("ignore", "disabled", "link-local")}
REAPPLY_PRESERVE_EXTERNAL_IP = 0x1
# The first version seen to bring a device's IPv6 addresses back after a Reapply
# with the preserve-external-ip flag (docs/backends.md, "Reapply and IPv6").
PRESERVES_IPV6_SINCE = (1, 52)

_ROUTE_KEYS = {"dest": "s", "prefix": "u", "next-hop": "s", "metric": "u", "table": "u",
               "type": "s"}
_RULE_KEYS = {"priority": "u", "table": "u", "from": "s", "from-len": "y",
              "suppress-prefixlength": "i", "family": "i"}


def _value(item: Optional[Value], default: Any) -> Any:
    return default if item is None else item.value


# -- reading ---------------------------------------------------------------------

def label(settings: Settings) -> str:
    """``"ID" (UUID)``, as upstream's log lines name a connection."""
    con = settings.get("connection", {})
    return f'"{_value(con.get("id"), "")}" ({_value(con.get("uuid"), "")})'


def made_for(settings: Settings) -> Optional[str]:
    """What a profile this tool made is for (``nic IFNAME MAC``...); None for others'."""
    user_data = _value(settings.get("user", {}).get("data"), None) or {}
    return user_data.get(MADE_FOR_KEY) or None


def skip_reason(settings: Settings) -> Optional[str]:
    """Why upstream leaves this applied connection alone, in its words; None to go on.

    A VLAN or bond is configured only when this tool made its profile."""
    user_data = _value(settings.get("user", {}).get("data"), None)
    if user_data and parse_bool(user_data.get(SKIP_KEY, "no")):
        return f"skip applied connection due to user data {SKIP_KEY}"
    kind = _value(settings.get("connection", {}).get("type"), "")
    if kind != ETHERNET and not (kind in OUR_TYPES and made_for(settings)):
        return "skip applied connection due to type mismatch"
    if "ipv4" not in settings:
        return "skip applied connection due to missing IPv4 configuration"
    return None


def method(settings: Settings, family: int) -> Optional[str]:
    section = settings.get(SETTING[family])
    return None if section is None else _value(section.get("method"), None)


def families_off(settings: Settings) -> Tuple[Tuple[int, str], ...]:
    """(family, reason) of each family whose method takes no addresses."""
    result = []
    for family in FAMILIES:
        current = method(settings, family)
        if SETTING[family] not in settings:
            result.append((family, f"the connection has no {SETTING[family]} setting"))
        elif current in METHODS_OFF[family]:
            result.append((family, f"{SETTING[family]}.method is {current}"))
    return tuple(result)


def config_from_settings(settings: Settings) -> IpConfig:
    """A connection's addresses, routes and rules of both families, and its MTU
    (0 = automatic)."""
    addresses: List[Address] = []
    routes: List[Route] = []
    rules: List[Rule] = []
    for family in FAMILIES:
        section = settings.get(SETTING[family], {})
        addresses += [Address(e["address"].value, e["prefix"].value)
                      for e in _value(section.get("address-data"), [])]
        routes += [_route(e) for e in _value(section.get("route-data"), [])]
        rules += [_rule(e, family) for e in _value(section.get("routing-rules"), [])]
    mtu = _value(settings.get(WIRED, {}).get("mtu"), 0)
    return IpConfig(tuple(addresses), tuple(routes), tuple(rules), mtu or None,
                    dns_servers(settings))


def dns_servers(settings: Settings) -> Tuple[str, ...]:
    """The connection's name servers, IPv4 then IPv6 (``dns-data``, else ``dns``)."""
    found: List[str] = []
    for family in FAMILIES:
        section = settings.get(SETTING[family], {})
        texts = _value(section.get("dns-data"), None)
        if texts is None:
            texts = [_dns_text(family, raw) for raw in _value(section.get("dns"), [])]
        found += texts
    return tuple(found)


def _dns_text(family: int, raw: Any) -> str:
    """``dns`` as D-Bus has it: IPv4 a uint32 in network byte order, IPv6 16 bytes."""
    if family == 4:
        return str(ipaddress.IPv4Address(struct.pack("=I", raw)))
    return str(ipaddress.IPv6Address(bytes(raw)))


def _dns_values(family: int, servers: Iterable[str]) -> Value:
    mine = [ipaddress.ip_address(s) for s in servers if (":" in s) == (family == 6)]
    if family == 4:
        return Value("au", [struct.unpack("=I", a.packed)[0] for a in mine])
    return Value("aay", [a.packed for a in mine])


def _extra(entry: Mapping[str, Value], known: Mapping[str, str]) -> tuple:
    return tuple(sorted((k, v.signature, _hashable(v.value))
                        for k, v in entry.items() if k not in known))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _route(e: Mapping[str, Value]) -> Route:
    return Route(dest=e["dest"].value, prefix=e["prefix"].value,
                 next_hop=_value(e.get("next-hop"), None), metric=_value(e.get("metric"), None),
                 table=_value(e.get("table"), None), type=_value(e.get("type"), None),
                 extra=_extra(e, _ROUTE_KEYS))


def _rule(e: Mapping[str, Value], family: int) -> Rule:
    return Rule(priority=_value(e.get("priority"), 0), table=_value(e.get("table"), 0),
                from_addr=_value(e.get("from"), None), from_len=_value(e.get("from-len"), 0),
                suppress_prefixlength=_value(e.get("suppress-prefixlength"), None),
                extra=_extra(e, _RULE_KEYS), family=family)


# -- writing ---------------------------------------------------------------------

def with_config(settings: Settings, config: IpConfig,
                families: Iterable[int] = FAMILIES) -> Settings:
    """``settings`` with ``config``'s entries of ``families`` and its MTU.

    The legacy ``addresses``/``routes`` keys are dropped from those families:
    NetworkManager prefers them over the new keys.  Other families stay as they are.
    """
    result = dict(settings)
    families = tuple(families)
    for family in families:
        name = SETTING[family]
        if name not in result:
            continue
        view = config.family(family)
        section = {k: v for k, v in result[name].items() if k not in ("addresses", "routes")}
        section["address-data"] = Value("aa{sv}", [
            {"address": Value("s", a.address), "prefix": Value("u", a.prefix)}
            for a in view.addresses])
        section["route-data"] = Value("aa{sv}", [_route_entry(r) for r in view.routes])
        section["routing-rules"] = Value("aa{sv}", [_rule_entry(r) for r in view.rules])
        result[name] = section
    wired = dict(result.get(WIRED, {}))
    if config.mtu is not None or "mtu" in wired:
        wired["mtu"] = Value("u", config.mtu or 0)
        result[WIRED] = wired
    if config.dns != dns_servers(settings):  # only then: another's DNS is never rewritten
        for family in families:
            if SETTING[family] in result:
                section = {k: v for k, v in result[SETTING[family]].items() if k != "dns-data"}
                section["dns"] = _dns_values(family, config.dns)
                result[SETTING[family]] = section
    return result


def _route_entry(route: Route) -> Dict[str, Value]:
    entry = {"dest": Value("s", route.dest), "prefix": Value("u", route.prefix)}
    for key, value in (("next-hop", route.next_hop), ("metric", route.metric),
                       ("table", route.table), ("type", route.type)):
        if value is not None:
            entry[key] = Value(_ROUTE_KEYS[key], value)
    entry.update(_extra_entries(route.extra))
    return entry


def _rule_entry(rule: Rule) -> Dict[str, Value]:
    entry = {"family": Value("i", AF[rule.family]), "priority": Value("u", rule.priority)}
    if rule.table:
        entry["table"] = Value("u", rule.table)
    if rule.from_addr is not None:
        entry["from"] = Value("s", rule.from_addr)
        entry["from-len"] = Value("y", rule.from_len)
    if rule.suppress_prefixlength is not None:
        entry["suppress-prefixlength"] = Value("i", rule.suppress_prefixlength)
    entry.update(_extra_entries(rule.extra))
    return entry


def _extra_entries(extra: tuple) -> Dict[str, Value]:
    return {key: Value(sig, list(value) if isinstance(value, tuple) else value)
            for key, sig, value in extra}


def version_tuple(version: str) -> Tuple[int, ...]:
    """``1.42.4`` -> (1, 42, 4); anything unreadable -> ()."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0])[:3])


def reapply_flags(version: str, settings: Settings) -> int:
    """The Reapply flags that keep both families intact on this daemon.

    Every Reapply makes NetworkManager bounce IPv6 on the device (``disable_ipv6``
    1 then 0), which deletes its IPv6 addresses.  From 1.52 on, the daemon restores
    them under upstream's preserve-external-ip flag.  Before (1.42 observed), only a
    Reapply without flags restores them (the profile's static ones, DHCPv6's, the
    link-local one); with the flag the device keeps no IPv6 at all.  So: the flag,
    except on an older daemon when the connection's IPv6 is active.  (A daemon too
    old for the flag, before 1.41.6, rejects it; the caller retries without.)
    """
    ipv6_active = "ipv6" in settings and method(settings, 6) not in METHODS_OFF[6]
    if ipv6_active and version_tuple(version) < PRESERVES_IPV6_SINCE:
        return 0
    return REAPPLY_PRESERVE_EXTERNAL_IP


# -- describing ------------------------------------------------------------------

def nmcli_command(ifname: str, applied: IpConfig, wanted: IpConfig) -> str:
    """The change as an equivalent ``nmcli device modify`` line."""
    args: List[str] = []
    removals: List[str] = []
    for family in FAMILIES:
        change = delta.diff(applied.family(family), wanted.family(family))
        name = SETTING[family]
        for sign, key, items, target in (
                ("-", "routing-rules", change.remove_rules, removals),
                ("-", "routes", change.remove_routes, removals),
                ("-", "addresses", change.remove_addresses, removals),
                ("+", "addresses", change.add_addresses, args),
                ("+", "routes", change.add_routes, args),
                ("+", "routing-rules", change.add_rules, args)):
            if items:
                target += [f"{sign}{name}.{key}", ", ".join(str(item) for item in items)]
    args = removals + args
    if wanted.mtu != applied.mtu:
        args += [f"{WIRED}.mtu", str(wanted.mtu or 0)]
    if wanted.dns != applied.dns:
        for family in FAMILIES:
            args += [f"{SETTING[family]}.dns",
                     ",".join(a for a in wanted.dns if (":" in a) == (family == 6))]
    if not args:  # only a primary address moved
        for family in FAMILIES:
            view = wanted.family(family)
            if view.addresses[:1] != applied.family(family).addresses[:1]:
                args += [f"{SETTING[family]}.addresses",
                         ", ".join(str(a) for a in view.addresses)]
    import shlex  # only for dry runs and status

    return " ".join(["nmcli", "device", "modify", shlex.quote(ifname)]
                    + [shlex.quote(arg) for arg in args])
