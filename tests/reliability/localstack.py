"""The local stack (`python -m local_gateway`, docs/local.md) as a subprocess on free ports, with
the fault bank as its bank (`--bank-url`), driven over real HTTP on 127.0.0.1.

Only the documented interface is used: `--port 0`, `--merchant ID:KEY`, `--bank-url`, the banner
labels on stdout, `ready`, the JSON logs on stderr, SIGTERM to stop.
"""

from __future__ import annotations

import http.client
import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import boto3

from handlers import schema

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
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
    process: subprocess.Popen[bytes]
    log: Path
    urls: dict[str, str]
    merchants: dict[str, str]  # merchant id -> API key

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
def running_stack(log: Path, merchants: dict[str, str], bank_url: str) -> Iterator[LocalStack]:
    command = [sys.executable, "-m", "local_gateway", "--port", "0", "--bank-url", bank_url]
    for merchant_id, key in merchants.items():
        command += ["--merchant", f"{merchant_id}:{key}"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, cwd=REPO_ROOT)
    try:
        urls = _wait_for_banner(process, log)
        yield LocalStack(process, log, urls, dict(merchants))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_banner(process: subprocess.Popen[bytes], log: Path) -> dict[str, str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps reading so the stack never blocks on a full pipe
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    urls: dict[str, str] = {}
    while True:
        try:
            line = lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"the local stack printed no 'ready' in {READY_TIMEOUT:.0f} s; see {log}") from None
        if line is None:
            raise AssertionError(f"the local stack exited with {process.wait()}:\n{log.read_text()[-3000:]}")
        if line == "ready":
            missing = set(LABELS.values()) - set(urls)
            assert not missing, f"banner without {missing}"
            return urls
        label, _, value = line.strip().partition("  ")
        if label in LABELS:
            urls[LABELS[label]] = value.strip().split()[0]
