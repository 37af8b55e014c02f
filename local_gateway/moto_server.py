"""The embedded DynamoDB: moto's server, pinned to one region so both gateways share one table.

moto keeps a separate backend per region (taken from the SigV4 credential scope), so the
eu-west-1 and us-east-1 gateways would see two different tables. In AWS a global table
replicates between them; locally, rewriting every request's region to TABLE_REGION gives one
table with immediate "replication".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local_gateway.topology import TABLE_REGION

_CREDENTIAL_SCOPE_REGION = re.compile(r"(Credential=[^/,]+/\d{8}/)[^/]+/")
_USER_AGENT_REGION = re.compile(r"region/[a-z0-9-]+")
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."  # X-Amz-Target of every DynamoDB call (not Streams)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RegionPinningMiddleware:
    def __init__(self, app: WsgiApp, region: str = TABLE_REGION) -> None:
        self._app = app
        self._region = region

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization:
            environ["HTTP_AUTHORIZATION"] = _CREDENTIAL_SCOPE_REGION.sub(rf"\g<1>{self._region}/", authorization)
        user_agent = environ.get("HTTP_USER_AGENT")
        if user_agent:
            environ["HTTP_USER_AGENT"] = _USER_AGENT_REGION.sub(f"region/{self._region}", user_agent)
        return self._app(environ, start_response)


class DynamoDBFirst:
    """DynamoDB's own calls straight to moto's DynamoDB app; anything else (`/moto-api`, streams...)
    through moto's dispatcher, which looks for the service on every request under one lock and
    cost ~8% of this process's CPU under load (docs/performance.md)."""

    def __init__(self, dynamodb: WsgiApp, others: WsgiApp) -> None:
        self._dynamodb = dynamodb
        self._others = others

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET_PREFIX):
            return self._dynamodb(environ, start_response)
        return self._others(environ, start_response)


def make_dynamodb_server(port: int) -> BaseWSGIServer:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per DynamoDB call
    dispatcher = DomainDispatcherApplication(create_backend_app)
    app = RegionPinningMiddleware(DynamoDBFirst(create_backend_app("dynamodb"), dispatcher))
    # werkzeug closes every connection after its response, so Nagle's delay does not arise here.
    return make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
