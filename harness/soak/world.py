"""The soak's model of the cloud: which NICs the VM has, what the metadata lists, and
the random changes a step makes to them.  Pure: no I/O, and every choice comes
from the step's ``random.Random``, so a seed replays the same steps.

Four NIC slots: eth1 and eth2 (always plugged) and eth4 (hot-plugged) share subnet
A, where addresses move between NICs; eth3 (hot-plugged) has subnet B of its own.
Primaries are fixed (they come by DHCP); secondaries come and go.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from harness.sandbox import Nic

NET_A, NET_B = "172.31.16.0", "172.31.32.0"
PREFIXES_A = (20, 21, 22)  # subnet A is resized now and then; its hosts stay in the /22
MAX_ADDRESSES = 6


@dataclass(frozen=True)
class Slot:
    ifname: str
    net: str
    primary: str
    hot: bool  # plugged and unplugged during the soak

    @property
    def number(self) -> int:
        return int(self.ifname[3:]) - 1

    @property
    def mac(self) -> str:
        return f"02:00:00:00:00:{self.number + 1:02x}".upper()


SLOTS = (Slot("eth1", NET_A, "172.31.16.10", False), Slot("eth2", NET_A, "172.31.16.20", False),
         Slot("eth3", NET_B, "172.31.32.10", True), Slot("eth4", NET_A, "172.31.16.40", True))


def sandbox_nics() -> List[Nic]:
    """The sandbox NICs: DHCP hands out the primaries with a /20, whatever the metadata says."""
    return [Nic(s.ifname, s.mac.lower(), s.primary, f"{s.net}/20") for s in SLOTS]


@dataclass
class World:
    """The cloud's side: the metadata per NIC, and which NICs are plugged into the VM."""

    prefix_a: int = 20
    listed: Dict[int, List[str]] = field(default_factory=dict)  # slot -> addresses
    plugged: Set[int] = field(default_factory=set)
    # Plugged NICs the metadata dropped keep their addresses until they are unplugged.
    kept: Dict[int, List[str]] = field(default_factory=dict)
    # A NIC transition started but not finished: (slot, what is still to do).
    pending: Optional[Tuple[int, str]] = None

    @classmethod
    def start(cls) -> "World":
        world = cls(listed={0: ["172.31.16.10", "172.31.16.11", "172.31.16.12"],
                            1: ["172.31.16.20", "172.31.16.21"],
                            2: ["172.31.32.10", "172.31.32.11"]},
                    plugged={0, 1, 2})
        return world

    def subnet(self, slot: int) -> str:
        net = SLOTS[slot].net
        return f"{net}/{self.prefix_a if net == NET_A else 20}"

    def scenario(self) -> dict:
        return {"interfaces": [
            {"mac": SLOTS[n].mac.lower(), "device_number": n, "subnet": self.subnet(n),
             "addresses": list(addresses)}
            for n, addresses in sorted(self.listed.items())]}

    def configured(self) -> List[int]:
        """Slots the tool configures: plugged and in the metadata."""
        return sorted(set(self.listed) & self.plugged)

    def reserved(self) -> Set[str]:
        """Addresses in use: listed, or kept by a plugged NIC the metadata dropped."""
        used = {a for addresses in self.listed.values() for a in addresses}
        used |= {a for addresses in self.kept.values() for a in addresses}
        return used | {slot.primary for slot in SLOTS}

    def free_address(self, rng: random.Random, net: str) -> str:
        hosts = ipaddress.ip_network(f"{net}/22")
        used = self.reserved()
        while True:
            address = str(hosts[rng.randrange(11, hosts.num_addresses - 1)])
            if address not in used:
                return address


# -- metadata changes: each returns a description, or None when it does not apply ----

def add_address(world: World, rng: random.Random) -> Optional[str]:
    slots = [n for n, a in world.listed.items() if len(a) < MAX_ADDRESSES]
    if not slots:
        return None
    slot = rng.choice(slots)
    address = world.free_address(rng, SLOTS[slot].net)
    world.listed[slot].append(address)
    return f"add {address} to {SLOTS[slot].ifname}"


def remove_address(world: World, rng: random.Random) -> Optional[str]:
    slots = [n for n, a in world.listed.items() if len(a) > 1]
    if not slots:
        return None
    slot = rng.choice(slots)
    address = rng.choice(world.listed[slot][1:])
    world.listed[slot].remove(address)
    return f"remove {address} from {SLOTS[slot].ifname}"


def move_addresses(world: World, rng: random.Random) -> Optional[str]:
    """One to three secondaries from one NIC of subnet A to another (or a swap)."""
    slots = [n for n in world.listed if SLOTS[n].net == NET_A]
    if len(slots) < 2:
        return None
    moved = []
    for _ in range(rng.randint(1, 3)):
        source, target = rng.sample(slots, 2)
        if len(world.listed[source]) < 2 or len(world.listed[target]) >= MAX_ADDRESSES:
            continue
        address = rng.choice(world.listed[source][1:])
        world.listed[source].remove(address)
        world.listed[target].append(address)
        moved.append(f"{address} {SLOTS[source].ifname}->{SLOTS[target].ifname}")
    return f"move {', '.join(moved)}" if moved else None


def change_subnet(world: World, rng: random.Random) -> Optional[str]:
    world.prefix_a = rng.choice([p for p in PREFIXES_A if p != world.prefix_a])
    return f"subnet A is now /{world.prefix_a}"


def nic_transition(world: World, rng: random.Random) -> Optional[str]:
    """Plug or unplug a NIC, its metadata following late or early: half now, half later.

    Returns "plug SLOT", "unplug SLOT" (for the VM to do) or a metadata description.
    """
    if world.pending is not None:
        slot, todo = world.pending
        world.pending = None
        return _do(world, rng, slot, todo)
    slot = rng.choice([n for n, s in enumerate(SLOTS) if s.hot])
    metadata_first = rng.random() < 0.5
    if slot in world.plugged:  # unplug: the metadata drops it early, or late
        first, then = ("unlist", "unplug") if metadata_first else ("unplug", "unlist")
    else:
        first, then = ("list", "plug") if metadata_first else ("plug", "list")
    if (first == "unlist" and slot not in world.listed) or (first == "list" and
                                                            slot in world.listed):
        first = then
    else:
        world.pending = (slot, then)
    return _do(world, rng, slot, first)


def _do(world: World, rng: random.Random, slot: int, todo: str) -> str:
    if todo == "plug":
        world.plugged.add(slot)
    elif todo == "unplug":
        world.plugged.discard(slot)
        world.kept.pop(slot, None)
    elif todo == "list":
        world.listed[slot] = [SLOTS[slot].primary]
        for _ in range(rng.randint(1, 3)):
            world.listed[slot].append(world.free_address(rng, SLOTS[slot].net))
    elif todo == "unlist":
        addresses = world.listed.pop(slot, [])
        if slot in world.plugged:
            world.kept[slot] = addresses
    return f"{todo} {SLOTS[slot].ifname}"


CHANGES = ((add_address, 3), (remove_address, 3), (move_addresses, 4), (change_subnet, 1),
           (nic_transition, 2), (None, 3))


def change_metadata(world: World, rng: random.Random) -> Optional[str]:
    """One random change of the cloud (or none); a NIC's half-done plug or unplug is
    finished first (its metadata a step late or early)."""
    change = rng.choices([c for c, _ in CHANGES], [w for _, w in CHANGES])[0]
    if world.pending is not None:
        change = nic_transition
    return change(world, rng) if change else None
