"""Security: authentication, merchant isolation and card data, at the handlers (moto) and on the
local stack (its authorizer step emulates API Gateway's, with the result cache).

The infrastructure controls (encryption, TLS, WAF, IAM...) are asserted by tests/infra.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from handlers.contract import schema
from handlers.domain.auth import hash_api_key
from handlers.domain.errors import StorageUnavailable
from handlers.entrypoints import authorizer
from handlers.ops import admin
from tests.integration.conftest import REGION, TABLE
from tests.reliability.conftest import STACK_MERCHANTS, LogLines, RetrySleeps, scan
from tests.reliability.dynamo_faults import DynamoFaults, on
from tests.reliability.faultbank import FaultBank
from tests.reliability.gateway import Gateway, card_body
from tests.reliability.localstack import LocalStack
from tests.reliability.properties import property_test
from tests.support import AMEX, UNNAMED_BRAND_CARDS, UNNAMED_BRAND_WRITINGS, VISA_AUTHORIZED, VISA_DECLINED

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/POST/v1/payments"


def authorize(header: str | None) -> dict[str, Any] | None:
    """The authorizer's answer: its Allow policy, or None for a Deny (API Gateway's 401)."""
    headers = {"Authorization": header} if header is not None else {}
    event = {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "requestContext": {"requestId": "r"}}
    result: dict[str, Any] = authorizer.handler(event, None)
    effects = {statement["Effect"] for statement in result["policyDocument"]["Statement"]}
    assert effects in ({"Allow"}, {"Deny"}), result
    return result if effects == {"Allow"} else None


@pytest.fixture
def merchant(gateway: Gateway) -> tuple[str, str]:
    return admin.create_merchant("acme", table_name=TABLE, region=REGION)


# --- authentication ----------------------------------------------------------------------------


def accepted_form(header: str, key: str) -> bool:
    """The documented form: `Bearer <key>`, scheme case-insensitive, surrounding spaces ignored."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower() == "bearer" and rest.strip() == key and len(header) <= 512


@st.composite
def authorization_headers(draw: st.DrawFn, key: str) -> str:
    """Near-misses of the real header and anything at all."""
    return draw(
        st.one_of(
            st.text(max_size=80),
            st.text(max_size=600).map(lambda t: "Bearer " + t),
            st.sampled_from(["Bearer", "Bearer ", "bearer", "Basic " + key, key, "Token " + key, "Bearer\t" + key]),
            st.builds(
                lambda scheme, pad, cut, extra: f"{scheme}{pad}{key[cut:]}{extra}",
                st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer  ", "Bearer:", "Bearer=", " Bearer "]),
                st.sampled_from(["", " ", "\t"]),
                st.integers(0, 3),
                st.sampled_from(["", " ", "x", "\n", "\x00", "é", key[-1], "," + key]),
            ),
            st.builds(lambda k: "Bearer " + k, st.sampled_from([key.upper(), key.lower(), key[:-1], key + key])),
        )
    )


def _any_authorization_header(merchant: tuple[str, str], logs: LogLines, data: st.DataObject) -> None:
    merchant_id, key = merchant
    header = data.draw(authorization_headers(key))
    answer = authorize(header)
    if accepted_form(header, key):
        assert answer is not None and answer["context"] == {"merchant_id": merchant_id}
    else:
        assert answer is None, f"{header!r} was let in"
    assert key not in logs.text() and hash_api_key(key) not in logs.text()


test_only_the_exact_key_authorizes, test_only_the_exact_key_authorizes_soak = property_test(200, data=st.data())(
    _any_authorization_header
)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "sk_test_abc",
        "Bearer sk_test_" + "x" * 43,
        "Bearer " + "k" * 600,
    ],
)
def test_missing_malformed_and_unknown_keys_are_refused(merchant: tuple[str, str], header: str | None) -> None:
    assert authorize(header) is None


def test_revoked_keys_are_refused_even_after_use(merchant: tuple[str, str]) -> None:
    _, key = merchant
    assert authorize(f"Bearer {key}") is not None
    admin.revoke_key(key, table_name=TABLE, region=REGION)
    assert authorize(f"Bearer {key}") is None


