"""LambdaFunctions: a region's Lambda functions, each with its own role and encrypted log group, and the
key for their logs and environment: the functions that serve the API, the scheduled resolver and webhook
sender and,
without a real bank, the bank simulator behind a Function URL. What they are built from is
components/lambda_settings.py.

RegionalGateway (components/regional_gateway.py) composes it with the REST API and the edge;
RegionalResolver is what the container option keeps on Lambda: the same functions, serving no route.
Both built these resources themselves before LambdaFunctions was a component: named like its owner,
it gives its children the names they had, `<owner>-<role>`, and aliases to their URNs under the owner.

Every regional child gets `region=...`; global ones (IAM) take none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import (
    EncryptedLogs,
    account_context,
    child_opts,
    customer_managed_key,
    moved_child_opts,
    policy_json,
    type_token,
)
from components.lambda_settings import (
    ARCHITECTURE,
    LIVE_ALIAS,
    RUNTIME,
    SNAP_START_UNSUPPORTED_REGIONS,
    FunctionsArgs,
)
from components.policies import AccountContext, FunctionAccess, assume_role_policy, function_policy, logs_key_policy
from handlers.contract import routes


@dataclass(frozen=True)
class DeployedFunction:
    """One deployed function and the resources that go with it (LambdaFunctions.functions)."""

    spec: routes.Function
    """What it was built from: name, handler, table actions, keys and indexes (handlers.contract.routes)."""
    function: aws.lambda_.Function
    """The Lambda function, `<name_prefix>-<spec.name>`."""
    role: aws.iam.Role
    """Its own execution role: only its routes' table actions, its log group and the keys."""
    log_group: aws.cloudwatch.LogGroup
    """Its encrypted log group, `/aws/lambda/<function name>`."""
    alias: aws.lambda_.Alias | None = None
    """The `live` alias every caller invokes (published functions only)."""

    @property
    def live(self) -> aws.lambda_.Alias:
        if self.alias is None:
            raise ValueError(f"{self.spec.name} is not published behind an alias")
        return self.alias


