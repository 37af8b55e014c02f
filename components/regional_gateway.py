"""RegionalGateway: the payment API on Lambda in one region, composed of three parts.

- LambdaFunctions (components/lambda_functions.py): one function (own role, own log group) per
  route function, the authorizer, the scheduled resolver and, without a real bank, the bank
  simulator, each published behind its `live` alias, and the key for their logs and environment.
- RestApi (components/rest_api.py): the REST API built from `handlers.contract.routes`, its authorizer,
  gateway responses and stage, invoking those functions.
- RegionalEdge (components/edge.py): WAF on the stage and, optionally, a custom domain with a
  Route 53 latency record and health check.

The functions and the API were the gateway's own children before they were components: they keep
their names and carry aliases to their URNs under the gateway, so an existing stack keeps them.
The settings of the functions are components/lambda_settings.py; the names other programs import
from here (RegionalResolver, FunctionsArgs, DeployedFunction, route_functions...) stay importable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.common import child_opts, type_token
from components.edge import (
    ApiGatewayOrigin,
    CustomDomainArgs,
    EdgeSettings,
    MovedFrom,
    RegionalEdge,
    RegionalEdgeArgs,
)
from components.lambda_functions import (
    DeployedFunction,
    LambdaFunctions,
    LambdaFunctionsArgs,
    RegionalResolver,
)
from components.lambda_settings import (
    LIVE_ALIAS,
    LOG_RETENTION_DAYS,
    RUNTIME,
    RUNTIME_VERSION,
    BankSettings,
    FunctionsArgs,
    LambdaSettings,
    ResolverSettings,
    route_functions,
    table_operations,
)
from components.rest_api import (
    ACCESS_LOG_FORMAT,
    ApiSettings,
    RestApi,
    RestApiArgs,
    deployment_fingerprint,
    deployment_trigger,
)
from handlers.contract import routes
from handlers.contract.gateway_errors import GATEWAY_ERRORS

__all__ = [
    "ACCESS_LOG_FORMAT",
    "GATEWAY_ERRORS",
    "LIVE_ALIAS",
    "LOG_RETENTION_DAYS",
    "RUNTIME",
    "RUNTIME_VERSION",
    "BankSettings",
    "CustomDomainArgs",
    "DeployedFunction",
    "FunctionsArgs",
    "LambdaSettings",
    "RegionalGateway",
    "RegionalGatewayArgs",
    "RegionalResolver",
    "ResolverSettings",
    "deployment_fingerprint",
    "deployment_trigger",
    "route_functions",
    "table_operations",
]


# The API's and the edge's own defaults: RegionalGatewayArgs spells their settings out flat.
_API = ApiSettings()
_EDGE = EdgeSettings()


@dataclass(frozen=True)
class RegionalGatewayArgs(FunctionsArgs):
    """FunctionsArgs (the functions: table, code, secrets, bank, resolver, runtime) plus the REST API's and
    the edge's settings, spelt out flat: RegionalGateway passes them on as ApiSettings and EdgeSettings
    (`api`, `edge`). Fields: docs/components.md."""

    stage_name: str = _API.stage_name
    """The REST API stage's name: the first segment of the execute-api URL's path."""
    route_table: Sequence[routes.Route] = _API.route_table
    """The API's routes (method, path, function, authorized): a function per distinct route function."""
    authorizer: routes.Function = _API.authorizer
    """The REQUEST authorizer's function: it checks the `Authorization` header of every authorized route."""
    authorizer_cache_seconds: int = _API.authorizer_cache_seconds
    """How long API Gateway caches an authorizer's answer per `Authorization` header, s (0-3600; 0: none)."""
    throttle_rate_limit: float = _API.throttle_rate_limit
    """Steady-state rate limit of each method, requests/s over all clients (more than 0, at most 10000)."""
    throttle_burst_limit: int = _API.throttle_burst_limit
    """Burst limit of each method, requests (1-5000)."""
    waf_rate_limit: int = _EDGE.waf_rate_limit
    """Requests per client IP per 5 minutes before WAF blocks it (at least 10)."""
    waf_log_all_requests: bool = _EDGE.waf_log_all_requests
    """Log every request WAF inspects, not only those it blocks or counts (costs ingestion per request)."""
    domain: CustomDomainArgs | None = None
    """A custom domain: certificate, DNS, health check and latency record; the execute-api endpoint is then
    disabled. None: clients use the stage's invoke URL, and nothing fails over by DNS."""
    drain: bool = _EDGE.drain
    """Planned failover: withdraw this region's latency record (the API keeps running); without `domain`
    there is none to withdraw."""
    manage_api_gateway_account: bool = _API.manage_api_gateway_account
    """Set API Gateway's (account-wide, per-region) CloudWatch role; needed once per account and region."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _ = self.api  # refuses an authorizer cache API Gateway would
        _ = self.edge  # refuses a limit WAF would

    @property
    def execute_api_endpoint_disabled(self) -> bool:
        """With a custom domain, clients (and the health check) must come through it."""
        return self.domain is not None

    @property
    def api(self) -> ApiSettings:
        return ApiSettings(
            stage_name=self.stage_name,
            route_table=self.route_table,
            authorizer=self.authorizer,
            authorizer_cache_seconds=self.authorizer_cache_seconds,
            throttle_rate_limit=self.throttle_rate_limit,
            throttle_burst_limit=self.throttle_burst_limit,
            execute_api_endpoint_disabled=self.execute_api_endpoint_disabled,
            manage_api_gateway_account=self.manage_api_gateway_account,
        )

    @property
    def edge(self) -> EdgeSettings:
        return EdgeSettings(self.domain, self.waf_rate_limit, self.waf_log_all_requests, self.drain)


class RegionalGateway(pulumi.ComponentResource):
    """The API, its functions and their protections in one region."""

    functions: dict[str, DeployedFunction]
    function_names: dict[str, pulumi.Output[str]]
    key_arn: pulumi.Output[str]
    bank_url: pulumi.Output[str] | None
    """The simulator's URL when it is deployed; None with a real bank."""
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
        # Named like the gateway: their children keep the names `<gateway>-<role>` they had as its own.
        served = [*route_functions(args.route_table), args.authorizer]
        functions = LambdaFunctions(name, LambdaFunctionsArgs(args, served, former_parent=self), child_opts(self))
        api = self._api(name, args, functions)
        edge = self._edge(name, args, api, functions.key_arn)
        self.functions = functions.functions
        self.function_names = functions.function_names
        self.key_arn = functions.key_arn
        self.bank_url = functions.bank_url
        self.rest_api_id = api.rest_api_id
        self.rest_api_name = api.rest_api_name
        self.stage_name = api.stage_name
        self.stage_arn = api.stage_arn
        self.invoke_url = api.invoke_url
        self.web_acl_arn = edge.web_acl_arn
        self.global_url = edge.global_url
        self.health_check_id = edge.health_check_id
        self.regional_url = edge.regional_url if edge.regional_url is not None else api.invoke_url
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

    def _api(self, name: str, args: RegionalGatewayArgs, functions: LambdaFunctions) -> RestApi:
        """The REST API invoking the functions, its logs encrypted with their key."""
        return RestApi(
            name,
            RestApiArgs(
                region=args.region,
                functions=functions.functions,
                logs_key_arn=functions.key_arn,
                settings=args.api,
                name_prefix=args.name_prefix,
                log_retention_days=args.log_retention_days,
                former_parent=self,
                tags=args.tags,
            ),
            child_opts(self),
        )

    def _edge(
        self, name: str, args: RegionalGatewayArgs, api: RestApi, logs_key_arn: pulumi.Output[str]
    ) -> RegionalEdge:
        """WAF on the stage; with a domain, API Gateway custom domain names, DNS and the health check.
        Its children were the gateway's own before the edge was a component: aliased, not replaced."""
        health = next((r.path for r in args.route_table if r.function.name == routes.HEALTH.name), "/health")
        return RegionalEdge(
            f"{name}-edge",
            RegionalEdgeArgs(
                region=args.region,
                origin=ApiGatewayOrigin(
                    rest_api_id=api.rest_api_id, stage_name=api.stage_name, stage_arn=api.stage_arn
                ),
                logs_key_arn=logs_key_arn,
                settings=args.edge,
                name_prefix=args.name_prefix,
                log_retention_days=args.log_retention_days,
                health_path=health,
                moved_from=MovedFrom(parent=self, prefix=name),
                tags=args.tags,
            ),
            child_opts(self),
        )
