"""The whole program with `compute: fargate`, for the eu and us stacks: every resource of the container
option, where it belongs, and its security and reliability controls, by name."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from components import sizing
from components.container_service import TLS_POLICY, ContainerServiceArgs
from components.edge import LOAD_BALANCER_BODY_INSPECTION_BYTES, CustomDomainArgs, EdgeSettings
from components.fargate_service import CONTAINER_USER, SECRET_VARIABLES
from components.image import context_hash
from components.policies import TableAccess
from components.regional_gateway import route_functions
from container import spec
from handlers.contract import limits, messages, routes
from tests.container.test_image import declared_volumes
from tests.infra.conftest import FARGATE
from tests.infra.helpers import (
    ALARM,
    BUCKET,
    BUCKET_ENCRYPTION,
    BUCKET_LIFECYCLE,
    BUCKET_OWNERSHIP,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS,
    BUCKET_VERSIONING,
    CERTIFICATE,
    CLUSTER,
    CODEDEPLOY_APP,
    DASHBOARD,
    DEFAULT_SECURITY_GROUP,
    DEPLOYMENT_GROUP,
    EGRESS_RULE,
    FLOW_LOG,
    FUNCTION,
    HEALTH_CHECK,
    IMAGE,
    INGRESS_RULE,
    INTERNET_GATEWAY,
    KEY,
    LAMBDA_ALIAS,
    LIFECYCLE_POLICY,
    LISTENER,
    LOAD_BALANCER,
    LOG_GROUP,
    NAT_GATEWAY,
    RECORD,
    REPOSITORY,
    REST_API,
    ROLE,
    ROLE_POLICY,
    ROUTE,
    ROUTE_TABLE_ASSOCIATION,
    SCALING_POLICY,
    SCALING_TARGET,
    SECRET,
    SECRET_VERSION,
    SERVICE,
    STAGE,
    SUBNET,
    TARGET_GROUP,
    TASK_DEFINITION,
    TOPIC,
    VPC,
    VPC_ENDPOINT,
    WEB_ACL,
    WEB_ACL_ASSOCIATION,
    WEB_ACL_LOGGING,
    actions,
    duplicates,
    function_by_name,
    live_alias,
    metric_math,
    regional,
    role_policy,
    statement,
    statements,
)
from tests.infra.mocks import ACCOUNT, GLOBAL_TYPES, Recorded, is_secret
from tests.infra.program import ROOT, TEST_FINGERPRINT_KEY, ProgramRun, run_program
from tests.infra.test_program import expected_region

SERVED = [*route_functions(routes.ROUTES), routes.AUTHORIZER]
ELB_LOG_ACCOUNTS = {"eu-west-1": "156460612806", "us-east-1": "127311923021"}


def container(run: ProgramRun) -> dict[str, Any]:
    [definition] = run.one(TASK_DEFINITION).json("containerDefinitions")
    result: dict[str, Any] = definition
    return result


def private_subnets(run: ProgramRun) -> list[Recorded]:
    return [s for s in run.of_type(SUBNET) if "-private-" in s.name]


def public_subnets(run: ProgramRun) -> list[Recorded]:
    return [s for s in run.of_type(SUBNET) if "-public-" in s.name]


def resource_id(resource: Recorded) -> str:
    return str(resource.outputs.get("id", f"{resource.name}-id"))


def rules(run: ProgramRun, typ: str, group: Recorded) -> list[dict[str, Any]]:
    return [r.plain for r in run.of_type(typ) if r.plain["securityGroupId"] == resource_id(group)]


def group(run: ProgramRun, role: str) -> Recorded:
    [found] = [g for g in run.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith(f"-{role}-sg")]
    return found


# --- the program ---------------------------------------------------------------------------------


def test_every_resource_is_in_its_intended_region(fargate_stack: ProgramRun) -> None:
    misplaced = [
        (r.typ, r.name, r.region)
        for r in regional(fargate_stack)
        if r.region != expected_region(fargate_stack, r.name, r.typ)
    ]
    assert misplaced == []
    assert all(r.region is None for r in fargate_stack.custom() if r.typ in GLOBAL_TYPES)


def test_type_and_name_are_unique(fargate_stack: ProgramRun) -> None:
    assert duplicates(fargate_stack) == []


def test_physical_names_do_not_clash_between_the_stacks(eu_fargate: ProgramRun, us_fargate: ProgramRun) -> None:
    def physical(run: ProgramRun) -> list[tuple[str, str | None, str]]:
        names = []
        for r in run.custom():
            name = r.plain.get("name") or r.plain.get("dashboardName") or r.plain.get("family")
            if r.typ == LAMBDA_ALIAS:  # an alias is named within its function: `live` of each one
                name = f"{r.plain['functionName']}:{name}"
            if isinstance(name, str) and not r.plain.get("allowOverwrite"):
                names.append((r.typ, r.region, f"{name}|{r.plain.get('setIdentifier', '')}"))
        return names

    counts = Counter(physical(eu_fargate) + physical(us_fargate))
    assert [item for item, count in counts.items() if count > 1] == []


def test_exports_name_the_regional_and_the_shared_host(fargate_stack: ProgramRun) -> None:
    assert fargate_stack.exports["regionalApiUrl"] == f"https://{fargate_stack.region}.pay.example.com"
    assert fargate_stack.exports["globalUrl"] == "https://pay.example.com"
    assert fargate_stack.exports["tableName"] == "payment-gateway"


def test_no_api_gateway_but_the_resolver_keeps_its_schedule(fargate_stack: ProgramRun) -> None:
    assert fargate_stack.of_type(REST_API) == [] and fargate_stack.of_type(STAGE) == []
    functions = {f.plain["name"] for f in fargate_stack.of_type(FUNCTION)}
    assert functions == {
        "payment-gateway-resolver",
        "payment-gateway-webhook-sender",
        "payment-gateway-bank-simulator",
    }
    rule = fargate_stack.one("aws:cloudwatch/eventRule:EventRule", "functions-resolver-schedule").plain
    assert rule["scheduleExpression"] == "rate(1 minute)"
    alias = live_alias(fargate_stack, "payment-gateway-resolver")
    assert (
        fargate_stack.one("aws:cloudwatch/eventTarget:EventTarget", "functions-resolver-target").plain["arn"]
        == alias.outputs["arn"]
    )
    alarms = {a.name for a in fargate_stack.of_type(ALARM)}
    assert {"monitoring-resolver-errors", "monitoring-oldest-pending", "monitoring-resolver-failures"} <= alarms


def test_the_resolver_is_published_behind_its_alias_and_rolled_out_by_codedeploy(fargate_stack: ProgramRun) -> None:
    """The published functions here, with the webhook sender; the container rolls out by the service's
    circuit breaker instead."""
    resolver = function_by_name(fargate_stack, "payment-gateway-resolver")
    assert resolver.plain["publish"] is True
    assert sorted(a.plain["functionName"] for a in fargate_stack.of_type(LAMBDA_ALIAS)) == [
        "payment-gateway-resolver",
        "payment-gateway-webhook-sender",
    ]
    assert live_alias(fargate_stack, "payment-gateway-resolver").ignore_changes  # CodeDeploy moves it
    assert fargate_stack.one(CODEDEPLOY_APP).plain["computePlatform"] == "Lambda"
    groups = {g.plain["deploymentGroupName"]: g for g in fargate_stack.of_type(DEPLOYMENT_GROUP)}
    assert set(groups) == {routes.RESOLVER.name, routes.WEBHOOK_SENDER.name}
    group = groups[routes.RESOLVER.name]
    prefix = f"payment-gateway-{fargate_stack.region}"
    assert group.plain["deploymentGroupName"] == routes.RESOLVER.name
    # Its own errors, and the API (here the load balancer) answering errors or slowly.
    assert group.plain["alarmConfiguration"]["alarms"] == [
        f"{prefix}-alb-5xx-rate",
        f"{prefix}-alb-p99-response-time",
        f"{prefix}-resolver-errors",
    ]
    assert set(group.plain["alarmConfiguration"]["alarms"]) <= {a.plain["name"] for a in fargate_stack.of_type(ALARM)}
    deployment = fargate_stack.exports["deployment"]
    assert set(deployment["functions"]) == {routes.RESOLVER.name, routes.WEBHOOK_SENDER.name}
    assert deployment["functions"][routes.RESOLVER.name]["deploymentGroup"] == routes.RESOLVER.name


def test_all_at_once_leaves_the_resolver_to_pulumi() -> None:
    run = run_program("eu", {**FARGATE, "payment-gateway:deploymentStrategy": "all-at-once"})
    assert [r for r in run.custom() if r.typ.startswith("aws:codedeploy")] == []
    assert live_alias(run, "payment-gateway-resolver").ignore_changes == []


def test_the_bank_simulator_keeps_its_ledger_in_the_table(fargate_stack: ProgramRun) -> None:
    simulator = function_by_name(fargate_stack, "payment-gateway-bank-simulator")
    assert simulator.plain["environment"]["variables"] == {
        "LOG_LEVEL": "INFO",
        "METRICS_NAMESPACE": "PaymentGateway",
        "TABLE_NAME": "payment-gateway",
    }
    policy = role_policy(fargate_stack, simulator.plain["role"])
    [table] = [st for st in policy["Statement"] if st["Sid"] == "TableItems"]
    assert table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["BANK#*"]


def test_the_table_is_the_same_global_table(eu_fargate: ProgramRun, us_fargate: ProgramRun) -> None:
    assert [r["regionName"] for r in eu_fargate.one("aws:dynamodb/table:Table").plain["replicas"]] == ["us-east-1"]
    assert us_fargate.of_type("aws:dynamodb/table:Table") == []


# --- network -------------------------------------------------------------------------------------


def test_two_zones_with_public_and_private_subnets(fargate_stack: ProgramRun) -> None:
    vpc = fargate_stack.one(VPC).plain
    assert vpc["enableDnsSupport"] and vpc["enableDnsHostnames"]
    private, public = private_subnets(fargate_stack), public_subnets(fargate_stack)
    assert len(private) == len(public) == 2
    for subnets in (private, public):
        zones = [s.plain["availabilityZone"] for s in subnets]
        assert len(set(zones)) == 2 and all(z.startswith(fargate_stack.region) for z in zones)
    assert not any(s.plain["mapPublicIpOnLaunch"] for s in private + public)


def test_private_subnets_reach_out_through_a_nat_gateway_per_zone(fargate_stack: ProgramRun) -> None:
    nats = fargate_stack.of_type(NAT_GATEWAY)
    assert sorted(n.plain["subnetId"] for n in nats) == sorted(resource_id(s) for s in public_subnets(fargate_stack))
    defaults = [r.plain for r in fargate_stack.of_type(ROUTE) if r.plain["destinationCidrBlock"] == "0.0.0.0/0"]
    private_tables = {
        a.plain["routeTableId"]
        for a in fargate_stack.of_type(ROUTE_TABLE_ASSOCIATION)
        if a.plain["subnetId"] in {resource_id(s) for s in private_subnets(fargate_stack)}
    }
    assert len(private_tables) == 2
    for route in defaults:
        if route["routeTableId"] in private_tables:
            assert "natGatewayId" in route and "gatewayId" not in route  # never straight to the internet


def test_nothing_that_needs_the_internet_gateway_is_created_before_it(fargate_stack: ProgramRun) -> None:
    """Nothing in their inputs names the gateway: without depends_on the engine creates them in parallel,
    and a NAT gateway made before the attachment fails (Gateway.NotAttached)."""
    gateway = fargate_stack.one(INTERNET_GATEWAY)
    assert gateway.plain["vpcId"] == resource_id(fargate_stack.one(VPC))  # created attached
    waiting = [*fargate_stack.of_type(NAT_GATEWAY), fargate_stack.one(LOAD_BALANCER)]
    assert len(waiting) == 3
    for resource in waiting:
        assert resource.depends_on(INTERNET_GATEWAY, gateway.name), resource.name


def test_the_service_waits_for_the_private_default_routes(fargate_stack: ProgramRun) -> None:
    """Its first tasks pull the image and secrets through the NAT gateways."""
    service = fargate_stack.one(SERVICE)
    routes_out = [r for r in fargate_stack.of_type(ROUTE) if "natGatewayId" in r.plain]
    assert len(routes_out) == 2
    for route in routes_out:
        assert service.depends_on(ROUTE, route.name), route.name
    assert service.depends_on(LISTENER, "service-https")


def test_dynamodb_and_s3_through_gateway_endpoints(fargate_stack: ProgramRun) -> None:
    endpoints = {e.plain["serviceName"]: e.plain for e in fargate_stack.of_type(VPC_ENDPOINT)}
    region = fargate_stack.region
    assert set(endpoints) == {f"com.amazonaws.{region}.dynamodb", f"com.amazonaws.{region}.s3"}
    private_tables = {
        a.plain["routeTableId"]
        for a in fargate_stack.of_type(ROUTE_TABLE_ASSOCIATION)
        if a.plain["subnetId"] in {resource_id(s) for s in private_subnets(fargate_stack)}
    }
    for endpoint in endpoints.values():
        assert endpoint["vpcEndpointType"] == "Gateway"
        assert set(endpoint["routeTableIds"]) == private_tables


def test_flow_logs_to_an_encrypted_retained_log_group(fargate_stack: ProgramRun) -> None:
    flow = fargate_stack.one(FLOW_LOG).plain
    assert (flow["trafficType"], flow["vpcId"]) == ("ALL", resource_id(fargate_stack.one(VPC)))
    [group_] = [g for g in fargate_stack.of_type(LOG_GROUP) if g.outputs["arn"] == flow["logDestination"]]
    assert group_.plain["kmsKeyId"] and group_.plain["retentionInDays"] >= 365
    policy = role_policy(fargate_stack, flow["iamRoleArn"])
    assert [s["Resource"] for s in statements(policy)] == [[group_.outputs["arn"], group_.outputs["arn"] + ":*"]]


def test_the_default_security_group_allows_nothing(fargate_stack: ProgramRun) -> None:
    default = fargate_stack.one(DEFAULT_SECURITY_GROUP).plain
    assert "ingress" not in default and "egress" not in default


def test_the_load_balancer_reaches_the_tasks_on_the_service_port_only(fargate_stack: ProgramRun) -> None:
    alb, tasks = group(fargate_stack, "alb"), group(fargate_stack, "task")
    assert sorted((r["fromPort"], r["cidrIpv4"]) for r in rules(fargate_stack, INGRESS_RULE, alb)) == [
        (80, "0.0.0.0/0"),
        (443, "0.0.0.0/0"),
    ]
    assert [
        (r["fromPort"], r["toPort"], r["referencedSecurityGroupId"]) for r in rules(fargate_stack, EGRESS_RULE, alb)
    ] == [(spec.PORT, spec.PORT, resource_id(tasks))]
    ingress = rules(fargate_stack, INGRESS_RULE, tasks)
    assert [(r["fromPort"], r["toPort"], r["referencedSecurityGroupId"]) for r in ingress] == [
        (spec.PORT, spec.PORT, resource_id(alb))
    ]


def test_tasks_may_only_call_out_on_https(fargate_stack: ProgramRun) -> None:
    egress = rules(fargate_stack, EGRESS_RULE, group(fargate_stack, "task"))
    assert {(r["ipProtocol"], r["fromPort"], r["toPort"]) for r in egress} == {("tcp", 443, 443)}
    prefix_lists = {r.get("prefixListId") for r in egress} - {None}
    assert prefix_lists == {fargate_stack.one(VPC_ENDPOINT, "network-dynamodb-endpoint").outputs["prefixListId"]}


# --- load balancer and edge ----------------------------------------------------------------------


def test_https_only_with_tls_1_2_or_later_and_http_redirected(fargate_stack: ProgramRun) -> None:
    listeners = {int(listener.plain["port"]): listener.plain for listener in fargate_stack.of_type(LISTENER)}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert (https["protocol"], https["sslPolicy"]) == ("HTTPS", TLS_POLICY)
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"] == fargate_stack.one(CERTIFICATE).outputs["arn"]
    assert https["defaultActions"] == [
        {"type": "forward", "targetGroupArn": fargate_stack.one(TARGET_GROUP).outputs["arn"]}
    ]
    redirect = listeners[80]["defaultActions"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}


def test_the_load_balancer_is_public_drops_invalid_headers_and_logs(fargate_stack: ProgramRun) -> None:
    alb = fargate_stack.one(LOAD_BALANCER).plain
    assert (alb["loadBalancerType"], alb["internal"], alb["dropInvalidHeaderFields"]) == ("application", False, True)
    assert sorted(alb["subnets"]) == sorted(resource_id(s) for s in public_subnets(fargate_stack))
    assert alb["securityGroups"] == [resource_id(group(fargate_stack, "alb"))]
    assert alb["enableDeletionProtection"] is True
    logs = alb["accessLogs"]
    assert logs["enabled"] is True and logs["bucket"] == resource_id(fargate_stack.one(BUCKET))


def test_access_logs_are_versioned_so_an_overwritten_or_deleted_log_stays_recoverable(
    fargate_stack: ProgramRun,
) -> None:
    """Audit logs protected from modification (PCI DSS 10.3.3). Their encryption stays SSE-S3: ELB
    access logs support no other (test below)."""
    versioning = fargate_stack.one(BUCKET_VERSIONING).plain
    assert versioning["bucket"] == resource_id(fargate_stack.one(BUCKET))
    assert versioning["versioningConfiguration"]["status"] == "Enabled"


def test_deletion_protection_of_the_load_balancer_is_configurable() -> None:
    run = run_program("eu", {**FARGATE, "payment-gateway:albDeletionProtection": "false"})
    assert run.one(LOAD_BALANCER).plain["enableDeletionProtection"] is False


def test_access_logs_bucket_is_encrypted_private_expiring_and_writable_by_elb_only(fargate_stack: ProgramRun) -> None:
    bucket = fargate_stack.one(BUCKET)
    encryption = fargate_stack.one(BUCKET_ENCRYPTION).plain
    assert encryption["bucket"] == resource_id(bucket)
    # SSE-S3: the only server-side encryption ALB access logs support.
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = fargate_stack.one(BUCKET_PUBLIC_ACCESS).plain
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert fargate_stack.one(BUCKET_OWNERSHIP).plain["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    [rule] = fargate_stack.one(BUCKET_LIFECYCLE).plain["rules"]
    assert rule["status"] == "Enabled" and rule["expiration"]["days"] == 365
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 365
    policy = fargate_stack.one(BUCKET_POLICY).json("policy")
    write = statement(policy, "ElbWritesAccessLogs")
    assert write is not None
    assert write["Principal"] == {"AWS": f"arn:aws:iam::{ELB_LOG_ACCOUNTS[fargate_stack.region]}:root"}
    assert write["Resource"] == f"{bucket.outputs['arn']}/alb/AWSLogs/{ACCOUNT}/*"
    assert write["Action"] == "s3:PutObject"
    tls = statement(policy, "TlsOnly")
    assert tls is not None and tls["Effect"] == "Deny"


def test_the_target_group_checks_the_shallow_liveness_path_on_the_service_port(fargate_stack: ProgramRun) -> None:
    """DynamoDB slowness must not mark every task unhealthy at once: the deep /health is Route 53's."""
    targets = fargate_stack.one(TARGET_GROUP).plain
    assert (targets["targetType"], targets["protocol"], targets["port"]) == ("ip", "HTTP", spec.PORT)
    assert targets["healthCheck"]["path"] == spec.LIVENESS_PATH != spec.HEALTH_PATH
    assert fargate_stack.one(HEALTH_CHECK).plain["resourcePath"] == spec.HEALTH_PATH
    assert targets["healthCheck"]["matcher"] == "200"


