"""Merchant API keys: random, high-entropy, stored only as a SHA-256 hash.

A plain (unsalted, fast) hash is right here: the keys carry 256 random bits, so there is nothing
to brute-force, and the authorizer must look a key up by its hash in one read.

A key says what it is for: `sk_test_` keys work only where the acquirer is a test one (the bank
simulator, the local stack), `sk_live_` keys only where it is real. A gateway refuses the other kind
before any lookup, so a test integration never reaches a real acquirer by mistake, and a live key
pasted into a test setup is refused instead of quietly working.
"""

from __future__ import annotations

import enum
import hashlib
import secrets

from handlers.contract.messages import (
    INVALID_KEY,
    LIVE_KEY_ON_TEST,
    MALFORMED_HEADER,
    MISSING_HEADER,
    RETIRED_KEY,
    TEST_KEY_ON_LIVE,
)
from handlers.domain.errors import Unauthorized
from handlers.domain.models import Merchant
from handlers.domain.ports import MerchantDirectory

_MAX_HEADER_LENGTH = 512
RETIRED_PREFIX = "pgw_"  # keys made before keys had kinds: no gateway takes them, and the answer says so


class KeyMode(enum.StrEnum):
    """What an API key is for, and what a gateway takes: test (a test acquirer) or live (a real one)."""

    TEST = "test"
    LIVE = "live"

    @property
    def prefix(self) -> str:
        return f"sk_{self.value}_"


_REFUSED = {KeyMode.LIVE: TEST_KEY_ON_LIVE, KeyMode.TEST: LIVE_KEY_ON_TEST}  # by the gateway's mode


def new_api_key(mode: KeyMode) -> str:
    return mode.prefix + secrets.token_urlsafe(32)


def key_mode(api_key: str) -> KeyMode | None:
    """The mode a key's prefix names; None for a key of neither kind (an older `pgw_` key, a typo)."""
    return next((mode for mode in KeyMode if api_key.startswith(mode.prefix)), None)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def bearer_key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(authorization or "") > _MAX_HEADER_LENGTH or not key.isascii():
        raise Unauthorized(MALFORMED_HEADER if (authorization or "").strip() else MISSING_HEADER)
    return key


def authenticate(directory: MerchantDirectory, authorization: str | None, accepted: KeyMode) -> Merchant:
    """The merchant of a key of the `accepted` mode; a key of the other mode is refused unread."""
    key = bearer_key(authorization)
    mode = key_mode(key)
    if mode is None:  # told from the format alone, like the kinds: nothing about whether the key exists
        raise Unauthorized(RETIRED_KEY if key.startswith(RETIRED_PREFIX) else INVALID_KEY)
    if mode is not accepted:
        raise Unauthorized(_REFUSED[accepted])
    merchant = directory.merchant_for_key(hash_api_key(key))
    if merchant is None or not merchant.active:
        raise Unauthorized(INVALID_KEY)
    return merchant
