"""Merchant API keys: random, high-entropy, stored only as a SHA-256 hash.

A plain (unsalted, fast) hash is right here: the keys carry 256 random bits, so there is nothing
to brute-force, and the authorizer must look a key up by its hash in one read.
"""

from __future__ import annotations

import hashlib
import secrets

from handlers.contract.messages import INVALID_KEY, MALFORMED_HEADER, MISSING_HEADER
from handlers.domain.errors import Unauthorized
from handlers.domain.models import Merchant
from handlers.domain.ports import MerchantDirectory

KEY_PREFIX = "pgw_"
_MAX_HEADER_LENGTH = 512


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def bearer_key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(authorization or "") > _MAX_HEADER_LENGTH or not key.isascii():
        raise Unauthorized(MALFORMED_HEADER if (authorization or "").strip() else MISSING_HEADER)
    return key


def authenticate(directory: MerchantDirectory, authorization: str | None) -> Merchant:
    merchant = directory.merchant_for_key(hash_api_key(bearer_key(authorization)))
    if merchant is None or not merchant.active:
        raise Unauthorized(INVALID_KEY)
    return merchant
