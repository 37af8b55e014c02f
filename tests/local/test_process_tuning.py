"""local_gateway.process_tuning: the header parser gives the standard library's message, and a local
process's botocore clients keep more connections."""

from __future__ import annotations

import email.parser
import http.client
import io
import random
from typing import Any

import botocore.config
import botocore.session
import pytest
from botocore.httpsession import URLLib3Session

from local_gateway import botocore_local_http, process_tuning

PLAIN_LINES = (
    b"Content-Type: application/x-amz-json-1.0\r\n",
    b"x-amzn-requestid: ABCDEF0123456789\r\n",
    b"x-amz-crc32: 2079008176\r\n",
    b"Content-Length: 42\r\n",
    b"Date: Sat, 06 Dec 2026 20:00:00 GMT\r\n",
    b"Set-Cookie: a=1\r\n",
    b"Set-Cookie: b=2\r\n",
    b"Empty:\r\n",
    b"Spaced:   value with  spaces  \r\n",
    b"Tabbed:\tvalue\t\r\n",
    b"Form-Feed: \x0cvalue\r\n",
    b"Bare-LF: value\n",
    b"Latin: caf\xe9\r\n",
    b"Colons: a:b:c\r\n",
    b"weird!#$%&'*+-.^_`|~name: v\r\n",
)
ODD_LINES = (
    b" folded continuation\r\n",
    b"\tfolded continuation\r\n",
    b"From someone@example.com Mon\r\n",
    b"no colon here\r\n",
    b": empty name\r\n",
    b"Bad Name: space in the name\r\n",
    b"Lone: carriage\rreturn\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type:  Message/rfc822\r\n",
    b"content-type: \x0bmultipart/form-data\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\n",
    b"Trailing:value\r\r\n",
)


def _stdlib(block: bytes) -> Any:
    lines = http.client._read_headers(io.BytesIO(block))  # type: ignore[attr-defined]
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(b"".join(lines).decode("iso-8859-1"))


def _state(message: Any) -> dict[str, Any]:
    """A message's whole state, comparable: its defects by type, the messages it holds by state."""
    state = dict(vars(message))
    state["defects"] = [type(defect) for defect in state["defects"]]
    if isinstance(state["_payload"], list):
        state["_payload"] = [_state(part) for part in state["_payload"]]
    return state


@pytest.mark.parametrize("seed", range(6))
def test_a_header_block_parses_to_the_standard_library_s_message(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        lines = [rng.choice(PLAIN_LINES if rng.random() < 0.85 else ODD_LINES) for _ in range(rng.randint(0, 8))]
        ending = rng.choice((b"\r\n", b"\n", b"\r\n", b""))
        block = b"".join(lines) + ending + b'{"body": "not read"}'
        fp = io.BytesIO(block)
        ours = process_tuning.parse_headers(fp)
        assert _state(ours) == _state(_stdlib(block)), block
        assert fp.read() == (b'{"body": "not read"}' if ending else b"")


def test_plain_blocks_skip_the_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    original = email.parser.Parser.parsestr

    def counted(self: email.parser.Parser, text: str, headersonly: bool = False) -> Any:
        parsed.append(text)
        return original(self, text, headersonly)

    monkeypatch.setattr(email.parser.Parser, "parsestr", counted)
    message = process_tuning.parse_headers(io.BytesIO(b"".join(PLAIN_LINES) + b"\r\n"))
    assert parsed == []
    assert message.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert message["content-length"] == "42"
    process_tuning.parse_headers(io.BytesIO(b"A: 1\r\n folded\r\n\r\n"))
    assert len(parsed) == 1


def test_install_puts_both_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http.client, "parse_headers", http.client.parse_headers)
    monkeypatch.setattr(URLLib3Session, "send", URLLib3Session.send)
    monkeypatch.setitem(botocore.config.Config.OPTION_DEFAULTS, "max_pool_connections", 10)  # type: ignore[misc]

    process_tuning.install()

    assert http.client.parse_headers is process_tuning.parse_headers
    assert URLLib3Session.send is botocore_local_http.send
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    assert client.meta.config.max_pool_connections == process_tuning.LOCAL_MAX_POOL_CONNECTIONS
    explicit = botocore.config.Config(max_pool_connections=3)
    assert explicit.max_pool_connections == 3
