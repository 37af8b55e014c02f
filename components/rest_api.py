"""RestApi: the payment API on API Gateway in one region, in front of its Lambda functions.

A REST API (REGIONAL; REST rather than HTTP API because WAF, per-client throttling and usage plans
need it) built from `handlers.contract.routes`: a resource per path segment, a method, a Lambda proxy
integration and an invoke permission per route, a Lambda REQUEST authorizer, gateway responses in
the API's error shape, and a stage with throttling, X-Ray and JSON access logs without bodies. The
functions it invokes (their `live` aliases) are LambdaFunctions' (components/lambda_functions.py);
RegionalGateway composes the two with the edge.

Its children were RegionalGateway's own before it was a component: named like the gateway, it gives
them the names they had, `<gateway>-<role>`, and aliases to their URNs under the gateway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from components import validation
from components.common import EncryptedLogs, account_context, moved_child_opts, policy_json, type_token
from components.lambda_functions import DeployedFunction, invoke_permission
from components.policies import api_gateway_logging_policy, assume_role_policy
from handlers.contract import routes
from handlers.contract.gateway_errors import GATEWAY_ERRORS, GatewayError

IDENTITY_SOURCE = "method.request.header.Authorization"
MAX_AUTHORIZER_TTL = 3600
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


class ApiShape(Protocol):
    """What a deployment of the API serves: a change to any of it needs a new Deployment.
    ApiSettings has it, and so has RegionalGatewayArgs."""

    @property
    def route_table(self) -> Sequence[routes.Route]: ...

    @property
    def authorizer(self) -> routes.Function: ...

    @property
    def authorizer_cache_seconds(self) -> int: ...

    @property
    def execute_api_endpoint_disabled(self) -> bool: ...


@dataclass(frozen=True)
class ApiSettings:
    """The REST API's shape and limits: its stage, routes, authorizer and throttling."""

    stage_name: str = "live"
    """The stage's name: the first segment of the execute-api URL's path."""
    route_table: Sequence[routes.Route] = routes.ROUTES
    """The routes (method, path, function, authorized): a resource per path segment, a method, a Lambda
    proxy integration to the function's `live` alias and an invoke permission per route."""
    authorizer: routes.Function = routes.AUTHORIZER
    """The REQUEST authorizer's function: it checks the `Authorization` header of every authorized route."""
    authorizer_cache_seconds: int = routes.AUTHORIZER_CACHE_SECONDS
    """How long API Gateway caches an authorizer's answer per `Authorization` header, s (0-3600; 0: none)."""
    throttle_rate_limit: float = 500.0
    """Steady-state rate limit of each method, requests/s over all clients (more than 0, at most 10000: the
    account's default quota per region). 0 is refused: it would throttle /health too."""
    throttle_burst_limit: int = 1000
    """Burst limit of each method, requests (1-5000: the account's default burst)."""
    execute_api_endpoint_disabled: bool = False
    """With a custom domain, clients (and the health check) must come through it."""
    manage_api_gateway_account: bool = True
    """Set API Gateway's (account-wide, per-region) CloudWatch role; needed once per account and region."""

    def __post_init__(self) -> None:
        if not 0 <= self.authorizer_cache_seconds <= MAX_AUTHORIZER_TTL:
            raise ValueError(f"authorizer cache must be 0..{MAX_AUTHORIZER_TTL} s")
        # 0 would throttle every request, /health included: Route 53 would drop the region.
        validation.positive_at_most("throttle_rate_limit", self.throttle_rate_limit, validation.MAX_THROTTLE_RATE)
        validation.whole_number("throttle_burst_limit", self.throttle_burst_limit, 1, validation.MAX_THROTTLE_BURST)


