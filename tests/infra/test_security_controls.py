"""Every security and reliability control, by name, asserted on the mocked eu and us stacks.

Removing a control from the program fails the test named after it. Each test runs against the
eu and us stacks, with and without a custom domain (`any_stack`), unless the control only
exists in one of them.
"""

from __future__ import annotations

import json

from components.policies import DYNAMODB_WRITE_ACTIONS
from components.regional_gateway import GATEWAY_ERRORS
from handlers.contract import routes
from tests.infra.helpers import (
    ALARM,
    AUTHORIZER,
    DOMAIN_NAME,
    FUNCTION,
    HEALTH_CHECK,
    KEY,
    LOG_GROUP,
    METHOD,
    METHOD_SETTINGS,
    RECORD,
    RESPONSE,
    REST_API,
    ROLE,
    STAGE,
    TABLE,
    TOPIC,
    WEB_ACL,
    WEB_ACL_ASSOCIATION,
    WEB_ACL_LOGGING,
    actions,
    as_list,
    function_by_name,
    function_policy,
    key_policy,
    render_gateway_template,
    service_principals,
    statement,
    statements,
)
from tests.infra.mocks import is_secret
from tests.infra.program import ProgramRun

API_FUNCTIONS = [*dict.fromkeys(r.function for r in routes.ROUTES), routes.AUTHORIZER]


def table_keys(run: ProgramRun) -> dict[str, str]:
    return {k.region or "": k.outputs["arn"] for k in run.of_type(KEY) if k.name.startswith("store-key-")}


# --- data at rest --------------------------------------------------------------------------------


def test_table_encrypted_with_regional_cmk(eu: ProgramRun) -> None:
    keys = table_keys(eu)
    table = eu.one(TABLE).plain
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": keys["eu-west-1"]}
    for replica in table["replicas"]:
        assert replica["kmsKeyArn"] == keys[replica["regionName"]]
    assert len(set(keys.values())) == len(keys)


def test_kms_keys_rotate(any_stack: ProgramRun) -> None:
    keys = any_stack.of_type(KEY)
    assert keys and all(k.plain["enableKeyRotation"] is True for k in keys)


def test_pitr_on_table_and_replicas(eu: ProgramRun) -> None:
    table = eu.one(TABLE).plain
    assert table["pointInTimeRecovery"]["enabled"] is True
    assert table["replicas"] and all(r["pointInTimeRecovery"] is True for r in table["replicas"])


def test_deletion_protection(eu: ProgramRun) -> None:
    table = eu.one(TABLE).plain
    assert table["deletionProtectionEnabled"] is True
    assert all(r["deletionProtectionEnabled"] is True for r in table["replicas"])


def test_streams_new_and_old_images_for_replication(eu: ProgramRun) -> None:
    table = eu.one(TABLE).plain
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")


def test_secondary_stack_creates_no_second_table(us: ProgramRun, us_domain: ProgramRun) -> None:
    assert us.of_type(TABLE) == [] and us_domain.of_type(TABLE) == []


# --- transport and edge ----------------------------------------------------------------------------


def test_tls_1_2_on_custom_domain(eu_domain: ProgramRun, us_domain: ProgramRun) -> None:
    for run in (eu_domain, us_domain):
        domains = run.of_type(DOMAIN_NAME)
        assert len(domains) == 2
        assert {d.plain["securityPolicy"] for d in domains} == {"TLS_1_2"}
        assert run.one(REST_API).plain["securityPolicy"] == "TLS_1_2"


def test_execute_api_endpoint_disabled_with_custom_domain(eu_domain: ProgramRun, eu: ProgramRun) -> None:
    assert eu_domain.one(REST_API).plain["disableExecuteApiEndpoint"] is True
    assert eu.one(REST_API).plain["disableExecuteApiEndpoint"] is False


def test_waf_on_stage(any_stack: ProgramRun) -> None:
    association = any_stack.one(WEB_ACL_ASSOCIATION).plain
    assert association["resourceArn"] == any_stack.one(STAGE).outputs["arn"]
    assert association["webAclArn"] == any_stack.one(WEB_ACL).outputs["arn"]


def test_waf_managed_rules_and_per_ip_rate_limit(any_stack: ProgramRun) -> None:
    acl = any_stack.one(WEB_ACL).plain
    assert acl["scope"] == "REGIONAL"
    statements_ = [r["statement"] for r in acl["rules"]]
    managed = {s["managedRuleGroupStatement"]["name"] for s in statements_ if "managedRuleGroupStatement" in s}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= managed
    rate = [s["rateBasedStatement"] for s in statements_ if "rateBasedStatement" in s]
    assert [r["aggregateKeyType"] for r in rate] == ["IP"]


