"""RegionalGateway on its own: functions, API built from handlers.contract.routes, stage, WAF, domain, reuse."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from components.edge import RegionalEdge
from components.regional_gateway import (
    ACCESS_LOG_FORMAT,
    GATEWAY_ERRORS,
    BankSettings,
    CustomDomainArgs,
    LambdaSettings,
    RegionalGateway,
    RegionalGatewayArgs,
    ResolverSettings,
    deployment_fingerprint,
    deployment_trigger,
    route_functions,
)
from handlers.contract import limits, messages, routes, schema
from handlers.contract.gateway_errors import BY_RESPONSE_TYPE, TIMED_OUT, WAF_BODY_TOO_LARGE, WAF_ERRORS
from proxy_gateway.gateway_responses import PLATFORM_DEFAULTS, gateway_response, waf_response
from tests.infra.conftest import run, run_once
from tests.infra.helpers import (
    ACCOUNT,
    API_RESOURCE,
    AUTHORIZER,
    BASE_PATH_MAPPING,
    CERTIFICATE,
    CERTIFICATE_VALIDATION,
    DEPLOYMENT,
    DOMAIN_NAME,
    FUNCTION,
    FUNCTION_URL,
    HEALTH_CHECK,
    INTEGRATION,
    KEY,
    LOG_GROUP,
    METHOD,
    METHOD_SETTINGS,
    PERMISSION,
    RECORD,
    RESPONSE,
    REST_API,
    ROLE,
    STAGE,
    WEB_ACL,
    WEB_ACL_ASSOCIATION,
    WEB_ACL_LOGGING,
    duplicates,
    fill_gateway_template,
    function_by_name,
    function_policy,
    key_policy,
    live_alias,
    regional,
    render_gateway_template,
    service_principals,
    statement,
)
from tests.infra.mocks import GLOBAL_TYPES, RecordingMocks, is_secret

TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/payment-gateway"
TABLE_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/table-key"
ALL_FUNCTIONS = [*route_functions(routes.ROUTES), routes.AUTHORIZER, routes.RESOLVER, routes.WEBHOOK_SENDER]


def gateway_args(**overrides: Any) -> RegionalGatewayArgs:
    base = RegionalGatewayArgs(
        region="eu-west-1",
        table_name="payment-gateway",
        table_arn=TABLE_ARN,
        table_key_arn=TABLE_KEY_ARN,
        code=pulumi.AssetArchive({"handlers/__init__.py": pulumi.StringAsset("")}),
        source_code_hash="aGFzaA==",
        fingerprint_key=pulumi.Output.secret("hmac-key"),
        bank=BankSettings(simulator=True),
    )
    return dataclasses.replace(base, **overrides)


def deploy(mocks: RecordingMocks, **overrides: Any) -> dict[str, Any]:
    def program() -> dict[str, Any]:
        gateway = RegionalGateway("gateway", gateway_args(**overrides))
        return {
            "regional_url": gateway.regional_url,
            "global_url": gateway.global_url,
            "health_check_id": gateway.health_check_id,
            "function_names": gateway.function_names,
            "stage_arn": gateway.stage_arn,
        }

    result: dict[str, Any] = run_once(f"gateway {sorted(overrides.items())!r}", mocks, program)
    return result


def gateway_key_arn(mocks: RecordingMocks) -> str:
    return str(mocks.one(KEY).outputs["arn"])


def resource_paths(mocks: RecordingMocks) -> dict[str, str]:
    """API resource id -> full path, rebuilt from the recorded parent links."""
    root = mocks.one(REST_API).outputs["rootResourceId"]
    nodes = {r.outputs.get("id", f"{r.name}-id"): r.plain for r in mocks.of_type(API_RESOURCE)}

    def path(resource_id: str) -> str:
        if resource_id == root:
            return ""
        node = nodes[resource_id]
        return f"{path(node['parentId'])}/{node['pathPart']}"

    return {resource_id: path(resource_id) for resource_id in nodes}


def test_one_function_per_route_function_plus_authorizer_and_simulator(mocks: RecordingMocks) -> None:
    names = deploy(mocks)["function_names"]
    expected = {fn.name for fn in ALL_FUNCTIONS} | {routes.BANK_SIMULATOR.name}
    assert set(names) == expected
    recorded = {f.plain["name"]: f.plain for f in mocks.of_type(FUNCTION)}
    assert set(recorded) == {f"payment-gateway-{n}" for n in expected}
    handlers = {fn.handler for fn in [*ALL_FUNCTIONS, routes.BANK_SIMULATOR]}
    assert {f["handler"] for f in recorded.values()} == handlers
    assert len(mocks.of_type(ROLE)) == len(expected) + 1  # + API Gateway's CloudWatch role
    assert duplicates(mocks) == []


def test_functions_are_arm64_traced_current_runtime_sized_from_args(mocks: RecordingMocks) -> None:
    deploy(mocks, lambda_settings=LambdaSettings(memory_mb=1024, timeout_seconds=7, reserved_concurrency=20))
    key_arn = gateway_key_arn(mocks)
    for function in mocks.of_type(FUNCTION):
        f = function.plain
        assert f["architectures"] == ["arm64"]
        assert f["runtime"] in {"python3.12", "python3.13", "python3.14"}
        assert f["tracingConfig"] == {"mode": "Active"}
        # The resolver and the webhook sender work through a batch per run: their own timeout, not the API's.
        scheduled = f["name"].endswith((routes.RESOLVER.name, routes.WEBHOOK_SENDER.name))
        timeout = ResolverSettings().timeout_seconds if scheduled else 7
        assert (f["memorySize"], f["timeout"], f["reservedConcurrentExecutions"]) == (1024, timeout, 20)
        assert f["kmsKeyArn"] == key_arn
        assert f["sourceCodeHash"] == "aGFzaA=="
        assert f["loggingConfig"]["logGroup"] == f"/aws/lambda/{f['name']}"


def snap_start_by_function(mocks: RecordingMocks) -> dict[str, Any]:
    return {f.plain["name"]: f.plain.get("snapStart") for f in mocks.of_type(FUNCTION)}


def test_published_functions_resume_from_a_snapshot(mocks: RecordingMocks) -> None:
    deploy(mocks)
    published = {alias.plain["functionName"] for alias in mocks.of_type("aws:lambda/alias:Alias")}
    snap_start = snap_start_by_function(mocks)
    assert published  # every routed function, the authorizer and the resolver
    for name, setting in snap_start.items():
        # $LATEST (the simulator, not published) cannot have SnapStart; none has provisioned concurrency.
        assert setting == ({"applyOn": "PublishedVersions"} if name in published else None), name
    assert not mocks.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")


def test_snap_start_stays_off_when_turned_off(mocks: RecordingMocks) -> None:
    deploy(mocks, lambda_settings=LambdaSettings(snap_start=False))
    assert set(snap_start_by_function(mocks).values()) == {None}


def test_snap_start_is_not_asked_for_where_lambda_does_not_offer_it(mocks: RecordingMocks) -> None:
    deploy(mocks, region="ap-southeast-6")
    assert set(snap_start_by_function(mocks).values()) == {None}


def test_default_lambda_settings_fit_the_one_second_target() -> None:
    settings = LambdaSettings()
    assert settings.memory_mb >= 512
    assert settings.timeout_seconds <= 10
    with pytest.raises(ValueError, match="timeout"):
        LambdaSettings(timeout_seconds=30)


def test_each_function_has_its_own_encrypted_log_group_with_retention(mocks: RecordingMocks) -> None:
    deploy(mocks, log_retention_days=731)
    groups = {g.plain["name"]: g.plain for g in mocks.of_type(LOG_GROUP)}
    for function in mocks.of_type(FUNCTION):
        group = groups[f"/aws/lambda/{function.plain['name']}"]
        assert group["retentionInDays"] == 731
        assert group["kmsKeyId"] == gateway_key_arn(mocks)
    assert {g["retentionInDays"] for g in groups.values()} == {731}
    with pytest.raises(ValueError, match="retention"):
        gateway_args(log_retention_days=42)


def test_environment_gives_the_bank_and_the_secret_only_to_the_payments_function(mocks: RecordingMocks) -> None:
    deploy(
        mocks, metrics_namespace="Custom", allowed_currencies="EUR", bank=BankSettings(None, 111, 222, simulator=True)
    )
    simulator_url = mocks.one(FUNCTION_URL).outputs["functionUrl"]
    payments = function_by_name(mocks, "payment-gateway-create-payment")
    assert is_secret(payments.inputs["environment"])
    assert payments.plain["environment"]["variables"] == {
        "TABLE_NAME": "payment-gateway",
        "BANK_URL": simulator_url,
        "BANK_CONNECT_TIMEOUT_MS": "111",
        "BANK_READ_TIMEOUT_MS": "222",
        "ALLOWED_CURRENCIES": "EUR",
        "FINGERPRINT_KEY": "hmac-key",
        "IDEMPOTENCY_LEASE_SECONDS": str(2 * LambdaSettings().timeout_seconds),  # outlives the function
        "LOG_LEVEL": "INFO",
        "METRICS_NAMESPACE": "Custom",
        "UNKNOWN_OUTCOME": "settle",
        "PEER_REGIONS": "",
        "RESOLVER_TAKEOVER_SECONDS": "300",
        "AUTHORIZATION_TTL_SECONDS": "604800",  # it dates a manual authorization's expiry
    }
    for fn in [*ALL_FUNCTIONS, routes.BANK_SIMULATOR]:
        env = function_by_name(mocks, f"payment-gateway-{fn.name}").plain["environment"]["variables"]
        assert fn.calls_bank == ("BANK_URL" in env), fn.name
        assert fn.fingerprints == ("FINGERPRINT_KEY" in env), fn.name
        assert {"LOG_LEVEL", "METRICS_NAMESPACE"} <= set(env)
    simulator = function_by_name(mocks, "payment-gateway-bank-simulator").plain["environment"]["variables"]
    assert simulator == {"LOG_LEVEL": "INFO", "METRICS_NAMESPACE": "Custom", "TABLE_NAME": "payment-gateway"}


def test_bank_simulator_behind_a_public_function_url_with_both_permissions(mocks: RecordingMocks) -> None:
    deploy(mocks)
    url = mocks.one(FUNCTION_URL).plain
    assert (url["functionName"], url["authorizationType"]) == ("payment-gateway-bank-simulator", "NONE")
    grants = {
        p.plain["action"]: p.plain
        for p in mocks.of_type(PERMISSION)
        if p.plain["function"] == "payment-gateway-bank-simulator"
    }
    assert grants["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    assert grants["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True


def test_a_configured_bank_replaces_the_simulator_and_stays_secret(mocks: RecordingMocks) -> None:
    deploy(mocks, bank=BankSettings(url=pulumi.Output.secret("https://bank.example/authorize")))
    assert mocks.of_type(FUNCTION_URL) == []
    assert all("bank-simulator" not in f.plain["name"] for f in mocks.of_type(FUNCTION))
    payments = function_by_name(mocks, "payment-gateway-create-payment")
    assert is_secret(payments.inputs["environment"])
    assert payments.plain["environment"]["variables"]["BANK_URL"] == "https://bank.example/authorize"


def test_api_has_a_method_and_proxy_integration_for_every_route(mocks: RecordingMocks) -> None:
    deploy(mocks)
    api = mocks.one(REST_API).plain
    assert api["endpointConfiguration"]["types"] == "REGIONAL"
    assert api["disableExecuteApiEndpoint"] is False
    paths = resource_paths(mocks)
    authorizer_id = mocks.one(AUTHORIZER).outputs.get("id", "gateway-authorizer-id")
    methods = {(m.plain["httpMethod"], paths[m.plain["resourceId"]]): m.plain for m in mocks.of_type(METHOD)}
    assert set(methods) == {(r.method, r.path) for r in routes.ROUTES}
    integrations = {(i.plain["httpMethod"], paths[i.plain["resourceId"]]): i.plain for i in mocks.of_type(INTEGRATION)}
    for route in routes.ROUTES:
        method = methods[(route.method, route.path)]
        if route.authorized:
            assert (method["authorization"], method["authorizerId"]) == ("CUSTOM", authorizer_id)
        else:
            assert method["authorization"] == "NONE" and "authorizerId" not in method
        integration = integrations[(route.method, route.path)]
        assert (integration["type"], integration["integrationHttpMethod"]) == ("AWS_PROXY", "POST")
        alias = live_alias(mocks, f"payment-gateway-{route.function.name}")
        assert integration["uri"] == alias.outputs["invokeArn"]  # the alias, never $LATEST


def test_api_gateway_may_invoke_each_route_function_only_from_its_route(mocks: RecordingMocks) -> None:
    deploy(mocks)
    execution_arn = mocks.one(REST_API).outputs["executionArn"]
    grants = {(p.plain["function"], p.plain.get("sourceArn")) for p in mocks.of_type(PERMISSION)}
    for route in routes.ROUTES:
        path = route.path.replace("{id}", "*")
        assert (f"payment-gateway-{route.function.name}", f"{execution_arn}/*/{route.method}{path}") in grants


def test_request_authorizer_with_cache_from_args(mocks: RecordingMocks) -> None:
    deploy(mocks, authorizer_cache_seconds=60)
    authorizer = mocks.one(AUTHORIZER).plain
    assert authorizer["type"] == "REQUEST"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == 60
    alias = live_alias(mocks, f"payment-gateway-{routes.AUTHORIZER.name}")
    assert authorizer["authorizerUri"] == alias.outputs["invokeArn"]


def test_gateway_responses_keep_the_error_contract(mocks: RecordingMocks) -> None:
    deploy(mocks)
    responses = {r.plain["responseType"]: r.plain for r in mocks.of_type(RESPONSE)}
    expected = {
        "UNAUTHORIZED": ("401", "unauthorized", messages.MISSING_HEADER),
        "ACCESS_DENIED": ("401", "unauthorized", "sample denial"),  # the authorizer's Deny context
        "AUTHORIZER_FAILURE": ("503", "service_unavailable", "The API key could not be checked; retry shortly."),
        "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found", "No route matches the request's method and path."),
        "REQUEST_TOO_LARGE": ("413", "payload_too_large", "The request body must be at most 16384 bytes."),
        "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type", messages.NOT_JSON),
        "THROTTLED": ("429", "rate_limited", "Too many requests: slow down and retry later."),
        "WAF_FILTERED": ("403", "forbidden", "The request was blocked."),
        "INTEGRATION_TIMEOUT": ("504", "gateway_timeout", TIMED_OUT),
        "DEFAULT_4XX": (None, "invalid_request", "sample message"),  # API Gateway's own message
        "DEFAULT_5XX": (None, "internal_error", messages.INTERNAL_ERROR),
    }
    assert set(responses) == set(expected)
    for response_type, (status, error_type, message) in expected.items():
        response = responses[response_type]
        assert response.get("statusCode") == status, response_type
        template = response["responseTemplates"]["application/json"]
        body = render_gateway_template(template)
        assert body == {"error": {"type": error_type, "message": message}}, response_type
        # compact, as the handlers write theirs
        assert json.dumps(body, separators=(",", ":")) == fill_gateway_template(template), response_type
        assert response["responseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId"
    assert responses["AUTHORIZER_FAILURE"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    # A function that failed or timed out may have charged: retry with the same key, after Retry-After.
    for outcome_unknown in ("INTEGRATION_TIMEOUT", "DEFAULT_5XX"):
        parameters = responses[outcome_unknown]["responseParameters"]
        assert parameters["gatewayresponse.header.Retry-After"] == "'1'", outcome_unknown


def test_the_authorizers_messages_survive_unescaped_substitution() -> None:
    """API Gateway pastes `$context.authorizer.error_message` into the JSON as it is."""
    for message in (messages.MISSING_HEADER, messages.MALFORMED_HEADER, messages.INVALID_KEY):
        assert json.dumps(message) == f'"{message}"'
        body = render_gateway_template(
            BY_RESPONSE_TYPE["ACCESS_DENIED"].template(), authorizer={"error_message": message}
        )
        assert body["error"]["message"] == message


def test_deployment_is_triggered_by_changes_to_the_api_shape(mocks: RecordingMocks) -> None:
    deploy(mocks)
    args = gateway_args()
    invoked = {r.function.name for r in routes.ROUTES} | {routes.AUTHORIZER.name}
    # What the integrations and the authorizer invoke: the aliases.
    arns = {name: live_alias(mocks, f"payment-gateway-{name}").outputs["invokeArn"] for name in invoked}
    expected = deployment_trigger(deployment_fingerprint(args), arns)
    assert mocks.one(DEPLOYMENT).plain["triggers"] == {"redeployment": expected}
    assert deployment_fingerprint(args) == deployment_fingerprint(gateway_args())
    extra = (*routes.ROUTES, routes.Route("DELETE", "/v1/payments/{id}", routes.GET_PAYMENT, True))
    assert deployment_fingerprint(dataclasses.replace(args, route_table=extra)) != deployment_fingerprint(args)
    assert deployment_fingerprint(dataclasses.replace(args, authorizer_cache_seconds=1)) != deployment_fingerprint(args)
    with_domain = dataclasses.replace(args, domain=CustomDomainArgs("pay.example.com", "Z1"))
    assert deployment_fingerprint(with_domain) != deployment_fingerprint(args)  # the endpoint switch needs one too


def test_a_replaced_function_redeploys_the_stage() -> None:
    """A new function name changes an integration URI in place; only a new Deployment serves it."""
    arns = {"create-payment": "arn:...:function:old-create-payment/invocations"}
    renamed = {"create-payment": "arn:...:function:new-create-payment/invocations"}
    assert deployment_trigger("shape", arns) != deployment_trigger("shape", renamed)
    assert deployment_trigger("shape", arns) == deployment_trigger("shape", dict(arns))


def test_stage_traces_throttles_and_logs_json_without_bodies(mocks: RecordingMocks) -> None:
    deploy(mocks, throttle_rate_limit=50.0, throttle_burst_limit=75)
    stage = mocks.one(STAGE).plain
    assert stage["xrayTracingEnabled"] is True
    access_group = [g for g in mocks.of_type(LOG_GROUP) if g.plain["name"].startswith("/aws/apigateway/")]
    assert stage["accessLogSettings"]["destinationArn"] == access_group[0].outputs["arn"]
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format == ACCESS_LOG_FORMAT
    required = {"requestId", "ip", "httpMethod", "resourcePath", "status", "responseLatency", "integrationLatency"}
    assert required | {"principalId"} <= set(log_format)
    assert log_format["principalId"] == "$context.authorizer.principalId"
    forbidden = ("body", "header", "querystring", "requestOverride", "path.")
    assert not [v for v in log_format.values() if any(f in v.lower() for f in forbidden)]
    settings = mocks.one(METHOD_SETTINGS).plain
    assert settings["methodPath"] == "*/*"
    assert settings["settings"]["dataTraceEnabled"] is False
    assert settings["settings"]["loggingLevel"] in {"ERROR", "INFO"}
    assert settings["settings"]["metricsEnabled"] is True
    assert (settings["settings"]["throttlingRateLimit"], settings["settings"]["throttlingBurstLimit"]) == (50.0, 75)
    execution = [g.plain for g in mocks.of_type(LOG_GROUP) if g.plain["name"].startswith("API-Gateway-Execution")]
    assert execution == [dict(execution[0], name="API-Gateway-Execution-Logs_gateway-api-id/live")]


def test_api_gateway_cloudwatch_role_is_optional(mocks: RecordingMocks) -> None:
    deploy(mocks, manage_api_gateway_account=False)
    assert mocks.of_type(ACCOUNT) == []
    assert len(mocks.of_type(ROLE)) == len(ALL_FUNCTIONS) + 1  # functions + simulator only


def test_waf_with_managed_rules_and_per_ip_rate_limit_on_the_stage(mocks: RecordingMocks) -> None:
    stage_arn = deploy(mocks, waf_rate_limit=500)["stage_arn"]
    acl = mocks.one(WEB_ACL)
    rules = {r["name"]: r for r in acl.plain["rules"]}
    assert acl.plain["scope"] == "REGIONAL"
    managed = {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in rules.values()
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    rate = rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"]
    assert (rate["limit"], rate["aggregateKeyType"], rate["evaluationWindowSec"]) == (500, "IP", 300)
    assert rules["rate-limit-per-ip"]["action"]["block"]["customResponse"]["responseCode"] == 429
    visibility = [acl.plain["visibilityConfig"], *(r["visibilityConfig"] for r in rules.values())]
    assert all(v["cloudwatchMetricsEnabled"] and v["sampledRequestsEnabled"] for v in visibility)
    association = mocks.one(WEB_ACL_ASSOCIATION).plain
    assert (association["resourceArn"], association["webAclArn"]) == (stage_arn, acl.outputs["arn"])


BLOCK_AND_COUNT_ONLY = {
    "defaultBehavior": "DROP",
    "filters": [
        {
            "behavior": "KEEP",
            "requirement": "MEETS_ANY",
            # A rule overridden to Count logs EXCLUDED_AS_COUNT, not COUNT (WAFV2 ActionCondition).
            "conditions": [
                {"actionCondition": {"action": "BLOCK"}},
                {"actionCondition": {"action": "COUNT"}},
                {"actionCondition": {"action": "EXCLUDED_AS_COUNT"}},
            ],
        }
    ],
}


def waf_log_group(mocks: RecordingMocks) -> Any:
    [group] = [g for g in mocks.of_type(LOG_GROUP) if g.plain["name"].startswith("aws-waf-logs-")]
    return group


def test_waf_logs_what_it_blocks_or_counts_to_an_encrypted_retained_log_group(mocks: RecordingMocks) -> None:
    deploy(mocks, log_retention_days=731)
    logging = mocks.one(WEB_ACL_LOGGING).plain
    group = waf_log_group(mocks)
    assert logging["region"] == group.region == "eu-west-1"
    assert logging["resourceArn"] == mocks.one(WEB_ACL).outputs["arn"]
    assert logging["logDestinationConfigs"] == [group.outputs["arn"]]
    assert group.plain["name"] == "aws-waf-logs-payment-gateway"
    assert (group.plain["retentionInDays"], group.plain["kmsKeyId"]) == (731, gateway_key_arn(mocks))
    assert logging["loggingFilter"] == BLOCK_AND_COUNT_ONLY


def test_waf_logs_redact_the_api_key_the_idempotency_key_and_the_query_string(mocks: RecordingMocks) -> None:
    deploy(mocks)
    redacted = mocks.one(WEB_ACL_LOGGING).plain["redactedFields"]
    assert {"singleHeader": {"name": "authorization"}} in redacted
    assert {"singleHeader": {"name": "idempotency-key"}} in redacted  # free text: may hold a card number
    assert {"queryString": {}} in redacted
    assert len(redacted) == 3


def test_the_logs_key_lets_cloudwatch_encrypt_the_waf_log_group(mocks: RecordingMocks) -> None:
    deploy(mocks)
    logs = statement(key_policy(mocks.one(KEY)), "CloudWatchLogsEncryptsThisAccountsLogGroups")
    assert logs is not None
    pattern = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert fnmatch.fnmatchcase(waf_log_group(mocks).outputs["arn"], pattern)


def test_waf_can_log_every_request(mocks: RecordingMocks) -> None:
    deploy(mocks, waf_log_all_requests=True)
    logging = mocks.one(WEB_ACL_LOGGING).plain
    assert "loggingFilter" not in logging
    assert {"singleHeader": {"name": "authorization"}} in logging["redactedFields"]


def test_waf_refuses_every_body_over_the_apis_limit_with_a_413_in_the_error_shape(mocks: RecordingMocks) -> None:
    deploy(mocks)
    acl = mocks.one(WEB_ACL).plain
    rules = {r["name"]: r for r in acl["rules"]}
    size = rules["body-size-limit"]
    assert size["priority"] < rules["AWSManagedRulesCommonRuleSet"]["priority"]
    constraint = size["statement"]["sizeConstraintStatement"]
    assert (constraint["comparisonOperator"], constraint["size"]) == ("GT", limits.MAX_BODY_BYTES)
    # WAF sees 16 KB of a body for API Gateway: a larger one is "oversize" and must count as a match.
    assert constraint["fieldToMatch"] == {"body": {"oversizeHandling": "MATCH"}}
    assert constraint["textTransformations"] == [{"priority": 0, "type": "NONE"}]
    assert size["action"]["block"]["customResponse"] == {
        "responseCode": 413,
        "customResponseBodyKey": "payload_too_large",
    }
    # The common set's fixed 8 KB body rule would answer 403 below the API's limit: it only counts.
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    assert common["ruleActionOverrides"] == [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}]
    bodies = {b["key"]: json.loads(b["content"]) for b in acl["customResponseBodies"]}
    assert bodies["payload_too_large"] == {"error": {"type": "payload_too_large", "message": messages.BODY_TOO_LARGE}}
    assert bodies["rate_limited"]["error"]["type"] == "rate_limited"
    for body in acl["customResponseBodies"]:
        assert body["content"] == json.dumps(json.loads(body["content"]), separators=(",", ":"))  # compact


def test_function_policies_are_least_privilege_on_the_given_table(mocks: RecordingMocks) -> None:
    deploy(mocks)
    for fn in ALL_FUNCTIONS:
        function = function_by_name(mocks, f"payment-gateway-{fn.name}")
        document = function_policy(mocks, function)
        table = statement(document, "TableItems")
        assert table is not None
        assert sorted(table["Action"]) == sorted(fn.table_actions)
        assert table["Resource"] == [TABLE_ARN, *(f"{TABLE_ARN}/index/{index}" for index in fn.indexes)]
        kms = statement(document, "TableKeyThroughDynamoDb")
        assert kms is not None and kms["Resource"] == [TABLE_KEY_ARN]
        logs = statement(document, "OwnLogGroup")
        group = [g for g in mocks.of_type(LOG_GROUP) if g.plain["name"] == f"/aws/lambda/{function.plain['name']}"]
        assert logs is not None and logs["Resource"] == [group[0].outputs["arn"] + ":*"]


def test_logs_key_policy_admits_this_regions_logs_service(mocks: RecordingMocks) -> None:
    deploy(mocks)
    key = mocks.one(KEY)
    assert key.plain["enableKeyRotation"] is True
    assert service_principals(key_policy(key)) == {"logs.eu-west-1.amazonaws.com"}


def test_no_custom_domain_resources_without_a_domain(mocks: RecordingMocks) -> None:
    result = deploy(mocks)
    assert result["global_url"] is None and result["health_check_id"] is None
    assert result["regional_url"] == "https://gateway-api-id.execute-api.eu-west-1.amazonaws.com/live"
    for typ in (CERTIFICATE, DOMAIN_NAME, RECORD, HEALTH_CHECK, BASE_PATH_MAPPING):
        assert mocks.of_type(typ) == []


DOMAIN = CustomDomainArgs(domain_name="pay.example.com", hosted_zone_id="ZONE123")


def test_custom_domain_with_tls_1_2_latency_record_and_health_check(mocks: RecordingMocks) -> None:
    result = deploy(mocks, domain=DOMAIN)
    assert result["regional_url"] == "https://eu-west-1.pay.example.com"
    assert result["global_url"] == "https://pay.example.com"
    assert mocks.one(REST_API).plain["disableExecuteApiEndpoint"] is True
    cert = mocks.one(CERTIFICATE)
    assert (cert.region, cert.plain["domainName"], cert.plain["validationMethod"]) == (
        "eu-west-1",
        "eu-west-1.pay.example.com",
        "DNS",
    )
    assert cert.plain["subjectAlternativeNames"] == ["pay.example.com"]
    validation = mocks.one(CERTIFICATE_VALIDATION).plain
    assert validation["certificateArn"] == cert.outputs["arn"]
    validation_records = [r.plain for r in mocks.of_type(RECORD) if r.plain["type"] == "CNAME"]
    assert sorted(validation["validationRecordFqdns"]) == sorted(r["name"].rstrip(".") for r in validation_records)
    domains = {d.plain["domainName"]: d for d in mocks.of_type(DOMAIN_NAME)}
    assert set(domains) == {"eu-west-1.pay.example.com", "pay.example.com"}
    for domain in domains.values():
        assert domain.plain["securityPolicy"] == "TLS_1_2"
        assert domain.plain["endpointConfiguration"]["types"] == "REGIONAL"
        assert domain.plain["regionalCertificateArn"] == cert.outputs["arn"]
    assert {m.plain["domainName"] for m in mocks.of_type(BASE_PATH_MAPPING)} == set(domains)

    check = mocks.one(HEALTH_CHECK)
    assert check.plain["fqdn"] == "eu-west-1.pay.example.com"  # the region's own name, not the shared one
    assert (check.plain["type"], check.plain["resourcePath"], check.plain["port"]) == ("HTTPS", "/health", 443)
    assert (check.plain["requestInterval"], check.plain["failureThreshold"]) == (10, 3)
    latency = [r.plain for r in mocks.of_type(RECORD) if r.plain.get("setIdentifier")]
    assert len(latency) == 1
    record = latency[0]
    assert (record["name"], record["type"], record["setIdentifier"]) == ("pay.example.com", "A", "eu-west-1")
    assert record["latencyRoutingPolicies"] == [{"region": "eu-west-1"}]
    assert record["healthCheckId"] == check.outputs.get("id", f"{check.name}-id")
    alias = record["aliases"][0]
    assert alias["evaluateTargetHealth"] is True
    assert alias["name"] == domains["pay.example.com"].outputs["regionalDomainName"]
    regional_record = [r.plain for r in mocks.of_type(RECORD) if r.plain["name"] == "eu-west-1.pay.example.com"]
    assert (
        regional_record[0]["aliases"][0]["name"] == domains["eu-west-1.pay.example.com"].outputs["regionalDomainName"]
    )


def test_reused_in_another_region_puts_every_regional_child_there(mocks: RecordingMocks) -> None:
    deploy(mocks, region="ap-southeast-2", domain=DOMAIN)
    assert {r.region for r in regional(mocks)} == {"ap-southeast-2"}
    assert all(r.region is None for r in mocks.custom() if r.typ in GLOBAL_TYPES)
    assert mocks.one(HEALTH_CHECK).plain["fqdn"] == "ap-southeast-2.pay.example.com"
    assert service_principals(key_policy(mocks.one(KEY))) == {"logs.ap-southeast-2.amazonaws.com"}


def test_reused_with_another_provider_every_child_uses_it(mocks: RecordingMocks) -> None:
    def program() -> pulumi.Output[str]:
        provider = aws.Provider("other-account", region="ap-southeast-2")
        gateway = RegionalGateway(
            "gw", gateway_args(region="ap-southeast-2"), pulumi.ResourceOptions(provider=provider)
        )
        return gateway.stage_arn

    run(program)
    children = mocks.custom()
    assert children and all(r.provider.endswith("::other-account::other-account-id") for r in children)
    assert {r.region for r in regional(mocks)} == {"ap-southeast-2"}


def test_drain_withdraws_the_latency_record_but_keeps_the_health_check(mocks: RecordingMocks) -> None:
    result = deploy(mocks, domain=DOMAIN, drain=True)
    assert [r.plain for r in mocks.of_type(RECORD) if r.plain.get("setIdentifier")] == []
    assert mocks.one(HEALTH_CHECK).plain["fqdn"] == "eu-west-1.pay.example.com"
    assert result["health_check_id"]
    assert [r.plain["name"] for r in mocks.of_type(RECORD) if r.plain["type"] == "A"] == ["eu-west-1.pay.example.com"]


def test_gateway_error_types_are_in_the_api_contract() -> None:
    """The platform's errors use only the error types the OpenAPI contract (docs/openapi.yaml) lists."""
    contract = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    if not contract.is_file():
        pytest.skip("docs/openapi.yaml is not in this tree")
    schemas = yaml.safe_load(contract.read_text())["components"]["schemas"]
    enums = [
        prop["enum"]
        for schema in schemas.values()
        for prop in schema.get("properties", {}).get("error", {}).get("properties", {}).values()
        if "enum" in prop
    ]
    assert enums, "no error type enum found in the contract"
    assert {e.error_type for e in GATEWAY_ERRORS} | {e.error_type for e in WAF_ERRORS} <= set(enums[0])


