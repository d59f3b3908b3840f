"""What changes between two configurations of a device: pure functions, no I/O.

``diff`` is the set difference a backend applies; the rest serves the run's two
phases (``pipeline/apply.py``): within one run, whatever leaves a device (an
address moved to another NIC, its rules, its routes) is taken away before any
device is given what arrives, so a device that both loses and gains first goes
to an intermediate state, ``kept``: what it keeps, nothing added.  The functions
work on every tuple of entries of a configuration, whichever families it carries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Collection, List, Tuple, TypeVar

from nm_cloud_setup.model import Address, IpConfig, Route, Rule

T = TypeVar("T")


@dataclass(frozen=True)
class Diff:
    """What moving from ``current`` to ``wanted`` adds and removes."""

    add_addresses: Tuple[Address, ...] = ()
    remove_addresses: Tuple[Address, ...] = ()
    add_routes: Tuple[Route, ...] = ()
    remove_routes: Tuple[Route, ...] = ()
    add_rules: Tuple[Rule, ...] = ()
    remove_rules: Tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return any((self.add_addresses, self.remove_addresses, self.add_routes,
                    self.remove_routes, self.add_rules, self.remove_rules))


def diff(current: IpConfig, wanted: IpConfig) -> Diff:
    """Set difference of two configurations (order of addresses aside)."""
    return Diff(
        add_addresses=_minus(wanted.addresses, current.addresses),
        remove_addresses=_minus(current.addresses, wanted.addresses),
        add_routes=_minus(wanted.routes, current.routes),
        remove_routes=_minus(current.routes, wanted.routes),
        add_rules=_minus(wanted.rules, current.rules),
        remove_rules=_minus(current.rules, wanted.rules),
    )


def _minus(items: Tuple[T, ...], other: Tuple[T, ...]) -> Tuple[T, ...]:
    exclude = set(other)
    return tuple(item for item in items if item not in exclude)




def _entry_fields(config: IpConfig) -> List[str]:
    return [f.name for f in dataclasses.fields(config)
            if isinstance(getattr(config, f.name), tuple)]


def loses(current: IpConfig, wanted: IpConfig) -> bool:
    """True when going from ``current`` to ``wanted`` takes any entry away."""
    return any(set(getattr(current, name)) - set(getattr(wanted, name))
               for name in _entry_fields(current))


def gains(current: IpConfig, wanted: IpConfig) -> bool:
    """True when going from ``current`` to ``wanted`` adds any entry."""
    return any(set(getattr(wanted, name)) - set(getattr(current, name))
               for name in _entry_fields(current))


def kept(current: IpConfig, wanted: IpConfig) -> IpConfig:
    """The intermediate state of a device: ``current`` minus what leaves, nothing added.

    Entries come in ``wanted``'s order, so a primary address that stays is first
    before and after; the other settings (the MTU) are ``wanted``'s.
    """
    changes = {}
    for name in _entry_fields(wanted):
        present = set(getattr(current, name))
        changes[name] = tuple(item for item in getattr(wanted, name) if item in present)
    return dataclasses.replace(wanted, **changes)


def withheld(wanted: IpConfig, addresses: Collection[str]) -> IpConfig:
    """``wanted`` without ``addresses`` (IP strings) and the rules routing from them.

    For a device that is to receive addresses another device still holds: they
    arrive on a later run, once they have left the other one.
    """
    if not addresses:
        return wanted
    blocked = set(addresses)
    changes = {}
    for name in _entry_fields(wanted):
        changes[name] = tuple(item for item in getattr(wanted, name)
                              if getattr(item, "address", None) not in blocked
                              and getattr(item, "from_addr", None) not in blocked)
    return dataclasses.replace(wanted, **changes)


def held(config: IpConfig) -> List[str]:
    """The IP addresses a configuration puts on its device."""
    return [item.address for name in _entry_fields(config) for item in getattr(config, name)
            if isinstance(item, Address)]


def claimed(config: IpConfig) -> List[str]:
    """The IP addresses a configuration puts on its device or has rules route from: while
    a device claims one, no other device may be given it."""
    return held(config) + [item.from_addr for name in _entry_fields(config)
                           for item in getattr(config, name)
                           if isinstance(item, Rule) and item.from_addr]


def merged(config: IpConfig, more: IpConfig) -> IpConfig:
    """``config`` plus the entries of ``more`` it lacks (after its own, in their order)."""
    changes = {}
    for name in _entry_fields(config):
        present = set(getattr(config, name))
        changes[name] = getattr(config, name) + tuple(
            item for item in getattr(more, name) if item not in present)
    return dataclasses.replace(config, **changes)


def without(config: IpConfig, other: IpConfig) -> IpConfig:
    """The entries of ``config`` that ``other`` does not hold (the rest of ``config`` as is)."""
    changes = {}
    for name in _entry_fields(config):
        drop = set(getattr(other, name))
        changes[name] = tuple(item for item in getattr(config, name) if item not in drop)
    return dataclasses.replace(config, **changes)


def departing(current: IpConfig, wanted: IpConfig) -> IpConfig:
    """The addresses ``current`` holds and ``wanted`` does not (by IP), with the rules that
    route from them: what a run would take off the device."""
    gone = set(held(current)) - set(held(wanted))
    changes = {}
    for name in _entry_fields(current):
        changes[name] = tuple(item for item in getattr(current, name)
                              if getattr(item, "address", None) in gone
                              or getattr(item, "from_addr", None) in gone)
    return dataclasses.replace(current, **changes)