def test_waf_logs_blocked_requests_without_credentials(any_stack: ProgramRun) -> None:
    logging = any_stack.one(WEB_ACL_LOGGING).plain
    assert logging["resourceArn"] == any_stack.one(WEB_ACL).outputs["arn"]
    [group] = [g for g in any_stack.of_type(LOG_GROUP) if g.outputs["arn"] in logging["logDestinationConfigs"]]
    assert group.plain["name"].startswith("aws-waf-logs-") and group.region == any_stack.region
    assert {"singleHeader": {"name": "authorization"}} in logging["redactedFields"]
    assert {c["actionCondition"]["action"] for c in logging["loggingFilter"]["filters"][0]["conditions"]} == {
        "BLOCK",
        "COUNT",
        "EXCLUDED_AS_COUNT",  # a rule overridden to Count (WAFV2 ActionCondition)
    }


def test_throttling_on_stage(any_stack: ProgramRun) -> None:
    settings = any_stack.one(METHOD_SETTINGS).plain["settings"]
    assert settings["throttlingRateLimit"] > 0 and settings["throttlingBurstLimit"] > 0


def test_authorizer_on_every_authorized_route(any_stack: ProgramRun) -> None:
    authorizer = any_stack.one(AUTHORIZER)
    methods = [m.plain for m in any_stack.of_type(METHOD)]
    custom = [m for m in methods if m["authorization"] == "CUSTOM"]
    assert len(custom) == sum(r.authorized for r in routes.ROUTES)
    assert {m.get("authorizerId") for m in custom} == {authorizer.outputs.get("id", f"{authorizer.name}-id")}
    assert authorizer.plain["identitySource"] == "method.request.header.Authorization"


