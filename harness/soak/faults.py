"""The fault matrix (tests/e2e/test_faults.py) as the soak injects it: one per faulty
step, on the metadata of the moment.  Each says the exit status it must give
(None: either, it depends on timing) and the text that must name the cause."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

Rules = Callable[[str], List[Dict]]  # the emulator's fault rules, for one NIC's MAC


@dataclass(frozen=True)
class Fault:
    name: str
    status: Optional[int]
    text: str
    rules: Rules = field(default=lambda mac: [])
    # Garbles the served metadata (not the cloud's own): (scenario, MAC) -> None.
    mutate: Optional[Callable[[dict, str], None]] = None
    per_nic: bool = False  # aimed at one configured NIC
    weight: int = 2


def _rule(match: str, **answer) -> Rules:
    return lambda mac: [{"match": match.replace("MAC", mac.lower()), **answer}]


def _nic_of(scenario: dict, mac: str) -> dict:
    return next(i for i in scenario["interfaces"] if i["mac"].upper() == mac.upper())


FAULTS = [
    Fault("500-burst", 0, "retrying", _rule("interfaces/macs/", status=500, times=2)),
    Fault("503-burst", 0, "retrying", _rule("interfaces/macs/", status=503, times=3)),
    Fault("429-retry-after", 0, "retrying in 1.00 s",
          _rule("interfaces/macs/", status=429, times=1, headers={"Retry-After": "1"})),
    Fault("429-no-retry-after", 0, "HTTP 429", _rule("interfaces/macs/", status=429, times=2)),
    Fault("401-stale-token", 0, "", _rule("interfaces/macs/", status=401, times=1)),
    Fault("500-persistent", 1, "{mac}: local-ipv4s: ", _rule("MAC/local-ipv4s", status=500),
          per_nic=True, weight=4),
    Fault("redirect", 1, "redirect", _rule("interfaces/macs/", status=302,
                                           headers={"Location": "http://192.0.2.1/x"})),
    Fault("cut-short", 1, "request failed",
          _rule("MAC/local-ipv4s", status=200, body="172.31",
                headers={"Content-Length": "100"}), per_nic=True, weight=3),
    Fault("garbage", 1, "invalid MAC address",
          _rule("interfaces/macs/", status=200, body="<html>hello</html>")),
    Fault("binary", 1, "not UTF-8", _rule("MAC/subnet-ipv4-cidr-block", status=200,
                                          body="\x00\xff\xfe\x80"), per_nic=True),
    Fault("too-large", 1, "body too large", _rule("MAC/local-ipv4s", status=200,
                                                  body="1" * 600000), per_nic=True),
    Fault("slow-past-timeout", 1, "no answer within 3 s",
          _rule("MAC/local-ipv4s", status=200, delay=3.5), per_nic=True, weight=1),
    # Not on device-number: a key upstream does not read, going without it on any failure
    # (the list positions become the table indexes, as upstream's; see docs/providers/ec2.md).
    Fault("never-answers", 1, "no answer within 3 s",
          _rule("MAC/local-ipv4s", hang=True, hang_seconds=5), per_nic=True, weight=1),
    Fault("invalid-ip", 1, "invalid IPv4 address '172.31.16.999'",
          mutate=lambda s, mac: _nic_of(s, mac)["addresses"].append("172.31.16.999"),
          per_nic=True),
    Fault("out-of-range-ip", 1, "224.0.0.9 cannot be assigned",
          mutate=lambda s, mac: _nic_of(s, mac)["addresses"].append("224.0.0.9"), per_nic=True),
    Fault("invalid-cidr", 1, "invalid IPv4 subnet",
          mutate=lambda s, mac: _nic_of(s, mac).update(subnet="172.31.16.0/99"), per_nic=True),
    Fault("duplicate-mac", 1, "duplicate MAC address",
          mutate=lambda s, mac: s["interfaces"].append(dict(_nic_of(s, mac))), per_nic=True),
    Fault("foreign-mac", 0, "skip fetching meta data for 02:00:00:00:00:08",
          mutate=lambda s, mac: s["interfaces"].append(
              {"mac": "02:00:00:00:00:08", "device_number": 7, "subnet": "172.31.128.0/20",
               "addresses": ["172.31.128.10", "172.31.128.11"]})),
    Fault("empty-nic-list", 1, "the interface list is empty",
          mutate=lambda s, mac: s.update(interfaces=[])),
]
