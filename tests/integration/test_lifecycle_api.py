"""The lifecycle's entry points with exactly the environment the Pulumi program gives each function
(components.lambda_settings): a function is not handed a secret it does not need, and still works."""

from __future__ import annotations

import json

import pytest

from handlers.contract import routes
from handlers.entrypoints import api, lifecycle_api
from tests.integration.conftest import reset_handler_caches
from tests.support import payment_body, proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env")


def test_the_refunds_list_needs_neither_the_bank_nor_the_fingerprint_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not (routes.LIST_REFUNDS.calls_bank or routes.LIST_REFUNDS.fingerprints)
    created = api.create_payment(
        proxy_event("POST", "/v1/payments", body=payment_body(capture_method="automatic")), None
    )
    payment_id = json.loads(created["body"])["id"]
    refund_event = proxy_event(
        "POST",
        "/v1/payments/{id}/refunds",
        path=f"/v1/payments/{payment_id}/refunds",
        body={"amount": 100, "reason": "damaged"},
        path_parameters={"id": payment_id},
    )
    assert lifecycle_api.create_refund(refund_event, None)["statusCode"] == 201
    monkeypatch.delenv("BANK_URL")
    monkeypatch.delenv("FINGERPRINT_KEY")
    reset_handler_caches()  # a new execution environment of the list-refunds function
    listed = lifecycle_api.list_refunds(
        proxy_event(
            "GET",
            "/v1/payments/{id}/refunds",
            path=f"/v1/payments/{payment_id}/refunds",
            path_parameters={"id": payment_id},
        ),
        None,
    )
    assert listed["statusCode"] == 200, listed
    [refund] = json.loads(listed["body"])["data"]
    assert (refund["amount"], refund["status"], refund["reason"]) == (100, "succeeded", "damaged")