def test_gateway_errors_keep_error_contract(any_stack: ProgramRun) -> None:
    responses = {r.plain["responseType"]: r.plain for r in any_stack.of_type(RESPONSE)}
    assert set(responses) == {e.response_type for e in GATEWAY_ERRORS}
    for response in responses.values():
        body = render_gateway_template(response["responseTemplates"]["application/json"])
        assert set(body["error"]) == {"type", "message"}
        assert response["responseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId"


# --- logging -------------------------------------------------------------------------------------


def test_no_request_body_in_access_logs(any_stack: ProgramRun) -> None:
    log_format = json.loads(any_stack.one(STAGE).plain["accessLogSettings"]["format"])
    values = " ".join(log_format.values()).lower()
    for leak in ("body", "header", "querystring", "$input", "requestoverride"):
        assert leak not in values


def test_data_trace_off_and_no_full_request_logging(any_stack: ProgramRun) -> None:
    settings = any_stack.one(METHOD_SETTINGS).plain
    assert settings["methodPath"] == "*/*"
    assert settings["settings"]["dataTraceEnabled"] is False
    assert settings["settings"]["loggingLevel"] in {"ERROR", "INFO"}


def test_log_groups_encrypted_and_retained(any_stack: ProgramRun) -> None:
    groups = any_stack.of_type(LOG_GROUP)
    functions = any_stack.of_type(FUNCTION)
    names = {g.plain["name"] for g in groups}
    assert {f"/aws/lambda/{f.plain['name']}" for f in functions} <= names
    assert any(n.startswith("API-Gateway-Execution-Logs_") for n in names)
    gateway_key = any_stack.one(KEY, "gateway-key")
    for group in groups:
        assert group.plain["retentionInDays"] >= 365
        assert group.plain["kmsKeyId"] == gateway_key.outputs["arn"]
    assert f"logs.{any_stack.region}.amazonaws.com" in service_principals(key_policy(gateway_key))


def test_xray_tracing_on_stage_and_functions(any_stack: ProgramRun) -> None:
    assert any_stack.one(STAGE).plain["xrayTracingEnabled"] is True
    assert {f.plain["tracingConfig"]["mode"] for f in any_stack.of_type(FUNCTION)} == {"Active"}


# --- functions -----------------------------------------------------------------------------------


def test_arm64_and_current_runtime_everywhere(any_stack: ProgramRun) -> None:
    for function in any_stack.of_type(FUNCTION):
        assert function.plain["architectures"] == ["arm64"]
        major, minor = function.plain["runtime"].removeprefix("python").split(".")
        assert (int(major), int(minor)) >= (3, 12)


def test_function_environment_encrypted_with_cmk(any_stack: ProgramRun) -> None:
    gateway_key = any_stack.one(KEY, "gateway-key").outputs["arn"]
    assert {f.plain["kmsKeyArn"] for f in any_stack.of_type(FUNCTION)} == {gateway_key}


def test_fingerprint_key_is_secret_and_only_where_needed(any_stack: ProgramRun) -> None:
    hashing = {f"payment-gateway-{fn.name}" for fn in API_FUNCTIONS if fn.fingerprints}
    assert hashing == {
        f"payment-gateway-{fn.name}"
        for fn in (routes.CREATE_PAYMENT, routes.CAPTURE_PAYMENT, routes.VOID_PAYMENT, routes.CREATE_REFUND)
    }
    for function in any_stack.of_type(FUNCTION):
        variables = function.plain["environment"]["variables"]
        if function.plain["name"] in hashing:  # the POSTs that take an Idempotency-Key
            assert "FINGERPRINT_KEY" in variables
            assert is_secret(function.inputs["environment"])
        else:
            assert "FINGERPRINT_KEY" not in variables


def test_one_role_per_function(any_stack: ProgramRun) -> None:
    roles = [f.plain["role"] for f in any_stack.of_type(FUNCTION)]
    assert len(set(roles)) == len(roles)
    assert {r.outputs["arn"] for r in any_stack.of_type(ROLE)} >= set(roles)


# --- least privilege -----------------------------------------------------------------------------


def test_least_privilege_table_actions(any_stack: ProgramRun) -> None:
    table_arn = f"arn:aws:dynamodb:{any_stack.region}:123456789012:table/payment-gateway"
    for fn in API_FUNCTIONS:
        document = function_policy(any_stack, function_by_name(any_stack, f"payment-gateway-{fn.name}"))
        table = statement(document, "TableItems")
        assert table is not None
        assert sorted(as_list(table["Action"])) == sorted(fn.table_actions)
        assert table["Resource"] == [table_arn]
        dynamodb = [a for a in actions(document) if a.startswith("dynamodb:")]
        assert sorted(dynamodb) == sorted(fn.table_actions)


def test_least_privilege_leading_keys(any_stack: ProgramRun) -> None:
    for fn in API_FUNCTIONS:
        document = function_policy(any_stack, function_by_name(any_stack, f"payment-gateway-{fn.name}"))
        table = statement(document, "TableItems")
        assert table is not None and fn.leading_keys
        assert table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == list(fn.leading_keys)


def test_least_privilege_kms(any_stack: ProgramRun) -> None:
    for fn in API_FUNCTIONS:
        document = function_policy(any_stack, function_by_name(any_stack, f"payment-gateway-{fn.name}"))
        kms = statement(document, "TableKeyThroughDynamoDb")
        assert kms is not None
        writes = bool(DYNAMODB_WRITE_ACTIONS & set(fn.table_actions))  # PutItem, UpdateItem or DeleteItem
        assert ("kms:Encrypt" in kms["Action"]) is writes
        assert kms["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{any_stack.region}.amazonaws.com"


def test_least_privilege_logs_own_group_only(any_stack: ProgramRun) -> None:
    for function in any_stack.of_type(FUNCTION):
        logs = statement(function_policy(any_stack, function), "OwnLogGroup")
        assert logs is not None
        assert logs["Resource"] == [
            f"arn:aws:logs:{any_stack.region}:123456789012:log-group:/aws/lambda/{function.plain['name']}:*"
        ]


def test_least_privilege_no_wildcard_actions(any_stack: ProgramRun) -> None:
    for function in any_stack.of_type(FUNCTION):
        document = function_policy(any_stack, function)
        assert not [a for a in actions(document) if "*" in a]
        star = [s["Sid"] for s in statements(document) if "*" in as_list(s["Resource"])]
        assert star == ["XRayTraces"]


# --- alerting and failover -----------------------------------------------------------------------


def test_sns_encrypted(any_stack: ProgramRun) -> None:
    keys = {k.outputs["arn"]: k for k in any_stack.of_type(KEY)}
    for topic in any_stack.of_type(TOPIC):
        key = keys[topic.plain["kmsMasterKeyId"]]
        assert key.region == topic.region
        assert "cloudwatch.amazonaws.com" in service_principals(key_policy(key))


def test_every_alarm_notifies_topic(any_stack: ProgramRun) -> None:
    topics = {t.region: t.outputs["arn"] for t in any_stack.of_type(TOPIC)}
    alarms = any_stack.of_type(ALARM)
    assert alarms
    for alarm in alarms:
        assert alarm.plain["alarmActions"] == alarm.plain["okActions"] == [topics[alarm.region or ""]]


def test_health_check_attached_to_latency_record(eu_domain: ProgramRun, us_domain: ProgramRun) -> None:
    for run in (eu_domain, us_domain):
        check = run.one(HEALTH_CHECK)
        latency = [r.plain for r in run.of_type(RECORD) if r.plain.get("latencyRoutingPolicies")]
        assert [r["healthCheckId"] for r in latency] == [check.outputs.get("id", f"{check.name}-id")]
        assert latency[0]["aliases"][0]["evaluateTargetHealth"] is True
        assert check.plain["fqdn"] == f"{run.region}.pay.example.com"
        alarm = [a for a in run.of_type(ALARM) if a.plain.get("namespace") == "AWS/Route53"]
        assert [a.region for a in alarm] == ["us-east-1"]
