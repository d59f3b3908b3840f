"""The soak's invariants, judged by the tests' own oracle, not the tool's planner.

What each configured NIC should hold is computed from the metadata by
``harness.layout`` (upstream's layout as the tests write it, apart from
``nm_cloud_setup/planning``), with the listed addresses at their subnet's prefix and,
for NetworkManager, the route and rule eth2's profile holds of its own (``vm.py``'s
literals); both it and the kernel are reduced to sets of model entries (addresses,
routes, rules of any family), with the DHCP primaries and the administrator's entries
left out.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from harness import kernel_view
from harness.layout import expected_layout
from harness.soak.vm import (ADMIN_PROFILE_ROUTES, ADMIN_PROFILE_RULES, RULES, Result, Seen,
                             _table_slot)
from harness.soak.world import SLOTS, World
from nm_cloud_setup.model import Address, Ipv4Config, Route, Rule

Entries = Tuple[Set[Address], Set[Route], Set[Rule]]


def entries(config: Ipv4Config) -> Entries:
    """Every address, route and rule of a configuration, whichever field holds it."""
    items = [item for f in dataclasses.fields(config)
             for item in (getattr(config, f.name) if isinstance(getattr(config, f.name), tuple)
                          else ())]
    return ({i for i in items if isinstance(i, Address)},
            {i for i in items if isinstance(i, Route)}, {i for i in items if isinstance(i, Rule)})


def comparable(config: Ipv4Config) -> Entries:
    """What the soak reads back from the kernel: no DHCP primaries, routes and rules of
    the per-NIC tables only (the shared rule is checked on its own)."""
    primaries = {slot.primary for slot in SLOTS}
    addresses, routes, rules = entries(config)
    return ({a for a in addresses if a.address not in primaries},
            {r for r in routes if r.table is not None and _table_slot(r.table) is not None},
            {r for r in rules if _table_slot(r.table) is not None})


def expected(world: World, backend: str) -> Dict[str, Ipv4Config]:
    """ifname -> what the tool should give each NIC it configures (plugged and listed):
    the tests' own layout for the metadata (``harness.layout``), never the tool's plan.

    eth1 and eth2 are always plugged and listed, so upstream's single-address case
    (no layout at all) never arises; a world where it would is refused."""
    configured = world.configured()
    if len(configured) < 2:
        raise ValueError(f"the soak's oracle has no single-address case: {configured}")
    ifnames = {SLOTS[n].mac: SLOTS[n].ifname for n in configured}
    result = {}
    for iface in world.scenario()["interfaces"]:
        name = ifnames.get(iface["mac"].upper())
        if name is None:
            continue  # listed, not plugged
        rules, routes = expected_layout([iface], ifnames)
        prefix = ipaddress.ip_network(iface["subnet"]).prefixlen
        own = backend == "nm"
        result[name] = Ipv4Config(
            tuple(Address(a, prefix) for a in iface["addresses"]),
            tuple(sorted(map(_model_route, routes), key=str))
            + (ADMIN_PROFILE_ROUTES.get(name, ()) if own else ()),
            tuple(sorted(map(_model_rule, rules), key=str))
            + (ADMIN_PROFILE_RULES.get(name, ()) if own else ()))
    return result


def _model_route(route: kernel_view.Route) -> Route:
    """The oracle's (table, dst, gateway, dev, metric) as the model value ``vm.seen`` reads."""
    table, dst, gateway, _dev, metric = route
    net = ipaddress.ip_network("0.0.0.0/0" if dst == "default" else dst)
    return Route(str(net.network_address), net.prefixlen, next_hop=gateway or None,
                 metric=metric, table=int(table))


def _model_rule(rule: kernel_view.Rule) -> Rule:
    """The oracle's (priority, from, table[ suppress_prefixlength N]) as a model value."""
    priority, src, table = rule
    words = table.split()
    suppress = int(words[2]) if words[1:2] == ["suppress_prefixlength"] else None
    number = {"main": 254}.get(words[0]) or int(words[0])
    if src == "all":
        return Rule(priority, number, None, 0, suppress_prefixlength=suppress)
    address, _, length = src.partition("/")
    return Rule(priority, number, address, int(length or 32), suppress_prefixlength=suppress)