def test_keys_are_stored_only_as_hashes(gateway: Gateway, store: Any, logs: LogLines) -> None:
    made = [admin.create_merchant(f"m{i}", table_name=TABLE, region=REGION) for i in range(5)]
    items = scan(store)
    dumped = json.dumps(items)
    assert len(items) == 5
    for merchant_id, key in made:
        assert key not in dumped and key.removeprefix("sk_test_") not in dumped  # nor its random part
        [item] = [i for i in items if i["merchant_id"]["S"] == merchant_id]
        assert item["pk"]["S"] == schema.api_key_pk(hash_api_key(key))
        assert set(item) == {"pk", "sk", "merchant_id", "name", "active", "key_mode"}
        assert item["key_mode"] == {"S": "test"}  # its kind, never the key
        authorize(f"Bearer {key}")
        authorize(f"Bearer {key}x")
    assert all(key not in logs.text() for _, key in made)


def test_a_storage_failure_in_the_authorizer_is_an_error_not_a_decision(
    merchant: tuple[str, str], moto_skips_faults: None, retry_sleeps: RetrySleeps
) -> None:
    """Throttled key lookups fail the authorizer (API Gateway answers 500) rather than allow or deny."""
    _, key = merchant
    faults = DynamoFaults().fail(on("GetItem"), "ProvisionedThroughputExceededException")
    faults.install(authorizer._directory()[0]._client)
    with pytest.raises(StorageUnavailable):
        authorizer.handler({"methodArn": METHOD_ARN, "headers": {"Authorization": f"Bearer {key}"}}, None)


# --- isolation: a model of two merchants --------------------------------------------------------

BODIES = [card_body(VISA_AUTHORIZED), card_body(VISA_DECLINED), card_body(AMEX, cvv="1234", amount=5)]


class TwoMerchants(RuleBasedStateMachine):
    """Random interleavings of pay / replay / read / list by two merchants sharing key names.
    Model: a key belongs to (merchant, key); its first body wins; everything is per merchant."""

    gateway: Gateway

    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:8]  # the table outlives one run: fresh merchants each time
        self.merchants = [f"mer_a{run}", f"mer_b{run}"]
        self.keys: dict[tuple[str, str], tuple[int, str]] = {}  # (merchant, key) -> (body index, payment id)
        self.owned: dict[str, str] = {}  # payment id -> merchant

    @rule(target=payments, who=st.integers(0, 1), key=st.sampled_from(["k1", "k2", "k3"]), body=st.integers(0, 2))
    def pay(self, who: int, key: str, body: int) -> str:
        merchant = self.merchants[who]
        reply = self.gateway.post(BODIES[body], key=key, merchant=merchant)
        known = self.keys.get((merchant, key))
        if known is None:
            assert reply.status == 201 and "Idempotent-Replayed" not in reply.headers
            self.keys[(merchant, key)] = (body, reply.body["id"])
            self.owned[reply.body["id"]] = merchant
        elif known[0] == body:
            assert (reply.status, reply.body["id"], reply.headers.get("Idempotent-Replayed")) == (201, known[1], "true")
        else:
            assert (reply.status, reply.kind) == (422, "idempotency_key_reused")
        return self.keys[(merchant, key)][1]

    @rule(payment_id=payments, who=st.integers(0, 1))
    def read(self, payment_id: str, who: int) -> None:
        merchant = self.merchants[who]
        reply = self.gateway.get(payment_id, merchant=merchant)
        if self.owned[payment_id] == merchant:
            assert reply.status == 200 and reply.body["id"] == payment_id
        else:
            unknown = self.gateway.get("pay_" + "0" * 26, merchant=merchant)
            assert (reply.status, reply.body) == (404, unknown.body)  # indistinguishable from no payment

    @rule(payment_id=consumes(payments), who=st.integers(0, 1))
    def cursor_from_the_other(self, payment_id: str, who: int) -> None:
        """A cursor works only for the merchant it was given to: one made from a payment id, or one another
        merchant was given, is a 400 naming `cursor`; the owner's own pages through its payments only."""
        owner, merchant = self.owned[payment_id], self.merchants[who]
        forged = base64.urlsafe_b64encode(payment_id.encode()).decode().rstrip("=")
        given = self.gateway.list_payments(owner, limit="1").body["next_cursor"]
        for cursor in (forged, given):
            if cursor is None:  # the owner's only payment: no next page, no cursor to carry
                continue
            page = self.gateway.list_payments(merchant, cursor=cursor, limit="100")
            if cursor is given and merchant == owner:
                assert page.status == 200
                assert all(self.owned.get(p["id"]) == merchant for p in page.body["data"])
            else:
                assert (page.status, [f["field"] for f in page.error["fields"]]) == (400, ["cursor"])

    @invariant()
    def each_lists_exactly_its_own(self) -> None:
        for merchant in self.merchants:
            listed = {p["id"] for p in self.gateway.list_all(merchant)}
            assert listed == {pid for pid, owner in self.owned.items() if owner == merchant}


