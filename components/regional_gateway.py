"""RegionalGateway: the payment API on Lambda in one region.

REST API (REGIONAL; REST rather than HTTP API because WAF, per-client throttling and usage
plans need it) built from `handlers.contract.routes`, a Lambda REQUEST authorizer, gateway responses in
the API's error shape, a stage with throttling, X-Ray and JSON access logs without bodies, one
Lambda function (own role, own log group) per route function, the authorizer, the scheduled
resolver and, without a real bank, the bank simulator; in front of it a RegionalEdge (WAF, and
optionally a custom domain with a Route 53 latency record and health check, components/edge.py).

RegionalResolver is the part the container option keeps on Lambda: the resolver (and the
simulator), built by the same code (`_RegionalFunctions`).

Every regional child gets `region=args.region`; global ones (IAM, Route 53) take none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.code_signing import SignedCode
from components.common import account_context, child_opts, customer_managed_key, policy_json, type_token
from components.edge import (
    ApiGatewayOrigin,
    CustomDomainArgs,
    EdgeSettings,
    MovedFrom,
    RegionalEdge,
    RegionalEdgeArgs,
)
from components.policies import (
    AccountContext,
    FunctionAccess,
    api_gateway_logging_policy,
    assume_role_policy,
    function_policy,
    logs_key_policy,
)
from handlers.contract import routes
from handlers.contract.gateway_errors import GATEWAY_ERRORS, GatewayError

ARCHITECTURE = "arm64"
RUNTIME = aws.lambda_.Runtime.PYTHON3D13
RUNTIME_VERSION = (3, 13)  # deploy from this Python and the archive carries bytecode (components.packaging)
IDENTITY_SOURCE = "method.request.header.Authorization"
# API Gateway's own integration limit: a Lambda timeout above it would never be seen by a client.
MAX_TIMEOUT_SECONDS = 29
MAX_AUTHORIZER_TTL = 3600
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# Callers (API Gateway, EventBridge) invoke this alias of each published function, never $LATEST:
# a deployment moves it from version to version (gradually, with CodeDeploy; see components.deployments).
LIVE_ALIAS = "live"
# Lambda SnapStart (Python 3.12+, arm64 included) is offered in every commercial region but these
# (Lambda developer guide, "Improving startup performance with Lambda SnapStart": supported Regions).
SNAP_START_UNSUPPORTED_REGIONS = frozenset({"ap-southeast-6", "ap-east-2"})  # New Zealand, Taipei
# Access-log fields: who, what, outcome and timings. Never a body, a header or a query string:
# card data must not reach a log (PCI DSS 3.3.1/3.5.1). resourcePath is the template (/v1/payments/{id}).
ACCESS_LOG_FORMAT: dict[str, str] = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTimeEpoch",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "principalId": "$context.authorizer.principalId",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}
REQUEST_ID_HEADER = "X-Request-Id"


@dataclass(frozen=True)
class LambdaSettings:
    # 512 MB: Lambda allocates CPU in proportion to memory, so cold starts (imports) are ~2x faster
    # than at 256 MB for a few cents; 5 s covers a cold start plus the 0.85 s bank budget.
    memory_mb: int = 512
    timeout_seconds: int = 5
    reserved_concurrency: int | None = None
    log_level: str = "INFO"
    # SnapStart on the published versions behind `live`, where the region offers it: a new execution
    # environment resumes from a snapshot of the init (docs/performance.md, docs/cost.md).
    snap_start: bool = True

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"Lambda memory must be 128..10240 MB, not {self.memory_mb}")
        if not 1 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"Lambda timeout must be 1..{MAX_TIMEOUT_SECONDS} s (API Gateway's limit)")


@dataclass(frozen=True)
class BankSettings:
    url: pulumi.Input[str] | None = None
    """The acquiring bank's URL (a secret)."""
    connect_timeout_ms: int = 250
    read_timeout_ms: int = 600
    simulator: bool = False
    """Deploy the bank simulator and point BANK_URL at it: a test deployment, where no money moves."""

    def __post_init__(self) -> None:
        # Opt-in on purpose: a forgotten URL must not send real merchants' payments to a simulator
        # that approves cards by their last digit.
        if (self.url is None) == (not self.simulator):
            raise ValueError("BankSettings needs exactly one of url (the acquirer) or simulator=True")