def body_rules(run: ProgramRun) -> tuple[dict[str, Any], dict[str, Any]]:
    """The web ACL's body-size rule and the custom response body it answers with."""
    acl = run.one(WEB_ACL).plain
    rule = {r["name"]: r for r in acl["rules"]}["body-size-limit"]
    key = rule["action"]["block"]["customResponse"]["customResponseBodyKey"]
    return rule, {b["key"]: b for b in acl["customResponseBodies"]}[key]


def test_the_same_web_acl_as_the_lambda_option_on_the_load_balancer(
    eu_fargate: ProgramRun, eu_domain: ProgramRun
) -> None:
    association = eu_fargate.one(WEB_ACL_ASSOCIATION).plain
    assert association["resourceArn"] == eu_fargate.one(LOAD_BALANCER).outputs["arn"]
    assert association["webAclArn"] == eu_fargate.one(WEB_ACL).outputs["arn"]

    def without_body_size(run: ProgramRun) -> list[dict[str, Any]]:
        rules = [dict(r) for r in run.one(WEB_ACL).plain["rules"]]
        for rule in rules:
            if rule["name"] == "body-size-limit":
                rule["statement"] = {"sizeConstraintStatement": {**rule["statement"]["sizeConstraintStatement"]}}
                del rule["statement"]["sizeConstraintStatement"]["size"]
        return rules

    # The same rules, the same order and actions; only the body limit follows what WAF inspects.
    assert without_body_size(eu_fargate) == without_body_size(eu_domain)
    assert [r["name"] for r in eu_fargate.one(WEB_ACL).plain["rules"]] == [
        "rate-limit-per-ip",
        "body-size-limit",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    ]
    assert (
        eu_fargate.one(WEB_ACL_LOGGING).plain["redactedFields"]
        == eu_domain.one(WEB_ACL_LOGGING).plain["redactedFields"]
    )