def _run_model(gateway: Gateway, examples: int | None) -> None:
    TwoMerchants.gateway = gateway
    options: dict[str, Any] = {"stateful_step_count": 10, "deadline": None}
    if examples is not None:
        options["max_examples"] = examples
    run_state_machine_as_test(TwoMerchants, settings=settings(suppress_health_check=list(HealthCheck), **options))


def test_merchants_are_isolated_in_any_interleaving(gateway: Gateway, bank: FaultBank) -> None:
    _run_model(gateway, examples=10)


@pytest.mark.slow
def test_merchants_are_isolated_in_any_interleaving_soak(gateway: Gateway, bank: FaultBank) -> None:
    _run_model(gateway, examples=300)  # not the profile's 3000: each run replays up to 10 steps on a growing table


def test_replaying_another_merchants_key_never_returns_its_payment(gateway: Gateway, bank: FaultBank) -> None:
    theirs = gateway.post(card_body(VISA_AUTHORIZED), key="order-77", merchant="mer_a")
    mine = gateway.post(card_body(VISA_AUTHORIZED), key="order-77", merchant="mer_b")
    assert (theirs.status, mine.status) == (201, 201)
    assert mine.body["id"] != theirs.body["id"] and "Idempotent-Replayed" not in mine.headers
    assert len(bank.calls) == 2


# --- card data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["amount", "currency", "reference_too_long", "card.expiry_month", "unknown_value"])
def test_card_data_in_the_wrong_field_is_never_echoed(
    gateway: Gateway, store: Any, bank: FaultBank, place: str
) -> None:
    number, cvv = "4111111111111111", "957"
    body = card_body(number, cvv=cvv)
    body["card"] = dict(body["card"])
    if place == "reference_too_long":
        body["reference"] = (number + cvv) * 10
    elif place == "card.expiry_month":
        body["card"]["expiry_month"] = number
    elif place == "unknown_value":
        body["extra"] = {"pan": number, "cvv": cvv}
    else:
        body[place] = number + " " + cvv
    reply = gateway.post(body)
    assert reply.status == 400 and number not in reply.raw and cvv not in reply.raw
    assert scan(store) == [] and bank.calls == []


@pytest.mark.parametrize(
    "written",
    [
        VISA_AUTHORIZED,
        *(
            UNNAMED_BRAND_WRITINGS[f"{brand}-{notation}"]
            for brand in UNNAMED_BRAND_CARDS
            for notation in ("plain", "dashes")
        ),
    ],
)
def test_a_card_number_in_the_reference_is_refused(
    gateway: Gateway, store: Any, bank: FaultBank, exempt_from_card_audit: None, written: str
) -> None:
    """Any brand `card.number` accepts: Diners, UnionPay and Mir numbers were stored as given."""
    reply = gateway.post(card_body(VISA_AUTHORIZED, reference=f"order for card {written}"))
    assert (reply.status, reply.body["error"]["fields"][0]["field"]) == (400, "reference")
    assert written not in reply.raw and scan(store) == [] and bank.calls == []


