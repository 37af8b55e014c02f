"""The whole program (`__main__.py`) for the eu and us stacks, configured from their real stack files."""

from __future__ import annotations

from collections import Counter

from tests.infra.conftest import DOMAIN
from tests.infra.helpers import (
    ALARM,
    FUNCTION,
    FUNCTION_URL,
    KEY,
    LAMBDA_ALIAS,
    RECORD,
    TABLE,
    TOPIC,
    duplicates,
    function_by_name,
    function_policy,
    regional,
    statement,
)
from tests.infra.mocks import GLOBAL_TYPES, is_secret
from tests.infra.program import TEST_FINGERPRINT_KEY, ProgramRun, run_program

# Resources a stack deliberately places outside its own region.
TABLE_KEYS = "store-key-"
HEALTH_ALARM_RESOURCES = frozenset(
    {
        "monitoring-health-check",
        "monitoring-topic-us-east-1",
        "monitoring-key-us-east-1",
        "monitoring-key-alias-us-east-1",
        "monitoring-email-us-east-1",
        "monitoring-topic-policy-us-east-1",
    }
)


def expected_region(run: ProgramRun, name: str, typ: str) -> str:
    if name.startswith(TABLE_KEYS):  # the owner creates every region's table key (and alias) in that region
        return name.removeprefix(TABLE_KEYS).removeprefix("alias-")
    if name in HEALTH_ALARM_RESOURCES:
        return "us-east-1"  # Route 53 metrics (and so the health alarm and its topic) live in us-east-1
    return run.region


def test_eu_owns_the_global_table_with_a_replica_in_us(eu: ProgramRun) -> None:
    table = eu.one(TABLE)
    assert table.region == "eu-west-1"
    assert [r["regionName"] for r in table.plain["replicas"]] == ["us-east-1"]
    assert {k.region for k in eu.of_type(KEY) if k.name.startswith(TABLE_KEYS)} == {"eu-west-1", "us-east-1"}


def test_the_us_replica_is_not_tagged_with_eus_region(eu: ProgramRun) -> None:
    table = eu.one(TABLE).plain
    assert "region" not in table["tags"] and table["tags"]["primary-region"] == "eu-west-1"
    assert [r["propagateTags"] for r in table["replicas"]] == [True]
    for key in (k for k in eu.of_type(KEY) if k.name.startswith(TABLE_KEYS)):
        assert key.plain["tags"]["region"] == key.region


def test_us_attaches_to_its_replica_without_creating_a_table(us: ProgramRun) -> None:
    assert us.of_type(TABLE) == []
    assert not [k for k in us.of_type(KEY) if k.name.startswith(TABLE_KEYS)]
    lookups = {
        token: args for token, args in us.mocks.calls if token.split(":")[1].split("/")[0] in {"dynamodb", "kms"}
    }
    assert lookups["aws:dynamodb/getTable:getTable"]["region"] == "us-east-1"
    assert lookups["aws:kms/getAlias:getAlias"] == {"name": "alias/payment-gateway-table", "region": "us-east-1"}
    # The functions are granted the looked-up replica and key, not eu's.
    document = function_policy(us, function_by_name(us, "payment-gateway-create-payment"))
    table, kms = statement(document, "TableItems"), statement(document, "TableKeyThroughDynamoDb")
    assert table is not None and table["Resource"] == ["arn:aws:dynamodb:us-east-1:123456789012:table/payment-gateway"]
    assert kms is not None and kms["Resource"] == ["arn:aws:kms:us-east-1:123456789012:key/looked-up-us-east-1"]