def test_no_body_reaches_the_tasks_beyond_what_waf_inspected(eu_fargate: ProgramRun, eu_domain: ProgramRun) -> None:
    """WAF sees only the first 8 KB of a body in front of an ALB (16 KB for API Gateway): the limit is
    8 KB there, and a larger body, "oversize", matches the rule (413) instead of passing half-inspected."""
    rule, body = body_rules(eu_fargate)
    size = rule["statement"]["sizeConstraintStatement"]
    assert LOAD_BALANCER_BODY_INSPECTION_BYTES == 8192 < limits.MAX_BODY_BYTES
    assert (size["comparisonOperator"], size["size"]) == ("GT", LOAD_BALANCER_BODY_INSPECTION_BYTES)
    assert size["fieldToMatch"] == {"body": {"oversizeHandling": "MATCH"}}
    assert rule["action"]["block"]["customResponse"]["responseCode"] == 413
    assert json.loads(body["content"]) == {
        "error": {"type": "payload_too_large", "message": "The request body must be at most 8192 bytes."}
    }
    api_rule, api_body = body_rules(eu_domain)
    assert api_rule["statement"]["sizeConstraintStatement"]["size"] == limits.MAX_BODY_BYTES
    assert json.loads(api_body["content"])["error"]["message"] == messages.BODY_TOO_LARGE


