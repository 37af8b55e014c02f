"""The local stack (`python -m local_gateway`, docs/local.md) as a subprocess on free ports, with
the fault bank as its bank (`--bank-url`), driven over real HTTP on 127.0.0.1.

Only the documented interface is used: `--port 0`, `--merchant ID:KEY`, `--bank-url`, the banner
labels on stdout, `ready`, the JSON logs on stderr, SIGTERM to stop.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import boto3

from handlers.contract import schema
from local_gateway import launch

LABELS = {
    "global endpoint (Route 53)": "global_url",
    "eu-west-1 API": "eu_url",
    "us-east-1 API": "us_url",
    "bank simulator": "bank_url",
    "DynamoDB (moto)": "dynamodb_url",
}


@attrs.frozen
class HttpReply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> HttpReply:
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1", "traffic stays on localhost"
    connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=35)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        raw = response.read()
        return HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
    finally:
        connection.close()


@attrs.define
class LocalStack:
    process: subprocess.Popen[str]
    log: Path
    urls: dict[str, str]
    merchants: dict[str, str]  # merchant id -> API key
    compute: str = "lambda"  # the runner's --compute

    @property
    def global_url(self) -> str:
        return self.urls["global_url"]

    def call(
        self,
        method: str,
        path: str,
        *,
        merchant: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> HttpReply:
        sent = dict(headers or {})
        if merchant is not None:
            sent.setdefault("Authorization", f"Bearer {self.merchants[merchant]}")
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        return request(url or self.global_url, method, path, payload, sent)

    def table_items(self) -> list[dict[str, Any]]:
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.urls["dynamodb_url"],
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=schema.DEFAULT_TABLE_NAME):
            items.extend(page["Items"])
        return items

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if line.startswith("{")]


@contextmanager
def running_stack(
    log: Path, merchants: dict[str, str], bank_url: str, compute: str | None = None
) -> Iterator[LocalStack]:
    command = launch.runner_command(merchants=merchants, bank_url=bank_url, compute=compute)
    with launch.launched(command, log=log) as stack:
        urls = {LABELS[label]: url for label, url in stack.urls.items() if label in LABELS}
        missing = set(LABELS.values()) - set(urls)
        assert not missing, f"banner without {missing}"
        yield LocalStack(stack.process, log, urls, dict(merchants), compute or "lambda")
