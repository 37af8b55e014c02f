"""A TransactWriteItems is authorized item by item: each function that writes a state change with its
webhook event (one transaction) holds, for every item of that transaction, the IAM action of the item's
kind on a partition its `dynamodb:LeadingKeys` allow.

"Permissions for Put, Update, Delete, and Get actions are governed by the permissions used for the
underlying PutItem, UpdateItem, DeleteItem, and GetItem operations. For the ConditionCheck action, you
can use the dynamodb:ConditionCheckItem permission" (DynamoDB developer guide, "Using IAM with DynamoDB
transactions"): there is no `dynamodb:TransactWriteItems` IAM action to grant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, cast

import pytest

from components.policies import DYNAMODB_WRITE_ACTIONS, AccountContext, FunctionAccess, function_policy
from handlers.adapters import dynamo_events
from handlers.contract import routes, schema
from handlers.domain import ids
from handlers.domain.models import CardSummary, Payment, PaymentStatus
from handlers.domain.webhooks import EventType, new_event
from handlers.simulator.dynamo_ledger import DynamoLedger
from handlers.simulator.ledger import RefundEntry
from tests.infra.helpers import as_list, statement

# The transaction's item kinds and the IAM action that authorizes each (the developer guide's page above).
ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Every function that writes a payment's or an operation's status: each writes its event with it.
STATE_WRITERS = (
    routes.CREATE_PAYMENT,
    routes.CAPTURE_PAYMENT,
    routes.VOID_PAYMENT,
    routes.CREATE_REFUND,
    routes.RESOLVER,
)
ALL_FUNCTIONS = tuple(
    dict.fromkeys(
        [
            *(r.function for r in routes.ROUTES),
            routes.AUTHORIZER,
            routes.BANK_SIMULATOR,
            routes.RESOLVER,
            routes.WEBHOOK_SENDER,
        ]
    )
)
CTX = AccountContext(partition="aws", dns_suffix="amazonaws.com", account_id="111122223333", region="eu-west-1")
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:111122223333:table/payment-gateway"


def table_statement(fn: routes.Function) -> dict[str, Any]:
    access = FunctionAccess(fn.table_actions, fn.leading_keys, fn.indexes, TABLE_ARN, "k", "e", "l")
    found = statement(function_policy(access, CTX), "TableItems")
    assert found is not None, fn.name
    return found


def allows(fn: routes.Function, item: dict[str, Any]) -> bool:
    """Whether `fn`'s policy allows this transaction item: its kind's action, on its partition."""
    ((kind, request),) = item.items()
    table = table_statement(fn)
    key = request["Item"] if "Item" in request else request["Key"]
    partition = key[schema.PARTITION_KEY]["S"]
    patterns = table.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys", ["*"])
    return ITEM_ACTIONS[kind] in as_list(table["Action"]) and any(fnmatchcase(partition, p) for p in patterns)


class RecordingClient:
    """Records the transactions it is asked for (and the plain writes)."""

    def __init__(self) -> None:
        self.transactions: list[list[dict[str, Any]]] = []

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.transactions.append(kwargs["TransactItems"])
        return {}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return {}


def payment() -> Payment:
    payment_id = ids.new_payment_id(datetime.now(UTC))
    return Payment(
        id=payment_id,
        merchant_id="mer_a",
        status=PaymentStatus.AUTHORIZED,
        amount=1050,
        currency="GBP",
        reference=None,
        card=CardSummary("visa", "4242", 4, 2030),
        authorization_code="A1",
        created_at=ids.created_at(payment_id),
        region="eu-west-1",
    )


def state_change_transaction() -> list[dict[str, Any]]:
    """What handlers/adapters/dynamo_events.py sends: the changed item's conditional Put and the event's."""
    client = RecordingClient()
    changed = payment()
    put = {
        "TableName": "payment-gateway",
        "Item": {
            schema.PARTITION_KEY: {"S": schema.merchant_pk(changed.merchant_id)},
            schema.SORT_KEY: {"S": schema.payment_sk(changed.id)},
        },
        "ConditionExpression": "attribute_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
    }
    event = new_event(EventType.PAYMENT_AUTHORIZED, changed, "eu-west-1", datetime.now(UTC))
    dynamo_events.conditional_put(cast(Any, client), put, event=event)
    (transaction,) = client.transactions
    return transaction


def test_a_state_change_is_one_transaction_of_two_puts_under_the_merchants_partition() -> None:
    transaction = state_change_transaction()
    assert [next(iter(item)) for item in transaction] == ["Put", "Put"]
    partitions = {item["Put"]["Item"][schema.PARTITION_KEY]["S"] for item in transaction}
    assert partitions == {schema.merchant_pk("mer_a")}


@pytest.mark.parametrize("fn", STATE_WRITERS, ids=lambda f: f.name)
def test_every_state_writer_may_write_its_change_with_its_event(fn: routes.Function) -> None:
    transaction = state_change_transaction()
    assert all(allows(fn, item) for item in transaction), fn.name


def test_a_function_without_putitem_on_merchant_items_could_not_write_the_transaction() -> None:
    """The check above is not vacuous: read-only and other-prefix functions are refused."""
    transaction = state_change_transaction()
    for fn in (routes.GET_PAYMENT, routes.LIST_PAYMENTS, routes.AUTHORIZER, routes.BANK_SIMULATOR):
        assert not all(allows(fn, item) for item in transaction), fn.name


def test_the_bank_simulators_refund_transaction_is_allowed_item_by_item() -> None:
    ledger = DynamoLedger(cast(Any, RecordingClient()), "payment-gateway")
    refund = RefundEntry(reference="ref_1", refund_reference="rr_1", amount=100, created_at="2026-01-01T00:00:00Z")
    writes = cast(list[dict[str, Any]], ledger._refund_writes(refund))
    assert {next(iter(item)) for item in writes} == {"Put", "Update"}
    assert all(allows(routes.BANK_SIMULATOR, item) for item in writes)
    without_update = routes.BANK_SIMULATOR._replace(table_actions=("dynamodb:GetItem", "dynamodb:PutItem"))
    assert not all(allows(without_update, item) for item in writes)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.name)
def test_no_policy_grants_an_action_iam_does_not_have(fn: routes.Function) -> None:
    """`dynamodb:TransactWriteItems` would grant nothing and hide a missing per-item action."""
    assert "dynamodb:TransactWriteItems" not in fn.table_actions
    assert "dynamodb:TransactWriteItems" not in DYNAMODB_WRITE_ACTIONS
