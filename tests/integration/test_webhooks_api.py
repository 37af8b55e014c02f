"""The webhook API through its entry points, on moto, with the environment the functions get: endpoints
(secrets shown only at creation and rotation, the URL rules, rotation, enabling), the event log (newest
first, the type filter, the cursor, 30 days, attempts) and resend; each merchant sees only its own; each
function uses exactly the table actions its routes row grants. Every answer is checked against the spec."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from ulid import ULID

from handlers.adapters import dns
from handlers.adapters.attribute_values import to_attribute
from handlers.contract import routes, schema
from handlers.domain.errors import ConditionFailed
from handlers.domain.webhooks import Attempt, Delivery, EndpointStatus
from handlers.entrypoints import api, webhooks_api, wiring
from handlers.wire import webhooks as wire
from handlers.wire.converter import format_timestamp
from tests.integration.conftest import TABLE, reset_handler_caches
from tests.openapi_contract import assert_conforms
from tests.reliability.dynamo_faults import operation_of
from tests.support import VISA_DECLINED, payment_body, proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# The fake DNS: a name per refused class, and a public one.
ADDRESSES = {
    "hooks.example.com": ["93.184.216.34"],
    "loopback.example.com": ["127.0.0.1"],
    "ten.example.com": ["10.1.2.3"],
    "one72.example.com": ["172.16.5.4"],
    "one92.example.com": ["192.168.1.1"],
    "metadata.example.com": ["169.254.169.254"],
    "cgnat.example.com": ["100.64.1.1"],
    "ula.example.com": ["fc00::1"],
    "linklocal6.example.com": ["fe80::1"],
    "multicast.example.com": ["224.0.0.1"],
    "multicast6.example.com": ["ff02::1"],
    "mixed.example.com": ["93.184.216.34", "10.0.0.5"],  # one public address does not make it safe
}


def fake_resolve(host: str) -> list[str]:
    if host in ADDRESSES:
        return ADDRESSES[host]
    if host.replace(".", "").isdigit() or ":" in host:  # an address literal
        return [host.strip("[]")]
    raise OSError("no such name")


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns, "resolve", fake_resolve)


def call(handler: Handler, method: str, resource: str, expect: int, merchant: str = "mer_a", **kwargs: Any) -> Any:
    ids = kwargs.pop("ids", {})
    path = resource
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    event = proxy_event(method, resource, path=path, path_parameters=ids or None, merchant_id=merchant, **kwargs)
    response = handler(event, None)
    assert response["statusCode"] == expect, response["body"]
    if expect == 204:
        assert response["body"] == "" and "X-Request-Id" in response["headers"]
        return None
    return assert_conforms(method, resource, expect, response["headers"], response["body"])


def create(url: str = "https://hooks.example.com/in", expect: int = 201, **kwargs: Any) -> Any:
    body = {"url": url, **kwargs.pop("body", {})}
    return call(webhooks_api.create_endpoint, "POST", "/v1/webhook_endpoints", expect, body=body, **kwargs)


def endpoint_call(handler: Handler, method: str, suffix: str, endpoint_id: str, expect: int, **kwargs: Any) -> Any:
    resource = "/v1/webhook_endpoints/{id}" + suffix
    return call(handler, method, resource, expect, ids={"id": endpoint_id}, **kwargs)


def event_call(handler: Handler, method: str, suffix: str, event_id: str, expect: int, **kwargs: Any) -> Any:
    return call(handler, method, "/v1/events/{id}" + suffix, expect, ids={"id": event_id}, **kwargs)


def list_events(expect: int = 200, merchant: str = "mer_a", **query: str) -> Any:
    return call(webhooks_api.list_events, "GET", "/v1/events", expect, merchant=merchant, query=query or None)


def table() -> Any:
    return wiring.repository()


# --- endpoints -------------------------------------------------------------------------------------------


def test_an_endpoint_shows_its_secret_only_when_created() -> None:
    created = create(body={"events": ["payment.captured", "refund.failed", "payment.captured"]})
    assert created["secret"].startswith("whsec_") and created["id"].startswith("we_")
    assert (created["status"], created["disabled_reason"]) == ("enabled", None)
    assert created["events"] == ["payment.captured", "refund.failed"]
    every = create("https://hooks.example.com/all")
    assert len(every["events"]) == 9  # absent: every type
    read = endpoint_call(webhooks_api.get_endpoint, "GET", "", created["id"], 200)
    assert "secret" not in read and read == {k: v for k, v in created.items() if k != "secret"}
    first = call(webhooks_api.list_endpoints, "GET", "/v1/webhook_endpoints", 200, query={"limit": "1"})
    assert [e["id"] for e in first["data"]] == [created["id"]] and first["next_cursor"]
    rest = call(
        webhooks_api.list_endpoints, "GET", "/v1/webhook_endpoints", 200, query={"cursor": first["next_cursor"]}
    )
    assert [e["id"] for e in rest["data"]] == [every["id"]] and rest["next_cursor"] is None
    assert all("secret" not in e for e in first["data"] + rest["data"])
    # bound to its merchant and its list: another merchant's, or the events list's, is a 400 naming it
    for merchant, handler in (("mer_b", webhooks_api.list_endpoints), ("mer_a", webhooks_api.list_events)):
        path = "/v1/webhook_endpoints" if handler is webhooks_api.list_endpoints else "/v1/events"
        refused = call(handler, "GET", path, 400, query={"cursor": first["next_cursor"]}, merchant=merchant)
        assert [f["field"] for f in refused["error"]["fields"]] == ["cursor"]
    assert table().get_endpoint("mer_a", created["id"]).secret == created["secret"]  # stored to sign with


def test_bad_bodies_name_their_field() -> None:
    unknown = create(body={"events": ["payment.captured", "payment.exploded"]}, expect=400)
    assert unknown["error"]["fields"][0]["field"] == "events.1"
    assert create(body={"events": []}, expect=400)["error"]["fields"][0]["field"] == "events"
    assert create(body={"events": "payment.captured"}, expect=400)["error"]["fields"][0]["field"] == "events"
    missing = call(webhooks_api.create_endpoint, "POST", "/v1/webhook_endpoints", 400, body={"events": None})
    assert missing["error"]["fields"][0]["field"] == "url"
    assert create(body={"secret": "mine"}, expect=400)["error"]["fields"][0]["field"] == "secret"
    assert create("https://hooks.example.com/" + "x" * 2048, expect=400)["error"]["fields"][0]["field"] == "url"


REFUSED = [
    "https://loopback.example.com/",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://ten.example.com/",
    "https://10.0.0.1/",
    "https://one72.example.com/",
    "https://172.31.255.254/",
    "https://one92.example.com/",
    "https://metadata.example.com/",
    "https://169.254.169.254/latest/meta-data/",
    "https://cgnat.example.com/",
    "https://100.127.0.1/",
    "https://ula.example.com/",
    "https://[fd12:3456::1]/",
    "https://linklocal6.example.com/",
    "https://[fe80::1]/",
    "https://multicast.example.com/",
    "https://multicast6.example.com/",
    "https://mixed.example.com/",
    "https://nowhere.example.com/",  # does not resolve
    "http://hooks.example.com/",  # deployed: https only
    "ftp://hooks.example.com/",
    "https://user:pass@hooks.example.com/",
    "not a url",
    "https://" + "a" * 70 + ".example.com/",  # a label too long to be a name
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_deployed_endpoint_refuses_every_non_public_url(url: str) -> None:
    answer = create(url, expect=400)
    assert [f["field"] for f in answer["error"]["fields"]] == ["url"], answer
    assert table().endpoints("mer_a") == []


def test_the_local_stack_allows_loopback_http_but_never_link_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    reset_handler_caches()
    assert create("http://127.0.0.1:9000/hooks")["url"] == "http://127.0.0.1:9000/hooks"
    assert create("http://loopback.example.com:9000/")["status"] == "enabled"
    for url in ("http://169.254.169.254/", "https://metadata.example.com/", "http://10.0.0.1/", "http://[fe80::1]/"):
        assert create(url, expect=400)["error"]["fields"][0]["field"] == "url", url
    assert create("http://hooks.example.com/", expect=400)["error"]["fields"][0]["message"] == "must be an https URL"


def test_rotation_keeps_the_old_secret_signing_for_24_hours() -> None:
    created = create()
    before = datetime.now(UTC)
    rotated = endpoint_call(webhooks_api.rotate_secret, "POST", "/rotate_secret", created["id"], 200)
    assert set(rotated) == {"secret"} and rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    stored = table().get_endpoint("mer_a", created["id"])
    assert (stored.secret, stored.previous_secret) == (rotated["secret"], created["secret"])
    assert before + timedelta(hours=24) <= stored.previous_secret_until <= datetime.now(UTC) + timedelta(hours=24)
    assert stored.signing_secrets(before) == (rotated["secret"], created["secret"])
    assert stored.signing_secrets(before + timedelta(hours=25)) == (rotated["secret"],)
    again = endpoint_call(webhooks_api.rotate_secret, "POST", "/rotate_secret", created["id"], 200)
    stored = table().get_endpoint("mer_a", created["id"])
    assert (stored.secret, stored.previous_secret) == (again["secret"], rotated["secret"])  # the oldest is gone
    extra = endpoint_call(webhooks_api.rotate_secret, "POST", "/rotate_secret", created["id"], 400, body={"x": 1})
    assert extra["error"]["fields"][0]["field"] == "x"


def test_a_disabled_endpoint_is_enabled_again_by_its_route() -> None:
    created = create()
    stored = table().get_endpoint("mer_a", created["id"])
    disabled = attrs.evolve(
        stored, status=EndpointStatus.DISABLED, disabled_reason="answered 410 Gone", failing_since=datetime.now(UTC)
    )
    table().replace_endpoint(disabled, stored)  # as the sender disables it
    read = endpoint_call(webhooks_api.get_endpoint, "GET", "", created["id"], 200)
    assert (read["status"], read["disabled_reason"]) == ("disabled", "answered 410 Gone")
    enabled = endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", created["id"], 200)
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)
    stored = table().get_endpoint("mer_a", created["id"])
    assert (stored.status, stored.failing_since, stored.secret) == (EndpointStatus.ENABLED, None, created["secret"])
    assert endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", created["id"], 200) == enabled  # no-op
    # A URL that is refused now (its DNS changed) is not enabled again.
    now = table().get_endpoint("mer_a", created["id"])
    table().replace_endpoint(attrs.evolve(disabled, url="https://ten.example.com/", secret=now.secret), now)
    refused = endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", created["id"], 400)
    assert refused["error"]["fields"][0]["field"] == "url"
    assert table().get_endpoint("mer_a", created["id"]).status is EndpointStatus.DISABLED


def test_delete() -> None:
    created = create()
    endpoint_call(webhooks_api.delete_endpoint, "DELETE", "", created["id"], 204)
    endpoint_call(webhooks_api.get_endpoint, "GET", "", created["id"], 404)
    endpoint_call(webhooks_api.delete_endpoint, "DELETE", "", created["id"], 404)
    endpoint_call(webhooks_api.rotate_secret, "POST", "/rotate_secret", created["id"], 404)
    endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", created["id"], 404)
    for junk in ("x" * 2000, "we_nope", created["id"].lower()):  # never a key of the table's: no read at all
        endpoint_call(webhooks_api.get_endpoint, "GET", "", junk, 404)
        endpoint_call(webhooks_api.delete_endpoint, "DELETE", "", junk, 404)
        event_call(webhooks_api.get_event, "GET", "", junk.replace("we_", "evt_"), 404)


def test_a_merchant_has_at_most_16_endpoints() -> None:
    for n in range(16):
        create(f"https://hooks.example.com/{n}")
    assert "at most 16" in create(expect=400)["error"]["message"]


# --- events ----------------------------------------------------------------------------------------------


def _payment(merchant: str = "mer_a", **kwargs: Any) -> dict[str, Any]:
    event = proxy_event("POST", "/v1/payments", body=payment_body(**kwargs), merchant_id=merchant)
    response = api.create_payment(event, None)
    assert response["statusCode"] == 201, response["body"]
    return json.loads(response["body"])


def _events_of(merchant: str) -> list[dict[str, Any]]:
    """The event items in the table (written by the payments' transactions), newest first."""
    answer = table().client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": schema.merchant_pk(merchant)}, ":prefix": {"S": schema.EVENT_PREFIX}},
        ScanIndexForward=False,
    )
    return answer["Items"]


