"""The URL rules' real resolver (handlers.adapters.dns): what the API checks a webhook URL with."""

from __future__ import annotations

import pytest

from handlers.adapters import dns
from handlers.domain.webhooks import UrlPolicy, check_url


def test_an_address_resolves_to_itself_and_a_name_to_its_addresses() -> None:
    assert dns.resolve("127.0.0.1") == ["127.0.0.1"]
    assert dns.resolve("169.254.169.254") == ["169.254.169.254"]
    assert "127.0.0.1" in dns.resolve("localhost")  # /etc/hosts: no network needed


@pytest.mark.parametrize("host", ["a" * 70 + ".example.com", "bad\x00name"])
def test_a_host_that_is_no_name_is_an_os_error(host: str) -> None:
    with pytest.raises(OSError):
        dns.resolve(host)


def test_the_rules_with_the_real_resolver() -> None:
    deployed, local = UrlPolicy(), UrlPolicy(allow_loopback=True)
    assert check_url("https://localhost/hooks", deployed, dns.resolve) == "resolves to a loopback address"
    assert check_url("http://localhost:9000/hooks", local, dns.resolve) is None
    assert check_url("https://169.254.169.254/", local, dns.resolve) is not None
    assert (
        check_url("https://" + "a" * 70 + ".example.com/", deployed, dns.resolve) == "has a host that does not resolve"
    )
