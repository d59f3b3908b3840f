"""The model's values (model.py): comparing configs."""

from __future__ import annotations

from nm_cloud_setup.model import Ipv4Config
from nm_cloud_setup.planning import layout
from tests.support.interfaces import dual, iface


def test_same_as_ignores_order_except_for_the_primary():
    config = layout.cloud_entries(iface(addresses=("10.0.1.10", "10.0.1.11", "10.0.1.12")))
    shuffled = Ipv4Config(config.addresses[:1] + config.addresses[:0:-1], config.routes[::-1],
                          config.rules[::-1])
    assert config.same_as(shuffled)
    assert not config.same_as(Ipv4Config(config.addresses[::-1], config.routes, config.rules))
    assert not config.same_as(Ipv4Config(config.addresses[:2], config.routes, config.rules))


def test_same_as_looks_at_each_familys_primary():
    config = layout.cloud_entries(dual())
    v6 = config.family(6).addresses
    swapped = Ipv4Config(config.family(4).addresses + v6[::-1], config.routes, config.rules)
    assert not config.same_as(swapped)
    interleaved = Ipv4Config(v6[:1] + config.family(4).addresses + v6[1:], config.routes,
                             config.rules)
    assert config.same_as(interleaved)
