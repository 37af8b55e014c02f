"""What every process of the local stack changes in the libraries it runs (the standard library's HTTP
and botocore), for less CPU and the same behaviour (docs/performance.md; the embedded DynamoDB's own
are in moto_speedups.py).

- `http.client.parse_headers` hands every header block to the `email` package's parser, ~50 µs for
  an answer's seven headers; every request crosses ~9 of them in the stack (the global endpoint, the
  region's server, botocore's answers from DynamoDB and the bank's). A block of plain `Name: value`
  lines makes the same `HTTPMessage` directly, in ~9 µs; anything else (folded lines, a line the
  parser would call a defect or the start of a body, a multipart or message type) still goes to
  the `email` parser.
- botocore's calls to the stack's own endpoints go through local_gateway.botocore_local_http, a
  lean HTTP/1.1 client that writes and reads what urllib3 does (~40% of a DynamoDB call's CPU in a
  region's process was urllib3's machinery).
- botocore keeps 10 connections per client by default, enough for a Lambda environment, which
  serves one request at a time. A local region serves all of its concurrent requests in one
  process through one client: past 10 at once, every call opened a connection and closed it after
  (~20% of calls under load, a new thread each in the DynamoDB server). The local processes keep
  up to 64, as that many Lambda environments would each keep theirs.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from collections.abc import Callable
from typing import IO, Any

import botocore.config

from local_gateway import botocore_local_http

LOCAL_MAX_POOL_CONNECTIONS = 64

# A header line the email parser reads as `name: value` with no defect: a name of printable ASCII
# but space and colon (its own pattern, email.feedparser.headerRE, less the "From " and continuation
# alternatives), a colon, and no carriage return but the line's end (it splits lines on a lone \r).
_PLAIN_HEADER = re.compile(r"([\041-\071\073-\176]+):([^\r]*)\r?\n")
# Types whose empty body the email parser still parses (and records defects for).
_PARSED_BODIES = ("multipart", "message")

_stdlib_parse_headers = http.client.parse_headers


def parse_headers(fp: IO[bytes], _class: Callable[[], http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """http.client.parse_headers: the same message, without the email parser for plain blocks."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    message = _plain_message(lines) if _class is http.client.HTTPMessage else None
    if message is None:
        text = b"".join(lines).decode("iso-8859-1")
        return email.parser.Parser(_class=_class).parsestr(text)
    return message


def _plain_message(lines: list[bytes]) -> http.client.HTTPMessage | None:
    fields = []
    for line in lines[:-1]:  # the last: the blank line, or b"" at the end of the stream
        match = _PLAIN_HEADER.fullmatch(line.decode("iso-8859-1"))
        if match is None:
            return None
        name, value = match.group(1), match.group(2).lstrip(" \t")
        if name.lower() == "content-type" and value.lower().lstrip().startswith(_PARSED_BODIES):
            return None
        fields.append((name, value))
    message = http.client.HTTPMessage()
    message._headers = fields  # type: ignore[attr-defined]  # as the parser's set_raw leaves them
    message.set_payload("")
    return message


def install() -> None:
    botocore_local_http.install()
    setattr(http.client, "parse_headers", parse_headers)  # noqa: B010 - http.server and urllib3 look it up per call
    defaults: Any = botocore.config.Config.OPTION_DEFAULTS  # typed as all None in the stubs
    defaults["max_pool_connections"] = LOCAL_MAX_POOL_CONNECTIONS