@dataclass(frozen=True)
class ResolverSettings:
    """The scheduled resolver that settles pending payments (handlers.domain.resolver)."""

    unknown_outcome: str = "settle"
    """settle: record an authorization found late; reverse: reverse it (the shopper was told it failed)."""
    interval_minutes: int = routes.RESOLVER_INTERVAL_SECONDS // 60
    peer_regions: Sequence[str] = ()
    """Every region of the gateway: their heartbeats are read, and their payments taken over when silent."""
    takeover_after_seconds: float = 300.0
    timeout_seconds: int = 60
    """A run settles a batch with a bank inquiry (and maybe a reversal) each."""

    def __post_init__(self) -> None:
        if self.unknown_outcome not in ("settle", "reverse"):
            raise ValueError(f"unknown_outcome must be settle or reverse, not {self.unknown_outcome!r}")
        if not 1 <= self.interval_minutes <= 60:
            raise ValueError("the resolver runs every 1..60 minutes")
        if not 10 <= self.timeout_seconds <= 900:
            raise ValueError("the resolver's timeout must be 10..900 s")


@dataclass(frozen=True)
class FunctionsArgs:
    """What every Lambda function of a region is built from, whichever compute option serves the API."""

    region: str
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    """This region's table (replica) ARN."""
    table_key_arn: pulumi.Input[str]
    """This region's table KMS key ARN."""
    code: pulumi.Archive
    source_code_hash: pulumi.Input[str]
    fingerprint_key: pulumi.Input[str]
    bank: BankSettings
    """Where payments are authorized: a real acquirer, or (explicitly) the simulator."""
    name_prefix: str = "payment-gateway"
    bank_simulator: routes.Function = routes.BANK_SIMULATOR
    resolver_function: routes.Function = routes.RESOLVER
    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    lambda_settings: LambdaSettings = field(default_factory=LambdaSettings)
    log_retention_days: int = 365
    allowed_currencies: str = "GBP,EUR,USD"
    metrics_namespace: str = "PaymentGateway"
    alias_moved_by_deployments: bool = True
    """CodeDeploy shifts each function's `live` alias to a new version (gradually); Pulumi leaves the
    alias where it is. False: Pulumi points it at every new version at once (all-at-once)."""
    code_signing: SignedCode | None = None
    """Deploy the signed copy of `code` from S3, enforced by a code-signing config; None uploads `code`."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log retention {self.log_retention_days} is not one CloudWatch accepts")


@dataclass(frozen=True)
class RegionalGatewayArgs(FunctionsArgs):
    stage_name: str = "live"
    route_table: Sequence[routes.Route] = routes.ROUTES
    authorizer: routes.Function = routes.AUTHORIZER
    authorizer_cache_seconds: int = routes.AUTHORIZER_CACHE_SECONDS
    throttle_rate_limit: float = 500.0
    throttle_burst_limit: int = 1000
    waf_rate_limit: int = 100_000
    """Requests per client IP per 5 minutes before WAF blocks it."""
    waf_log_all_requests: bool = False
    """Log every request WAF inspects, not only those it blocks or counts (costs ingestion per request)."""
    domain: CustomDomainArgs | None = None
    drain: bool = False
    """Planned failover: withdraw this region's latency record (the API keeps running)."""
    manage_api_gateway_account: bool = True
    """Set API Gateway's (account-wide, per-region) CloudWatch role; needed once per account and region."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.authorizer_cache_seconds <= MAX_AUTHORIZER_TTL:
            raise ValueError(f"authorizer cache must be 0..{MAX_AUTHORIZER_TTL} s")
        EdgeSettings(waf_rate_limit=self.waf_rate_limit)  # refuses a limit WAF would

    @property
    def edge(self) -> EdgeSettings:
        return EdgeSettings(self.domain, self.waf_rate_limit, self.waf_log_all_requests, self.drain)


def route_functions(route_table: Sequence[routes.Route]) -> list[routes.Function]:
    """The distinct functions behind the routes, in route order."""
    seen: dict[str, routes.Function] = {}
    for route in route_table:
        seen.setdefault(route.function.name, route.function)
    return list(seen.values())


def table_operations(functions: Sequence[routes.Function]) -> list[str]:
    """DynamoDB operation names (`GetItem`...) the functions use: the `Operation` metric dimension."""
    return sorted({action.split(":", 1)[1] for fn in functions for action in fn.table_actions})


def path_slug(path: str) -> str:
    """`/v1/payments/{id}` -> `v1-payments-id` (for resource names)."""
    return "-".join(part.strip("{}") for part in path.split("/") if part) or "root"


def path_prefixes(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def source_arn_path(path: str) -> str:
    """Path parameters become `*` in an execute-api source ARN."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))


