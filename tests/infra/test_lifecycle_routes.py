"""The payment lifecycle's routes (capture, void, refunds) reach every piece of both compute options.

Each piece is built from `handlers.contract.routes`; these tests name the new routes and functions
explicitly, so a piece that stopped following the table (or a route dropped from it) fails here:
API Gateway's nested resources and methods, the functions, their exact IAM, the resolver's new
partitions, the alarms and deployments per function, WAF over every path, and the container's routing.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.regional_gateway import route_functions
from handlers.contract import routes
from proxy_gateway.routing import Router
from tests.infra.helpers import (
    ALARM,
    API_RESOURCE,
    DASHBOARD,
    DEPLOYMENT_GROUP,
    FUNCTION,
    INTEGRATION,
    LISTENER,
    METHOD,
    PERMISSION,
    TASK_DEFINITION,
    WEB_ACL,
    function_by_name,
    function_policy,
    live_alias,
    role_policy,
    statement,
)
from tests.infra.mocks import ACCOUNT
from tests.infra.program import ProgramRun

# (method, path, function) as issue 17 specifies them: the table must keep saying so.
LIFECYCLE_ROUTES = [
    ("POST", "/v1/payments/{id}/capture", routes.CAPTURE_PAYMENT),
    ("POST", "/v1/payments/{id}/void", routes.VOID_PAYMENT),
    ("POST", "/v1/payments/{id}/refunds", routes.CREATE_REFUND),
    ("GET", "/v1/payments/{id}/refunds", routes.LIST_REFUNDS),
]
LIFECYCLE_FUNCTIONS = [routes.CAPTURE_PAYMENT, routes.VOID_PAYMENT, routes.CREATE_REFUND, routes.LIST_REFUNDS]
# Capture, void and refund read the payment with its operations, claim and write the operation,
# reread a claim: never UpdateItem, DeleteItem or Scan; listing refunds only queries.
WRITERS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")


def _name(fn: routes.Function) -> str:
    return f"payment-gateway-{fn.name}"


def test_the_route_table_declares_the_lifecycle() -> None:
    declared = {(r.method, r.path): r for r in routes.ROUTES}
    for method, path, fn in LIFECYCLE_ROUTES:
        assert declared[(method, path)].function == fn and declared[(method, path)].authorized
    assert [fn.table_actions for fn in LIFECYCLE_FUNCTIONS] == [WRITERS, WRITERS, WRITERS, ("dynamodb:Query",)]
    assert {fn.leading_keys for fn in LIFECYCLE_FUNCTIONS} == {("MERCHANT#*",)}
    assert [fn.calls_bank and fn.fingerprints for fn in LIFECYCLE_FUNCTIONS] == [True, True, True, False]


# --- API Gateway ---------------------------------------------------------------------------------


def test_nested_resources_under_the_payment(any_stack: ProgramRun) -> None:
    resources = {r.name: r.plain for r in any_stack.of_type(API_RESOURCE)}
    payment = "gateway-resource-v1-payments-id"
    assert resources[payment]["pathPart"] == "{id}"
    for part in ("capture", "void", "refunds"):
        child = resources[f"{payment}-{part}"]
        assert (child["pathPart"], child["parentId"]) == (part, f"{payment}-id")
    # One resource per path: GET and POST /refunds share it.
    assert len([r for r in resources.values() if r["pathPart"] == "refunds"]) == 1


@pytest.mark.parametrize(("method", "path", "fn"), LIFECYCLE_ROUTES)
def test_each_route_is_an_authorized_method_invoking_its_functions_alias(
    any_stack: ProgramRun, method: str, path: str, fn: routes.Function
) -> None:
    slug = f"{method.lower()}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}"
    api_method = any_stack.one(METHOD, f"gateway-method-{slug}").plain
    resource_id = f"gateway-resource-{slug.split('-', 1)[1]}-id"
    assert (api_method["httpMethod"], api_method["resourceId"]) == (method, resource_id)
    assert api_method["authorization"] == "CUSTOM" and api_method["authorizerId"] == "gateway-authorizer-id"
    assert api_method["requestParameters"] == {"method.request.path.id": True}
    integration = any_stack.one(INTEGRATION, f"gateway-integration-{slug}").plain
    assert integration["type"] == "AWS_PROXY" and integration["resourceId"] == resource_id
    assert integration["uri"] == live_alias(any_stack, _name(fn)).outputs["invokeArn"]
    permission = any_stack.one(PERMISSION, f"gateway-permission-{slug}").plain
    assert (permission["function"], permission["qualifier"]) == (_name(fn), "live")
    tail = path.removeprefix("/v1/payments/{id}")
    assert permission["sourceArn"].endswith(f"/*/{method}/v1/payments/*{tail}")


# --- the functions and their least privilege --------------------------------------------------------


@pytest.mark.parametrize("fn", LIFECYCLE_FUNCTIONS, ids=lambda fn: fn.name)
def test_each_function_with_exactly_its_table_access(any_stack: ProgramRun, fn: routes.Function) -> None:
    function = function_by_name(any_stack, _name(fn))
    assert function.plain["handler"] == fn.handler
    table = statement(function_policy(any_stack, function), "TableItems")
    assert table is not None
    assert table["Action"] == sorted(fn.table_actions)
    assert table["Resource"] == [f"arn:aws:dynamodb:{any_stack.region}:{ACCOUNT}:table/payment-gateway"]
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["MERCHANT#*"]}}
    variables = function.plain["environment"]["variables"]
    assert ("BANK_URL" in variables, "FINGERPRINT_KEY" in variables) == (fn.calls_bank, fn.fingerprints)


def test_the_resolver_may_touch_the_operation_and_expiry_partitions(any_stack: ProgramRun) -> None:
    resolver = function_by_name(any_stack, _name(routes.RESOLVER))
    table = statement(function_policy(any_stack, resolver), "TableItems")
    assert table is not None
    keys = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert {"OPERATION#*", "EXPIRY#*"} <= set(keys) and keys == list(routes.RESOLVER.leading_keys)
    assert [r.rsplit("/", 1)[-1] for r in table["Resource"][1:]] == list(routes.RESOLVER.indexes)
    # No API function gets them: operations and expiries are found through the resolver's index only.
    for fn in route_functions(routes.ROUTES):
        api_table = statement(function_policy(any_stack, function_by_name(any_stack, _name(fn))), "TableItems")
        assert api_table is not None
        api_keys = api_table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert not {"OPERATION#*", "EXPIRY#*"} & set(api_keys)


# --- monitoring and rollout --------------------------------------------------------------------------


def _alarms(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {a.plain["name"].removeprefix(f"payment-gateway-{run.region}-"): a.plain for a in run.of_type(ALARM)}


@pytest.mark.parametrize("fn", LIFECYCLE_FUNCTIONS, ids=lambda fn: fn.name)
def test_each_function_has_the_alarms_the_others_have(any_stack: ProgramRun, fn: routes.Function) -> None:
    alarms = _alarms(any_stack)
    dims = {"FunctionName": _name(fn)}
    for suffix, metric in (("errors", "Errors"), ("throttles", "Throttles"), ("duration-p99", "Duration")):
        alarm = alarms[f"{fn.name}-{suffix}"]
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == ("AWS/Lambda", metric, dims)
    five_xx = alarms[f"{fn.name}-5xx-rate"]["metricQueries"]
    assert five_xx[0]["metric"]["dimensions"] == {**dims, "StatusClass": "5xx"}
    assert five_xx[1]["metric"]["dimensions"] == dims
    # The same set as create-payment's, alarm for alarm.
    assert {k.removeprefix(fn.name) for k in alarms if k.startswith(f"{fn.name}-")} == {
        k.removeprefix(routes.CREATE_PAYMENT.name) for k in alarms if k.startswith(f"{routes.CREATE_PAYMENT.name}-")
    }


def test_each_function_is_rolled_out_and_rolled_back_by_its_own_alarms(eu: ProgramRun) -> None:
    groups = {g.plain["deploymentGroupName"]: g.plain for g in eu.of_type(DEPLOYMENT_GROUP)}
    for fn in LIFECYCLE_FUNCTIONS:
        alarms = groups[fn.name]["alarmConfiguration"]["alarms"]
        assert f"payment-gateway-eu-west-1-{fn.name}-errors" in alarms
        assert f"payment-gateway-eu-west-1-{fn.name}-5xx-rate" in alarms


def test_the_dashboard_graphs_the_new_functions(any_stack: ProgramRun) -> None:
    body = any_stack.one(DASHBOARD).json("dashboardBody")
    [graph] = [w for w in body["widgets"] if w["properties"]["title"] == "Lambda errors and throttles"]
    graphed = {m[3] for m in graph["properties"]["metrics"]}
    assert {_name(fn) for fn in LIFECYCLE_FUNCTIONS} <= graphed


# --- WAF: no rule is scoped by path, so every route is covered -------------------------------------------


def _paths_named(value: Any) -> bool:
    """Whether a rule statement looks at the URI path anywhere (a scope-down or an allow-list)."""
    if isinstance(value, dict):
        return "uriPath" in value or any(_paths_named(v) for v in value.values())
    if isinstance(value, list):
        return any(_paths_named(v) for v in value)
    return False


@pytest.mark.parametrize("variant", ["eu", "eu_domain", "eu_fargate", "us_fargate"])
def test_waf_rules_apply_to_every_route_in_both_compute_options(request: pytest.FixtureRequest, variant: str) -> None:
    run: ProgramRun = request.getfixturevalue(variant)
    acl = run.one(WEB_ACL).plain
    assert acl["defaultAction"] == {"allow": {}}
    for rule in acl["rules"]:
        assert not _paths_named(rule["statement"]), rule["name"]
    size = next(r for r in acl["rules"] if r["name"] == "body-size-limit")["statement"]
    assert set(size) == {"sizeConstraintStatement"}  # every POST body, /capture and /refunds included


# --- the container option ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "fn"), LIFECYCLE_ROUTES)
def test_the_container_dispatches_each_route_to_its_function(method: str, path: str, fn: routes.Function) -> None:
    """The image serves routes.ROUTES through proxy_gateway's Router (container/wsgi.py create_api)."""
    match = Router(routes.ROUTES).match(method, path.replace("{id}", "pay_123"))
    assert match is not None
    assert (match.route.function, match.path_parameters) == (fn, {"id": "pay_123"})


