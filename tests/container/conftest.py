"""moto's DynamoDB server on localhost with the payments table, for the tests that run the
container's server for real."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from local_gateway.dynamodb import create_table, dynamodb_client
from local_gateway.moto_server import make_dynamodb_server
from local_gateway.topology import LOCAL_CREDENTIALS

TABLE = "payments-container"


@pytest.fixture(scope="session")
def dynamodb_url() -> Iterator[str]:
    server = make_dynamodb_server(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_CREDENTIALS.items():
            patch.setenv(name, value)
        create_table(dynamodb_client(url, "eu-west-1"), TABLE)
    yield url
    server.shutdown()
