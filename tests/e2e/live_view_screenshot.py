"""The README's screenshot of the live view: `.venv/bin/python -m tests.e2e.live_view_screenshot docs/live-view.png`.

Starts its own local stack, sends paced traffic to eu-west-1 for a while, presses "Take eu down",
sends traffic to us-east-1, then photographs the page in headless Chromium (as the tests run it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from local_gateway import launch
from tests.e2e.conftest import KEY_A, Api
from tests.e2e.test_live_view import CHROMIUM, CHROMIUM_ARGS, FAILOVER_TIMEOUT_MS

PACE = 0.1
SECONDS_PER_REGION = 12.0


def _traffic(api: Api, seconds: float) -> None:
    """Payments list requests, and a payment every fifth step (odd card: authorized, even: declined)."""
    cards = ("4242424242424291", "4242424242424291", "4242424242424242")
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        api.request("GET", "/v1/payments")
        if step % 5 == 0:
            api.create_payment(cards[step // 5 % len(cards)])
        step += 1
        time.sleep(PACE)


def main(target: Path) -> None:
    command = launch.runner_command(port=0, merchants={"m_a": KEY_A})
    with launch.launched(command) as stack, sync_playwright() as playwright:
        global_url = stack.urls["global endpoint (Route 53)"]
        api = Api(global_url, KEY_A)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 820})
        page.goto(f"{global_url}/_local/")
        _traffic(api, SECONDS_PER_REGION)
        page.get_by_role("button", name="Take eu down").click()
        serving_us = "document.getElementById('serving').textContent === 'us-east-1'"
        page.wait_for_function(serving_us, timeout=FAILOVER_TIMEOUT_MS)
        _traffic(api, SECONDS_PER_REGION)
        time.sleep(1.5)  # one more poll
        page.screenshot(path=str(target), full_page=True)
        browser.close()
    print(f"{target}: {target.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/live-view.png"))