def test_the_resolver_runs_on_a_schedule_with_least_privilege_on_its_items_and_index(mocks: RecordingMocks) -> None:
    deploy(
        mocks,
        resolver=ResolverSettings(
            unknown_outcome="reverse",
            interval_minutes=2,
            peer_regions=("eu-west-1", "us-east-1"),
            takeover_after_seconds=140,
        ),
    )
    resolver = function_by_name(mocks, f"payment-gateway-{routes.RESOLVER.name}")
    assert resolver.plain["handler"] == "handlers.entrypoints.resolver_job.resolve_pending"
    env = resolver.plain["environment"]["variables"]
    assert (env["UNKNOWN_OUTCOME"], env["PEER_REGIONS"], env["RESOLVER_TAKEOVER_SECONDS"]) == (
        "reverse",
        "eu-west-1,us-east-1",
        "140",
    )
    assert "FINGERPRINT_KEY" not in env and env["BANK_URL"]
    rule = mocks.one("aws:cloudwatch/eventRule:EventRule", f"gateway-{routes.RESOLVER.name}-schedule").plain
    assert rule["scheduleExpression"] == "rate(2 minutes)" and rule["region"] == "eu-west-1"
    sender_rule = mocks.one("aws:cloudwatch/eventRule:EventRule", f"gateway-{routes.WEBHOOK_SENDER.name}-schedule")
    assert sender_rule.plain["scheduleExpression"] == "rate(2 minutes)"  # at the resolver's interval
    target = mocks.one("aws:cloudwatch/eventTarget:EventTarget", f"gateway-{routes.RESOLVER.name}-target").plain
    assert target["arn"] == live_alias(mocks, resolver.plain["name"]).outputs["arn"]
    assert target["retryPolicy"]["maximumRetryAttempts"] == 0
    permission = next(
        p.plain
        for p in mocks.of_type("aws:lambda/permission:Permission")
        if p.plain["principal"] == "events.amazonaws.com" and p.plain["function"] == resolver.plain["name"]
    )
    assert permission["function"] == resolver.plain["name"] and permission["sourceArn"]
    assert permission["qualifier"] == "live"
    role_policy = next(
        json.loads(p.plain["policy"])
        for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name == f"gateway-{routes.RESOLVER.name}-policy"
    )
    [table] = [st for st in role_policy["Statement"] if st["Sid"] == "TableItems"]
    assert table["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    assert table["Resource"][1].endswith(f"/index/{schema.PENDING_INDEX}") and len(table["Resource"]) == 2
    assert table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "MERCHANT#*",
        "PENDING#*",
        "OPERATION#*",
        "EXPIRY#*",
        "HEARTBEAT",
    ]


