"""The numbers of the routing layout, and what of it a run adds.  Pure.

Upstream's numbers by default (docs/routing.md): per NIC with table index IDX,
subnet routes in table 30200+IDX with rules at priority 30200+IDX, default routes
in table 30400+IDX with rules at 30400+IDX, one rule at 30350 (suppress_prefixlength
0), and further subnets' default routes in tables 30500+100*K+IDX.  A NIC on network
card C > 0 (EC2's multi-card types) has its two tables in the card range instead,
31000+200*(C-1)+IDX and 31100+200*(C-1)+IDX, and its rules at card 0's priorities.
Each base may be
moved, and each rule priority set apart from its table; ``routing`` says which
families get rules and tables at all (none: the administrator routes, "addresses
only"), ``addresses`` whether the metadata's addresses are added (no: "rules only",
another program adds them).  The man page names the variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Tuple

MAX_INTERFACES = 100  # table indexes 0..99
EXTRA_STEP = 100
MAX_EXTRA_NETWORKS = 5
CARD_STEP = 200  # per network card beyond the first: 100 subnet tables, 100 default-route
MAX_CARDS = 64  # cards 0..63 (the most today: 32, p5.48xlarge)
RESERVED_TABLES = (0, 253, 254, 255)  # unspecified, default, main, local
MAX_TABLE = 2 ** 32 - 1
PRIORITIES = range(1, 32766)  # 0 is the local rule's, 32766 main's, 32767 default's


@dataclass(frozen=True)
class Tables:
    subnet: int = 30200
    default: int = 30400
    extra: int = 30500
    card: int = 31000
    suppress: int = 30350
    subnet_priority: Optional[int] = None  # None: the table base
    default_priority: Optional[int] = None
    extra_priority: Optional[int] = None
    routing: FrozenSet[int] = frozenset({4, 6})
    addresses: bool = True

    @property
    def subnet_rule(self) -> int:
        return self.subnet if self.subnet_priority is None else self.subnet_priority

    @property
    def default_rule(self) -> int:
        return self.default if self.default_priority is None else self.default_priority

    @property
    def extra_rule(self) -> int:
        return self.extra if self.extra_priority is None else self.extra_priority

    def subnet_table(self, index: int, card: int = 0) -> int:
        """The subnet table of the NIC with table index ``index`` on network card ``card``."""
        return self.subnet + index if card == 0 else self._card_base(card) + index

    def default_table(self, index: int, card: int = 0) -> int:
        """Its default-route table."""
        return self.default + index if card == 0 else \
            self._card_base(card) + MAX_INTERFACES + index

    def _card_base(self, card: int) -> int:
        assert 0 < card < MAX_CARDS
        return self.card + CARD_STEP * (card - 1)

    def table_ranges(self) -> List[Tuple[str, range]]:
        return [("subnet tables", range(self.subnet, self.subnet + MAX_INTERFACES)),
                ("default-route tables", range(self.default, self.default + MAX_INTERFACES)),
                ("further-subnet tables",
                 range(self.extra, self.extra + EXTRA_STEP * MAX_EXTRA_NETWORKS)),
                ("network-card tables",
                 range(self.card, self.card + CARD_STEP * (MAX_CARDS - 1)))]

    def priority_ranges(self) -> List[Tuple[str, range]]:
        return [("subnet rules", range(self.subnet_rule, self.subnet_rule + MAX_INTERFACES)),
                ("suppress rule", range(self.suppress, self.suppress + 1)),
                ("default-route rules",
                 range(self.default_rule, self.default_rule + MAX_INTERFACES)),
                ("further-subnet rules",
                 range(self.extra_rule, self.extra_rule + EXTRA_STEP * MAX_EXTRA_NETWORKS))]

    def owns_table(self, table: Optional[int]) -> bool:
        return table is not None and any(table in span for _, span in self.table_ranges())

    def owns_priority(self, priority: int) -> bool:
        return any(priority in span for _, span in self.priority_ranges())

    def problems(self) -> List[str]:
        """Why this layout cannot be used (ranges that overlap or leave their bounds)."""
        found = []
        for spans, allowed in ((self.table_ranges(), None),
                               (self.priority_ranges(), PRIORITIES)):
            for number, (name, span) in enumerate(spans):
                if allowed is not None and not (span.start in allowed
                                                and span[-1] in allowed):
                    found.append(f"the {name} ({_text(span)}) leave the priorities "
                                 f"{allowed.start}-{allowed[-1]} rules may use")
                if allowed is None and (span.start < 1 or span[-1] > MAX_TABLE
                                        or any(t in span for t in RESERVED_TABLES)):
                    found.append(f"the {name} ({_text(span)}) take a reserved table "
                                 "(0, 253-255) or leave 1-4294967295")
                for other, other_span in spans[number + 1:]:
                    if span.start < other_span.stop and other_span.start < span.stop:
                        found.append(f"the {name} ({_text(span)}) and the {other} "
                                     f"({_text(other_span)}) overlap")
        return found


def _text(span: range) -> str:
    return str(span.start) if len(span) == 1 else f"{span.start}-{span[-1]}"


UPSTREAM = Tables()
