"""The web ACL's rules and logging settings, as plain pulumi-aws Args (no resources): what RegionalEdge
(components/edge.py) puts in front of an origin.

Per-IP rate limit first (cheapest), the body size, then the common and known-bad-inputs rule sets.
Every oversized body is a 413 in the API's error shape, from the second rule. Nothing goes uninspected:
the limit is at most what WAF sees of a body in front of the origin (16 KB for API Gateway, the API's
own 16 KiB; 8 KB for an ALB; `components.edge.body_limit`), and larger bodies are refused. The common
set's SizeRestrictions_BODY only counts: its fixed 8 KB, below the API's 16 KiB, would answer 403.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_aws as aws

from handlers.contract.gateway_errors import WafError

# WAF logs to CloudWatch Logs only into log groups named with this prefix.
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"
# Kept out of WAF's log records: the API key; the Idempotency-Key, free text that may hold a card
# number (hence stored only as an HMAC); the query string, only list filters here, while the
# matched rule that explains a block is logged anyway.
WAF_REDACTED_HEADERS = ("authorization", "idempotency-key")
# Logged by default: what WAF stopped or would stop. ALLOW, nearly all traffic, costs ingestion only.
# A rule whose action is overridden to Count (a managed rule being tried out) is logged as
# EXCLUDED_AS_COUNT, not COUNT (WAFV2 API reference, ActionCondition): both are kept.
WAF_LOGGED_ACTIONS = ("BLOCK", "COUNT", "EXCLUDED_AS_COUNT")


def waf_redacted_fields() -> list[aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs]:
    """WAF_REDACTED_HEADERS and the query string."""
    field_args = aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs
    header = aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs
    # The generated empty Args class has an untyped __init__.
    query_string = aws.wafv2.WebAclLoggingConfigurationRedactedFieldQueryStringArgs()  # type: ignore[no-untyped-call]
    return [field_args(single_header=header(name=name)) for name in WAF_REDACTED_HEADERS] + [
        field_args(query_string=query_string)
    ]


def waf_logging_filter(actions: Sequence[str]) -> aws.wafv2.WebAclLoggingConfigurationLoggingFilterArgs:
    """Keep the records of requests that ended in one of `actions`; drop the rest."""
    condition = aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionArgs
    action_condition = aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionActionConditionArgs
    keep = aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterArgs(
        behavior="KEEP",
        requirement="MEETS_ANY",
        conditions=[condition(action_condition=action_condition(action=action)) for action in actions],
    )
    return aws.wafv2.WebAclLoggingConfigurationLoggingFilterArgs(default_behavior="DROP", filters=[keep])


def web_acl_rules(
    rate_limit: int, body_limit: int, rate_limited: WafError, too_large: WafError
) -> list[aws.wafv2.WebAclRuleArgs]:
    """The rules in priority order: `rate_limit` requests per client IP per 5 minutes, bodies up to
    `body_limit` bytes (each refused with its error), then the managed rule sets."""
    return [
        _block("rate-limit-per-ip", 0, _rate_limit(rate_limit), rate_limited),
        _block("body-size-limit", 1, _body_size_limit(body_limit), too_large),
        _managed_rule(10, "AWSManagedRulesCommonRuleSet", counted=["SizeRestrictions_BODY"]),
        _managed_rule(20, "AWSManagedRulesKnownBadInputsRuleSet"),
    ]


def custom_response_bodies(errors: Sequence[WafError]) -> list[aws.wafv2.WebAclCustomResponseBodyArgs]:
    """The bodies the rules' blocks answer with, by key."""
    return [
        aws.wafv2.WebAclCustomResponseBodyArgs(key=e.key, content_type="APPLICATION_JSON", content=e.body())
        for e in errors
    ]


def _visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric
    )


def _managed_rule(priority: int, rule_group: str, counted: Sequence[str] = ()) -> aws.wafv2.WebAclRuleArgs:
    """A managed rule group; rules in `counted` only count (metrics and samples) instead of blocking."""
    overrides = [
        aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
            name=rule,
            action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
            ),
        )
        for rule in counted
    ]
    return aws.wafv2.WebAclRuleArgs(
        name=rule_group,
        priority=priority,
        # The generated empty Args class has an untyped __init__.
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS", name=rule_group, rule_action_overrides=overrides or None
            )
        ),
        visibility_config=_visibility(rule_group),
    )


def _block(
    name: str, priority: int, statement: aws.wafv2.WebAclRuleStatementArgs, error: WafError
) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=name,
        priority=priority,
        action=aws.wafv2.WebAclRuleActionArgs(
            block=aws.wafv2.WebAclRuleActionBlockArgs(
                custom_response=aws.wafv2.WebAclRuleActionBlockCustomResponseArgs(
                    response_code=error.status, custom_response_body_key=error.key
                )
            )
        ),
        statement=statement,
        visibility_config=_visibility(name),
    )


def _rate_limit(limit: int) -> aws.wafv2.WebAclRuleStatementArgs:
    return aws.wafv2.WebAclRuleStatementArgs(
        rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
            aggregate_key_type="IP", limit=limit, evaluation_window_sec=300
        )
    )


def _body_size_limit(limit: int) -> aws.wafv2.WebAclRuleStatementArgs:
    """A body over `limit` (body_limit: at most what WAF inspects): a larger body than WAF can see is
    "oversize", which MATCH counts as a match, so it is refused too."""
    size = aws.wafv2.WebAclRuleStatementSizeConstraintStatementArgs(
        comparison_operator="GT",
        size=limit,
        field_to_match=aws.wafv2.WebAclRuleStatementSizeConstraintStatementFieldToMatchArgs(
            body=aws.wafv2.WebAclRuleStatementSizeConstraintStatementFieldToMatchBodyArgs(oversize_handling="MATCH")
        ),
        text_transformations=[
            aws.wafv2.WebAclRuleStatementSizeConstraintStatementTextTransformationArgs(priority=0, type="NONE")
        ],
    )
    return aws.wafv2.WebAclRuleStatementArgs(size_constraint_statement=size)