def test_a_card_number_in_the_idempotency_key_is_never_stored(
    gateway: Gateway, store: Any, exempt_from_card_audit: None
) -> None:
    """Keys are free text, so they are stored only as a keyed hash: nothing to refuse, nothing to leak."""
    key = f"{VISA_AUTHORIZED}-2026-11-26"
    first = gateway.post(card_body(VISA_AUTHORIZED), key=key)
    assert first.status == 201
    assert gateway.post(card_body(VISA_AUTHORIZED), key=key).body["id"] == first.body["id"]  # still a key
    assert VISA_AUTHORIZED not in json.dumps(scan(store))


# --- on the local stack (API Gateway's authorizer step, with its cache) ----------------------


def stack_admin(stack: LocalStack) -> dict[str, Any]:
    return {"table_name": schema.DEFAULT_TABLE_NAME, "endpoint_url": stack.urls["dynamodb_url"], "region": REGION}


@pytest.fixture
def local_admin_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    yield


ROUTES = [("POST", "/v1/payments"), ("GET", "/v1/payments"), ("GET", "/v1/payments/pay_01JDZ00000000000000000000X")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "sk_test_only",
        "Bearer sk_test_unknown_" + "x" * 40,
        "Bearer " + "x" * 600,
    ],
)
def test_the_stack_refuses_bad_keys_with_401(
    local_stack: LocalStack, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    body = card_body(VISA_AUTHORIZED) if method == "POST" else None
    for url in (local_stack.global_url, local_stack.urls["eu_url"], local_stack.urls["us_url"]):
        reply = local_stack.call(method, path, body=body, headers=headers, url=url)
        assert (reply.status, reply.body["error"]["type"]) == (401, "unauthorized"), (url, reply.raw)
        assert reply.headers.get("x-request-id")


def test_the_stack_refuses_a_revoked_key(local_stack: LocalStack, local_admin_env: None) -> None:
    admin.revoke_key(STACK_MERCHANTS["mer_revoked"], **stack_admin(local_stack))
    reply = local_stack.call("GET", "/v1/payments", merchant="mer_revoked")
    assert (reply.status, reply.body["error"]["type"]) == (401, "unauthorized")


def test_a_key_revoked_after_use_works_until_the_authorizer_cache_expires(
    local_stack: LocalStack, local_admin_env: None
) -> None:
    """Documented window, as in AWS: API Gateway caches the authorizer's Allow per Authorization header
    for AUTHORIZER_CACHE_SECONDS (300 s), so revocation takes effect within 5 minutes, not at once."""
    _, key = admin.create_merchant("revoked-later", **stack_admin(local_stack))
    headers = {"Authorization": f"Bearer {key}"}
    assert local_stack.call("GET", "/v1/payments", headers=headers).status == 200
    admin.revoke_key(key, **stack_admin(local_stack))
    assert local_stack.call("GET", "/v1/payments", headers=headers).status == 200  # the cached Allow


def test_the_stack_isolates_merchants(local_stack: LocalStack) -> None:
    key = f"iso-{secrets.token_hex(4)}"
    body = card_body(VISA_AUTHORIZED)
    theirs = local_stack.call("POST", "/v1/payments", merchant="mer_alpha", body=body, headers={"Idempotency-Key": key})
    assert theirs.status == 201
    payment_id = theirs.body["id"]
    as_beta = local_stack.call("GET", f"/v1/payments/{payment_id}", merchant="mer_beta")
    unknown = local_stack.call("GET", "/v1/payments/pay_" + "0" * 26, merchant="mer_beta")
    assert (as_beta.status, as_beta.body) == (404, unknown.body)
    listed = local_stack.call("GET", "/v1/payments?limit=100", merchant="mer_beta")
    assert payment_id not in {p["id"] for p in listed.body["data"]}
    replay = local_stack.call("POST", "/v1/payments", merchant="mer_beta", body=body, headers={"Idempotency-Key": key})
    assert replay.status == 201 and replay.body["id"] != payment_id and "idempotent-replayed" not in replay.headers


def test_no_api_key_reaches_the_stacks_logs(local_stack: LocalStack) -> None:
    for merchant in STACK_MERCHANTS:
        local_stack.call("GET", "/v1/payments", merchant=merchant)
    text = local_stack.log.read_text(errors="replace")
    assert '"authorized"' in text  # the authorizer's lines are there
    for key in STACK_MERCHANTS.values():
        assert key not in text and hash_api_key(key) not in text