def deployment_fingerprint(args: RegionalGatewayArgs) -> str:
    """Changes whenever the API's shape does, so the Deployment is replaced (redeployed)."""
    shape = {
        "routes": [[r.method, r.path, r.function.name, r.function.handler, r.authorized] for r in args.route_table],
        "authorizer": [args.authorizer.name, IDENTITY_SOURCE, args.authorizer_cache_seconds],
        "responses": [[e.response_type, e.status_code, e.template(), e.headers()] for e in GATEWAY_ERRORS],
        "response_headers": {REQUEST_ID_HEADER: "context.requestId"},
        "execute_api_endpoint_disabled": args.domain is not None,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def deployment_trigger(fingerprint: str, invoke_arns: Mapping[str, str]) -> str:
    """The API's shape plus the functions its integrations and authorizer invoke: a replaced
    function (a new name) changes an integration's URI in place, which the stage serves only after a
    new Deployment; without one it would keep invoking the deleted function."""
    targets = json.dumps(sorted(invoke_arns.items()))
    return hashlib.sha256(f"{fingerprint}:{targets}".encode()).hexdigest()


@dataclass(frozen=True)
class DeployedFunction:
    spec: routes.Function
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    alias: aws.lambda_.Alias | None = None
    """The `live` alias every caller invokes (published functions only)."""

    @property
    def live(self) -> aws.lambda_.Alias:
        if self.alias is None:
            raise ValueError(f"{self.spec.name} is not published behind an alias")
        return self.alias


class _RegionalFunctions(pulumi.ComponentResource):
    """The Lambda functions of a region, each with its own role and encrypted log group, and the key
    for their logs and environment. Subclasses call `_deploy_functions` from their constructor."""

    _args: FunctionsArgs
    key_arn: pulumi.Output[str]
    bank_url: pulumi.Output[str] | None
    """The simulator's URL when it is deployed; None with a real bank."""
    bank_endpoint: pulumi.Input[str]
    """What the functions call as BANK_URL: the acquirer's (secret) URL or the simulator's."""
    function_names: dict[str, pulumi.Output[str]]
    functions: dict[str, DeployedFunction]

    def _deploy_functions(self, name: str, args: FunctionsArgs, served: Sequence[routes.Function]) -> None:
        """The `served` functions, the scheduled resolver and, without a real bank, the simulator."""
        self._name = name
        self._args = args
        self._region = args.region
        self._ctx = account_context(self, args.region)

        self._key = self._logs_key()
        self.key_arn = self._key.arn
        self.functions = {}
        self.bank_url = None
        self.bank_endpoint = bank_url = args.bank.url if args.bank.url is not None else self._bank_simulator()
        for spec in served:
            self.functions[spec.name] = self._function(spec, self._environment(spec, bank_url))
        self.functions[args.resolver_function.name] = self._scheduled_resolver(bank_url)
        self.function_names = {role: deployed.function.name for role, deployed in self.functions.items()}

    # --- keys, roles and functions -------------------------------------------------------------

    def _logs_key(self) -> aws.kms.Key:
        """Encrypts this gateway's log groups and its functions' environment (the HMAC key)."""
        prefix = self._args.name_prefix
        return customer_managed_key(
            self,
            (f"{self._name}-key", f"{self._name}-key-alias"),
            region=self._region,
            description=f"{prefix} logs and Lambda environment in {self._region}",
            alias=f"alias/{prefix}-gateway",
            policy=policy_json(self._ctx, logs_key_policy),
            tags=dict(self._args.tags),
        )

    def _log_group(self, resource_name: str, log_group_name: pulumi.Input[str]) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            resource_name,
            aws.cloudwatch.LogGroupArgs(
                region=self._region,
                name=log_group_name,
                retention_in_days=self._args.log_retention_days,
                kms_key_id=self._key.arn,
                tags=dict(self._args.tags),
            ),
            child_opts(self),
        )

    def _environment(self, spec: routes.Function, bank_url: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        args = self._args
        env: dict[str, pulumi.Input[str]] = {
            "LOG_LEVEL": args.lambda_settings.log_level,
            "METRICS_NAMESPACE": args.metrics_namespace,
        }
        env["TABLE_NAME"] = args.table_name
        if spec.name == args.bank_simulator.name:
            return env  # its ledger's table; never the gateway's bank URL or secret
        env["ALLOWED_CURRENCIES"] = args.allowed_currencies
        if spec.fingerprints:
            env["FINGERPRINT_KEY"] = args.fingerprint_key
        if spec.calls_bank:
            env |= {
                "BANK_URL": bank_url,
                "BANK_CONNECT_TIMEOUT_MS": str(args.bank.connect_timeout_ms),
                "BANK_READ_TIMEOUT_MS": str(args.bank.read_timeout_ms),
                # A key's holder is presumed dead after this: twice the timeout, so never while it runs.
                "IDEMPOTENCY_LEASE_SECONDS": str(2 * args.lambda_settings.timeout_seconds),
                "UNKNOWN_OUTCOME": args.resolver.unknown_outcome,
                "PEER_REGIONS": ",".join(args.resolver.peer_regions),
                "RESOLVER_TAKEOVER_SECONDS": f"{args.resolver.takeover_after_seconds:g}",
            }
        return env

    def _function(
        self,
        spec: routes.Function,
        environment: Mapping[str, pulumi.Input[str]],
        timeout: int | None = None,
        published: bool = True,
    ) -> DeployedFunction:
        """The function, its role and log group; `published`: a version per change, behind the `live` alias."""
        args, settings, signed = self._args, self._args.lambda_settings, self._args.code_signing
        function_name = f"{args.name_prefix}-{spec.name}"
        resource = f"{self._name}-{spec.name}"
        log_group = self._log_group(f"{resource}-logs", f"/aws/lambda/{function_name}")
        role = aws.iam.Role(
            f"{resource}-role",
            aws.iam.RoleArgs(
                assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
                description=f"{function_name} in {self._region}",
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        policy_inputs = pulumi.Output.all(args.table_arn, args.table_key_arn, self._key.arn, log_group.arn, self._ctx)

        def render(values: list[object]) -> str:
            table_arn, table_key_arn, env_key_arn, log_group_arn, ctx = values
            assert isinstance(ctx, AccountContext)
            access = FunctionAccess(
                table_actions=spec.table_actions,
                leading_keys=spec.leading_keys,
                indexes=spec.indexes,
                table_arn=str(table_arn),
                table_key_arn=str(table_key_arn),
                environment_key_arn=str(env_key_arn),
                log_group_arn=str(log_group_arn),
            )
            return json.dumps(function_policy(access, ctx), sort_keys=True)

        policy = aws.iam.RolePolicy(
            f"{resource}-policy",
            aws.iam.RolePolicyArgs(role=role.id, policy=policy_inputs.apply(render)),
            pulumi.ResourceOptions(parent=role),
        )
        function = aws.lambda_.Function(
            resource,
            aws.lambda_.FunctionArgs(
                region=self._region,
                name=function_name,
                role=role.arn,
                handler=spec.handler,
                runtime=RUNTIME,
                architectures=[ARCHITECTURE],
                code=None if signed else args.code,
                s3_bucket=signed.s3_bucket if signed else None,
                s3_key=signed.s3_key if signed else None,
                code_signing_config_arn=signed.config_arn if signed else None,
                source_code_hash=args.source_code_hash,
                publish=published,
                memory_size=settings.memory_mb,
                timeout=timeout or settings.timeout_seconds,
                reserved_concurrent_executions=settings.reserved_concurrency,
                snap_start=self._snap_start(published),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(environment)),
                kms_key_arn=self._key.arn,
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
                tags=dict(args.tags),
            ),
            child_opts(self, depends_on=[policy, log_group]),
        )
        alias = self._live_alias(resource, function) if published else None
        return DeployedFunction(spec=spec, function=function, role=role, log_group=log_group, alias=alias)

    def _snap_start(self, published: bool) -> aws.lambda_.FunctionSnapStartArgs | None:
        """Only published versions can have it ($LATEST cannot); no provisioned concurrency is set."""
        wanted = self._args.lambda_settings.snap_start and self._region not in SNAP_START_UNSUPPORTED_REGIONS
        return aws.lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions") if published and wanted else None

    def _live_alias(self, resource: str, function: aws.lambda_.Function) -> aws.lambda_.Alias:
        """Created on the first published version. Afterwards, unless deployments are all-at-once,
        CodeDeploy moves it (`make deploy`): Pulumi must not flip it to each new version at once."""
        moved_elsewhere = ["function_version", "routing_config"] if self._args.alias_moved_by_deployments else None
        return aws.lambda_.Alias(
            f"{resource}-live",
            aws.lambda_.AliasArgs(
                region=self._region,
                name=LIVE_ALIAS,
                function_name=function.name,
                function_version=function.version,
                description="What callers invoke; moved to new versions by the deployment",
            ),
            child_opts(self, ignore_changes=moved_elsewhere),
        )

    def _scheduled_resolver(self, bank_url: pulumi.Input[str]) -> DeployedFunction:
        """The resolver, invoked by an EventBridge rule (Scheduler needs a role of its own; a rule
        needs only this function's resource policy). No retries: the next run comes anyway."""
        spec, settings = self._args.resolver_function, self._args.resolver
        deployed = self._function(spec, self._environment(spec, bank_url), timeout=settings.timeout_seconds)
        resource = f"{self._name}-{spec.name}"
        minutes = settings.interval_minutes
        rule = aws.cloudwatch.EventRule(
            f"{resource}-schedule",
            aws.cloudwatch.EventRuleArgs(
                region=self._region,
                name=f"{self._args.name_prefix}-{spec.name}",
                description="Settle pending payments from the bank's record (docs/reliability.md)",
                schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
                tags=dict(self._args.tags),
            ),
            child_opts(self),
        )
        aws.cloudwatch.EventTarget(
            f"{resource}-target",
            aws.cloudwatch.EventTargetArgs(
                region=self._region,
                rule=rule.name,
                arn=deployed.live.arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60
                ),
            ),
            child_opts(self),
        )
        aws.lambda_.Permission(
            f"{resource}-schedule-permission",
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                qualifier=deployed.live.name,
                action="lambda:InvokeFunction",
                principal="events.amazonaws.com",
                source_arn=rule.arn,
            ),
            child_opts(self),
        )
        return deployed

    def _bank_simulator(self) -> pulumi.Output[str]:
        """The simulator behind a Function URL (see docs/infrastructure.md for why not an API route)."""
        spec = self._args.bank_simulator
        # A test double behind a Function URL on $LATEST: nothing to roll out gradually.
        deployed = self._function(spec, self._environment(spec, ""), published=False)
        self.functions[spec.name] = deployed
        resource = f"{self._name}-{spec.name}"
        url = aws.lambda_.FunctionUrl(
            f"{resource}-url",
            aws.lambda_.FunctionUrlArgs(
                region=self._region, function_name=deployed.function.name, authorization_type="NONE"
            ),
            child_opts(self),
        )
        # Since October 2025 a public function URL needs both permissions.
        aws.lambda_.Permission(
            f"{resource}-url-permission",
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                action="lambda:InvokeFunctionUrl",
                principal="*",
                function_url_auth_type="NONE",
            ),
            child_opts(self),
        )
        aws.lambda_.Permission(
            f"{resource}-invoke-permission",
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                action="lambda:InvokeFunction",
                principal="*",
                invoked_via_function_url=True,
            ),
            child_opts(self),
        )
        self.bank_url = url.function_url
        return url.function_url