def test_dns_aliases_the_load_balancer_with_a_health_checked_latency_record(fargate_stack: ProgramRun) -> None:
    alb = fargate_stack.one(LOAD_BALANCER).outputs
    aliases = {r.plain["name"]: r.plain for r in fargate_stack.of_type(RECORD) if r.plain["type"] == "A"}
    assert set(aliases) == {"pay.example.com", f"{fargate_stack.region}.pay.example.com"}
    for record in aliases.values():
        assert record["aliases"] == [{"name": alb["dnsName"], "zoneId": alb["zoneId"], "evaluateTargetHealth": True}]
    check = fargate_stack.one(HEALTH_CHECK)
    assert (check.plain["fqdn"], check.plain["resourcePath"]) == (
        f"{fargate_stack.region}.pay.example.com",
        spec.HEALTH_PATH,
    )
    latency = aliases["pay.example.com"]
    assert latency["setIdentifier"] == fargate_stack.region and latency["healthCheckId"] == resource_id(check)
    assert [a.region for a in fargate_stack.of_type(ALARM) if a.plain.get("namespace") == "AWS/Route53"] == [
        "us-east-1"
    ]


def test_drain_withdraws_the_latency_record() -> None:
    run = run_program("eu", {**FARGATE, "payment-gateway:drainRegion": "true"})
    assert [r.plain["name"] for r in run.of_type(RECORD) if r.plain["type"] == "A"] == ["eu-west-1.pay.example.com"]
    assert run.one(HEALTH_CHECK).plain["fqdn"] == "eu-west-1.pay.example.com"


