"""Domain errors. The API maps each class to one HTTP status and error type (handlers.wire.http)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class FieldError:
    field: str  # dotted path in the request, e.g. "card.number"
    message: str


class PaymentError(Exception):
    """Base of every error the API reports to a merchant; the message is safe to show (no card data)."""


class InvalidRequest(PaymentError):
    def __init__(self, message: str, fields: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class UnsupportedMediaType(PaymentError):
    pass


class PayloadTooLarge(PaymentError):
    pass


class Unauthorized(PaymentError):
    pass


class NotFound(PaymentError):
    pass


class IdempotencyKeyReused(PaymentError):
    pass


class RequestInProgress(PaymentError):
    pass


class InvalidState(PaymentError):
    """The payment's status does not allow the operation (409 naming the current status)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class AmountTooLarge(PaymentError):
    """The amount is above what the payment allows now (422 naming `amount` and the maximum)."""

    def __init__(self, message: str, maximum: int) -> None:
        super().__init__(message)
        self.maximum = maximum


class OutcomeUnknown(PaymentError):
    """The request may have moved money and its answer cannot be given now (a 500: retry with the same
    Idempotency-Key, which finds what was done); never a 503, which says nothing was sent."""


class BankUnavailable(PaymentError):
    """The bank provably did not process the payment; `payment_id` names the stored `failed` payment.
    `replayed`: the answer of an earlier request with the same Idempotency-Key, given again."""

    def __init__(self, message: str, payment_id: str | None = None, *, replayed: bool = False) -> None:
        super().__init__(message)
        self.payment_id = payment_id
        self.replayed = replayed


class StorageUnavailable(PaymentError):
    """DynamoDB throttled, failed or timed out; the caller may retry after a short pause."""


class BankError(Exception):
    """The bank port's failures (not shown to merchants: the service decides what each means)."""


class BankNotProcessed(BankError):
    """Provably not processed: never sent (refused connection, DNS) or an explicit not-processed answer."""


class BankOutcomeUnknown(BankError):
    """The request may have reached the bank: a timeout after sending, a reset, a 5xx, an unreadable 200."""


class BankRefusal(BankError):
    """The bank explicitly refused a capture, refund or void, with its own error body: nothing moved."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The bank refused the request ({reason}).")
        self.reason = reason  # the bank's error code, e.g. already_captured


class BankUnreachable(BankError):
    """An inquiry or a reversal got no usable answer; the resolver retries later."""


class ConditionFailed(Exception):
    """A conditional write lost a race; adapters raise it, the service decides what it means."""
