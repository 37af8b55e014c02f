"""The live view (`/_local/` on the global endpoint) in headless Chromium, against its own local stack.

A dedicated stack, not the session's: these tests take eu-west-1 down, they count requests from
zero, and its manual authorizations expire after AUTHORIZATION_TTL seconds (--authorization-ttl).
Chromium is Debian's (/usr/bin/chromium, installed by `make test`), driven by Playwright, which
downloads no browser of its own here.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from local_gateway import launch
from tests.e2e.conftest import KEY_A, Api
from tests.webhook_receivers import receiving

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Bounds for waits on the page, so a broken page fails instead of hanging; not performance limits.
UPDATE_TIMEOUT_MS = 15_000
FAILOVER_TIMEOUT_MS = 30_000
EU, US = "eu-west-1", "us-east-1"
TRAFFIC = 20
AUTHORIZATION_TTL = 3.0  # seconds: a manual authorization not captured by then expires (the resolver runs every 2 s)
EXPIRY_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def global_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("live-view") / "stack.log"
    command = launch.runner_command(port=0, merchants={"m_a": KEY_A}, authorization_ttl=AUTHORIZATION_TTL)
    with launch.launched(command, log=log) as launched:
        yield launched.urls["global endpoint (Route 53)"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if shutil.which("apt-get"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
        pytest.skip(f"no {CHROMIUM} and no apt-get to install it (not a Debian machine)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, global_url: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1100, "height": 820})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{global_url}/_local/")
    _wait_for_polls(page, 1)
    yield page
    page.close()
    assert errors == [], "the page reported errors"


def _wait_for_polls(page: Page, count: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.polls || 0) >= {count}", timeout=UPDATE_TIMEOUT_MS)


def _field(page: Page, region: str, name: str) -> str:
    return page.locator(_selector(region, name)).inner_text()


def _selector(region: str, name: str) -> str:
    return f'[data-region="{region}"] [data-field="{name}"]'


def _wait_for_count(page: Page, region: str, name: str, at_least: int) -> None:
    page.wait_for_function(
        "([selector, least]) => Number(document.querySelector(selector).textContent) >= least",
        arg=[_selector(region, name), at_least],
        timeout=UPDATE_TIMEOUT_MS,
    )


def _wait_for_text(page: Page, region: str, name: str, *parts: str) -> None:
    page.wait_for_function(
        "([selector, parts]) => parts.every((part) => document.querySelector(selector).textContent.includes(part))",
        arg=[_selector(region, name), parts],
        timeout=UPDATE_TIMEOUT_MS,
    )


def _list_payments(global_url: str, times: int) -> None:
    api = Api(global_url, KEY_A)
    for _ in range(times):
        assert api.request("GET", "/v1/payments").status == 200


def test_the_page_shows_both_regions_and_which_one_serves(page: Page) -> None:
    assert page.title() == "Local payment gateway: live view"
    assert page.locator("#serving").inner_text() == EU
    for key, region in (("eu", EU), ("us", US)):
        assert _field(page, key, "name") == region
        assert _field(page, key, "health") == "healthy"
        assert page.get_by_role("button", name=f"Take {key} down").is_enabled()
    assert page.locator(_selector("eu", "serving")).is_visible()
    assert not page.locator(_selector("us", "serving")).is_visible()
    assert page.locator(".uplot").count() == 2  # both charts drew


def test_the_numbers_update_while_traffic_flows(page: Page, global_url: str) -> None:
    before, us_before = int(_field(page, "eu", "routed-total")), int(_field(page, "us", "routed-total"))

    _list_payments(global_url, TRAFFIC)

    _wait_for_count(page, "eu", "routed-total", before + TRAFFIC)
    _wait_for_count(page, "eu", "own-total", before + TRAFFIC)
    assert "200: " in _field(page, "eu", "routed-by-status")
    assert _field(page, "eu", "routed-latency").startswith("p50 ")
    assert int(_field(page, "us", "routed-total")) <= us_before  # only the serving region gets traffic


def test_payments_show_by_status_with_the_bank_latency(page: Page, global_url: str) -> None:
    api = Api(global_url, KEY_A)
    assert api.create_payment("4242424242424291").body["status"] == "authorized"  # odd last digit: authorized
    assert api.create_payment("4242424242424242").body["status"] == "declined"  # even: declined

    _wait_for_text(page, "eu", "payments", "authorized: ", "declined: ")
    assert _field(page, "eu", "bank-latency").startswith("p50 ")
    _wait_for_text(page, "eu", "pending", "0 (resolver, ")  # none left pending; the resolver reports every 2 s


def test_captured_and_refunded_amounts_show_in_total_and_per_payment(page: Page, global_url: str) -> None:
    api = Api(global_url, KEY_A)
    payment = api.create_payment("4242424242424291", capture_method="automatic", amount=1050).body
    assert (payment["status"], payment["amount_captured"]) == ("captured", 1050)
    refund = api.request("POST", f"/v1/payments/{payment['id']}/refunds", {"amount": 300})
    assert (refund.status, refund.body["status"]) == (201, "succeeded")

    _wait_for_text(page, "eu", "captured", "GBP 1,050")
    _wait_for_text(page, "eu", "refunded", "GBP 300")
    row = page.locator(f'[data-region="eu"] tr[data-payment="{payment["id"]}"] td')
    assert row.all_inner_texts() == [payment["id"], "captured", "GBP 1050", "1050", "300"]
    assert "refunds (succeeded: 1)" in _field(page, "eu", "operations")


def test_a_manual_authorization_expires_after_the_stack_s_tiny_ttl(page: Page, global_url: str) -> None:
    api = Api(global_url, KEY_A)
    payment = api.create_payment("4242424242424291").body  # manual capture
    assert payment["status"] == "authorized" and payment["authorization_expires_at"]

    deadline = time.monotonic() + EXPIRY_TIMEOUT
    status = payment["status"]
    while status != "expired" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = api.request("GET", f"/v1/payments/{payment['id']}").body["status"]

    assert status == "expired"  # voided at the bank by the resolver, AUTHORIZATION_TTL s after
    assert api.request("POST", f"/v1/payments/{payment['id']}/capture", {}).status == 409  # too late
    _wait_for_text(page, "eu", "operations", "expiries (expired: ")


def test_the_outage_button_moves_traffic_to_us_and_back(page: Page, global_url: str) -> None:
    control = Api(global_url)
    try:
        page.get_by_role("button", name="Take eu down").click()

        page.wait_for_function(
            f"document.getElementById('serving').textContent === '{US}'", timeout=FAILOVER_TIMEOUT_MS
        )
        _wait_for_polls(page, int(page.evaluate("document.body.dataset.polls")) + 1)
        assert _field(page, "eu", "health") == "unhealthy"
        assert page.locator(_selector("us", "serving")).is_visible()
        assert page.locator(_selector("eu", "outage")).is_visible()
        assert page.get_by_role("button", name="Bring eu back").is_enabled()
        eu_before, us_before = int(_field(page, "eu", "routed-total")), int(_field(page, "us", "routed-total"))

        _list_payments(global_url, TRAFFIC)
        Api(global_url, KEY_A).create_payment("4242424242424291")

        _wait_for_count(page, "us", "routed-total", us_before + TRAFFIC + 1)
        assert int(_field(page, "eu", "routed-total")) <= eu_before  # none went to eu (old ones may age out)
        assert "authorized: " in _field(page, "us", "payments")  # the same poll brought both

        page.get_by_role("button", name="Bring eu back").click()
        page.wait_for_function(
            f"document.getElementById('serving').textContent === '{EU}'", timeout=FAILOVER_TIMEOUT_MS
        )
    finally:
        control.request("DELETE", "/_local/regions/eu/outage")


def test_each_region_shows_its_webhook_deliveries(page: Page, global_url: str) -> None:
    with receiving() as receiver:
        api = Api(global_url, KEY_A)
        created = api.request("POST", "/v1/webhook_endpoints", {"url": receiver.url})
        assert created.status == 201, created.body
        api.create_payment("4242424242424291")
        receiver.wait_for(1, 30)
        _wait_for_text(page, "eu", "webhooks", "delivered: ")
