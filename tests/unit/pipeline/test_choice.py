"""The deterministic provider choice (pipeline/choice.py), with probes that answer on a
timetable."""

from __future__ import annotations

import threading
import time

import pytest

from nm_cloud_setup.errors import Cancelled
from nm_cloud_setup.pipeline import choice
from nm_cloud_setup.providers import registry


@pytest.mark.parametrize("enabled, preferred, expected", [
    (["ec2", "openstack"], None, ["openstack", "ec2"]),
    (["ec2", "openstack"], "ec2", ["ec2", "openstack"]),
    (["hetzner", "gcp", "aliyun"], "azure", ["gcp", "aliyun", "hetzner"]),  # not enabled
    (list(registry.CHOICE_ORDER), "hetzner", ["hetzner"] + list(registry.CHOICE_ORDER[:-1])),
])
def test_order(enabled, preferred, expected):
    assert choice.order_for(enabled, preferred) == expected


class Timetable:
    """Probes that answer (True/False) after a delay; None never answers."""

    def __init__(self, **plan):
        self.plan = plan
        self.started = {}

    def detect(self, key):
        self.started[key] = time.monotonic()
        delay, verdict = self.plan[key]
        if verdict is None:
            threading.Event().wait(delay)
            return False
        time.sleep(delay)
        return verdict

    def choose(self, preferred=None, grace=0.3, head_start=choice.HEAD_START):
        order = choice.order_for(list(self.plan), preferred)
        self.began = time.monotonic()
        chosen = choice.choose(lambda key: key, order, preferred, grace, self.detect,
                               head_start=head_start)
        return chosen and chosen[0], time.monotonic() - self.began


def test_dmi_named_provider_wins_even_when_it_answers_last():
    """Past its head start the others are probed and answer first: it still wins."""
    for _ in range(20):
        table = Timetable(openstack=(0.0, True), ec2=(0.15, True))
        key, _ = table.choose(preferred="ec2", head_start=0.05)
        assert key == "ec2" and "openstack" in table.started


def test_dmi_named_provider_detected_within_its_head_start_leaves_the_others_unprobed():
    table = Timetable(ec2=(0.1, True), openstack=(0.0, True), aliyun=(5, None))
    key, took = table.choose(preferred="ec2")
    assert key == "ec2" and took < 0.3
    assert set(table.started) == {"ec2"}  # no other answer could have changed the choice


def test_dmi_named_provider_slow_the_others_start_after_the_head_start():
    table = Timetable(ec2=(0.4, False), openstack=(0.0, True))
    key, _ = table.choose(preferred="ec2", head_start=0.2)
    assert key == "openstack"
    assert 0.15 < table.started["openstack"] - table.began < 0.35


def test_dmi_named_provider_failing_fast_the_others_start_at_once():
    table = Timetable(ec2=(0.05, False), openstack=(0.0, True))
    key, took = table.choose(preferred="ec2", head_start=5)
    assert key == "openstack" and took < 0.5


def test_dmi_named_provider_costs_no_more_than_alone():
    """The others (one silent for 5 s) are not waited for once the named one answered."""
    key, took = Timetable(ec2=(0.1, True), aliyun=(5, None), openstack=(5, None),
                          hetzner=(0.0, True)).choose(preferred="ec2")
    assert key == "ec2" and took < 0.5


def test_dmi_named_provider_failing_falls_back_to_the_order():
    key, _ = Timetable(ec2=(0.1, False), openstack=(0.2, True)).choose(preferred="ec2")
    assert key == "openstack"


def test_without_dmi_the_order_wins_over_the_first_answer():
    for _ in range(20):
        key, _ = Timetable(openstack=(0.15, True), ec2=(0.0, True)).choose()
        assert key == "openstack"


def test_a_silent_earlier_provider_is_waited_for_only_the_grace():
    key, took = Timetable(openstack=(10, None), hetzner=(0.0, True)).choose(grace=0.3)
    assert key == "hetzner" and 0.25 < took < 1.0


def test_the_grace_runs_once_from_the_first_usable_answer():
    key, took = Timetable(openstack=(10, None), ec2=(0.2, True),
                          hetzner=(0.0, True)).choose(grace=0.3)
    assert key == "ec2" and took < 0.6  # ec2 came within the grace; openstack never did


def test_nothing_detected_waits_for_every_probe():
    key, took = Timetable(openstack=(0.2, False), ec2=(0.0, False)).choose()
    assert key is None and took >= 0.2


def test_one_provider_is_probed_without_threads():
    table = Timetable(gcp=(0.0, True))
    assert choice.choose(lambda key: key, ["gcp"], None, 0.3, table.detect) == ("gcp", "gcp")


def test_a_cancellation_in_a_probe_reaches_the_caller():
    def detect(key):
        if key == "ec2":
            raise Cancelled("cancelled by SIGTERM")
        time.sleep(0.5)
        return True

    with pytest.raises(Cancelled):
        choice.choose(lambda key: key, ["openstack", "ec2"], None, 0.3, detect)