def test_exports(eu: ProgramRun, us: ProgramRun, eu_domain: ProgramRun) -> None:
    for run in (eu, us):
        assert set(run.exports) == {"region", "regionalApiUrl", "tableName", "dashboardUrl", "deployment"}
        assert run.exports["tableName"] == "payment-gateway"
        assert f".execute-api.{run.region}.amazonaws.com/live" in run.exports["regionalApiUrl"]
        assert f"region={run.region}" in run.exports["dashboardUrl"]
    assert eu_domain.exports["globalUrl"] == "https://pay.example.com"
    assert eu_domain.exports["regionalApiUrl"] == "https://eu-west-1.pay.example.com"


def test_every_resource_is_in_its_intended_region(any_stack: ProgramRun) -> None:
    misplaced = [
        (r.typ, r.name, r.region) for r in regional(any_stack) if r.region != expected_region(any_stack, r.name, r.typ)
    ]
    assert misplaced == []
    assert all(r.region is None for r in any_stack.custom() if r.typ in GLOBAL_TYPES)


def test_type_and_name_are_unique_in_every_stack(any_stack: ProgramRun) -> None:
    assert duplicates(any_stack) == []


def test_physical_names_do_not_clash_between_the_stacks(eu_domain: ProgramRun, us_domain: ProgramRun) -> None:
    """Two stacks share one account: explicit names must differ per (type, region)."""

    def physical(run: ProgramRun) -> list[tuple[str, str | None, str]]:
        names = []
        for r in run.custom():
            name = r.plain.get("name") or r.plain.get("dashboardName")
            if not isinstance(name, str) or r.plain.get("allowOverwrite"):
                continue  # shared ACM validation records are meant to be shared
            if r.typ == LAMBDA_ALIAS:
                name = f"{r.plain['functionName']}:{name}"  # an alias is named within its function
            names.append((r.typ, r.region, f"{name}|{r.plain.get('setIdentifier', '')}"))
        return names

    counts = Counter(physical(eu_domain) + physical(us_domain))
    # The table and its us-east-1 key alias are created once, by eu; us only looks them up.
    assert [item for item, count in counts.items() if count > 1] == []


def test_a_third_region_is_a_config_change() -> None:
    regions = '["eu-west-1", "us-east-1", "ap-southeast-2"]'
    run = run_program("eu", {"payment-gateway:regions": regions})
    table = run.one(TABLE).plain
    assert [r["regionName"] for r in table["replicas"]] == ["us-east-1", "ap-southeast-2"]
    assert {k.region for k in run.of_type(KEY) if k.name.startswith(TABLE_KEYS)} == {
        "eu-west-1",
        "us-east-1",
        "ap-southeast-2",
    }
    replication = {a.plain["dimensions"]["ReceivingRegion"] for a in run.of_type(ALARM) if "replication" in a.name}
    assert replication == {"us-east-1", "ap-southeast-2"}


def test_fingerprint_key_from_config_stays_secret(eu: ProgramRun) -> None:
    payments = function_by_name(eu, "payment-gateway-create-payment")
    assert is_secret(payments.inputs["environment"])
    assert payments.plain["environment"]["variables"]["FINGERPRINT_KEY"] == TEST_FINGERPRINT_KEY


def test_simulator_without_bank_url_and_bank_url_when_configured(eu: ProgramRun) -> None:
    simulator_url = eu.one(FUNCTION_URL).outputs["functionUrl"]
    payments = function_by_name(eu, "payment-gateway-create-payment")
    assert payments.plain["environment"]["variables"]["BANK_URL"] == simulator_url

    with_bank = run_program("eu", {"payment-gateway:bankUrl": "https://acquirer.example/v1/authorize"})
    assert with_bank.of_type(FUNCTION_URL) == []
    assert len(with_bank.of_type(FUNCTION)) == len(eu.of_type(FUNCTION)) - 1
    payments = function_by_name(with_bank, "payment-gateway-create-payment")
    assert is_secret(payments.inputs["environment"])
    assert payments.plain["environment"]["variables"]["BANK_URL"] == "https://acquirer.example/v1/authorize"