def test_the_load_balancer_forwards_every_path_to_the_tasks(fargate_stack: ProgramRun) -> None:
    listeners = [listener.plain for listener in fargate_stack.of_type(LISTENER)]
    https = next(listener for listener in listeners if listener["protocol"] == "HTTPS")
    assert [a["type"] for a in https["defaultActions"]] == ["forward"]
    assert not [r for r in fargate_stack.custom() if r.typ == "aws:lb/listenerRule:ListenerRule"]


def test_the_task_role_covers_the_new_functions_but_not_the_resolvers_partitions(fargate_stack: ProgramRun) -> None:
    document = role_policy(fargate_stack, fargate_stack.one(TASK_DEFINITION).plain["taskRoleArn"])
    table = statement(document, "TableItems")
    assert table is not None
    # UpdateItem and DeleteItem: the webhook endpoints' routes (rotate, enable, delete) and a resend.
    served = {action for route in routes.ROUTES for action in route.function.table_actions}
    assert set(WRITERS) <= set(table["Action"]) == served
    keys = table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert "MERCHANT#*" in keys and not {"OPERATION#*", "EXPIRY#*", "PENDING#*"} & set(keys)


def test_no_lambda_function_serves_a_route_with_compute_fargate(fargate_stack: ProgramRun) -> None:
    names = {f.plain["name"] for f in fargate_stack.of_type(FUNCTION)}
    assert not {_name(fn) for fn in LIFECYCLE_FUNCTIONS} & names
    assert not {a for a in _alarms(fargate_stack) if a.startswith(tuple(fn.name for fn in LIFECYCLE_FUNCTIONS))}
