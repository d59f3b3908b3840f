"""For the providers' parser tests: the recorded documents in tests/data, the NICs they are
read for, bad IPv6 values, and arbitrary and mutated JSON for the checks that bad input
raises only the project's own errors."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

DATA = Path(__file__).resolve().parent.parent / "data"
MAC = "0A:1B:2C:3D:4E:5F"  # EC2's NIC (its parser, the MAC listing)
OCI_MACS = {"02:00:17:00:12:34": "ens3", "02:00:17:00:12:35": "ens5"}  # the VM's VNICs
DO_MACS = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
HZ_MACS = {"86:00:00:2A:7D:E0": "enp7s0", "86:00:00:20:10:50": "enp8s0"}
BAD_IPV6 = [  # (value, what the error says)
    ("2600:1f18::zz", "invalid IPv6 address"),
    ("10.0.0.5", "is an IPv4 address where an IPv6 address belongs"),
    ("fe80::5", "cannot be assigned"),
    ("ff02::1", "cannot be assigned"),
    ("::ffff:10.0.0.5", "cannot be assigned"),
]


def sample(name: str) -> str:
    return (DATA / name).read_text()


def do_doc() -> dict:
    return json.loads(sample("digitalocean_metadata.json"))


def _containers(inner):
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           _containers, max_leaves=20)


def mutate(doc, data):
    """Replace one randomly chosen subtree of ``doc`` with an arbitrary JSON value."""
    if not isinstance(doc, (dict, list)) or not doc or data.draw(st.integers(0, 5)) == 0:
        return data.draw(json_values)
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = data.draw(st.sampled_from(keys))
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[key] = mutate(doc[key], data)
    return copy
