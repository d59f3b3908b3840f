"""The kernel's rules and links, for the NetworkManager backend.

Rules it had given NetworkManager, which forgot them in a restart, outlive their
NIC: only the kernel can tell, and only the kernel can remove them then
(``backends/nm/record.py``).  Made by ``cli.py`` only when that is needed, so a
default run never loads netlink.
"""

from __future__ import annotations

from typing import List, Sequence

from nm_cloud_setup.backends.netlink.kernel import Kernel
from nm_cloud_setup.backends.netlink.requests import rule_args
from nm_cloud_setup.model import Rule


class KernelRules:
    def __init__(self) -> None:
        self._kernel = Kernel()

    def rules(self) -> List[Rule]:
        return self._kernel.rules()

    def links(self) -> List[str]:
        return [link.ifname for link in self._kernel.links()]

    def delete(self, rules: Sequence[Rule]) -> None:
        for rule in rules:
            self._kernel.change("rule", "del", what=str(rule), **rule_args(rule, proto=None))

    def close(self) -> None:
        self._kernel.close()
