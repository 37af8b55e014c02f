"""Safe deployments: published versions behind the `live` alias, CodeDeploy groups with their
rollback alarms, the all-at-once opt-out, and optional code signing."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pulumi
import pytest

from components.code_signing import CodeSigningArgs, signed_location
from components.deployments import (
    DEFAULT_STRATEGY,
    DEPLOYMENT_STRATEGIES,
    LiveFunction,
    SafeDeployments,
    SafeDeploymentsArgs,
)
from components.regional_gateway import DeployedFunction, route_functions
from handlers.contract import routes
from tests.infra.conftest import run
from tests.infra.helpers import (
    ALARM,
    BUCKET,
    BUCKET_OBJECT,
    CODE_SIGNING_CONFIG,
    CODEDEPLOY_APP,
    DEPLOYMENT_GROUP,
    FUNCTION,
    INTEGRATION,
    LAMBDA_ALIAS,
    PERMISSION,
    ROLE,
    ROLE_POLICY,
    SIGNING_JOB,
    SIGNING_PROFILE,
    function_by_name,
    live_alias,
)
from tests.infra.mocks import ACCOUNT, RecordingMocks
from tests.infra.program import ProgramRun, run_program

PUBLISHED = [*route_functions(routes.ROUTES), routes.AUTHORIZER, routes.RESOLVER, routes.WEBHOOK_SENDER]
ROUTE_ROLES = {fn.name for fn in route_functions(routes.ROUTES)}
STRATEGY = "payment-gateway:deploymentStrategy"
SIGNING = "payment-gateway:codeSigningProfile"


def name_of(role: str) -> str:
    return f"payment-gateway-{role}"


def alarm_name(region: str, key: str) -> str:
    return f"payment-gateway-{region}-{key}"


# --- published versions behind the live alias ----------------------------------------------------


def test_every_invoked_function_is_published_behind_a_live_alias(any_stack: ProgramRun) -> None:
    for fn in PUBLISHED:
        function = function_by_name(any_stack, name_of(fn.name))
        alias = live_alias(any_stack, name_of(fn.name))
        assert function.plain["publish"] is True, fn.name
        assert alias.plain["functionVersion"] == function.outputs["version"] != "$LATEST"
        assert alias.region == any_stack.region
    simulator = function_by_name(any_stack, name_of(routes.BANK_SIMULATOR.name))
    assert not simulator.plain.get("publish")  # a test double behind its URL, on $LATEST
    assert len(any_stack.of_type(LAMBDA_ALIAS)) == len(PUBLISHED)


def test_api_gateway_and_eventbridge_invoke_only_the_alias(any_stack: ProgramRun) -> None:
    aliases = {fn.name: live_alias(any_stack, name_of(fn.name)).outputs for fn in PUBLISHED}
    by_uri = {aliases[fn]["invokeArn"]: fn for fn in aliases}
    integrations = [i.plain["uri"] for i in any_stack.of_type(INTEGRATION)]
    assert sorted(by_uri[uri] for uri in integrations) == sorted(r.function.name for r in routes.ROUTES)
    authorizer = any_stack.one("aws:apigateway/authorizer:Authorizer").plain
    assert authorizer["authorizerUri"] == aliases[routes.AUTHORIZER.name]["invokeArn"]
    target = any_stack.one("aws:cloudwatch/eventTarget:EventTarget", "gateway-resolver-target").plain
    assert target["arn"] == aliases[routes.RESOLVER.name]["arn"]


def test_invoke_permissions_are_granted_on_the_alias(any_stack: ProgramRun) -> None:
    """A permission on the unqualified function would not let API Gateway invoke the alias."""
    published = {name_of(fn.name) for fn in PUBLISHED}
    permissions = [p.plain for p in any_stack.of_type(PERMISSION) if p.plain["function"] in published]
    principals = {p["principal"] for p in permissions}
    assert principals == {"apigateway.amazonaws.com", "events.amazonaws.com"}
    assert len(permissions) == len(routes.ROUTES) + 3  # one per route, the authorizer, the two schedules
    assert {p.get("qualifier") for p in permissions} == {"live"}
    granted = {p["function"] for p in permissions}
    assert granted == published


def test_pulumi_leaves_the_alias_where_codedeploy_put_it(eu: ProgramRun) -> None:
    """Otherwise every `pulumi up` would flip all traffic to the new version at once, before any canary."""
    for alias in eu.of_type(LAMBDA_ALIAS):
        assert sorted(alias.ignore_changes) == ["functionVersion", "routingConfig"], alias.name


def test_all_at_once_lets_pulumi_move_the_alias_and_creates_no_codedeploy() -> None:
    run_ = run_program("eu", {STRATEGY: "all-at-once"})
    assert all(alias.ignore_changes == [] for alias in run_.of_type(LAMBDA_ALIAS))
    assert [r for r in run_.custom() if r.typ.startswith("aws:codedeploy")] == []
    deployment = run_.exports["deployment"]
    assert (deployment["strategy"], deployment["deploymentConfig"], deployment["application"]) == (
        "all-at-once",
        None,
        None,
    )
    assert {f["deploymentGroup"] for f in deployment["functions"].values()} == {None}


def test_the_unpublished_simulator_has_no_alias_to_hand_out() -> None:
    unpublished = DeployedFunction(spec=routes.BANK_SIMULATOR, function=None, role=None, log_group=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not published"):
        _ = unpublished.live


# --- CodeDeploy ---------------------------------------------------------------------------------


def expected_alarms(region: str, role: str) -> list[str]:
    keys = ["api-5xx-rate", "api-p99-latency"]
    keys += [] if role == routes.AUTHORIZER.name else [f"{role}-errors"]  # it raises Unauthorized per bad key
    keys += [f"{role}-5xx-rate"] if role in ROUTE_ROLES else []
    return [alarm_name(region, key) for key in keys]


@pytest.mark.parametrize("stack", ["eu", "us"])
def test_a_deployment_group_per_function_canary_by_default_rolled_back_by_its_alarms(stack: str) -> None:
    run_ = run_program(stack)
    app = run_.one(CODEDEPLOY_APP).plain
    assert (app["computePlatform"], app["name"], app["region"]) == ("Lambda", "payment-gateway", run_.region)
    groups = {g.plain["deploymentGroupName"]: g.plain for g in run_.of_type(DEPLOYMENT_GROUP)}
    assert set(groups) == {fn.name for fn in PUBLISHED}
    alarms = {a.plain["name"] for a in run_.of_type(ALARM)}
    role_arn = run_.one(ROLE, "deployments-role").outputs["arn"]
    for role, group in groups.items():
        assert group["appName"] == "payment-gateway" and group["serviceRoleArn"] == role_arn
        assert group["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
        assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
        configured = group["alarmConfiguration"]
        assert configured["enabled"] is True and configured["ignorePollAlarmFailure"] is False
        assert configured["alarms"] == expected_alarms(run_.region, role), role
        assert set(configured["alarms"]) <= alarms  # the very alarms Monitoring created
        rollback = group["autoRollbackConfiguration"]
        assert rollback["enabled"] is True
        assert sorted(rollback["events"]) == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


def test_codedeploy_may_move_only_these_aliases_and_read_only_these_alarms(eu: ProgramRun) -> None:
    role = eu.one(ROLE, "deployments-role")
    trust = json.loads(role.plain["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "codedeploy.amazonaws.com"}]
    [policy] = [p for p in eu.of_type(ROLE_POLICY) if p.plain["role"] == role.outputs["id"]]
    statements = {s["Sid"]: s for s in json.loads(policy.plain["policy"])["Statement"]}
    assert set(statements) == {"ShiftLiveAliasTraffic", "ReadVersionsProvisionedConcurrency", "ReadRollbackAlarms"}
    shift = statements["ShiftLiveAliasTraffic"]
    assert shift["Action"] == ["lambda:GetAlias", "lambda:UpdateAlias"]
    functions = [f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name_of(fn.name)}" for fn in PUBLISHED]
    assert shift["Resource"] == sorted(functions + [f"{arn}:live" for arn in functions])
    # GetProvisionedConcurrencyConfig requires a qualifier: it is authorized on `function:NAME:<version>`.
    versions = statements["ReadVersionsProvisionedConcurrency"]
    assert versions["Action"] == ["lambda:GetProvisionedConcurrencyConfig"]
    assert versions["Resource"] == sorted(f"{arn}:*" for arn in functions)
    for arn in functions:
        assert any(fnmatch.fnmatchcase(f"{arn}:7", pattern) for pattern in versions["Resource"])
    read = statements["ReadRollbackAlarms"]
    assert read["Action"] == ["cloudwatch:DescribeAlarms"]
    names = {name for fn in PUBLISHED for name in expected_alarms("eu-west-1", fn.name)}
    assert read["Resource"] == sorted(f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{n}" for n in names)


def deploy_groups(mocks: RecordingMocks, config: str) -> dict[str, dict[str, Any]]:
    def program() -> pulumi.Output[str]:
        deployments = SafeDeployments(
            "deployments",
            SafeDeploymentsArgs(
                region="eu-west-1",
                deployment_config=config,
                functions={"health": LiveFunction("pg-health", "live", ["pg-api-5xx-rate"])},
            ),
        )
        return deployments.application_name

    run(program)
    return {g.plain["deploymentGroupName"]: g.plain for g in mocks.of_type(DEPLOYMENT_GROUP)}


@pytest.mark.parametrize("strategy", sorted(s for s, c in DEPLOYMENT_STRATEGIES.items() if c))
def test_each_gradual_strategy_is_codedeploys_predefined_config(mocks: RecordingMocks, strategy: str) -> None:
    config = DEPLOYMENT_STRATEGIES[strategy]
    assert config is not None
    groups = deploy_groups(mocks, config)
    assert groups["health"]["deploymentConfigName"] == config
    # The names follow CodeDeploy's: canary-10-percent-5-minutes -> LambdaCanary10Percent5Minutes.
    words = strategy.replace("-percent", "Percent").replace("-every", "Every").replace("-minute", "Minute")
    assert config.lower().replace("codedeploydefault.lambda", "") == words.replace("-", "").lower()


def test_the_default_strategy_is_a_5_minute_10_percent_canary() -> None:
    assert DEPLOYMENT_STRATEGIES[DEFAULT_STRATEGY] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"


def test_a_linear_strategy_reaches_every_group() -> None:
    run_ = run_program("us", {STRATEGY: "linear-10-percent-every-2-minutes"})
    configs = {g.plain["deploymentConfigName"] for g in run_.of_type(DEPLOYMENT_GROUP)}
    assert configs == {"CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"}


@pytest.mark.parametrize(
    ("config", "alarms", "message"),
    [
        ("CodeDeployDefault.LambdaAllAtOnce", ["a"], "not a CodeDeploy Lambda canary or linear"),
        ("CodeDeployDefault.OneAtATime", ["a"], "not a CodeDeploy Lambda canary or linear"),
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", [], "1..10 alarms"),  # nothing would roll it back
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", [f"a{i}" for i in range(11)], "1..10 alarms"),
    ],
)
def test_deployment_settings_codedeploy_would_refuse_are_refused(config: str, alarms: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SafeDeploymentsArgs(
            region="eu-west-1", deployment_config=config, functions={"h": LiveFunction("h", "live", alarms)}
        )


def test_one_alias_name_and_at_least_one_function() -> None:
    config = DEPLOYMENT_STRATEGIES[DEFAULT_STRATEGY] or ""
    two = {"a": LiveFunction("a", "live", ["x"]), "b": LiveFunction("b", "prod", ["x"])}
    with pytest.raises(ValueError, match="one alias name"):
        SafeDeploymentsArgs(region="eu-west-1", deployment_config=config, functions=two)
    with pytest.raises(ValueError, match="no functions"):
        SafeDeploymentsArgs(region="eu-west-1", deployment_config=config, functions={})


def test_the_stack_exports_what_the_deploy_tool_rolls_out(eu: ProgramRun) -> None:
    deployment = eu.exports["deployment"]
    assert deployment["strategy"] == DEFAULT_STRATEGY
    assert deployment["deploymentConfig"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert deployment["application"] == "payment-gateway"
    assert set(deployment["functions"]) == {fn.name for fn in PUBLISHED}
    for role, target in deployment["functions"].items():
        function = function_by_name(eu, name_of(role))
        assert target == {
            "functionName": name_of(role),
            "alias": "live",
            "version": function.outputs["version"],
            "deploymentGroup": role,
            "alarms": expected_alarms("eu-west-1", role),
        }


# --- per-function 5xx answers -------------------------------------------------------------------


def test_each_route_function_alarms_on_its_5xx_answers(eu: ProgramRun) -> None:
    alarms = {a.plain["name"]: a.plain for a in eu.of_type(ALARM)}
    for fn in route_functions(routes.ROUTES):
        alarm = alarms[alarm_name("eu-west-1", f"{fn.name}-5xx-rate")]
        queries = {q["id"]: q for q in alarm["metricQueries"]}
        errors, answers = queries["errors"]["metric"], queries["answers"]["metric"]
        assert (errors["namespace"], errors["metricName"]) == ("PaymentGateway", "Responses")
        assert errors["dimensions"] == {"FunctionName": name_of(fn.name), "StatusClass": "5xx"}
        assert answers["dimensions"] == {"FunctionName": name_of(fn.name)}
        assert "FILL(errors, 0)" in queries["rate"]["expression"]
        assert alarm["threshold"] == 1.0 and alarm["treatMissingData"] == "notBreaching"
    for role in (routes.AUTHORIZER.name, routes.RESOLVER.name):  # neither answers through the entry point
        assert alarm_name("eu-west-1", f"{role}-5xx-rate") not in alarms


# --- code signing ---------------------------------------------------------------------------------


def test_without_code_signing_the_archive_is_uploaded_directly(eu: ProgramRun) -> None:
    signing_types = (BUCKET, BUCKET_OBJECT, SIGNING_JOB, SIGNING_PROFILE, CODE_SIGNING_CONFIG)
    assert [r.typ for r in eu.custom() if r.typ in signing_types] == []
    for function in eu.of_type(FUNCTION):
        assert "code" in function.plain and "codeSigningConfigArn" not in function.plain
        assert "s3Key" not in function.plain


def assert_signed_deploys(run_: ProgramRun, profile_name: str, version_arn: str) -> None:
    bucket = run_.one(BUCKET).outputs["bucket"]
    unsigned = run_.one(BUCKET_OBJECT)
    assert (unsigned.plain["bucket"], unsigned.plain["key"]) == (bucket, "unsigned/lambda.zip")
    job = run_.one(SIGNING_JOB)
    assert job.plain["profileName"] == profile_name
    assert job.plain["source"]["s3"] == {
        "bucket": bucket,
        "key": "unsigned/lambda.zip",
        "version": unsigned.outputs["versionId"],
    }
    assert job.plain["destination"]["s3"] == {"bucket": bucket, "prefix": "signed/"}
    config = run_.one(CODE_SIGNING_CONFIG)
    assert config.plain["policies"] == {"untrustedArtifactOnDeployment": "Enforce"}
    assert config.plain["allowedPublishers"] == {"signingProfileVersionArns": [version_arn]}
    [signed] = job.outputs["signedObjects"][0]["s3s"]
    for function in run_.of_type(FUNCTION):  # every one, the simulator too: all run the same archive
        f = function.plain
        assert (f["s3Bucket"], f["s3Key"], f["codeSigningConfigArn"]) == (
            signed["bucket"],
            signed["key"],
            config.outputs["arn"],
        )
        assert "code" not in f
    assert {r.region for r in run_.custom() if r.typ.split(":")[1].split("/")[0] in {"s3", "signer"}} == {run_.region}


def test_code_signing_with_a_profile_the_stack_creates() -> None:
    run_ = run_program("eu", {SIGNING: "create"})
    profile = run_.one(SIGNING_PROFILE)
    assert profile.plain["platformId"] == "AWSLambda-SHA384-ECDSA"
    assert profile.plain["namePrefix"] == "payment_gateway_"  # Signer names: letters, digits, underscores
    assert_signed_deploys(run_, profile.outputs["name"], profile.outputs["versionArn"])
    bucket = run_.one(BUCKET).plain
    assert bucket["bucketPrefix"] == "payment-gateway-code-"
    versioning = run_.one("aws:s3/bucketVersioning:BucketVersioning").plain
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}  # Signer signs an object version
    block = run_.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").plain
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_code_signing_with_an_existing_profile_looks_it_up() -> None:
    run_ = run_program("us", {SIGNING: "security_team_lambda"})
    assert run_.of_type(SIGNING_PROFILE) == []
    lookups = [args for token, args in run_.mocks.calls if token == "aws:signer/getSigningProfile:getSigningProfile"]
    assert lookups == [{"name": "security_team_lambda", "region": "us-east-1"}]
    arn = f"arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/security_team_lambda"
    assert_signed_deploys(run_, "security_team_lambda", f"{arn}/looked-up")


@pytest.mark.parametrize("profile", ["", "a", "has-hyphens", "x" * 65, "with space"])
def test_a_profile_name_signer_would_refuse_is_refused(profile: str) -> None:
    with pytest.raises(ValueError, match="signing profile"):
        CodeSigningArgs(region="eu-west-1", archive=pulumi.StringAsset(""), profile=profile)


def test_a_signing_job_must_have_written_exactly_one_object() -> None:
    with pytest.raises(ValueError, match="one signed object"):
        signed_location([])