def test_resolver_settings_refuse_what_would_not_work() -> None:
    with pytest.raises(ValueError, match="settle or reverse"):
        ResolverSettings(unknown_outcome="ignore")
    with pytest.raises(ValueError, match=r"1\.\.60"):
        ResolverSettings(interval_minutes=0)


# What the local stack answers as API Gateway (proxy_gateway.gateway_responses), with the platform's
# message for its DEFAULT_* families; each must be the deployed stage's answer.
LOCAL_ANSWERS = [
    ("UNAUTHORIZED", {}, None),
    ("ACCESS_DENIED", {"error_message": messages.MALFORMED_HEADER}, None),
    ("ACCESS_DENIED", {"error_message": messages.INVALID_KEY}, None),
    ("AUTHORIZER_FAILURE", {}, None),
    ("MISSING_AUTHENTICATION_TOKEN", {}, None),
    ("REQUEST_TOO_LARGE", {}, None),
    ("DEFAULT_5XX", {}, None),  # a Lambda that raised: 502
    ("DEFAULT_5XX", {}, 500),
]


@pytest.mark.parametrize(("response_type", "context", "status"), LOCAL_ANSWERS)
def test_the_local_gateway_answers_as_the_deployed_stage_does(
    mocks: RecordingMocks, response_type: str, context: dict[str, str], status: int | None
) -> None:
    """local_gateway emulates API Gateway's own answers; they must be what the deployed responses render."""
    deploy(mocks)
    responses = {r.plain["responseType"]: r.plain for r in mocks.of_type(RESPONSE)}
    local = gateway_response(response_type, "req-1", authorizer=context, status=status)
    platform_status, platform_message = PLATFORM_DEFAULTS[response_type]
    deployed = responses[response_type]
    template = deployed["responseTemplates"]["application/json"]
    assert local.status == int(deployed.get("statusCode") or status or platform_status)
    assert local.body.decode() == fill_gateway_template(template, platform_message, context)
    static = {
        name.removeprefix("gatewayresponse.header."): value.strip("'")
        for name, value in deployed["responseParameters"].items()
        if value.startswith("'")
    }
    assert static.items() <= dict(local.headers).items()
    assert local.header("X-Request-Id") == "req-1"