class RegionalGateway(_RegionalFunctions):
    """The API, its functions and their protections in one region."""

    _args: RegionalGatewayArgs
    rest_api_id: pulumi.Output[str]
    rest_api_name: pulumi.Output[str]
    stage_name: pulumi.Output[str]
    stage_arn: pulumi.Output[str]
    invoke_url: pulumi.Output[str]
    regional_url: pulumi.Output[str]
    global_url: pulumi.Output[str] | None
    health_check_id: pulumi.Output[str] | None
    web_acl_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "RegionalGateway"), name, None, opts)
        self._deploy_functions(name, args, [*route_functions(args.route_table), args.authorizer])
        api = self._rest_api()
        stage = self._stage(api, self._api_methods(api))
        edge = self._edge(api, stage)
        self.web_acl_arn = edge.web_acl_arn
        self.global_url = edge.global_url
        self.health_check_id = edge.health_check_id
        self.regional_url = edge.regional_url if edge.regional_url is not None else stage.invoke_url
        self.register_outputs(
            {
                "rest_api_id": self.rest_api_id,
                "stage_arn": self.stage_arn,
                "regional_url": self.regional_url,
                "global_url": self.global_url,
                "web_acl_arn": self.web_acl_arn,
                "function_names": self.function_names,
            }
        )

    def _edge(self, api: aws.apigateway.RestApi, stage: aws.apigateway.Stage) -> RegionalEdge:
        """WAF on the stage; with a domain, API Gateway custom domain names, DNS and the health check.
        Its children were the gateway's own before the edge was a component: aliased, not replaced."""
        args = self._args
        health = next((r.path for r in args.route_table if r.function.name == routes.HEALTH.name), "/health")
        return RegionalEdge(
            f"{self._name}-edge",
            RegionalEdgeArgs(
                region=args.region,
                origin=ApiGatewayOrigin(rest_api_id=api.id, stage_name=stage.stage_name, stage_arn=stage.arn),
                logs_key_arn=self._key.arn,
                settings=args.edge,
                name_prefix=args.name_prefix,
                log_retention_days=args.log_retention_days,
                health_path=health,
                moved_from=MovedFrom(parent=self, prefix=self._name),
                tags=args.tags,
            ),
            child_opts(self),
        )

    # --- the REST API ----------------------------------------------------------------------------

    def _rest_api(self) -> aws.apigateway.RestApi:
        api = aws.apigateway.RestApi(
            f"{self._name}-api",
            aws.apigateway.RestApiArgs(
                region=self._region,
                name=self._args.name_prefix,
                description=f"Payment gateway API ({self._region})",
                endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
                # With a custom domain, clients (and the health check) must come through it.
                disable_execute_api_endpoint=self._args.domain is not None,
                security_policy="TLS_1_2",
                tags=dict(self._args.tags),
            ),
            child_opts(self),
        )
        self.rest_api_id = api.id
        self.rest_api_name = api.name
        return api

    def _api_methods(self, api: aws.apigateway.RestApi) -> list[pulumi.Resource]:
        """Resources, methods, integrations, the authorizer and the gateway responses."""
        args = self._args
        authorizer = self._authorizer(api)
        resource_ids = self._path_resources(api)
        created: list[pulumi.Resource] = [authorizer]
        for route in args.route_table:
            created += self._route(api, route, resource_ids[route.path], authorizer)
        created += [self._gateway_response(api, error) for error in GATEWAY_ERRORS]
        return created

    def _gateway_response(self, api: aws.apigateway.RestApi, error: GatewayError) -> aws.apigateway.Response:
        headers = {f"gatewayresponse.header.{REQUEST_ID_HEADER}": "context.requestId"}
        headers |= {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in error.headers().items()}
        return aws.apigateway.Response(
            f"{self._name}-response-{error.response_type.lower().replace('_', '-')}",
            aws.apigateway.ResponseArgs(
                region=self._region,
                rest_api_id=api.id,
                response_type=error.response_type,
                status_code=error.status_code,
                response_templates={"application/json": error.template()},
                response_parameters=headers,
            ),
            child_opts(self),
        )

    def _authorizer(self, api: aws.apigateway.RestApi) -> aws.apigateway.Authorizer:
        deployed = self.functions[self._args.authorizer.name]
        authorizer = aws.apigateway.Authorizer(
            f"{self._name}-authorizer",
            aws.apigateway.AuthorizerArgs(
                region=self._region,
                rest_api=api.id,
                name=f"{self._args.name_prefix}-authorizer",
                type="REQUEST",
                authorizer_uri=deployed.live.invoke_arn,
                identity_source=IDENTITY_SOURCE,
                authorizer_result_ttl_in_seconds=self._args.authorizer_cache_seconds,
            ),
            child_opts(self),
        )
        aws.lambda_.Permission(
            f"{self._name}-authorizer-permission",
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                qualifier=deployed.live.name,
                action="lambda:InvokeFunction",
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(api.execution_arn, "/authorizers/", authorizer.id),
            ),
            child_opts(self),
        )
        return authorizer

    def _path_resources(self, api: aws.apigateway.RestApi) -> dict[str, pulumi.Input[str]]:
        """One API resource per path segment, parents first; returns path -> resource id."""
        ids: dict[str, pulumi.Input[str]] = {"/": api.root_resource_id}
        paths = sorted(
            {p for route in self._args.route_table for p in path_prefixes(route.path)}, key=lambda p: (p.count("/"), p)
        )
        slugs = [path_slug(p) for p in paths]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"route paths {paths} give clashing resource names")
        for path in paths:
            parent, _, part = path.rpartition("/")
            resource = aws.apigateway.Resource(
                f"{self._name}-resource-{path_slug(path)}",
                aws.apigateway.ResourceArgs(
                    region=self._region, rest_api=api.id, parent_id=ids[parent or "/"], path_part=part
                ),
                child_opts(self),
            )
            ids[path] = resource.id
        return ids

    def _route(
        self,
        api: aws.apigateway.RestApi,
        route: routes.Route,
        resource_id: pulumi.Input[str],
        authorizer: aws.apigateway.Authorizer,
    ) -> list[pulumi.Resource]:
        deployed = self.functions[route.function.name]
        slug = f"{route.method.lower()}-{path_slug(route.path)}"
        path_params = [part.strip("{}") for part in route.path.split("/") if part.startswith("{")]
        method = aws.apigateway.Method(
            f"{self._name}-method-{slug}",
            aws.apigateway.MethodArgs(
                region=self._region,
                rest_api=api.id,
                resource_id=resource_id,
                http_method=route.method,
                authorization="CUSTOM" if route.authorized else "NONE",
                authorizer_id=authorizer.id if route.authorized else None,
                request_parameters={f"method.request.path.{p}": True for p in path_params} or None,
            ),
            child_opts(self),
        )
        integration = aws.apigateway.Integration(
            f"{self._name}-integration-{slug}",
            aws.apigateway.IntegrationArgs(
                region=self._region,
                rest_api=api.id,
                resource_id=resource_id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=deployed.live.invoke_arn,
            ),
            child_opts(self),
        )
        permission = aws.lambda_.Permission(
            f"{self._name}-permission-{slug}",
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                qualifier=deployed.live.name,
                action="lambda:InvokeFunction",
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(api.execution_arn, f"/*/{route.method}{source_arn_path(route.path)}"),
            ),
            child_opts(self),
        )
        return [method, integration, permission]

    def _api_gateway_account(self) -> aws.apigateway.Account:
        """API Gateway's CloudWatch role: an account-wide setting, per region (see docs)."""
        role = aws.iam.Role(
            f"{self._name}-apigateway-logs-role",
            aws.iam.RoleArgs(
                assume_role_policy=json.dumps(assume_role_policy("apigateway.amazonaws.com")),
                description=f"API Gateway writes CloudWatch logs in {self._region}",
                tags=dict(self._args.tags),
            ),
            child_opts(self),
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-apigateway-logs-policy",
            aws.iam.RolePolicyArgs(role=role.id, policy=policy_json(self._ctx, api_gateway_logging_policy)),
            pulumi.ResourceOptions(parent=role),
        )
        return aws.apigateway.Account(
            f"{self._name}-apigateway-account",
            aws.apigateway.AccountArgs(region=self._region, cloudwatch_role_arn=role.arn),
            child_opts(self, depends_on=[policy]),
        )

    def _deployment_trigger(self) -> pulumi.Output[str]:
        invoked = [r.function.name for r in self._args.route_table] + [self._args.authorizer.name]
        # The aliases they invoke: the switch from a function to its alias needs a new Deployment too.
        arns = {name: self.functions[name].live.invoke_arn for name in sorted(set(invoked))}
        fingerprint = deployment_fingerprint(self._args)
        return pulumi.Output.all(**arns).apply(lambda resolved: deployment_trigger(fingerprint, resolved))

    def _stage(self, api: aws.apigateway.RestApi, api_parts: list[pulumi.Resource]) -> aws.apigateway.Stage:
        args = self._args
        deployment = aws.apigateway.Deployment(
            f"{self._name}-deployment",
            aws.apigateway.DeploymentArgs(
                region=self._region,
                rest_api=api.id,
                description="Managed by Pulumi; replaced when the routes or responses change",
                triggers={"redeployment": self._deployment_trigger()},
            ),
            child_opts(self, depends_on=api_parts),
        )
        access_logs = self._log_group(f"{self._name}-access-logs", f"/aws/apigateway/{args.name_prefix}/access")
        # Created here (encrypted, with retention) before API Gateway would create it without either.
        execution_logs = self._log_group(
            f"{self._name}-execution-logs",
            pulumi.Output.concat("API-Gateway-Execution-Logs_", api.id, "/", args.stage_name),
        )
        ready: list[pulumi.Resource] = [access_logs, execution_logs]
        if args.manage_api_gateway_account:
            ready.append(self._api_gateway_account())
        stage = aws.apigateway.Stage(
            f"{self._name}-stage",
            aws.apigateway.StageArgs(
                region=self._region,
                rest_api=api.id,
                deployment=deployment.id,
                stage_name=args.stage_name,
                xray_tracing_enabled=True,
                access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                    destination_arn=access_logs.arn, format=json.dumps(ACCESS_LOG_FORMAT)
                ),
                tags=dict(args.tags),
            ),
            child_opts(self, depends_on=ready),
        )
        aws.apigateway.MethodSettings(
            f"{self._name}-method-settings",
            aws.apigateway.MethodSettingsArgs(
                region=self._region,
                rest_api=api.id,
                stage_name=stage.stage_name,
                method_path="*/*",
                settings=aws.apigateway.MethodSettingsSettingsArgs(
                    metrics_enabled=True,
                    # Errors only; never full request/response logging (bodies carry card numbers).
                    logging_level="ERROR",
                    data_trace_enabled=False,
                    throttling_burst_limit=args.throttle_burst_limit,
                    throttling_rate_limit=args.throttle_rate_limit,
                ),
            ),
            child_opts(self, depends_on=ready),
        )
        self.stage_name = stage.stage_name
        self.stage_arn = stage.arn
        self.invoke_url = stage.invoke_url
        return stage


class RegionalResolver(_RegionalFunctions):
    """What the container option keeps on Lambda: the scheduled resolver and, without a real bank,
    the simulator, with the key for their logs and environment (the container's log groups and
    secrets use it too)."""

    def __init__(self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "RegionalResolver"), name, None, opts)
        self._deploy_functions(name, args, served=())
        self.register_outputs({"function_names": self.function_names, "key_arn": self.key_arn})

    def environment(self, served: Sequence[routes.Function]) -> dict[str, pulumi.Input[str]]:
        """The variables the `served` functions would get on Lambda, merged: what a process serving
        them all needs (FINGERPRINT_KEY and BANK_URL among them: the caller keeps those secret)."""
        merged: dict[str, pulumi.Input[str]] = {}
        for spec in served:
            merged |= self._environment(spec, self.bank_endpoint)
        return merged
