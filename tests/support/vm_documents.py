"""VM documents, as the metadata service's API takes them (``vm``: one NIC, one address)."""

from __future__ import annotations


def vm(mac="02:00:00:00:00:01", addresses=("10.0.0.5",), subnet="10.0.0.0/24", **extra):
    return {"interfaces": [{"mac": mac, "subnet": subnet, "addresses": list(addresses)}],
            **extra}