def test_the_local_gateway_falls_back_to_the_default_families_as_api_gateway_does() -> None:
    """ACCESS_DENIED without the authorizer's message still renders (empty), never a broken body."""
    assert set(PLATFORM_DEFAULTS) - {"DEFAULT_5XX"} <= {e.response_type for e in GATEWAY_ERRORS}
    denied = gateway_response("ACCESS_DENIED", "r")
    assert json.loads(denied.body) == {"error": {"type": "unauthorized", "message": ""}}


def test_the_local_waf_answers_as_the_deployed_web_acl_does(mocks: RecordingMocks) -> None:
    deploy(mocks)
    acl = mocks.one(WEB_ACL).plain
    bodies = {b["key"]: b for b in acl["customResponseBodies"]}
    rule = {r["name"]: r for r in acl["rules"]}["body-size-limit"]
    custom = rule["action"]["block"]["customResponse"]
    local = waf_response(WAF_BODY_TOO_LARGE)
    assert local.status == custom["responseCode"] == 413
    assert local.body.decode() == bodies[custom["customResponseBodyKey"]]["content"]
    assert bodies[custom["customResponseBodyKey"]]["contentType"] == "APPLICATION_JSON"


# Where the edge's children lived before RegionalEdge existed: existing stacks hold these URNs.
MOVED_TO_THE_EDGE = {
    "waf": "aws:wafv2/webAcl:WebAcl",
    "waf-association": "aws:wafv2/webAclAssociation:WebAclAssociation",
    "waf-logs": "aws:cloudwatch/logGroup:LogGroup",
    "waf-logging": "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
    "cert": "aws:acm/certificate:Certificate",
    "cert-validation-regional": "aws:route53/record:Record",
    "cert-validation-global": "aws:route53/record:Record",
    "cert-validation": "aws:acm/certificateValidation:CertificateValidation",
    "domain-regional": "aws:apigateway/domainName:DomainName",
    "domain-global": "aws:apigateway/domainName:DomainName",
    "mapping-regional": "aws:apigateway/basePathMapping:BasePathMapping",
    "mapping-global": "aws:apigateway/basePathMapping:BasePathMapping",
    "dns-regional": "aws:route53/record:Record",
    "health-check": "aws:route53/healthCheck:HealthCheck",
    "dns-latency": "aws:route53/record:Record",
}


def test_the_edges_children_keep_the_urns_they_had_as_the_gateways(mocks: RecordingMocks) -> None:
    """Each moved child is aliased to `<gateway>$<type>::gateway-<role>`: an update moves it, not replaces it."""

    def program() -> dict[str, Any]:
        gateway = RegionalGateway("gateway", gateway_args(domain=DOMAIN))
        [edge] = [c for c in gateway._childResources if isinstance(c, RegionalEdge)]
        moved = {
            child._name: pulumi.Output.all(*child._aliases).apply(lambda urns, t=child._type: (t, urns))
            for child in edge._childResources
        }
        return {"gateway": gateway.urn, "moved": moved}

    result = run(program)
    # `urn:pulumi:<stack>::<project>::<gateway's type chain>::gateway`: its children were `<chain>$<type>::<name>`.
    chain, _, name = str(result["gateway"]).rpartition("::")
    assert name == "gateway"
    expected = {
        f"gateway-edge-{role}": (typ, [f"{chain}${typ}::gateway-{role}"]) for role, typ in MOVED_TO_THE_EDGE.items()
    }
    assert result["moved"] == expected
