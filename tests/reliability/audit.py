"""The card-data audit: every card number and CVV the suites send is registered here, and every
stored item, log line and response they produce is scanned for them (PCI DSS 3.3.1, 3.5.1).

Each test is checked when it ends (the table scan happens in the `store` fixture's teardown, the
output in the autouse `card_audit` fixture's), so a leak fails the test that caused it. The totals
are printed at the end of the session and recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from typing import Any

import attrs

_CVV_KEY = re.compile(r'"(cvv|cvc|card_number|security_code)"\s*:', re.IGNORECASE)


@attrs.define
class CardAudit:
    pans: set[str] = attrs.field(factory=set)
    cvvs: set[str] = attrs.field(factory=set)
    scanned: Counter[str] = attrs.field(factory=Counter)  # what was scanned: items, log lines, responses
    leaks: list[str] = attrs.field(factory=list)
    paused: bool = False  # during a strict-xfail test that demonstrates a leak on purpose
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def register(self, number: str, cvv: str) -> None:
        with self._lock:
            self.pans.add(number)
            self.cvvs.add(cvv)

    def findings(self, text: str) -> list[str]:
        """What in `text` is card data: a registered card number, a registered CVV as a JSON string
        value, or a field named like a CVV or card number."""
        with self._lock:  # suites register cards from many threads while others are checked
            pans, cvvs = list(self.pans), list(self.cvvs)
        found = [f"card number ending {pan[-4:]}" for pan in pans if pan in text]
        found += [f"CVV {cvv!r}" for cvv in cvvs if f'"{cvv}"' in text]
        found += [f"field {m.group(1)!r}" for m in _CVV_KEY.finditer(text)]
        return found

    def check(self, kind: str, texts: list[str], where: str) -> list[str]:
        if self.paused:
            return []
        with self._lock:
            self.scanned[kind] += len(texts)
        problems = [f"{where}: {kind} holds {finding}" for text in texts for finding in self.findings(text)]
        with self._lock:
            self.leaks.extend(problems)
        return problems

    def check_items(self, items: list[dict[str, Any]], where: str) -> list[str]:
        return self.check("stored items", [json.dumps(item, sort_keys=True) for item in items], where)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.scanned.items()))
        return (
            f"card-data audit: {len(self.pans)} card numbers and {len(self.cvvs)} CVVs sent; scanned {counts}; "
            f"{len(self.leaks)} leaks"
        )


AUDIT = CardAudit()


# Figures a suite measured (printed at the end of the session; docs/reliability.md quotes them).
FIGURES: dict[str, str] = {}
