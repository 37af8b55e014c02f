"""Lambda REQUEST authorizer: Bearer API key -> merchant id in the request context.

API Gateway caches the result per Authorization header, so the policy allows (or denies) every
route of the stage: a policy for one route would be reused for the others.

A refused key gets a Deny, not `Exception("Unauthorized")`: the Deny's context carries what is
wrong (a malformed header, or a key that is not valid), and the ACCESS_DENIED gateway response
shows it (`handlers.contract.gateway_errors`). "Unauthorized" would give the missing header's 401, whose
message is fixed: API Gateway sends it without calling us when the header is absent.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from handlers.adapters.dynamo import DynamoRepository, make_client
from handlers.contract.gateway_errors import AUTHORIZER_MESSAGE_KEY
from handlers.domain.auth import KeyMode, authenticate
from handlers.domain.errors import Unauthorized
from handlers.entrypoints.observability import configure_logging, log_context
from handlers.entrypoints.settings import Settings
from handlers.wire import http

logger = logging.getLogger("handlers.authorizer")
UNAUTHENTICATED = "unauthenticated"  # the principal of a Deny (access logs show it)


@functools.cache
def _directory() -> tuple[DynamoRepository, KeyMode]:
    config = Settings.from_env()
    configure_logging(config.log_level, config.region)
    accepted = config.require_api_key_mode()
    client = make_client(config.region, config.dynamodb_endpoint, timeout=config.dynamodb_timeout)
    return DynamoRepository(client, config.table_name), accepted


def handler(event: http.Event, context: Any) -> dict[str, Any]:
    directory, accepted = _directory()
    with log_context(request_id=http.request_id(event)):
        try:
            merchant = authenticate(directory, http.header(event, "Authorization"), accepted)
        except Unauthorized as e:
            logger.info("unauthorized", extra={"reason": str(e)})  # never the key itself
            return _policy(event, "Deny", UNAUTHENTICATED, {AUTHORIZER_MESSAGE_KEY: str(e)})
        logger.info("authorized", extra={"merchant_id": merchant.id})
    return _policy(event, "Allow", merchant.id, {"merchant_id": merchant.id})


def _policy(event: http.Event, effect: str, principal: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn(event)}],
        },
        "context": context,
    }


def stage_arn(event: http.Event) -> str:
    """arn:aws:execute-api:region:account:api/stage/METHOD/path -> .../api/stage/*"""
    method_arn = str(event.get("methodArn", ""))
    api_and_stage = method_arn.split("/")[:2]
    return "/".join([*api_and_stage, "*"]) if len(api_and_stage) == 2 else method_arn