@dataclass
class Checker:
    """Counts the checks it makes and collects what fails."""

    checks: int = 0
    violations: List[str] = field(default_factory=list)
    ever: Dict[str, Entries] = field(default_factory=dict)  # everything ever expected per NIC

    def expect(self, ok: bool, message: str) -> None:
        self.checks += 1
        if not ok:
            self.violations.append(message)

    def remember(self, wanted: Dict[str, Ipv4Config]) -> None:
        for name, config in wanted.items():
            mine = self.ever.setdefault(name, (set(), set(), set()))
            for kept, new in zip(mine, comparable(config)):
                kept |= new

    # -- after every run -----------------------------------------------------------------

    def always(self, seen: Seen, profiles: Dict[str, str], start_profiles: Dict[str, str],
               results: Iterable[Result]) -> None:
        self.expect(not seen.admin_missing,
                    f"the administrator's entries are gone: {', '.join(seen.admin_missing)}")
        self.expect(profiles == start_profiles, "the profiles on disk changed")
        for result in results:
            output = result.stdout + result.stderr
            self.expect("Traceback" not in output, f"a traceback:\n{_tail(output)}")
            if result.returncode == 0:
                self.expect(not result.stderr.strip(), f"exit 0 with stderr:\n{result.stderr}")
            elif result.returncode == 1:
                lines = result.stderr.splitlines()
                self.expect(len(lines) == 1 and lines[0].startswith("nm-cloud-setup: error: "),
                            f"exit 1 without one error line on stderr:\n{_tail(output)}")

    def converged(self, seen: Seen, before: Seen, wanted: Dict[str, Ipv4Config],
                  plugged: List[str], applied: Optional[Dict[str, Ipv4Config]] = None) -> None:
        """After a healthy run: the kernel (and NetworkManager) hold what the oracle
        expects (``wanted``, from ``expected``) exactly."""
        given = {a.address for config in wanted.values() for a in entries(config)[0]}
        for name in plugged:
            if name in wanted:
                self._same(name, comparable(wanted[name]), _sets(seen.nics[name]),
                           "what is expected")
            else:  # a NIC the metadata does not list keeps what no other NIC is given
                addresses, routes, rules = _sets(before.nics.get(name, Ipv4Config()))
                kept = ({a for a in addresses if a.address not in given}, routes,
                        {r for r in rules if r.from_addr not in given})
                self._same(name, kept, _sets(seen.nics[name]), "what it kept")
        shared = {r for config in wanted.values() for r in entries(config)[2]
                  if _table_slot(r.table) is None and RULES[0] <= r.priority < RULES[1]}
        self.expect(shared <= seen.shared <= shared | before.shared,
                    f"shared rules {sorted(map(str, seen.shared))}, expected "
                    f"{sorted(map(str, shared))}")
        for name, current in (applied or {}).items():
            if name in wanted:  # the same entries, the primary (listed first) first
                self.expect(entries(current) == entries(wanted[name])
                            and current.addresses[:1] == wanted[name].addresses[:1],
                            f"{name}: NetworkManager's applied connection is not as expected: "
                            f"{_delta(entries(wanted[name]), entries(current))}")

    def _same(self, name: str, want: Entries, have: Entries, what: str) -> None:
        self.expect(want == have, f"{name}: the kernel is not {what}: {_delta(want, have)}")

    def nothing_lost(self, before: Seen, after: Seen, wanted: Dict[str, Ipv4Config],
                     world: World) -> None:
        """After any run: what was configured and is still expected is still there (an
        address moving between NICs may be on either), and nothing never expected is."""
        listed_on = {a: SLOTS[n].ifname for n in world.configured() for a in world.listed[n]}
        held_after = {a.address: name for name, config in after.nics.items()
                      for a in config.addresses}
        for name, was in before.nics.items():
            if name not in after.nics:
                continue  # unplugged meanwhile
            now = _sets(after.nics[name])
            want = comparable(wanted[name]) if name in wanted else _sets(was)
            for address in {a.address for a in was.addresses} & set(listed_on):
                self.expect(address in held_after, f"{address} was configured on {name}, is "
                            f"still listed (on {listed_on[address]}) and is gone")
            for kind, had, keep, have in zip(("route", "rule"), _sets(was)[1:], want[1:],
                                             now[1:]):
                for item in (had & keep) - have:
                    moving = getattr(item, "from_addr", None) in listed_on \
                        and listed_on[item.from_addr] != name
                    self.expect(moving, f"{name}: the {kind} {item} was configured, is still "
                                        f"expected, and is gone")
            ever = self.ever.get(name, (set(), set(), set()))
            for kind, have, had, allowed in zip(("address", "route", "rule"), now, _sets(was),
                                                ever):
                extra = have - had - allowed
                self.expect(not extra, f"{name}: {kind}s never expected for it: "
                                       f"{sorted(map(str, extra))}")

    def no_stale_tables(self, seen: Seen, plugged: List[int]) -> None:
        """After a healthy run: no rule sends to the tables of a NIC that is not plugged."""
        stale = {r for r in seen.table_rules if _table_slot(r.table) not in set(plugged)}
        self.expect(not stale, f"rules for the tables of unplugged NICs: {sorted(map(str, stale))}")


def _sets(config: Ipv4Config) -> Entries:
    return set(config.addresses), set(config.routes), set(config.rules)


def _delta(want: Entries, have: Entries) -> str:
    parts = []
    for kind, w, h in zip(("addresses", "routes", "rules"), want, have):
        if w - h:
            parts.append(f"missing {kind} {sorted(map(str, w - h))}")
        if h - w:
            parts.append(f"extra {kind} {sorted(map(str, h - w))}")
    return "; ".join(parts) or "(order only)"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
