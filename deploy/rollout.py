"""One stack's gradual rollout: which functions `pulumi up` gave a new version, a CodeDeploy
deployment for each (all at once, so a region's rollout takes one canary, not one per function),
waiting for them, and putting every function back on its previous version when one fails.

Plain Python behind three small interfaces (`Deployments`, `Aliases`, `Alarms`); deploy.clients
implements them with boto3. Exit codes: 0 done (or nothing to do), 1 rolled back or refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
# CodeDeploy's predefined Lambda configs: CodeDeployDefault.Lambda{Canary10Percent5Minutes,
# Linear10PercentEvery1Minute, AllAtOnce, ...}.
_CANARY = re.compile(r"LambdaCanary\d+Percent(?P<minutes>\d+)Minutes?$")
_LINEAR = re.compile(r"LambdaLinear(?P<percent>\d+)PercentEvery(?P<minutes>\d+)Minutes?$")
# Beyond the traffic shifting itself: CodeDeploy starting, and its last alarm checks.
TIMEOUT_MARGIN_SECONDS = 600.0
# How long CodeDeploy may take to shift a stopped deployment's traffic back before we do it ourselves.
RESTORE_SECONDS = 300.0
OK, FAILED = 0, 1


class RolloutError(Exception):
    """The stack's outputs or its aliases do not allow a rollout; nothing was started."""


@dataclass(frozen=True)
class Target:
    """A published function as the stack exports it: the version `pulumi up` just published."""

    role: str
    function_name: str
    alias: str
    version: str
    deployment_group: str | None
    alarms: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    region: str
    strategy: str
    deployment_config: str | None
    """None: all-at-once, Pulumi has moved the aliases already."""
    application: str | None
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class AliasState:
    version: str
    weights: Mapping[str, float] = field(default_factory=dict)
    """Other versions' share of the traffic: not empty while (or after an interrupted) shift."""


@dataclass(frozen=True)
class Status:
    state: str
    """CodeDeploy's: Created, Queued, InProgress, Baking, Ready, Succeeded, Failed or Stopped."""
    message: str = ""


class Deployments(Protocol):
    def start(self, application: str, group: str, appspec: str, description: str) -> str: ...
    def status(self, deployment_id: str) -> Status: ...
    def stop(self, deployment_id: str) -> bool:
        """Stop it and have CodeDeploy shift its traffic back; False if it had already finished."""


class Aliases(Protocol):
    def get(self, function_name: str, alias: str) -> AliasState: ...
    def point(self, function_name: str, alias: str, version: str) -> None:
        """All of the alias's traffic to `version`."""


class Alarms(Protocol):
    def firing(self, names: Sequence[str]) -> list[str]:
        """Those in ALARM, and those that do not exist (CodeDeploy would fail on them too)."""


@dataclass(frozen=True)
class Step:
    target: Target
    current: str
    """The version the alias serves now: where a failure leaves it."""

    def appspec(self) -> str:
        """CodeDeploy's AppSpec for a Lambda deployment, as JSON."""
        logical_id = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", self.target.role))
        properties = {
            "Name": self.target.function_name,
            "Alias": self.target.alias,
            "CurrentVersion": self.current,
            "TargetVersion": self.target.version,
        }
        resource = {logical_id: {"Type": "AWS::Lambda::Function", "Properties": properties}}
        return json.dumps({"version": 0.0, "Resources": [resource]}, sort_keys=True)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise RolloutError(f"the stack output {what} is missing or not a string")
    return value


def _target(role: str, raw: Any, gradual: bool) -> Target:
    if not isinstance(raw, dict):
        raise RolloutError(f"the stack output deployment.functions.{role} is not an object")
    group = raw.get("deploymentGroup")
    if gradual:
        _text(group, f"deployment.functions.{role}.deploymentGroup")
    alarms = raw.get("alarms") or []
    return Target(
        role=role,
        function_name=_text(raw.get("functionName"), f"deployment.functions.{role}.functionName"),
        alias=_text(raw.get("alias"), f"deployment.functions.{role}.alias"),
        version=_text(raw.get("version"), f"deployment.functions.{role}.version"),
        deployment_group=group if gradual else None,
        alarms=tuple(_text(a, f"deployment.functions.{role}.alarms") for a in alarms),
    )


