"""EC2's instance metadata service (IMDS), IMDSv2 tokens and the per-MAC text walk."""

from __future__ import annotations

import re

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, Tokens, UpstreamPaths, text

_MAC_PATH = re.compile(r"^/(?:latest|\d{4}-\d{2}-\d{2})/meta-data/network/interfaces/macs/"
                       r"(?:(?P<mac>[0-9a-f:]{17})/(?P<key>[a-z0-9-]*))?$")


_MACS = r"/2018-09-24/meta-data/network/interfaces/macs/"
UPSTREAM = UpstreamPaths(("PUT", r"/latest/api/token"), ("GET", _MACS),
                         ("GET", _MACS + r"[0-9a-f:]{17}/(subnet-ipv4-cidr-block|local-ipv4s)"))


class Ec2Api:
    """EC2's IMDS: IMDSv2 tokens and the per-MAC text walk."""

    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state
        self.tokens = Tokens("X-aws-ec2-metadata-token-ttl-seconds", "X-aws-ec2-metadata-token")

    def handle(self, method: str, path: str, headers) -> Answer:
        mode = self.state.scenario.get("ec2", {}).get("tokens", "optional")
        if path == "/latest/api/token":
            if method != "PUT" or mode == "unsupported":
                return text("Not Found\n", 404) if mode == "unsupported" else text("", 405)
            return self.tokens.issue(headers)
        if method != "GET":
            return text("", 405)
        if self.tokens.refused(headers, mode):
            return text("Unauthorized\n", 401)
        return self._get(path)

    def _get(self, path: str) -> Answer:
        if path in ("/latest/meta-data/", "/latest/meta-data"):
            return text("ami-id\nhostname\ninstance-id\nlocal-ipv4\nmac\nnetwork/\n")
        match = _MAC_PATH.match(path)
        if not match:
            return NOT_FOUND
        listed = scenarios.interfaces(self.state.scenario)
        if match["mac"] is None:  # as given, duplicates included
            return text("".join(f"{i['mac'].lower()}/\n" for i in listed))
        ifaces = {}
        for iface in listed:
            ifaces.setdefault(iface["mac"].lower(), iface)
        iface = ifaces.get(match["mac"])
        if iface is None:
            return NOT_FOUND
        values = {
            "mac": iface["mac"].lower(),
            "local-ipv4s": "\n".join(iface["addresses"]),
            "subnet-ipv4-cidr-block": iface["subnet"],
            "interface-id": f"eni-{iface['mac'].replace(':', '')}",
        }
        if iface.get("device_number") is not None:
            values["device-number"] = str(iface["device_number"])
        if match["key"] == "":
            return text("".join(f"{k}\n" for k in values))
        value = values.get(match["key"])
        return NOT_FOUND if value is None else text(value)



