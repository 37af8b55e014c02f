"""The fixed words of the API's answers that the handlers and the gateway's own responses share."""

from __future__ import annotations

from handlers.contract.limits import MAX_BODY_BYTES


def body_too_large(limit: int) -> str:
    return f"The request body must be at most {limit} bytes."


BODY_TOO_LARGE = body_too_large(MAX_BODY_BYTES)
NOT_JSON = "Send the request body as UTF-8 JSON with 'Content-Type: application/json'."
# A failure after the request reached the code that runs it (a crash, a timeout, an unexpected error):
# a payment may have been charged, or not. Retrying with the same Idempotency-Key is safe either way
# (a replay returns the payment if there is one); a new key could charge twice.
OUTCOME_UNKNOWN = (
    "The outcome is unknown: a payment may have been processed. Retry with the same Idempotency-Key "
    "after Retry-After seconds, never with a new key."
)
OUTCOME_UNKNOWN_RETRY_AFTER = 1
INTERNAL_ERROR = "An internal error occurred; it has been logged. " + OUTCOME_UNKNOWN

# What a merchant is told about its API key (handlers.domain.auth). An unknown and a revoked key get the
# same words: the answer must not tell whether a key exists. No quote or backslash: API Gateway puts
# them into JSON unescaped.
MISSING_HEADER = "The Authorization header is missing: send 'Authorization: Bearer <your API key>'."
MALFORMED_HEADER = "The Authorization header is malformed: send 'Authorization: Bearer <your API key>'."
INVALID_KEY = "The API key is not valid: it is unknown or has been revoked."
# Told from the key's prefix alone, before any lookup: it says nothing of whether the key exists.
TEST_KEY_ON_LIVE = (
    "This is a test API key (sk_test_): this gateway sends payments to a real acquirer and takes only "
    "live keys (sk_live_)."
)
RETIRED_KEY = "This API key has a retired format (pgw_): ask for a new key, which starts sk_live_ or sk_test_."
LIVE_KEY_ON_TEST = (
    "This is a live API key (sk_live_): this gateway is a test one (its acquirer is a simulator or a sandbox) "
    "and takes only test keys (sk_test_)."
)