def plan_from_outputs(outputs: Mapping[str, Any]) -> Plan:
    """The `pulumi stack output --json` of a stack deployed by this program."""
    deployment = outputs.get("deployment")
    if not isinstance(deployment, dict) or not isinstance(deployment.get("functions"), dict):
        raise RolloutError("the stack exports no `deployment`: run `pulumi up` with this version of the program")
    config = deployment.get("deploymentConfig")
    gradual = config is not None
    return Plan(
        region=_text(outputs.get("region"), "region"),
        strategy=_text(deployment.get("strategy"), "deployment.strategy"),
        deployment_config=_text(config, "deployment.deploymentConfig") if gradual else None,
        application=_text(deployment.get("application"), "deployment.application") if gradual else None,
        targets=tuple(_target(role, raw, gradual) for role, raw in sorted(deployment["functions"].items())),
    )


def shift_seconds(config: str) -> float:
    """How long CodeDeploy's predefined `config` takes to move all the traffic."""
    if config.endswith("LambdaAllAtOnce"):
        return 0.0
    if canary := _CANARY.search(config):
        return 60.0 * int(canary["minutes"])
    if linear := _LINEAR.search(config):
        return 60.0 * int(linear["minutes"]) * math.ceil(100 / int(linear["percent"]))
    raise RolloutError(f"{config} is not one of CodeDeploy's predefined Lambda configs")


def changed(plan: Plan, aliases: Aliases) -> list[Step]:
    """The functions whose alias does not serve the published version yet."""
    steps = []
    for target in plan.targets:
        state = aliases.get(target.function_name, target.alias)
        if state.weights:
            raise RolloutError(
                f"{target.function_name}:{target.alias} splits its traffic {dict(state.weights)} besides version "
                f"{state.version}: a deployment is running or was interrupted (aws deploy list-deployments)"
            )
        if state.version != target.version:
            steps.append(Step(target, state.version))
    return steps