@pytest.fixture
def events() -> list[str]:
    """Five events of mer_a, oldest first: three captures, an authorization, a decline; one of mer_b."""
    _payment(capture_method="automatic")
    _payment(capture_method="automatic")
    _payment(capture_method="manual")
    _payment(card__number=VISA_DECLINED)
    _payment(capture_method="automatic")
    _payment("mer_b", capture_method="automatic")
    return [item["id"]["S"] for item in reversed(_events_of("mer_a"))]


def test_events_are_listed_newest_first_with_the_type_filter_and_the_cursor(events: list[str]) -> None:
    listed = list_events()
    assert [e["id"] for e in listed["data"]] == events[::-1] and listed["next_cursor"] is None
    types = [e["type"] for e in listed["data"]]
    assert types == ["payment.captured", "payment.declined", "payment.authorized", *["payment.captured"] * 2]
    assert listed["data"][0]["data"]["status"] == "captured" and "number" not in listed["data"][0]["data"]["card"]
    captured = [e["id"] for e in list_events(type="payment.captured")["data"]]
    assert captured == [events[4], events[1], events[0]]
    first = list_events(type="payment.captured", limit="2")
    assert [e["id"] for e in first["data"]] == captured[:2] and first["next_cursor"]
    rest = list_events(type="payment.captured", limit="2", cursor=first["next_cursor"])
    assert [e["id"] for e in rest["data"]] == captured[2:] and rest["next_cursor"] is None
    pages, cursor = [], None
    while True:
        page = list_events(limit="2", **({"cursor": cursor} if cursor else {}))
        pages.extend(e["id"] for e in page["data"])
        if not (cursor := page["next_cursor"]):
            break
    assert pages == events[::-1]
    assert list_events(400, type="payment.exploded")["error"]["fields"][0]["field"] == "type"
    assert list_events(400, cursor="bm9wZQ")["error"]["fields"][0]["field"] == "cursor"
    assert list_events(400, status="captured")["error"]["fields"][0]["field"] == "status"


