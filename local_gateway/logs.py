"""The stack's own log lines: readable, one per event, on stderr (the console), apart from the handlers' logs.

Each process labels its lines once, in a fixed-width column (`stack`, `eu-west-1`, `us-east-1`,
`bank`, `dynamodb`), so a message never names its own process again:

    21:56:49 eu-west-1 POST /v1/payments 201 23.0 ms
    21:56:50 stack     eu-west-1 is now UNHEALTHY

The handlers replace the root logger's handlers (JSON on stdout, as Lambda wants), so the
`local_gateway` and `proxy_gateway` loggers (the stack's own pieces; deployed in the container,
proxy_gateway's lines are JSON with the handlers') keep their own handler and do not propagate:
each record is printed once.
"""

from __future__ import annotations

import logging
import sys

from handlers.domain.cards import mask_pans

LABEL_WIDTH = 9  # "eu-west-1"
STACK_LOGGERS = ("local_gateway", "proxy_gateway")


def setup_logging(label: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {label:<{LABEL_WIDTH}} %(message)s", "%H:%M:%S"))
    for name in STACK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def access_line(method: str, path: str, status: int | str, elapsed_ms: float) -> str:
    """`POST /v1/payments 201 23.0 ms`: the path without its query, any card number in it masked."""
    return f"{method} {mask_pans(path.partition('?')[0])} {status} {elapsed_ms:.1f} ms"
