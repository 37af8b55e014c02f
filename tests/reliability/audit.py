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
# What may stand between a card number's digits when it is written in groups ("4242 4242 4242 4291",
# dashes, dots, a mix, as the API refuses them in a reference): up to three spaces, dashes or dots,
# Unicode ones too, raw or as escapes in the scanned JSON text (any \uXXXX, \t, \n, \r).
_SEPARATORS = re.compile(r"(?<=\d)(?:[\s.\-\u2010-\u2015\u2212]|\\[tnr]|\\u[0-9a-fA-F]{4}){1,3}(?=\d)")


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

    def findings(self, text: str, cvv_text: str | None = None) -> list[str]:
        """What in `text` is card data: a registered card number (unbroken or in groups), a registered
        CVV as a JSON string value (looked for in `cvv_text` when given), or a field named like a CVV or
        card number."""
        with self._lock:  # suites register cards from many threads while others are checked
            pans, cvvs = list(self.pans), list(self.cvvs)
        joined = _SEPARATORS.sub("", text)
        found = [f"card number ending {pan[-4:]}" for pan in pans if pan in joined]
        found += [f"CVV {cvv!r}" for cvv in cvvs if f'"{cvv}"' in (text if cvv_text is None else cvv_text)]
        found += [f"field {m.group(1)!r}" for m in _CVV_KEY.finditer(text)]
        return found

    def check(self, kind: str, texts: list[str], where: str, cvv_texts: list[str] | None = None) -> list[str]:
        if self.paused:
            return []
        with self._lock:
            self.scanned[kind] += len(texts)
        pairs = zip(texts, cvv_texts or [None] * len(texts), strict=True)
        problems = [f"{where}: {kind} holds {finding}" for text, cvv in pairs for finding in self.findings(text, cvv)]
        with self._lock:
            self.leaks.extend(problems)
        return problems

    def check_items(self, items: list[dict[str, Any]], where: str) -> list[str]:
        """Card numbers anywhere in an item; CVVs in its strings but not in numbers (an amount of 224
        is stored as {"N": "224"}) nor in `reference`, the merchant's free text stored as given: a
        generated reference "423" cannot be told from a CVV "423" sent in another request
        (schemathesis soaks hit both), and a card number there is refused (400)."""
        texts = [json.dumps(item, sort_keys=True) for item in items]
        return self.check("stored items", texts, where, [json.dumps(_without_references(item)) for item in items])

    def check_responses(self, bodies: list[str], where: str) -> list[str]:
        """As stored items: the payment object echoes the merchant's `reference`."""
        return self.check("responses", bodies, where, [_json_without_references(body) for body in bodies])

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.scanned.items()))
        return (
            f"card-data audit: {len(self.pans)} card numbers and {len(self.cvvs)} CVVs sent; scanned {counts}; "
            f"{len(self.leaks)} leaks"
        )


def _without_references(value: Any) -> Any:
    """The value without `reference` fields and without DynamoDB numbers ({"N": "224"})."""
    if isinstance(value, dict):
        return {k: _without_references(v) for k, v in value.items() if k != "reference" and k != "N"}
    if isinstance(value, list):
        return [_without_references(v) for v in value]
    return value


def _json_without_references(body: str) -> str:
    try:
        return json.dumps(_without_references(json.loads(body)))
    except ValueError:
        return body


AUDIT = CardAudit()


# Figures a suite measured (printed at the end of the session; docs/reliability.md quotes them).
FIGURES: dict[str, str] = {}
