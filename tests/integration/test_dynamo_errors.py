"""How the DynamoDB adapter classifies DynamoDB's error codes, with DynamoDB's error answers given at the
client's `before-send`: a busy or missing table is StorageUnavailable (503 + Retry-After), anything else
is left to surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError

from handlers.adapters.dynamo import DynamoRepository, make_client
from handlers.domain.errors import ConditionFailed, StorageUnavailable
from handlers.domain.models import StoredPayment
from tests.integration.conftest import TABLE
from tests.integration.test_repository_contract import payment
from tests.reliability.dynamo_faults import ERROR_STATUS, error_response, operation_of

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


class Answers:
    """Answers every PutItem with one DynamoDB error code, as DynamoDB sends it; counts the calls."""

    def __init__(self) -> None:
        self.code = ""
        self.calls = 0

    def __call__(self, request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        if operation_of(request) != "PutItem":
            return None
        self.calls += 1
        return error_response(request, self.code)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DynamoRepository, Answers]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # requests are signed before before-send
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # One attempt: what is classified is the error the adapter finally sees (retries: test_dynamo_http).
    client = make_client("eu-west-1", None, timeout=0.5, attempts=1)
    answers = Answers()
    client.meta.events.register_first("before-send.dynamodb", answers)
    yield DynamoRepository(client, TABLE), answers
    assert answers.calls == 1


def a_payment() -> StoredPayment:
    return StoredPayment(payment(datetime(2026, 11, 26, 10, 0, tzinfo=UTC)), 1)


@pytest.mark.parametrize(("code", "status"), TRANSIENT.items())
def test_a_busy_or_missing_table_is_storage_unavailable(
    stubbed: tuple[DynamoRepository, Answers], code: str, status: int
) -> None:
    repo, answers = stubbed
    answers.code = code
    assert ERROR_STATUS[code] == status
    with pytest.raises(StorageUnavailable, match=code):
        repo.save_pending(a_payment())


def test_a_failed_condition_is_condition_failed(stubbed: tuple[DynamoRepository, Answers]) -> None:
    repo, answers = stubbed
    answers.code = "ConditionalCheckFailedException"
    with pytest.raises(ConditionFailed):
        repo.save_pending(a_payment())


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_a_permanent_error_is_not_made_retryable(stubbed: tuple[DynamoRepository, Answers], code: str) -> None:
    """A bad deploy (IAM, schema) must surface as itself: a 500, never a 503 inviting retries."""
    repo, answers = stubbed
    answers.code = code
    with pytest.raises(ClientError) as raised:
        repo.save_pending(a_payment())
    assert not isinstance(raised.value, StorageUnavailable)
    assert raised.value.response["Error"]["Code"] == code