def test_events_older_than_30_days_are_not_shown(events: list[str]) -> None:
    [newest] = _events_of("mer_a")[:1]
    old = datetime.now(UTC) - timedelta(days=31)
    old_id = "evt_" + str(ULID.from_timestamp(old.timestamp()))
    item = {**newest, "id": {"S": old_id}, "sk": {"S": schema.event_sk(old_id)}}
    item["created_at"] = {"S": format_timestamp(old)}
    table().client.put_item(TableName=TABLE, Item=item)  # DynamoDB's TTL has not deleted it yet
    assert old_id not in [e["id"] for e in list_events()["data"]]
    event_call(webhooks_api.get_event, "GET", "", old_id, 404)


def _write_attempts(event_id: str, endpoint_id: str) -> None:
    """The event as its sender writes it after two attempts: a 500, then a timeout; due again later."""
    now = datetime.now(UTC)
    attempts = (
        Attempt(endpoint_id, now - timedelta(seconds=6), 500, None, 31),
        Attempt(endpoint_id, now - timedelta(seconds=1), None, "timeout", 10_000),
    )
    deliveries = (Delivery(endpoint_id, attempts=2, next_at=now.timestamp() + 300),)
    table().client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": schema.merchant_pk("mer_a")}, "sk": {"S": schema.event_sk(event_id)}},
        UpdateExpression="SET deliveries = :d, attempts = :a, version = :v",
        ExpressionAttributeValues={
            ":d": to_attribute(wire.deliveries_to_item(deliveries)),
            ":a": to_attribute(wire.attempts_to_item(attempts)),
            ":v": {"N": "2"},
        },
    )


