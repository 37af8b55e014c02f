"""The stack's own log lines go to stderr, apart from the handlers' logs.

The handlers replace the root logger's handlers (JSON on stdout, as Lambda wants), so the
`local_gateway` logger keeps its own handler and does not propagate.
"""

from __future__ import annotations

import logging
import sys


def setup_logging(label: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {label}: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("local_gateway")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