@dataclass(frozen=True)
class RestApiArgs:
    """What RestApi builds the API from: the functions it invokes, the key for its logs and its settings.
    Fields: docs/components.md."""

    region: str
    """The region of the API, its stage and its log groups: an AWS region name."""
    functions: Mapping[str, DeployedFunction]
    """By role: every function the routes name, and the authorizer (each invoked through its `live` alias)."""
    logs_key_arn: pulumi.Input[str]
    """Encrypts the access and execution log groups (the key's policy admits this region's log groups)."""
    settings: ApiSettings = field(default_factory=ApiSettings)
    """Stage, routes, authorizer and throttling."""
    name_prefix: str = "payment-gateway"
    """The API's name, and the prefix of its authorizer's and access log group's names."""
    log_retention_days: int = 365
    """Retention of the access and execution log groups, days (one of the values CloudWatch accepts)."""
    former_parent: pulumi.Resource | None = None
    """Where the API's resources were declared before this component existed (they are aliased)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the API, its stage, log groups and CloudWatch role."""


def path_slug(path: str) -> str:
    """`/v1/payments/{id}` -> `v1-payments-id` (for resource names)."""
    return "-".join(part.strip("{}") for part in path.split("/") if part) or "root"


def path_prefixes(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def source_arn_path(path: str) -> str:
    """Path parameters become `*` in an execute-api source ARN."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))


def deployment_fingerprint(api: ApiShape) -> str:
    """Changes whenever the API's shape does, so the Deployment is replaced (redeployed)."""
    shape = {
        "routes": [[r.method, r.path, r.function.name, r.function.handler, r.authorized] for r in api.route_table],
        "authorizer": [api.authorizer.name, IDENTITY_SOURCE, api.authorizer_cache_seconds],
        "responses": [[e.response_type, e.status_code, e.template(), e.headers()] for e in GATEWAY_ERRORS],
        "response_headers": {REQUEST_ID_HEADER: "context.requestId"},
        "execute_api_endpoint_disabled": api.execute_api_endpoint_disabled,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def deployment_trigger(fingerprint: str, invoke_arns: Mapping[str, str]) -> str:
    """The API's shape plus the functions its integrations and authorizer invoke: a replaced
    function (a new name) changes an integration's URI in place, which the stage serves only after a
    new Deployment; without one it would keep invoking the deleted function."""
    targets = json.dumps(sorted(invoke_arns.items()))
    return hashlib.sha256(f"{fingerprint}:{targets}".encode()).hexdigest()


class RestApi(pulumi.ComponentResource):
    """The REST API, its routes, authorizer and gateway responses, and the stage that serves them."""

    rest_api_id: pulumi.Output[str]
    rest_api_name: pulumi.Output[str]
    stage_name: pulumi.Output[str]
    stage_arn: pulumi.Output[str]
    invoke_url: pulumi.Output[str]

    def __init__(self, name: str, args: RestApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "RestApi"), name, None, opts)
        self._name = name
        self._args = args
        self._region = args.region
        api = self._rest_api()
        stage = self._stage(api, self._api_methods(api))
        self.rest_api_id = api.id
        self.rest_api_name = api.name
        self.stage_name = stage.stage_name
        self.stage_arn = stage.arn
        self.invoke_url = stage.invoke_url
        self.register_outputs(
            {
                "rest_api_id": self.rest_api_id,
                "rest_api_name": self.rest_api_name,
                "stage_name": self.stage_name,
                "stage_arn": self.stage_arn,
                "invoke_url": self.invoke_url,
            }
        )

    # --- children: `<name>-<role>`, aliased to where they were before this component -----------------

    def _child(self, role: str) -> str:
        return f"{self._name}-{role}"

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Its own children; theirs need no alias: the engine gives a child its parent's aliases."""
        return moved_child_opts(self, self._args.former_parent, **kwargs)

    def _log_group(self, role: str, log_group_name: pulumi.Input[str]) -> aws.cloudwatch.LogGroup:
        args = self._args
        logs = EncryptedLogs(self._region, args.log_retention_days, args.logs_key_arn, args.tags)
        return logs.group(self._child(role), log_group_name, self._opts())

    # --- the API and its routes ------------------------------------------------------------------

    def _rest_api(self) -> aws.apigateway.RestApi:
        return aws.apigateway.RestApi(
            self._child("api"),
            aws.apigateway.RestApiArgs(
                region=self._region,
                name=self._args.name_prefix,
                description=f"Payment gateway API ({self._region})",
                endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
                disable_execute_api_endpoint=self._args.settings.execute_api_endpoint_disabled,
                security_policy="TLS_1_2",
                tags=dict(self._args.tags),
            ),
            self._opts(),
        )

    def _api_methods(self, api: aws.apigateway.RestApi) -> list[pulumi.Resource]:
        """Resources, methods, integrations, the authorizer and the gateway responses."""
        authorizer = self._authorizer(api)
        resource_ids = self._path_resources(api)
        created: list[pulumi.Resource] = [authorizer]
        for route in self._args.settings.route_table:
            created += self._route(api, route, resource_ids[route.path], authorizer)
        created += [self._gateway_response(api, error) for error in GATEWAY_ERRORS]
        return created

    def _gateway_response(self, api: aws.apigateway.RestApi, error: GatewayError) -> aws.apigateway.Response:
        headers = {f"gatewayresponse.header.{REQUEST_ID_HEADER}": "context.requestId"}
        headers |= {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in error.headers().items()}
        role = f"response-{error.response_type.lower().replace('_', '-')}"
        return aws.apigateway.Response(
            self._child(role),
            aws.apigateway.ResponseArgs(
                region=self._region,
                rest_api_id=api.id,
                response_type=error.response_type,
                status_code=error.status_code,
                response_templates={"application/json": error.template()},
                response_parameters=headers,
            ),
            self._opts(),
        )

    def _authorizer(self, api: aws.apigateway.RestApi) -> aws.apigateway.Authorizer:
        settings = self._args.settings
        deployed = self._args.functions[settings.authorizer.name]
        authorizer = aws.apigateway.Authorizer(
            self._child("authorizer"),
            aws.apigateway.AuthorizerArgs(
                region=self._region,
                rest_api=api.id,
                name=f"{self._args.name_prefix}-authorizer",
                type="REQUEST",
                authorizer_uri=deployed.live.invoke_arn,
                identity_source=IDENTITY_SOURCE,
                authorizer_result_ttl_in_seconds=settings.authorizer_cache_seconds,
            ),
            self._opts(),
        )
        source_arn = pulumi.Output.concat(api.execution_arn, "/authorizers/", authorizer.id)
        self._invoke_permission("authorizer-permission", deployed, source_arn)
        return authorizer

    def _invoke_permission(
        self, role: str, deployed: DeployedFunction, source_arn: pulumi.Input[str]
    ) -> aws.lambda_.Permission:
        return invoke_permission(
            self._child(role),
            deployed,
            region=self._region,
            principal="apigateway.amazonaws.com",
            source_arn=source_arn,
            opts=self._opts(),
        )

    def _path_resources(self, api: aws.apigateway.RestApi) -> dict[str, pulumi.Input[str]]:
        """One API resource per path segment, parents first; returns path -> resource id."""
        ids: dict[str, pulumi.Input[str]] = {"/": api.root_resource_id}
        route_table = self._args.settings.route_table
        paths = sorted({p for route in route_table for p in path_prefixes(route.path)}, key=lambda p: (p.count("/"), p))
        slugs = [path_slug(p) for p in paths]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"route paths {paths} give clashing resource names")
        for path in paths:
            parent, _, part = path.rpartition("/")
            role = f"resource-{path_slug(path)}"
            resource = aws.apigateway.Resource(
                self._child(role),
                aws.apigateway.ResourceArgs(
                    region=self._region, rest_api=api.id, parent_id=ids[parent or "/"], path_part=part
                ),
                self._opts(),
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
        deployed = self._args.functions[route.function.name]
        slug = f"{route.method.lower()}-{path_slug(route.path)}"
        path_params = [part.strip("{}") for part in route.path.split("/") if part.startswith("{")]
        method = aws.apigateway.Method(
            self._child(f"method-{slug}"),
            aws.apigateway.MethodArgs(
                region=self._region,
                rest_api=api.id,
                resource_id=resource_id,
                http_method=route.method,
                authorization="CUSTOM" if route.authorized else "NONE",
                authorizer_id=authorizer.id if route.authorized else None,
                request_parameters={f"method.request.path.{p}": True for p in path_params} or None,
            ),
            self._opts(),
        )
        integration = aws.apigateway.Integration(
            self._child(f"integration-{slug}"),
            aws.apigateway.IntegrationArgs(
                region=self._region,
                rest_api=api.id,
                resource_id=resource_id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=deployed.live.invoke_arn,
            ),
            self._opts(),
        )
        source_arn = pulumi.Output.concat(api.execution_arn, f"/*/{route.method}{source_arn_path(route.path)}")
        permission = self._invoke_permission(f"permission-{slug}", deployed, source_arn)
        return [method, integration, permission]

    # --- the stage and its logs --------------------------------------------------------------------

    def _api_gateway_account(self) -> aws.apigateway.Account:
        """API Gateway's CloudWatch role: an account-wide setting, per region (see docs)."""
        role = aws.iam.Role(
            self._child("apigateway-logs-role"),
            aws.iam.RoleArgs(
                assume_role_policy=json.dumps(assume_role_policy("apigateway.amazonaws.com")),
                description=f"API Gateway writes CloudWatch logs in {self._region}",
                tags=dict(self._args.tags),
            ),
            self._opts(),
        )
        ctx = account_context(self, self._region)
        policy = aws.iam.RolePolicy(
            self._child("apigateway-logs-policy"),
            aws.iam.RolePolicyArgs(role=role.id, policy=policy_json(ctx, api_gateway_logging_policy)),
            pulumi.ResourceOptions(parent=role),
        )
        return aws.apigateway.Account(
            self._child("apigateway-account"),
            aws.apigateway.AccountArgs(region=self._region, cloudwatch_role_arn=role.arn),
            self._opts(depends_on=[policy]),
        )

    def _deployment_trigger(self) -> pulumi.Output[str]:
        settings, functions = self._args.settings, self._args.functions
        invoked = [r.function.name for r in settings.route_table] + [settings.authorizer.name]
        # The aliases they invoke: the switch from a function to its alias needs a new Deployment too.
        arns = {name: functions[name].live.invoke_arn for name in sorted(set(invoked))}
        fingerprint = deployment_fingerprint(settings)
        return pulumi.Output.all(**arns).apply(lambda resolved: deployment_trigger(fingerprint, resolved))

    def _stage(self, api: aws.apigateway.RestApi, api_parts: list[pulumi.Resource]) -> aws.apigateway.Stage:
        args, settings = self._args, self._args.settings
        deployment = aws.apigateway.Deployment(
            self._child("deployment"),
            aws.apigateway.DeploymentArgs(
                region=self._region,
                rest_api=api.id,
                description="Managed by Pulumi; replaced when the routes or responses change",
                triggers={"redeployment": self._deployment_trigger()},
            ),
            self._opts(depends_on=api_parts),
        )
        access_logs = self._log_group("access-logs", f"/aws/apigateway/{args.name_prefix}/access")
        # Created here (encrypted, with retention) before API Gateway would create it without either.
        execution_logs = self._log_group(
            "execution-logs", pulumi.Output.concat("API-Gateway-Execution-Logs_", api.id, "/", settings.stage_name)
        )
        ready: list[pulumi.Resource] = [access_logs, execution_logs]
        if settings.manage_api_gateway_account:
            ready.append(self._api_gateway_account())
        stage = aws.apigateway.Stage(
            self._child("stage"),
            aws.apigateway.StageArgs(
                region=self._region,
                rest_api=api.id,
                deployment=deployment.id,
                stage_name=settings.stage_name,
                xray_tracing_enabled=True,
                access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                    destination_arn=access_logs.arn, format=json.dumps(ACCESS_LOG_FORMAT)
                ),
                tags=dict(args.tags),
            ),
            self._opts(depends_on=ready),
        )
        aws.apigateway.MethodSettings(
            self._child("method-settings"),
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
                    throttling_burst_limit=settings.throttle_burst_limit,
                    throttling_rate_limit=settings.throttle_rate_limit,
                ),
            ),
            self._opts(depends_on=ready),
        )
        return stage
