from __future__ import annotations

from handlers.contract.routes import ROUTES
from proxy_gateway.routing import Router
from tests.local.fake_handlers import ROUTES as FAKE_ROUTES


def test_matches_the_real_api_routes() -> None:
    router = Router(ROUTES)

    created = router.match("POST", "/v1/payments")
    fetched = router.match("GET", "/v1/payments/pay_123")

    assert created is not None and created.route.function.handler == "handlers.entrypoints.api.create_payment"
    assert fetched is not None and fetched.route.path == "/v1/payments/{id}"
    assert fetched.path_parameters == {"id": "pay_123"}


def test_unknown_path_or_method_does_not_match() -> None:
    router = Router(ROUTES)

    assert router.match("GET", "/v1/refunds") is None
    assert router.match("DELETE", "/v1/payments/pay_1") is None
    assert router.match("GET", "/v1/payments/pay_1/extra") is None
    assert router.match("GET", "/") is None


def test_trailing_slash_is_ignored_and_parameters_are_decoded() -> None:
    match = Router(ROUTES).match("GET", "/v1/payments/pay%201/")

    assert match is not None and match.path_parameters == {"id": "pay 1"}


def test_a_literal_segment_wins_over_a_variable() -> None:
    match = Router(FAKE_ROUTES).match("GET", "/things/special")

    assert match is not None and match.route.path == "/things/special"


def test_greedy_parameter_takes_the_rest_of_the_path() -> None:
    router = Router(FAKE_ROUTES)

    match = router.match("GET", "/files/a/b%2Fc.txt")

    assert match is not None and match.path_parameters == {"path": "a/b/c.txt"}
    assert router.match("GET", "/files") is None
