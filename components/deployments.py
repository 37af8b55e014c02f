"""SafeDeployments: CodeDeploy moves each function's `live` alias to its new version gradually, and
moves it back when an alarm fires.

One CodeDeploy application per region and one deployment group per function (as SAM's
DeploymentPreference does), with the alarms that stop it and automatic rollback. These resources
start nothing: a Lambda deployment starts from an AppSpec naming the function, its alias, the version
the alias serves and the version to shift to, which `python -m deploy` (`make deploy`) submits once
`pulumi up` has published the new versions (README, "Safe deployments").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import account_context, child_opts, type_token
from components.policies import assume_role_policy, codedeploy_lambda_policy

ALL_AT_ONCE = "all-at-once"
DEFAULT_STRATEGY = "canary-10-percent-5-minutes"
# deploymentStrategy -> CodeDeploy's predefined Lambda deployment config. all-at-once needs none:
# Pulumi points the alias at the new version itself (CodeDeploy's LambdaAllAtOnce would finish
# before any alarm could evaluate, so it would add nothing).
DEPLOYMENT_STRATEGIES: dict[str, str | None] = {
    ALL_AT_ONCE: None,
    "canary-10-percent-5-minutes": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    "canary-10-percent-10-minutes": "CodeDeployDefault.LambdaCanary10Percent10Minutes",
    "canary-10-percent-15-minutes": "CodeDeployDefault.LambdaCanary10Percent15Minutes",
    "canary-10-percent-30-minutes": "CodeDeployDefault.LambdaCanary10Percent30Minutes",
    "linear-10-percent-every-1-minute": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    "linear-10-percent-every-2-minutes": "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "linear-10-percent-every-3-minutes": "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
    "linear-10-percent-every-10-minutes": "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
}
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")
MAX_ALARMS = 10  # CodeDeploy's limit per deployment group


@dataclass(frozen=True)
class LiveFunction:
    """A published function CodeDeploy deploys: its alias and the alarms that roll it back."""

    function_name: pulumi.Input[str]
    """The Lambda function's name (the service role may update only these functions' aliases)."""
    alias_name: str
    """The alias CodeDeploy shifts (`live`); the same for every function of one SafeDeployments."""
    alarms: Sequence[pulumi.Input[str]]
    """Alarm names that stop this function's deployment and shift its traffic back (1-10)."""


@dataclass(frozen=True)
class SafeDeploymentsArgs:
    """The functions to deploy gradually, their alarms and the traffic-shifting config.
    Fields: docs/components.md."""

    region: str
    """The region of the CodeDeploy application and its groups: an AWS region name."""
    deployment_config: str
    """A CodeDeploy predefined Lambda config (a value of DEPLOYMENT_STRATEGIES): a canary or linear one."""
    functions: Mapping[str, LiveFunction]
    """Role (e.g. `create-payment`) -> its function; the role names the deployment group. At least one."""
    name_prefix: str = "payment-gateway"
    """The CodeDeploy application's name."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the application, its groups and the service role."""

    def __post_init__(self) -> None:
        if not self.functions:
            raise ValueError("nothing to deploy: no functions")
        if self.deployment_config not in {c for c in DEPLOYMENT_STRATEGIES.values() if c}:
            raise ValueError(f"{self.deployment_config!r} is not a CodeDeploy Lambda canary or linear config")
        for role, live in self.functions.items():
            if not 1 <= len(live.alarms) <= MAX_ALARMS:
                raise ValueError(f"{role}: a deployment group takes 1..{MAX_ALARMS} alarms, not {len(live.alarms)}")
        if len({live.alias_name for live in self.functions.values()}) > 1:
            raise ValueError("every function is deployed through one alias name (the service role's policy)")

    @property
    def alias_name(self) -> str:
        return next(iter(self.functions.values())).alias_name


class SafeDeployments(pulumi.ComponentResource):
    """One CodeDeploy application per region and a deployment group per function (`args.functions`:
    role -> its function, `live` alias and alarms), each stopped and rolled back by its alarms, shifting
    traffic as `args.deployment_config` says. It starts nothing:
    `python -m deploy` submits the AppSpec after `pulumi up` published new versions. Use it with
    FunctionsArgs(alias_moved_by_deployments=True) (the default), so Pulumi leaves the aliases to it.

    Outputs: `application_name`, `group_names` (role -> deployment group name)."""

    application_name: pulumi.Output[str]
    group_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SafeDeploymentsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("deployments", "SafeDeployments"), name, None, opts)
        self._name = name
        self._args = args
        application = aws.codedeploy.Application(
            f"{name}-app",
            aws.codedeploy.ApplicationArgs(
                region=args.region, name=args.name_prefix, compute_platform="Lambda", tags=dict(args.tags)
            ),
            child_opts(self),
        )
        role, policy = self._service_role()
        self.application_name = application.name
        self.group_names = {
            role_name: self._group(role_name, live, application, role, policy)
            for role_name, live in args.functions.items()
        }
        self.register_outputs({"application_name": self.application_name, "group_names": self.group_names})

    def _service_role(self) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        args = self._args
        role = aws.iam.Role(
            f"{self._name}-role",
            aws.iam.RoleArgs(
                assume_role_policy=json.dumps(assume_role_policy("codedeploy.amazonaws.com")),
                description=f"CodeDeploy shifts {args.name_prefix} aliases in {args.region}",
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        names = [live.function_name for live in args.functions.values()]
        alarms = [alarm for live in args.functions.values() for alarm in live.alarms]

        def render(values: list[Any]) -> str:
            ctx, resolved = values[0], values[1:]
            document = codedeploy_lambda_policy(ctx, resolved[: len(names)], args.alias_name, resolved[len(names) :])
            return json.dumps(document, sort_keys=True)

        context = account_context(self, args.region)
        policy = aws.iam.RolePolicy(
            f"{self._name}-policy",
            aws.iam.RolePolicyArgs(role=role.id, policy=pulumi.Output.all(context, *names, *alarms).apply(render)),
            pulumi.ResourceOptions(parent=role),
        )
        return role, policy

    def _group(
        self,
        role_name: str,
        live: LiveFunction,
        application: aws.codedeploy.Application,
        role: aws.iam.Role,
        policy: aws.iam.RolePolicy,
    ) -> pulumi.Output[str]:
        args = self._args
        group = aws.codedeploy.DeploymentGroup(
            f"{self._name}-{role_name}",
            aws.codedeploy.DeploymentGroupArgs(
                region=args.region,
                app_name=application.name,
                deployment_group_name=role_name,
                service_role_arn=role.arn,
                deployment_config_name=args.deployment_config,
                # The only style CodeDeploy has for Lambda: traffic moves between versions of an alias.
                deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                    deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
                ),
                alarm_configuration=aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
                    enabled=True,
                    alarms=list(live.alarms),
                    # An alarm CodeDeploy cannot read stops the deployment rather than being skipped.
                    ignore_poll_alarm_failure=False,
                ),
                auto_rollback_configuration=aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(
                    enabled=True, events=list(ROLLBACK_EVENTS)
                ),
                tags=dict(args.tags),
            ),
            child_opts(self, depends_on=[policy]),
        )
        return group.deployment_group_name
