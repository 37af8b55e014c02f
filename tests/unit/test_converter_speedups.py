"""The converter's speed-ups: format_timestamp writes with isoformat (the text must be the strftime text
it replaced), and the last payment is unstructured once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from handlers.domain.models import (
    CaptureMethod,
    CardSummary,
    Currency,
    Month,
    Payment,
    PaymentStatus,
    Reference,
    StoredPayment,
    Year,
)
from handlers.wire.converter import CONVERTER, format_timestamp, payment_to_item, payment_to_wire


def _strftime_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_the_text_is_utc_to_the_millisecond_cut_not_rounded() -> None:
    moment = datetime(2026, 12, 7, 18, 40, 18, 974999, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2026-12-07T17:40:18.974Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


def test_any_moment_from_year_1000_is_written_as_strftime_wrote_it() -> None:
    rng = random.Random(19)
    for _ in range(5000):
        offset = timezone(timedelta(minutes=rng.randint(-23 * 60, 23 * 60)))
        moment = datetime(1001, 1, 2, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 283_000_000_000_000_000))
        moment = moment.astimezone(offset)
        assert format_timestamp(moment) == _strftime_text(moment), moment


def _payment(status: PaymentStatus) -> Payment:
    return Payment(
        id="pay_01M98SJ80TRX4EXWGXYTTA2V6J",
        merchant_id="mer_01JBENCH7Q4ZK9M2X5W8R3T6VD",
        status=status,
        amount=1050,
        currency=Currency("GBP"),
        reference=Reference("order-123"),
        card=CardSummary("visa", "4291", Month(4), Year(2030)),
        authorization_code="A1B2C3" if status is PaymentStatus.CAPTURED else None,
        created_at=datetime(2026, 12, 7, 17, 41, 59, 450000, tzinfo=UTC),
        region="eu-west-1",
        capture_method=CaptureMethod.AUTOMATIC,
        amount_captured=1050 if status is PaymentStatus.CAPTURED else 0,
    )


def test_a_payment_written_put_in_its_event_and_answered_is_the_same_object_each_time() -> None:
    """The converter unstructures the last payment once (by identity): each caller still gets its own
    dict, whatever the one before it added or removed, and a new payment is not answered with the last."""
    captured = _payment(PaymentStatus.CAPTURED)
    fresh = CONVERTER.unstructure(captured)
    wire = payment_to_wire(captured)
    wire["status"] = "changed by the caller"
    item = payment_to_item(StoredPayment(captured, 1, "ref"), {"pk": "p", "sk": "s"})
    assert {k: v for k, v in item.items() if k in fresh} == fresh and item["merchant_id"] == captured.merchant_id
    assert payment_to_wire(captured) == {k: v for k, v in fresh.items() if k != "merchant_id"}
    assert payment_to_wire(_payment(PaymentStatus.FAILED))["status"] == "failed"