def test_domain_stacks_route_by_latency_with_one_record_per_region(
    eu_domain: ProgramRun, us_domain: ProgramRun
) -> None:
    for run in (eu_domain, us_domain):
        latency = [r.plain for r in run.of_type(RECORD) if r.plain.get("setIdentifier")]
        assert [(r["name"], r["setIdentifier"]) for r in latency] == [
            (DOMAIN["payment-gateway:domainName"], run.region)
        ]
        assert latency[0]["healthCheckId"]
    # eu alarms on its health check from us-east-1 through a topic of its own there.
    assert {t.region for t in eu_domain.of_type(TOPIC)} == {"eu-west-1", "us-east-1"}
    assert {t.region for t in us_domain.of_type(TOPIC)} == {"us-east-1"}


def test_the_alarm_email_is_subscribed_once_per_topic_as_the_readme_says() -> None:
    """README: one confirmation e-mail per topic; two for eu with a domain, one for us."""
    email = {"payment-gateway:alarmEmail": "ops@example.com"}
    expected = {("eu", True): {"eu-west-1", "us-east-1"}, ("us", True): {"us-east-1"}, ("eu", False): {"eu-west-1"}}
    for (stack, domain), regions in expected.items():
        run = run_program(stack, email | (DOMAIN if domain else {}))
        subscriptions = run.of_type("aws:sns/topicSubscription:TopicSubscription")
        assert sorted(s.region or "" for s in subscriptions) == sorted(regions), (stack, domain)
        assert {s.plain["endpoint"] for s in subscriptions} == {"ops@example.com"}


def test_config_overrides_reach_the_resources() -> None:
    run = run_program(
        "us",
        {
            "payment-gateway:lambdaMemoryMb": "1024",
            "payment-gateway:lambdaTimeoutSeconds": "8",
            "payment-gateway:logRetentionDays": "400",
            "payment-gateway:wafRateLimit": "300",
            "payment-gateway:alarmEmail": "ops@example.com",
            "payment-gateway:namePrefix": "pg",
            "payment-gateway:wafLogAllRequests": "true",
        },
    )
    functions = [f.plain for f in run.of_type(FUNCTION)]
    assert {(f["memorySize"], f["timeout"]) for f in functions} == {(1024, 8), (1024, 60)}  # 60: the resolver
    assert all(f["name"].startswith("pg-") for f in functions)
    assert {g.plain["retentionInDays"] for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")} == {400}
    acl = run.one("aws:wafv2/webAcl:WebAcl").plain
    assert [
        r["statement"]["rateBasedStatement"]["limit"] for r in acl["rules"] if r["name"] == "rate-limit-per-ip"
    ] == [300]
    assert "loggingFilter" not in run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration").plain
    duration = {a.name: a.plain["threshold"] for a in run.of_type(ALARM) if a.name.endswith("duration-p99")}
    scheduled = {duration.pop(f"monitoring-{role}-duration-p99") for role in ("resolver", "webhook-sender")}
    assert set(duration.values()) == {6400} and scheduled == {48000}  # 80% of 8 s; of the resolver's 60 s
    assert run.one("aws:sns/topicSubscription:TopicSubscription").plain["endpoint"] == "ops@example.com"


def test_the_cost_model_counts_the_kms_keys_and_elastic_ips_the_program_creates(
    eu_domain: ProgramRun, us_domain: ProgramRun
) -> None:
    """docs/cost.md prices what the deployment creates: a key more or less is a line off."""
    from bench.cost.parameters import Parameters  # noqa: PLC0415 (the cost model, not the program)
    from tests.infra.conftest import FARGATE  # noqa: PLC0415

    modelled = Parameters()
    assert len(eu_domain.of_type(KEY)) + len(us_domain.of_type(KEY)) == modelled.kms_keys == 7
    for stack in ("eu", "us"):
        fargate = run_program(stack, FARGATE)
        assert len(fargate.of_type("aws:ec2/eip:Eip")) == modelled.nat_gateways_per_region
