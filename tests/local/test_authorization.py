"""IAM policy evaluation and the cache, below the gateway."""

from __future__ import annotations

import pytest

from proxy_gateway.authorization import ACCESS_DENIED, Allow, AuthorizerCache, MalformedPolicyError, Policy, Reject
from tests.local.conftest import FakeClock

ARN = "arn:aws:execute-api:eu-west-1:000000000000:local/local/GET/v1/payments/pay_1"


def _policy(*statements: dict[str, object], context: object = None) -> Policy:
    return Policy.parse({"principalId": "p", "policyDocument": {"Statement": list(statements)}, "context": context})


@pytest.mark.parametrize(
    "resource",
    [
        ARN,
        "arn:aws:execute-api:eu-west-1:000000000000:local/local/*",
        "arn:aws:execute-api:*:*:local/local/GET/v1/payments/*",
        "arn:aws:execute-api:eu-west-1:000000000000:local/local/GET/v1/payments/pay_?",
        [ARN.replace("GET", "POST"), ARN],
    ],
)
def test_allow_statements_match_with_iam_wildcards(resource: object) -> None:
    policy = _policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource})

    assert policy.decide(ARN) == Allow("p", {})


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN.replace("GET", "POST")},
        {"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": "*"},
    ],
)
def test_no_matching_allow_is_denied(statement: dict[str, object]) -> None:
    assert _policy(statement).decide(ARN) == ACCESS_DENIED


def test_deny_wins_over_allow() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": ARN},
    )

    assert policy.decide(ARN) == ACCESS_DENIED


def test_a_deny_keeps_its_context_for_the_gateway_response() -> None:
    policy = _policy({"Effect": "Deny", "Action": "*", "Resource": "*"}, context={"error_message": "why"})

    assert policy.decide(ARN) == Reject("ACCESS_DENIED", {"error_message": "why"})


def test_context_values_become_strings() -> None:
    policy = _policy({"Effect": "Allow", "Action": "*", "Resource": "*"}, context={"n": 1, "b": False, "s": "x"})

    assert policy.context == {"n": "1", "b": "false", "s": "x"}


@pytest.mark.parametrize(
    "result",
    [
        None,
        {"policyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
        {"principalId": "p", "policyDocument": {"Statement": []}},
        {"principalId": "p", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}},
        {"principalId": "p", "policyDocument": {"Statement": [{"Effect": "Allow", "Action": 1, "Resource": "*"}]}},
        {
            "principalId": "p",
            "policyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            "context": {"nested": {"no": 1}},
        },
    ],
)
def test_malformed_results_are_rejected(result: object) -> None:
    with pytest.raises(MalformedPolicyError):
        Policy.parse(result)


def test_cache_entries_expire_after_the_ttl(clock: FakeClock) -> None:
    cache = AuthorizerCache(10, clock)
    cache.put("k", ACCESS_DENIED)

    clock.advance(9.9)
    assert cache.get("k") == ACCESS_DENIED
    clock.advance(0.2)
    assert cache.get("k") is None


def test_a_zero_ttl_disables_the_cache(clock: FakeClock) -> None:
    cache = AuthorizerCache(0, clock)
    cache.put("k", ACCESS_DENIED)

    assert cache.get("k") is None
