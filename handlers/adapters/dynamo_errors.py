"""DynamoDB's errors as the domain's: ClientError codes become ConditionFailed or StorageUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from handlers.domain.errors import ConditionFailed, StorageUnavailable

_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",  # the table is missing in this region: unavailable, not a bug
        "TransactionConflictException",
        "TransactionCanceledException",  # for a conflict or throttling (a failed condition is ConditionFailed)
        "TransactionInProgressException",
        # MRSC: another region is writing the same item; botocore retries it, then it is a busy table.
        "ReplicatedWriteConflictException",
    }
)


@contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException" or _condition_cancelled(e):
            raise ConditionFailed(code) from e
        if code in _TRANSIENT:
            raise StorageUnavailable(f"DynamoDB is unavailable ({code}).") from e
        raise
    except BotoCoreError as e:  # timeouts, refused connections
        raise StorageUnavailable(f"DynamoDB is unavailable ({type(e).__name__}).") from e


def _condition_cancelled(error: ClientError) -> bool:
    """A transaction cancelled because one of its conditions failed: the same as a failed PutItem's."""
    reasons = error.response.get("CancellationReasons") or []
    return error.response.get("Error", {}).get("Code") == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
    )