def invoke_permission(
    name: str,
    deployed: DeployedFunction,
    *,
    region: str,
    principal: str,
    source_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.lambda_.Permission:
    """`principal` may invoke the `live` alias of `deployed`, from `source_arn` only."""
    return aws.lambda_.Permission(
        name,
        aws.lambda_.PermissionArgs(
            region=region,
            function=deployed.function.name,
            qualifier=deployed.live.name,
            action="lambda:InvokeFunction",
            principal=principal,
            source_arn=source_arn,
        ),
        opts,
    )


@dataclass(frozen=True)
class LambdaFunctionsArgs:
    """The region's shared function settings and which functions serve the API. Fields: docs/components.md."""

    shared: FunctionsArgs
    """What every function of the region is built from."""
    served: Sequence[routes.Function] = ()
    """The functions that answer the API's requests (and its authorizer); none when a container does."""
    former_parent: pulumi.Resource | None = None
    """Where the functions' resources were declared before this component existed (they are aliased)."""


class LambdaFunctions(pulumi.ComponentResource):
    """The `served` functions, the scheduled resolver and webhook sender and, without a real bank, the simulator."""

    key_arn: pulumi.Output[str]
    """Encrypts the log groups and the functions' environment (the owner's other log groups too)."""
    bank_url: pulumi.Output[str] | None
    """The simulator's URL when it is deployed; None with a real bank."""
    bank_endpoint: pulumi.Input[str]
    """What the functions call as BANK_URL: the acquirer's (secret) URL or the simulator's."""
    functions: dict[str, DeployedFunction]
    function_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: LambdaFunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "LambdaFunctions"), name, None, opts)
        self._name = name
        self._args = shared = args.shared
        self._former_parent = args.former_parent
        self._region = shared.region
        self._ctx = account_context(self, shared.region)
        self._key = self._logs_key()
        self._logs = EncryptedLogs(shared.region, shared.log_retention_days, self._key.arn, shared.tags)
        self.functions = {}
        self.bank_url = None
        bank_url = shared.bank.url
        if bank_url is None:
            simulator, bank_url = self._bank_simulator()
            self.functions[simulator.spec.name] = simulator
            self.bank_url = bank_url
        self.bank_endpoint = bank_url
        for spec in args.served:
            self.functions[spec.name] = self._function(spec, shared.environment(spec, bank_url))
        self.functions[shared.resolver_function.name] = self._scheduled(
            shared.resolver_function,
            bank_url,
            "Settle pending payments from the bank's record (docs/reliability.md)",
        )
        self.functions[shared.webhook_sender.name] = self._scheduled(
            shared.webhook_sender, bank_url, "Deliver this region's webhook events (docs/reliability.md)"
        )
        self.key_arn = self._key.arn
        self.function_names = {role: deployed.function.name for role, deployed in self.functions.items()}
        self.register_outputs(
            {"function_names": self.function_names, "key_arn": self.key_arn, "bank_url": self.bank_url}
        )

    def environment(self, served: Sequence[routes.Function]) -> dict[str, pulumi.Input[str]]:
        """The variables the `served` functions would get on Lambda, merged: what a process serving
        them all needs (FINGERPRINT_KEY and BANK_URL among them: the caller keeps those secret)."""
        merged: dict[str, pulumi.Input[str]] = {}
        for spec in served:
            merged |= self._args.environment(spec, self.bank_endpoint)
        return merged

    # --- children: `<name>-<role>`, aliased to where they were before this component -----------------

    def _child(self, role: str) -> str:
        return f"{self._name}-{role}"

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Its own children; theirs need no alias: the engine gives a child its parent's aliases."""
        return moved_child_opts(self, self._former_parent, **kwargs)

    def _logs_key(self) -> aws.kms.Key:
        """Encrypts this region's log groups and its functions' environment (the HMAC key)."""
        prefix = self._args.name_prefix
        return customer_managed_key(
            self,
            (self._child("key"), self._child("key-alias")),
            region=self._region,
            description=f"{prefix} logs and Lambda environment in {self._region}",
            alias=f"alias/{prefix}-gateway",
            policy=policy_json(self._ctx, logs_key_policy),
            tags=dict(self._args.tags),
            former_parent=self._former_parent,
        )

    # --- functions -------------------------------------------------------------------------------

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
        log_group = self._logs.group(self._child(f"{spec.name}-logs"), f"/aws/lambda/{function_name}", self._opts())
        role = aws.iam.Role(
            self._child(f"{spec.name}-role"),
            aws.iam.RoleArgs(
                assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
                description=f"{function_name} in {self._region}",
                tags=dict(args.tags),
            ),
            self._opts(),
        )
        policy = aws.iam.RolePolicy(
            self._child(f"{spec.name}-policy"),
            aws.iam.RolePolicyArgs(role=role.id, policy=self._function_policy(spec, log_group)),
            pulumi.ResourceOptions(parent=role),
        )
        function = aws.lambda_.Function(
            self._child(spec.name),
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
            self._opts(depends_on=[policy, log_group]),
        )
        alias = self._live_alias(spec, function) if published else None
        return DeployedFunction(spec=spec, function=function, role=role, log_group=log_group, alias=alias)

    def _function_policy(self, spec: routes.Function, log_group: aws.cloudwatch.LogGroup) -> pulumi.Output[str]:
        """Only the table actions, keys and indexes the route table gives `spec`, its log group and the keys."""
        args = self._args
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

        return policy_inputs.apply(render)

    def _snap_start(self, published: bool) -> aws.lambda_.FunctionSnapStartArgs | None:
        """Only published versions can have it ($LATEST cannot); no provisioned concurrency is set."""
        wanted = self._args.lambda_settings.snap_start and self._region not in SNAP_START_UNSUPPORTED_REGIONS
        return aws.lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions") if published and wanted else None

    def _live_alias(self, spec: routes.Function, function: aws.lambda_.Function) -> aws.lambda_.Alias:
        """Created on the first published version. Afterwards, unless deployments are all-at-once,
        CodeDeploy moves it (`make deploy`): Pulumi must not flip it to each new version at once."""
        moved_elsewhere = ["function_version", "routing_config"] if self._args.alias_moved_by_deployments else None
        return aws.lambda_.Alias(
            self._child(f"{spec.name}-live"),
            aws.lambda_.AliasArgs(
                region=self._region,
                name=LIVE_ALIAS,
                function_name=function.name,
                function_version=function.version,
                description="What callers invoke; moved to new versions by the deployment",
            ),
            self._opts(ignore_changes=moved_elsewhere),
        )

    def _scheduled(self, spec: routes.Function, bank_url: pulumi.Input[str], description: str) -> DeployedFunction:
        """The resolver or the webhook sender, invoked by an EventBridge rule at the resolver's interval
        (Scheduler needs a role of its own; a rule needs only this function's resource policy), with the
        resolver's timeout. No retries: the next run comes anyway. Like every function here it has no
        VPC configuration: the sender reaches merchants' URLs on the internet through Lambda's own egress."""
        settings = self._args.resolver
        deployed = self._function(spec, self._args.environment(spec, bank_url), timeout=settings.timeout_seconds)
        minutes = settings.interval_minutes
        rule = aws.cloudwatch.EventRule(
            self._child(f"{spec.name}-schedule"),
            aws.cloudwatch.EventRuleArgs(
                region=self._region,
                name=f"{self._args.name_prefix}-{spec.name}",
                description=description,
                schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
                tags=dict(self._args.tags),
            ),
            self._opts(),
        )
        aws.cloudwatch.EventTarget(
            self._child(f"{spec.name}-target"),
            aws.cloudwatch.EventTargetArgs(
                region=self._region,
                rule=rule.name,
                arn=deployed.live.arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60
                ),
            ),
            self._opts(),
        )
        role = f"{spec.name}-schedule-permission"
        invoke_permission(
            self._child(role),
            deployed,
            region=self._region,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=self._opts(),
        )
        return deployed

    def _bank_simulator(self) -> tuple[DeployedFunction, pulumi.Output[str]]:
        """The simulator behind a Function URL (see docs/infrastructure.md for why not an API route)."""
        spec = self._args.bank_simulator
        # A test double behind a Function URL on $LATEST: nothing to roll out gradually.
        deployed = self._function(spec, self._args.environment(spec, ""), published=False)
        url = aws.lambda_.FunctionUrl(
            self._child(f"{spec.name}-url"),
            aws.lambda_.FunctionUrlArgs(
                region=self._region, function_name=deployed.function.name, authorization_type="NONE"
            ),
            self._opts(),
        )
        # Since October 2025 a public function URL needs both permissions.
        aws.lambda_.Permission(
            self._child(f"{spec.name}-url-permission"),
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                action="lambda:InvokeFunctionUrl",
                principal="*",
                function_url_auth_type="NONE",
            ),
            self._opts(),
        )
        aws.lambda_.Permission(
            self._child(f"{spec.name}-invoke-permission"),
            aws.lambda_.PermissionArgs(
                region=self._region,
                function=deployed.function.name,
                action="lambda:InvokeFunction",
                principal="*",
                invoked_via_function_url=True,
            ),
            self._opts(),
        )
        return deployed, url.function_url


class RegionalResolver(pulumi.ComponentResource):
    """What the container option keeps on Lambda: the scheduled resolver and webhook sender and, without
    a real bank, the simulator, with the key for their logs and environment (the container's log groups and
    secrets use it too)."""

    key_arn: pulumi.Output[str]
    functions: dict[str, DeployedFunction]
    function_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "RegionalResolver"), name, None, opts)
        self._lambda = LambdaFunctions(name, LambdaFunctionsArgs(args, former_parent=self), child_opts(self))
        self.key_arn = self._lambda.key_arn
        self.functions = self._lambda.functions
        self.function_names = self._lambda.function_names
        self.register_outputs({"function_names": self.function_names, "key_arn": self.key_arn})

    def environment(self, served: Sequence[routes.Function]) -> dict[str, pulumi.Input[str]]:
        """What a container serving `served` needs (LambdaFunctions.environment)."""
        return self._lambda.environment(served)
