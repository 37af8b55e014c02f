"""The payments table, created from `handlers.contract.schema` exactly as the infrastructure declares it.

Used by the runner and by tests (with moto's server, `mock_aws` or any DynamoDB endpoint).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, cast

import boto3
from botocore.exceptions import ClientError

from handlers.contract.schema import TTL_ATTRIBUTE, table_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

# Dummy credentials: moto and DynamoDB Local accept any.
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"  # noqa: S105 - not a secret


log = logging.getLogger("local_gateway.dynamodb")


def dynamodb_client(endpoint_url: str | None, region: str) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    )


def create_table(client: DynamoDBClient, table_name: str, *, timeout: float = 30.0) -> None:
    """Create the table (on-demand, TTL on), or leave an existing one as it is; return once ACTIVE."""
    # An existing table (e.g. on an external endpoint that outlives the stack) is left as it is.
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(**cast("CreateTableInputTypeDef", table_definition(table_name)))
    _wait_until_active(client, table_name, timeout)
    try:
        _enable_ttl(client, table_name)
    except ClientError as error:
        # Some emulators (dynalite) have no TTL API. Nothing depends on it locally: the handlers
        # treat an expired claim as free whether or not it has been deleted.
        if error.response.get("Error", {}).get("Code") != "UnknownOperationException":
            raise
        log.warning("%s does not support TTL; idempotency claims will not be deleted", table_name)


def _enable_ttl(client: DynamoDBClient, table_name: str) -> None:
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )


def _wait_until_active(client: DynamoDBClient, table_name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.describe_table(TableName=table_name)["Table"].get("TableStatus") != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table_name} is not ACTIVE after {timeout} s")
        time.sleep(0.1)
