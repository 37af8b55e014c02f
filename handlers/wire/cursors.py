"""List cursors a client cannot forge or carry to another merchant or list.

A cursor is the last id of a page with a keyed MAC over the merchant, the list and that id:
base64url(tag || id). A cursor edited by hand, made up, or given by another merchant's list (or by
another list of the same merchant) fails the MAC and is a 400 naming `cursor`: the id it carries
is never read. Both regions hold the same key, so a page's cursor works in either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

import attrs

_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_TAG_BYTES = 16  # 128 bits: forging one takes 2**128 guesses, each a request
NOT_OURS = "is not a cursor this list returned to you"


@attrs.frozen
class Cursors:
    """The cursors of one merchant's list (`listing`: payments, events, endpoints)."""

    key: bytes = attrs.field(repr=False)
    merchant_id: str
    listing: str

    def encode(self, last_id: str) -> str:
        raw = self._tag(last_id) + last_id.encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def decode(self, cursor: str, is_id: Callable[[str], bool]) -> str:
        """The id a cursor carries, once its MAC is this merchant's and this list's; else ValueError."""
        try:
            if not _URL_SAFE.fullmatch(cursor):  # no stray characters, no + or /
                raise ValueError
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            tag, last_id = raw[:_TAG_BYTES], raw[_TAG_BYTES:].decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError(NOT_OURS) from None
        if not (hmac.compare_digest(tag, self._tag(last_id)) and is_id(last_id)):
            raise ValueError(NOT_OURS)
        if self.encode(last_id) != cursor:  # one spelling: base64's unused last bits must be as written
            raise ValueError(NOT_OURS)
        return last_id

    def _tag(self, last_id: str) -> bytes:
        message = "\n".join(("list-cursor", self.listing, self.merchant_id, last_id)).encode()
        return hmac.new(self.key, message, hashlib.sha256).digest()[:_TAG_BYTES]