def test_an_event_shows_each_delivery_attempt(events: list[str]) -> None:
    endpoint = create()
    _write_attempts(events[0], endpoint["id"])
    detail = event_call(webhooks_api.get_event, "GET", "", events[0], 200)
    assert (detail["id"], detail["type"]) == (events[0], "payment.captured")
    assert [(a["endpoint_id"], a["http_status"], a["error"], a["duration_ms"]) for a in detail["attempts"]] == [
        (endpoint["id"], 500, None, 31),
        (endpoint["id"], None, "timeout", 10_000),
    ]
    assert detail["attempts"][0]["at"] < detail["attempts"][1]["at"]
    [delivery] = detail["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 2) and delivery["next_attempt_at"]
    fresh = event_call(webhooks_api.get_event, "GET", "", events[1], 200)
    assert (fresh["deliveries"], fresh["attempts"]) == ([], [])
    event_call(webhooks_api.get_event, "GET", "", "evt_01JAAAAAAAAAAAAAAAAAAAAAAA", 404)


def test_resend_requeues_the_event_in_its_writers_partition(events: list[str]) -> None:
    captures = create(body={"events": ["payment.captured"]})
    everything = create("https://hooks.example.com/all")
    create("https://hooks.example.com/declines", body={"events": ["payment.declined"]})
    _write_attempts(events[0], captures["id"])
    table().client.update_item(  # delivered since, and out of the pending index
        TableName=TABLE,
        Key={"pk": {"S": schema.merchant_pk("mer_a")}, "sk": {"S": schema.event_sk(events[0])}},
        UpdateExpression="REMOVE webhook_pk, webhook_due_at",
    )
    before = datetime.now(UTC).timestamp()
    resent = event_call(webhooks_api.resend_event, "POST", "/resend", events[0], 202)
    assert sorted(d["endpoint_id"] for d in resent["deliveries"]) == sorted([captures["id"], everything["id"]])
    assert {(d["status"], d["attempts"]) for d in resent["deliveries"]} == {("pending", 0)}
    assert len(resent["attempts"]) == 2  # the history is kept
    stored = table().get_event("mer_a", events[0])
    assert stored.due_at is not None and before <= stored.due_at <= datetime.now(UTC).timestamp()
    assert stored.version == 3
    item = _events_of("mer_a")[-1]
    assert item[schema.WEBHOOK_PARTITION_KEY]["S"] == f"WEBHOOK#{stored.region}#{schema.pending_shard(events[0])}"
    assert json.loads(item["body"]["S"])["id"] == events[0]  # the body as written

    one = event_call(
        webhooks_api.resend_event, "POST", "/resend", events[1], 202, body={"endpoint_id": everything["id"]}
    )
    # Never attempted yet: the sender picks every subscribed endpoint (the one named among them) at the
    # first attempt; naming only that one would drop the others.
    assert one["deliveries"] == []
    assert table().get_event("mer_a", events[1]).version == 1


def test_resend_refusals_and_a_lost_race(events: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = event_call(webhooks_api.resend_event, "POST", "/resend", events[2], 400)  # payment.authorized
    assert "No enabled webhook endpoint" in nobody["error"]["message"]
    declines = create(body={"events": ["payment.declined"]})
    body = {"endpoint_id": declines["id"]}
    unsubscribed = event_call(webhooks_api.resend_event, "POST", "/resend", events[0], 400, body=body)
    assert unsubscribed["error"]["fields"][0]["field"] == "endpoint_id"
    stored = table().get_endpoint("mer_a", declines["id"])
    table().replace_endpoint(attrs.evolve(stored, status=EndpointStatus.DISABLED, disabled_reason="410"), stored)
    disabled = event_call(webhooks_api.resend_event, "POST", "/resend", events[3], 400, body=body)
    assert "enable it first" in disabled["error"]["fields"][0]["message"]
    missing = {"endpoint_id": "we_01JAAAAAAAAAAAAAAAAAAAAAAA"}
    event_call(webhooks_api.resend_event, "POST", "/resend", events[3], 400, body=missing)
    bad = event_call(webhooks_api.resend_event, "POST", "/resend", events[3], 400, body={"endpoint_id": 7})
    assert bad["error"]["fields"][0]["field"] == "endpoint_id"
    endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", declines["id"], 200)

    repository = table()
    read = repository.get_event

    def sender_writes_meanwhile(merchant_id: str, event_id: str) -> Any:
        event = read(merchant_id, event_id)
        repository.requeue_event(attrs.evolve(event, version=event.version + 1), event.version)  # the sender
        return event

    monkeypatch.setattr(repository, "get_event", sender_writes_meanwhile)
    response = webhooks_api.resend_event(
        proxy_event(
            "POST", "/v1/events/{id}/resend", path_parameters={"id": events[3]}, body=body, merchant_id="mer_a"
        ),
        None,
    )
    assert response["statusCode"] == 409 and response["headers"]["Retry-After"] == "1"
    error = assert_conforms("POST", "/v1/events/{id}/resend", 409, response["headers"], response["body"])["error"]
    assert error["type"] == "request_in_progress"


# --- isolation and least privilege ---------------------------------------------------------------------


def test_a_merchant_sees_only_its_own_endpoints_and_events(events: list[str]) -> None:
    mine = create()
    assert call(webhooks_api.list_endpoints, "GET", "/v1/webhook_endpoints", 200, merchant="mer_b")["data"] == []
    for handler, method, suffix in (
        (webhooks_api.get_endpoint, "GET", ""),
        (webhooks_api.rotate_secret, "POST", "/rotate_secret"),
        (webhooks_api.enable_endpoint, "POST", "/enable"),
        (webhooks_api.delete_endpoint, "DELETE", ""),
    ):
        endpoint_call(handler, method, suffix, mine["id"], 404, merchant="mer_b")
    assert table().get_endpoint("mer_a", mine["id"]).secret == mine["secret"]  # untouched
    theirs = [e["id"] for e in list_events(merchant="mer_b")["data"]]
    assert len(theirs) == 1 and not set(theirs) & set(events)
    event_call(webhooks_api.get_event, "GET", "", events[0], 404, merchant="mer_b")
    event_call(webhooks_api.resend_event, "POST", "/resend", events[0], 404, merchant="mer_b")
    body = {"endpoint_id": mine["id"]}
    refused = event_call(webhooks_api.resend_event, "POST", "/resend", theirs[0], 400, merchant="mer_b", body=body)
    assert refused["error"]["fields"][0]["field"] == "endpoint_id"


@pytest.fixture
def table_actions() -> Iterator[list[str]]:
    calls: list[str] = []
    client = wiring.repository().client
    client.meta.events.register(
        "before-send.dynamodb", lambda request, **_: calls.append("dynamodb:" + operation_of(request))
    )
    yield calls


def test_each_function_uses_exactly_its_table_actions(events: list[str], table_actions: list[str]) -> None:
    """IAM grants each function the actions of its row in handlers.contract.routes: every one is used by
    the function's own work, and nothing else is."""
    used: dict[str, set[str]] = {}

    def run(function: routes.Function, action: Callable[[], Any]) -> Any:
        table_actions.clear()
        result = action()
        used.setdefault(function.name, set()).update(table_actions)
        return result

    endpoint = run(routes.CREATE_WEBHOOK_ENDPOINT, create)
    run(routes.LIST_WEBHOOK_ENDPOINTS, lambda: call(webhooks_api.list_endpoints, "GET", "/v1/webhook_endpoints", 200))
    eid = endpoint["id"]
    run(routes.GET_WEBHOOK_ENDPOINT, lambda: endpoint_call(webhooks_api.get_endpoint, "GET", "", eid, 200))
    rotate = lambda: endpoint_call(webhooks_api.rotate_secret, "POST", "/rotate_secret", eid, 200)  # noqa: E731
    run(routes.ROTATE_WEBHOOK_SECRET, rotate)
    stored = table().get_endpoint("mer_a", eid)
    table().replace_endpoint(attrs.evolve(stored, status=EndpointStatus.DISABLED, disabled_reason="410"), stored)
    run(
        routes.ENABLE_WEBHOOK_ENDPOINT, lambda: endpoint_call(webhooks_api.enable_endpoint, "POST", "/enable", eid, 200)
    )
    run(routes.LIST_EVENTS, list_events)
    run(routes.GET_EVENT, lambda: event_call(webhooks_api.get_event, "GET", "", events[0], 200))
    resend_all = lambda: event_call(webhooks_api.resend_event, "POST", "/resend", events[0], 202)  # noqa: E731
    run(routes.RESEND_EVENT, resend_all)
    one = {"endpoint_id": eid}
    resend_one = lambda: event_call(webhooks_api.resend_event, "POST", "/resend", events[1], 202, body=one)  # noqa: E731
    run(routes.RESEND_EVENT, resend_one)
    run(routes.DELETE_WEBHOOK_ENDPOINT, lambda: endpoint_call(webhooks_api.delete_endpoint, "DELETE", "", eid, 204))
    webhook_functions = {route.function for route in routes.ROUTES if "webhook" in route.path or "events" in route.path}
    assert {function.name: set(function.table_actions) for function in webhook_functions} == used
    assert all(function.leading_keys == ("MERCHANT#*",) and not function.calls_bank for function in webhook_functions)


@pytest.mark.parametrize(("suffix", "handler"), [("/rotate_secret", "rotate_secret"), ("/enable", "enable_endpoint")])
def test_a_change_that_keeps_losing_its_race_is_the_documented_409(
    suffix: str, handler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another change wins each of the three tries: a 409 request_in_progress with Retry-After, as specified,
    and the endpoint as the other changes left it."""
    created = create()
    if handler == "enable_endpoint":  # an enabled endpoint has nothing to change
        stored = table().get_endpoint("mer_a", created["id"])
        table().replace_endpoint(attrs.evolve(stored, status=EndpointStatus.DISABLED, disabled_reason="gone"), stored)

    def lost(*_: Any) -> None:
        raise ConditionFailed

    monkeypatch.setattr(type(table()), "replace_endpoint", lost)
    refused = endpoint_call(getattr(webhooks_api, handler), "POST", suffix, created["id"], 409, body={})
    assert refused["error"]["type"] == "request_in_progress"