# --- image ---------------------------------------------------------------------------------------


def test_the_image_is_built_for_arm64_tagged_by_content_and_pushed_to_this_regions_ecr(
    fargate_stack: ProgramRun,
) -> None:
    repository = fargate_stack.one(REPOSITORY)
    assert repository.plain["imageTagMutability"] == "IMMUTABLE"
    # The stack's own key (the one of its logs and secrets), not ECR's AES256 default.
    key = fargate_stack.one(KEY, "functions-key").outputs["arn"]
    assert repository.plain["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
    assert repository.plain["imageScanningConfiguration"] == {"scanOnPush": True}
    [rule] = json.loads(fargate_stack.one(LIFECYCLE_POLICY).plain["policy"])["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] >= 2
    image = fargate_stack.one(IMAGE).plain
    url = repository.outputs["repositoryUrl"]
    assert f".dkr.ecr.{fargate_stack.region}.amazonaws.com/" in url
    assert image["platforms"] == ["linux/arm64"] and image["push"] is True
    assert image["tags"] == [f"{url}:ctx-{context_hash(ROOT)}"]
    # Relative to the project root (the program's working directory): the same in every checkout.
    assert (image["context"]["location"], image["dockerfile"]["location"]) == (".", spec.DOCKERFILE)
    assert not [text for text in strings(image) if text.startswith("/") or str(ROOT) in text]
    [registry] = image["registries"]
    assert registry["address"] == url.split("/")[0] and registry["username"] == "AWS"
    assert registry["password"] == "ecr-token"  # this region's ECR token, from aws.ecr.get_authorization_token


def strings(value: Any) -> list[str]:
    """Every string inside a resource's inputs."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def test_the_task_runs_the_image_by_digest(fargate_stack: ProgramRun) -> None:
    digest = fargate_stack.one(IMAGE).outputs["digest"]
    url = fargate_stack.one(REPOSITORY).outputs["repositoryUrl"]
    assert container(fargate_stack)["image"] == f"{url}@{digest}"


# --- the service ---------------------------------------------------------------------------------


def test_cluster_with_container_insights(fargate_stack: ProgramRun) -> None:
    assert fargate_stack.one(CLUSTER).plain["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_fargate_arm64_task(fargate_stack: ProgramRun) -> None:
    task = fargate_stack.one(TASK_DEFINITION).plain
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    assert (task["cpu"], task["memory"]) == (str(sizing.TASK_CPU_UNITS), str(sizing.TASK_MEMORY_MB))


def test_read_only_root_filesystem_as_a_non_root_user(fargate_stack: ProgramRun) -> None:
    definition = container(fargate_stack)
    assert definition["readonlyRootFilesystem"] is True
    assert definition["user"] == CONTAINER_USER
    assert definition["user"].split(":")[0] not in {"0", "root"}
    assert definition["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    mounts = [m["containerPath"] for m in definition["mountPoints"]]
    # Each writable path is one the image declares a VOLUME (ECS copies its 1777 mode into the mount).
    assert mounts == list(spec.SCRATCH_PATHS) == ["/tmp"] and set(mounts) <= set(declared_volumes())
    assert definition["portMappings"] == [{"containerPort": spec.PORT, "protocol": "tcp"}]


def test_secrets_come_from_secrets_manager_never_the_environment(fargate_stack: ProgramRun) -> None:
    definition = container(fargate_stack)
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    assert not set(SECRET_VARIABLES) & set(environment)
    assert TEST_FINGERPRINT_KEY not in json.dumps(definition)
    secrets = {s.outputs["arn"]: s for s in fargate_stack.of_type(SECRET)}
    assert {s["name"] for s in definition["secrets"]} == set(SECRET_VARIABLES)
    assert {s["valueFrom"] for s in definition["secrets"]} == set(secrets)
    key = fargate_stack.one(KEY, "functions-key").outputs["arn"]
    assert {s.plain["kmsKeyId"] for s in secrets.values()} == {key}
    versions = {v.plain["secretId"]: v for v in fargate_stack.of_type(SECRET_VERSION)}
    fingerprint = next(s for s in secrets.values() if s.name.endswith("fingerprint-key"))
    version = versions[resource_id(fingerprint)]
    assert is_secret(version.inputs["secretString"]) and version.plain["secretString"] == TEST_FINGERPRINT_KEY


def test_the_task_definition_waits_for_its_secrets_values_and_its_roles_policies(fargate_stack: ProgramRun) -> None:
    """It names only the secrets' and roles' ARNs, which exist first: on an upgrade that adds a secret, tasks
    started before its value or the grant to read it would fail to boot and roll the deployment back."""
    task = fargate_stack.one(TASK_DEFINITION)
    versions = fargate_stack.of_type(SECRET_VERSION)
    assert len(versions) == len(SECRET_VARIABLES)
    for version in versions:
        assert task.depends_on(SECRET_VERSION, version.name), version.name
    roles = {resource_id(role): role.name for role in fargate_stack.of_type(ROLE) if role.name.startswith("service-")}
    policies = [p for p in fargate_stack.of_type(ROLE_POLICY) if p.plain["role"] in roles]
    assert {roles[p.plain["role"]] for p in policies} == {"service-execution-role", "service-task-role"}
    for policy in policies:
        assert task.depends_on(ROLE_POLICY, policy.name), policy.name


def test_the_secrets_recovery_window_is_the_stacks_setting(fargate_stack: ProgramRun) -> None:
    """Fixed names, taken while a deleted secret waits: a test stack re-created within the window would fail."""
    assert {s.plain["recoveryWindowInDays"] for s in fargate_stack.of_type(SECRET)} == {7}
    test_stack = run_program("eu", {**FARGATE, "payment-gateway:secretRecoveryWindowDays": "0"})
    assert {s.plain["recoveryWindowInDays"] for s in test_stack.of_type(SECRET)} == {0}


@pytest.mark.parametrize("days", [-1, 1, 6, 31])
def test_the_container_service_args_refuse_a_recovery_window_secrets_manager_refuses(days: int) -> None:
    domain = CustomDomainArgs(domain_name="pay.example.com", hosted_zone_id="Z1")
    fields: dict[str, Any] = {
        "region": "eu-west-1",
        "network": None,
        "image_ref": "image",
        "repository_arn": "repository",
        "table_arn": "table",
        "table_key_arn": "key",
        "table_access": TableAccess((), (), ()),
        "key_arn": "key",
        "environment": {},
        "edge": EdgeSettings(domain),
    }
    with pytest.raises(ValueError, match="0 or 7-30"):
        ContainerServiceArgs(**fields, secret_recovery_window_days=days)
    assert ContainerServiceArgs(**fields, secret_recovery_window_days=0).secret_recovery_window_days == 0


def test_the_handlers_environment_and_region(fargate_stack: ProgramRun) -> None:
    environment = {e["name"]: e["value"] for e in container(fargate_stack)["environment"]}
    assert environment["AWS_REGION"] == fargate_stack.region
    assert environment["TABLE_NAME"] == "payment-gateway"
    assert {"ALLOWED_CURRENCIES", "BANK_CONNECT_TIMEOUT_MS", "IDEMPOTENCY_LEASE_SECONDS", "LOG_LEVEL"} <= set(
        environment
    )


def test_logs_to_an_encrypted_retained_log_group(fargate_stack: ProgramRun) -> None:
    options = container(fargate_stack)["logConfiguration"]
    assert options["logDriver"] == "awslogs"
    [group_] = [g for g in fargate_stack.of_type(LOG_GROUP) if g.plain["name"] == options["options"]["awslogs-group"]]
    assert options["options"]["awslogs-region"] == fargate_stack.region
    key = fargate_stack.one(KEY, "functions-key").outputs["arn"]
    for log_group in fargate_stack.of_type(LOG_GROUP):
        assert log_group.plain["kmsKeyId"] == key and log_group.plain["retentionInDays"] >= 365, log_group.name
    assert group_ in fargate_stack.of_type(LOG_GROUP)


def test_service_in_private_subnets_without_public_ip_and_a_circuit_breaker(fargate_stack: ProgramRun) -> None:
    service = fargate_stack.one(SERVICE).plain
    network = service["networkConfiguration"]
    assert network["assignPublicIp"] is False
    assert sorted(network["subnets"]) == sorted(resource_id(s) for s in private_subnets(fargate_stack))
    assert network["securityGroups"] == [resource_id(group(fargate_stack, "task"))]
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["launchType"] == "FARGATE"
    assert service["desiredCount"] >= 2
    [balancer] = service["loadBalancers"]
    assert balancer["targetGroupArn"] == fargate_stack.one(TARGET_GROUP).outputs["arn"]
    assert balancer["containerPort"] == spec.PORT


def test_auto_scaling_on_cpu_and_requests_per_target(fargate_stack: ProgramRun) -> None:
    target = fargate_stack.one(SCALING_TARGET).plain
    assert (target["minCapacity"], target["maxCapacity"]) == (sizing.DEFAULT_MIN_TASKS, sizing.DEFAULT_MAX_TASKS)
    assert target["resourceId"] == "service/payment-gateway/payment-gateway-api"
    policies = {
        p.plain["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"][
            "predefinedMetricType"
        ]: p.plain
        for p in fargate_stack.of_type(SCALING_POLICY)
    }
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    requests = policies["ALBRequestCountPerTarget"]["targetTrackingScalingPolicyConfiguration"]
    alb, targets = fargate_stack.one(LOAD_BALANCER).outputs, fargate_stack.one(TARGET_GROUP).outputs
    label = requests["predefinedMetricSpecification"]["resourceLabel"]
    assert label == f"{alb['arnSuffix']}/{targets['arnSuffix']}"
    assert label.startswith("app/") and "/targetgroup/" in label
    assert requests["targetValue"] == sizing.DEFAULT_REQUESTS_PER_TARGET


def test_the_default_fleet_carries_the_design_load_in_one_region() -> None:
    """After a failover, without waiting for a scale-out: 167 req/s at the CPU target."""
    capacity = sizing.DEFAULT_MIN_TASKS * sizing.requests_per_task_per_second()
    assert capacity >= sizing.DESIGN_REQUESTS_PER_SECOND
    assert sizing.DEFAULT_MIN_TASKS >= 2


def test_fleet_and_size_come_from_config() -> None:
    run = run_program(
        "us",
        {
            **FARGATE,
            "payment-gateway:fargateMinTasks": "4",
            "payment-gateway:fargateMaxTasks": "9",
            "payment-gateway:fargateCpu": "1024",
            "payment-gateway:fargateMemoryMb": "2048",
        },
    )
    target = run.one(SCALING_TARGET).plain
    assert (target["minCapacity"], target["maxCapacity"]) == (4, 9)
    assert run.one(SERVICE).plain["desiredCount"] == 4
    task = run.one(TASK_DEFINITION).plain
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    running = next(a for a in run.of_type(ALARM) if a.name == "monitoring-service-running-tasks")
    assert running.plain["threshold"] == 4


# --- least privilege -----------------------------------------------------------------------------


def test_the_task_role_has_exactly_the_served_functions_table_access(fargate_stack: ProgramRun) -> None:
    document = role_policy(fargate_stack, fargate_stack.one(TASK_DEFINITION).plain["taskRoleArn"])
    table = statement(document, "TableItems")
    assert table is not None
    assert table["Action"] == sorted({a for f in SERVED for a in f.table_actions})
    assert table["Resource"] == [f"arn:aws:dynamodb:{fargate_stack.region}:{ACCOUNT}:table/payment-gateway"]
    keys = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert sorted(keys) == sorted({k for f in SERVED for k in f.leading_keys})
    assert not {"PENDING#*", "HEARTBEAT"} & set(keys)  # the resolver's, not the API's
    kms = statement(document, "TableKeyThroughDynamoDb")
    assert kms is not None
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{fargate_stack.region}.amazonaws.com"
    assert [s["Sid"] for s in statements(document)] == ["TableItems", "TableKeyThroughDynamoDb"]
    assert not [a for a in actions(document) if "*" in a]


def test_the_execution_role_pulls_this_image_reads_these_secrets_writes_this_log_group(
    fargate_stack: ProgramRun,
) -> None:
    task = fargate_stack.one(TASK_DEFINITION).plain
    document = role_policy(fargate_stack, task["executionRoleArn"])
    pull = statement(document, "PullImage")
    assert pull is not None and pull["Resource"] == [fargate_stack.one(REPOSITORY).outputs["arn"]]
    secrets = statement(document, "ReadSecrets")
    assert secrets is not None
    assert sorted(secrets["Resource"]) == sorted(s.outputs["arn"] for s in fargate_stack.of_type(SECRET))
    logs = statement(document, "OwnLogGroup")
    group_name = container(fargate_stack)["logConfiguration"]["options"]["awslogs-group"]
    [log_group] = [g for g in fargate_stack.of_type(LOG_GROUP) if g.plain["name"] == group_name]
    assert logs is not None and logs["Resource"] == [log_group.outputs["arn"] + ":*"]
    star = [s["Sid"] for s in statements(document) if s["Resource"] == "*"]
    assert star == ["EcrToken"]  # GetAuthorizationToken takes no resource
    assert task["taskRoleArn"] != task["executionRoleArn"]


def test_task_roles_can_be_assumed_by_ecs_tasks_of_this_account_only(fargate_stack: ProgramRun) -> None:
    task = fargate_stack.one(TASK_DEFINITION).plain
    roles = {r.outputs["arn"]: r for r in fargate_stack.of_type("aws:iam/role:Role")}
    for arn in (task["taskRoleArn"], task["executionRoleArn"]):
        [trust] = json.loads(roles[arn].plain["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


# --- monitoring ----------------------------------------------------------------------------------


def alarms(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {a.name.removeprefix("monitoring-"): a.plain for a in run.of_type(ALARM)}


def test_load_balancer_and_service_alarms(fargate_stack: ProgramRun) -> None:
    found = alarms(fargate_stack)
    alb, targets = fargate_stack.one(LOAD_BALANCER).outputs, fargate_stack.one(TARGET_GROUP).outputs
    rate = found["alb-5xx-rate"]
    metrics = {q["metric"]["metricName"] for q in rate["metricQueries"] if "metric" in q}
    assert metrics == {"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "RequestCount"}
    assert {q["metric"]["dimensions"]["LoadBalancer"] for q in rate["metricQueries"] if "metric" in q} == {
        alb["arnSuffix"]
    }
    p99 = found["alb-p99-response-time"]
    assert (p99["metricName"], p99["extendedStatistic"], p99["threshold"]) == ("TargetResponseTime", "p99", 1.0)
    assert p99["dimensions"] == {"LoadBalancer": alb["arnSuffix"], "TargetGroup": targets["arnSuffix"]}
    unhealthy = found["alb-unhealthy-targets"]
    assert (unhealthy["metricName"], unhealthy["threshold"]) == ("UnHealthyHostCount", 1)
    dims = {"ClusterName": "payment-gateway", "ServiceName": "payment-gateway-api"}
    for key, metric in (("service-cpu", "CPUUtilization"), ("service-memory", "MemoryUtilization")):
        assert (found[key]["namespace"], found[key]["metricName"], found[key]["dimensions"]) == (
            "AWS/ECS",
            metric,
            dims,
        )
    running = found["service-running-tasks"]
    assert (running["namespace"], running["metricName"]) == ("ECS/ContainerInsights", "RunningTaskCount")
    assert (running["comparisonOperator"], running["threshold"]) == ("LessThanThreshold", sizing.DEFAULT_MIN_TASKS)
    assert running["treatMissingData"] == "breaching"
    assert not [k for k in found if k.startswith("api-")]  # no API Gateway to watch


def test_the_5xx_rate_counts_a_minute_of_target_errors_alone(fargate_stack: ProgramRun) -> None:
    """The ALB reports HTTPCode_* only when non-zero: a minute in which only the tasks answered 5xx
    has no ELB datapoint, and the rate must still be there (this alarm also rolls deployments back)."""
    queries = alarms(fargate_stack)["alb-5xx-rate"]["metricQueries"]
    metric_ids = {q["metric"]["metricName"]: q["id"] for q in queries if "metric" in q}
    [rate] = [q["expression"] for q in queries if q.get("returnData")]
    elb, target = (metric_ids[f"HTTPCode_{who}_5XX_Count"] for who in ("ELB", "Target"))
    requests = metric_ids["RequestCount"]
    minute = {elb: None, target: 5.0, requests: 100.0}
    assert metric_math(rate, minute) == 5.0
    assert metric_math(rate, {**minute, elb: 2.0, target: None}) == 2.0
    assert metric_math(rate, {elb: None, target: None, requests: 100.0}) == 0.0


def test_every_alarm_notifies_the_topic_of_its_region(fargate_stack: ProgramRun) -> None:
    topics = {t.region: t.outputs["arn"] for t in fargate_stack.of_type(TOPIC)}
    for alarm in fargate_stack.of_type(ALARM):
        assert alarm.plain["alarmActions"] == alarm.plain["okActions"] == [topics[alarm.region or ""]]


def test_the_dashboard_shows_the_load_balancer_and_the_service(fargate_stack: ProgramRun) -> None:
    body = fargate_stack.one(DASHBOARD).plain["dashboardBody"]
    for metric in ("TargetResponseTime", "HTTPCode_Target_5XX_Count", "UnHealthyHostCount", "RunningTaskCount"):
        assert f'"{metric}"' in body
    assert '"CPUUtilization"' in body and '"MemoryUtilization"' in body
    assert "AWS/ApiGateway" not in body
