"""Amazon EC2 instance metadata (IMDS), with IMDSv2 tokens.

Requests per run: token, MAC listing, then per local NIC at once ``ipv6s`` (404
when it has none) and upstream's two keys, ``subnet-ipv4-cidr-block`` and
``local-ipv4s``, then ``device-number``; for a NIC with IPv6 addresses its
``subnet-ipv6-cidr-blocks``, and with the ``prefixes`` option the delegated
``ipv4-prefix`` and ``ipv6-prefix``.  All NICs' requests go side by side, at most
``CONCURRENCY`` in flight: three round trips after the listing.  Then
``network-card`` of the first NIC (404 on single-card types), and only where it
answers, of the others (``_cards``).  Paths, headers and
the token TTL are upstream's.  EC2-compatible servers without the token PUT are
served with plain GETs.  An IPv6-only NIC answers 404 for ``local-ipv4s``: a NIC
with IPv6 addresses has its IPv4 keys asked once, without upstream's wait.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from nm_cloud_setup.errors import CloudSetupError, HttpError, MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.planning.tables import MAX_CARDS
from nm_cloud_setup.providers import fanout
from nm_cloud_setup.providers.base import (Listed, Provider, TokenAuth, check_indexes, parse_cidr,
                                           parse_index, parse_ipv4_list, parse_subnet,
                                           per_mac_interfaces, unmatched, warn_outside_subnet)
from nm_cloud_setup.providers.ipv6 import parse_cidr6, parse_ipv6_list, subnet_holding

LOG = logging.getLogger(__name__)

API = "/2018-09-24/meta-data"
MACS = f"{API}/network/interfaces/macs/"
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL = 180
REQUIRED = ("subnet-ipv4-cidr-block", "local-ipv4s")
NUMBER = "device-number"
CARD = "network-card"  # multi-card types only: device-number counts within the card
IPV6S = "ipv6s"
SUBNET6 = "subnet-ipv6-cidr-blocks"
PREFIX_KEYS = ("ipv4-prefix", "ipv6-prefix")
INTERFACE_ID = "interface-id"  # asked only for NM_CLOUD_SETUP_EXCLUDE's id: selectors
# Requests in flight at most: the NICs' keys go side by side (upstream sends all of
# them at once, two per NIC; EC2 drops packets beyond about 1024/s per NIC, shared with
# DNS and NTP): 32, what upstream has in flight with 15 NICs.
CONCURRENCY = 32


def parse_interface(mac: str, position: int, values: Mapping[str, Optional[str]],
                    prefixes: Optional[str] = "local",
                    prefix_addresses: bool = False) -> InterfaceData:
    """One NIC from its keys' bodies (None: the key is not there).

    Delegated prefixes (when asked) get source rules; with ``prefixes`` "local" also a
    local route each; with ``prefix_addresses`` the first address of each is the NIC's.
    The table index is ``device-number`` when given (on the ``network-card`` given,
    else card 0), else the listing position.
    """
    addresses_text = values.get("local-ipv4s")
    subnet_text = values.get("subnet-ipv4-cidr-block")
    ipv6_text = values.get(IPV6S)
    if addresses_text is None and ipv6_text is None or \
            addresses_text is not None and subnet_text is None:
        missing = "local-ipv4s" if addresses_text is None else "subnet-ipv4-cidr-block"
        raise MetadataError(f"{missing} not (yet) available for {mac}")
    addresses: Tuple[str, ...] = ()
    subnet = None
    if addresses_text is not None:  # an IPv6-only NIC has none
        addresses = parse_ipv4_list(addresses_text)
        subnet = parse_subnet(subnet_text or "")
        warn_outside_subnet(mac, addresses, subnet)
    ipv6_addresses, ipv6_subnet = _ipv6(mac, ipv6_text, values.get(SUBNET6))
    number = values.get(NUMBER)
    index = parse_index(number) if number is not None else position
    card = values.get(CARD)
    delegated = _prefixes(values)
    return InterfaceData(mac, index, addresses, subnet,
                         local_routes=delegated if prefixes == "local" else (),
                         ipv6_addresses=ipv6_addresses, ipv6_subnet=ipv6_subnet,
                         interface_id=values.get(INTERFACE_ID),
                         card=_card(card) if number is not None and card is not None else 0,
                         delegated=delegated,
                         delegated_addresses=tuple(
                             str(ipaddress.ip_network(cidr).network_address)
                             for cidr in delegated) if prefix_addresses else ())


def _card(text: str) -> int:
    card = parse_index(text, CARD)
    if card >= MAX_CARDS:
        raise MetadataError(f"{CARD} {card} is beyond the {MAX_CARDS} cards the layout has")
    return card


def _ipv6(mac: str, ipv6_text: Optional[str],
          subnets_text: Optional[str]) -> Tuple[Tuple[str, ...], Optional[str]]:
    """``ipv6s`` and the subnet of ``subnet-ipv6-cidr-blocks`` that holds them."""
    addresses = parse_ipv6_list(ipv6_text or "")
    if not addresses:
        return (), None
    if subnets_text is None:
        raise MetadataError(f"{SUBNET6} not (yet) available for {mac}")
    return addresses, subnet_holding(addresses, subnets_text.split())


def _prefixes(values: Mapping[str, Optional[str]]) -> Tuple[str, ...]:
    """Delegated prefixes (``ipv4-prefix``, ``ipv6-prefix``), when they were asked for."""
    routes = [parse_cidr(text, "delegated prefix")
              for text in (values.get("ipv4-prefix") or "").split()]
    routes += [parse_cidr6(text, "delegated prefix")
               for text in (values.get("ipv6-prefix") or "").split()]
    return tuple(dict.fromkeys(routes))


class Ec2(Provider):
    key = "ec2"
    default_host = "http://169.254.169.254"
    concurrency = CONCURRENCY

    def __init__(self, client, options=None) -> None:
        super().__init__(client, options)
        self.auth = TokenAuth(client, TOKEN_PATH, "X-aws-ec2-metadata-token-ttl-seconds",
                              "X-aws-ec2-metadata-token", TOKEN_TTL)

    def get(self, path: str) -> str:
        return self.auth.get(path)

    def detect(self) -> None:
        self.auth.refresh()
        if not self.auth.supported:
            self.get("/latest/meta-data/")

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        listed = self.listing(MACS, macs)
        results = self.run_steps(self.per_mac_jobs(listed, macs, self._fetch_nic))
        _choose_indexes(results)
        self._cards(listed, results)
        interfaces = per_mac_interfaces(
            listed, macs, results, lambda position, mac, values: parse_interface(
                mac, position, values, self.options.get("prefixes"),
                bool(self.options.get("prefix_addresses"))))
        return InstanceData(self.name, tuple(check_indexes(interfaces)),
                            unmatched=unmatched([n.mac for n in listed], macs))

    def _cards(self, listed: Sequence[Listed], results: Mapping[str, Any]) -> None:
        """``network-card`` of each NIC numbered by ``device-number``, into ``results``.
        Only multi-card types have the key (404 elsewhere): it is asked of the first
        such NIC (the primary, listed first, long attached), and of the others only when
        that one has it, so a single-card instance pays one request, not one per NIC."""
        numbered = [(nic, results[nic.mac]) for nic in listed
                    if isinstance(results.get(nic.mac), dict)
                    and results[nic.mac].get(NUMBER) is not None]
        if not numbered:
            return
        first, rest = numbered[0], numbered[1:]
        first[1][CARD] = self.optional(self._base(first[0]) + CARD)()
        if first[1][CARD] is None:
            return
        found = self.fetch_all({nic.mac: self.optional(self._base(nic) + CARD)
                                for nic, _ in rest})
        for nic, values in rest:
            values[CARD] = found.get(nic.mac)

    @staticmethod
    def _base(nic: Listed) -> str:
        return f"{MACS}{nic.path}{'' if nic.path.endswith('/') else '/'}"

    def _fetch_nic(self, nic: Listed) -> fanout.Steps:
        """``ipv6s`` (optional) and upstream's keys at once (a 404 on these is waited
        for, unless the NIC has IPv6 addresses: an IPv6-only NIC has no IPv4 keys);
        then together the IPv6 subnet, the delegated prefixes and the ``interface-id``
        when asked for, and ``device-number`` (optional): asked after upstream's keys,
        so that a NIC just hot-plugged has it by then."""
        base = self._base(nic)
        started = time.monotonic()
        first = yield {key: self._getter(base + key) for key in (IPV6S, *REQUIRED)}
        ipv6s = self.as_optional(base + IPV6S, first[IPV6S])
        if ipv6s is None:
            values = yield from self._settled(base, first, started)
        else:
            values = {key: self.as_optional(base + key, first[key]) for key in REQUIRED}
            values[IPV6S] = ipv6s
        fetched = len(values) >= len(REQUIRED) and not _failed(values)
        later = {SUBNET6: self.optional(base + SUBNET6)} if ipv6s is not None else {}
        if fetched and self.options.get("prefixes"):
            later.update({key: self.optional(base + key) for key in PREFIX_KEYS})
        if fetched and self.options.get("interface_ids"):
            later[INTERFACE_ID] = self.optional(base + INTERFACE_ID)
        if fetched:
            later[NUMBER] = self.optional(base + NUMBER)
        values.update((yield later))
        return values

    def _getter(self, path: str) -> Callable[[], str]:
        return lambda: self.get(path)

    def _settled(self, base: str, first: Mapping[str, Any], started: float) -> fanout.Steps:
        """Upstream's keys of a NIC without IPv6, from their first answers: a 404 is
        waited for, in order; the first failure ends it, as the value of its key.  A
        key after one that had to be waited for is asked afresh."""
        values: Dict[str, Any] = {}
        waited = False
        for key in REQUIRED:
            result = first[key]
            if waited:
                result = (yield {key: self.required(base + key)})[key]
            elif isinstance(result, HttpError) and result.code == 404:
                waited = True
                result = (yield {key: self.required(base + key, result, started)})[key]
            values[key] = result
            if isinstance(result, CloudSetupError):
                break
        return values


def _choose_indexes(results: Mapping[str, Any]) -> None:
    """``device-number`` is the table index only when every fetched NIC has a usable
    one; else upstream's rule, the list position, for all (a mix could give two NICs
    one table).  Edits ``results`` in place."""
    fetched = [values for values in results.values()
               if isinstance(values, dict) and not _failed(values)]
    numbers = [_number(values) for values in fetched]
    numbered = all(number is not None for number in numbers)
    if fetched and not numbered:
        LOG.debug("get-config: device-number is not given for every NIC: the list positions "
                  "are the table indexes, as upstream's")
    for values, number in zip(fetched, numbers):
        values[NUMBER] = number if numbered else None


def _failed(values: Mapping[str, Any]) -> bool:
    return any(isinstance(value, CloudSetupError) for value in values.values())


def _number(values: Mapping[str, Any]) -> Optional[str]:
    """A usable ``device-number`` of a NIC's values, else None (a bad one is logged)."""
    number = values.get(NUMBER)
    if number is None:
        return None
    try:
        parse_index(number)
    except MetadataError as err:
        LOG.warning("get-config: ignoring %s", err)
        return None
    return number