@dataclass
class Rollout:
    deployments: Deployments
    aliases: Aliases
    alarms: Alarms
    report: Callable[[str], None]
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    poll_seconds: float = 15.0

    def run(self, plan: Plan, bake_seconds: float = 0.0) -> int:
        if plan.deployment_config is None or plan.application is None:
            return self._all_at_once(plan)
        steps = changed(plan, self.aliases)
        if not steps:
            self.report("nothing to roll out: every alias serves its function's latest version")
            return OK
        firing = self.alarms.firing(_alarm_names(steps))
        if firing:
            self.report(f"refusing to start: {', '.join(firing)} already firing; CodeDeploy would stop at once")
            return FAILED
        timeout = shift_seconds(plan.deployment_config) + TIMEOUT_MARGIN_SECONDS
        if not self.shift(plan.application, steps, timeout):
            return FAILED
        if bake_seconds > 0 and not self.bake(steps, bake_seconds):
            return FAILED
        self.report(f"done: {', '.join(f'{s.target.role} v{s.target.version}' for s in steps)} serve all traffic")
        return OK

    def _all_at_once(self, plan: Plan) -> int:
        behind = [t for t in plan.targets if self.aliases.get(t.function_name, t.alias).version != t.version]
        if behind:
            self.report(f"all-at-once, yet {', '.join(t.role for t in behind)} do not serve their latest version")
            return FAILED
        self.report(f"{plan.strategy}: pulumi up has moved every alias to its latest version; nothing to shift")
        return OK

    def shift(self, application: str, steps: Sequence[Step], timeout: float) -> bool:
        """Start every deployment, wait for all; on the first failure stop the rest and restore all."""
        started: dict[str, str] = {}
        running: set[str] = set()  # started and not finished: what a failure must stop
        try:
            for step in steps:
                role, group = step.target.role, step.target.deployment_group or step.target.role
                description = f"{role}: version {step.current} -> {step.target.version} (make deploy)"
                started[role] = self.deployments.start(application, group, step.appspec(), description)
                running.add(role)
                self.report(f"{role}: deployment {started[role]} started ({description})")
            return self._wait(steps, started, running, self.clock() + timeout)
        except KeyboardInterrupt:
            self.report("interrupted: stopping the deployments and restoring the previous versions")
            self.restore(steps, started, running)
            raise
        except Exception as e:  # an AWS error part-way: what started must not be left half-shifted
            self.report(f"rollout failed: {e}")
            self.restore(steps, started, running)
            return False

    def _wait(self, steps: Sequence[Step], started: Mapping[str, str], running: set[str], deadline: float) -> bool:
        while running:
            self.sleep(self.poll_seconds)
            for role in sorted(running):
                status = self.deployments.status(started[role])
                if status.state not in TERMINAL:
                    continue
                running.discard(role)
                if status.state != "Succeeded":
                    detail = f": {status.message}" if status.message else ""
                    self.report(f"{role}: deployment {started[role]} {status.state.lower()}{detail}")
                    self.restore(steps, started, running, rolling_back={role})
                    return False
                self.report(f"{role}: deployment {started[role]} succeeded")
            if running and self.clock() > deadline:
                self.report(f"{', '.join(sorted(running))}: not finished in time; stopping")
                self.restore(steps, started, running)
                return False
        return True

    def bake(self, steps: Sequence[Step], seconds: float) -> bool:
        """All traffic is on the new versions: watch the same alarms a while longer, and shift back."""
        names = _alarm_names(steps)
        self.report(f"baking {seconds / 60:g} min, watching {len(names)} alarms")
        deadline = self.clock() + seconds
        while (remaining := deadline - self.clock()) > 0:
            self.sleep(min(self.poll_seconds, remaining))
            firing = self.alarms.firing(names)
            if firing:
                self.report(f"{', '.join(firing)} fired while baking: restoring the previous versions")
                self.restore(steps, {}, running=set())
                return False
        return True

    def restore(
        self,
        steps: Sequence[Step],
        started: Mapping[str, str],
        running: set[str],
        rolling_back: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """Every function back on the version it served before. CodeDeploy shifts back the deployments
        that failed (`rolling_back`, its automatic rollback) and those still running once stopped; the
        other aliases (already shifted, or never started) are pointed back here. Then wait until every
        alias serves its previous version alone, and say so."""
        shifting_back = set(rolling_back)
        for role in sorted(running):
            if self.deployments.stop(started[role]):
                shifting_back.add(role)
                self.report(f"{role}: deployment {started[role]} stopped, CodeDeploy shifts it back")
        for step in steps:
            if step.target.role not in shifting_back and not self._restored(step):
                self._point_back(step)
        self._await_restored(steps)
        for step in steps:
            back = self._restored(step)
            role, current = step.target.role, step.current
            self.report(
                f"{role}: serving version {current} again" if back else f"{role}: NOT back on version {current}"
            )

    def _await_restored(self, steps: Sequence[Step]) -> None:
        """CodeDeploy's own rollback usually takes seconds; past RESTORE_SECONDS, do it here."""
        deadline = self.clock() + RESTORE_SECONDS
        while not all(self._restored(step) for step in steps):
            if self.clock() > deadline:
                for step in (s for s in steps if not self._restored(s)):
                    self._point_back(step)
                return
            self.sleep(self.poll_seconds)

    def _point_back(self, step: Step) -> None:
        self.aliases.point(step.target.function_name, step.target.alias, step.current)

    def _restored(self, step: Step) -> bool:
        state = self.aliases.get(step.target.function_name, step.target.alias)
        return state.version == step.current and not state.weights


def _alarm_names(steps: Sequence[Step]) -> list[str]:
    return sorted({alarm for step in steps for alarm in step.target.alarms})
