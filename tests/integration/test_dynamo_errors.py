"""How the DynamoDB adapter classifies DynamoDB's error codes, with botocore's Stubber answering:
a busy or missing table is StorageUnavailable (503 + Retry-After), anything else is left to surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from handlers.adapters.dynamo import DynamoRepository, make_client
from handlers.domain.errors import ConditionFailed, StorageUnavailable
from handlers.domain.models import StoredPayment
from tests.integration.conftest import TABLE
from tests.integration.test_repository_contract import payment

TRANSIENT = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "ResourceNotFoundException": 400,
    "TransactionConflictException": 400,
    # Multi-region strong consistency: another region is writing the same item (DynamoDB answers 409).
    "ReplicatedWriteConflictException": 409,
}


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoRepository, Stubber]]:
    client = make_client("eu-west-1", None, timeout=0.5)
    with Stubber(client) as stubber:
        yield DynamoRepository(client, TABLE), stubber
        stubber.assert_no_pending_responses()


def a_payment() -> StoredPayment:
    return StoredPayment(payment(datetime(2026, 11, 26, 10, 0, tzinfo=UTC)), 1)


@pytest.mark.parametrize(("code", "status"), TRANSIENT.items())
def test_a_busy_or_missing_table_is_storage_unavailable(
    stubbed: tuple[DynamoRepository, Stubber], code: str, status: int
) -> None:
    repo, stubber = stubbed
    stubber.add_client_error("put_item", service_error_code=code, http_status_code=status)
    with pytest.raises(StorageUnavailable, match=code):
        repo.save_pending(a_payment())


def test_a_failed_condition_is_condition_failed(stubbed: tuple[DynamoRepository, Stubber]) -> None:
    repo, stubber = stubbed
    stubber.add_client_error("put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400)
    with pytest.raises(ConditionFailed):
        repo.save_pending(a_payment())


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_a_permanent_error_is_not_made_retryable(stubbed: tuple[DynamoRepository, Stubber], code: str) -> None:
    """A bad deploy (IAM, schema) must surface as itself: a 500, never a 503 inviting retries."""
    repo, stubber = stubbed
    stubber.add_client_error("put_item", service_error_code=code, http_status_code=400)
    with pytest.raises(ClientError) as raised:
        repo.save_pending(a_payment())
    assert not isinstance(raised.value, StorageUnavailable)
    assert raised.value.response["Error"]["Code"] == code
