"""The resolver's settings that the stack chooses (components.config) and the handlers read.

The stack's `unknownOutcome` reaches the functions as UNKNOWN_OUTCOME, and the takeover bound it
computes with `takeover_after` as RESOLVER_TAKEOVER_SECONDS (the handlers' Settings).
"""

from __future__ import annotations

import enum


class UnknownOutcome(enum.StrEnum):
    SETTLE = "settle"  # record what the bank did, as late as it is found
    REVERSE = "reverse"  # reverse a late authorization: the shopper was already told it failed


def takeover_after(resolver_interval: float, replication_bound: float, lease: float) -> float:
    """How long a region's heartbeat must be silent before another region settles its payments.

    Two missed runs tell a dead resolver from a late one; the replication bound covers a heartbeat
    (and a settlement) still on its way; the lease covers a request of the silent region still at
    the bank. Settling twice is harmless anyway (both regions write the bank's record), but a
    reversal of a payment whose request is merely slow would not be.
    """
    return 2 * resolver_interval + replication_bound + lease
