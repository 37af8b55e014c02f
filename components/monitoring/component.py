"""Monitoring: the plain alarm specs and dashboard turned into resources, for one region's gateway.

Every alarm notifies an encrypted topic of its own region on ALARM and on OK. Route 53 publishes its
metrics in us-east-1 only, so the health-check alarm lives there and, an alarm being able to notify
only a topic of its own region, gets its own (encrypted) topic there when this stack is elsewhere.
The table replica's keys are watched by EventBridge rules to the same topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import account_context, child_opts, customer_managed_key, policy_json, type_token
from components.monitoring import alarms
from components.monitoring.alarms import KEY_RULES, ROUTE53_METRICS_REGION, key_event_pattern
from components.monitoring.dashboard import dashboard_body
from components.monitoring.model import PERIOD, AlarmSpec, MonitoringArgs, Query
from components.policies import AccountContext, alert_topic_policy, alerts_key_policy


def _query_args(query: Query) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    if query.metric is None:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query.id, expression=query.expression, label=query.label, return_data=True
        )
    metric = query.metric
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query.id,
        return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=metric.namespace,
            metric_name=metric.name,
            dimensions=dict(metric.dimensions),
            stat=query.stat,
            period=PERIOD,
        ),
    )


class Monitoring(pulumi.ComponentResource):
    """One region's alarms (Lambda or Fargate, API, table, replication, resolver, webhooks, the health
    check), its dashboard, and the encrypted topics they notify (MonitoringArgs: what to watch and the
    thresholds, components.monitoring.model.AlarmThresholds). Subscribe to `topic_arn`.

    Outputs: `topic_arn`; `health_topic_arn` (us-east-1's, when this region is elsewhere and watches a
    health check, else None); `alarm_names` and `alarm_names_by_key` (alarm key -> name);
    `dashboard_name`, `dashboard_url`."""

    topic_arn: pulumi.Output[str]
    health_topic_arn: pulumi.Output[str] | None
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]
    alarm_names_by_key: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("monitoring", "Monitoring"), name, None, opts)
        self._name = name
        self._args = args
        specs = alarms.alarm_specs(args)
        topics = {args.region: self._topic(args.region, "")}
        for region in sorted({spec.region for spec in specs if spec.region} - {args.region}):
            topics[region] = self._topic(region, f"-{region}")
        self.alarm_names_by_key = {spec.key: self._alarm(spec, topics) for spec in specs}
        if args.watched_keys:
            self._key_watch(args.watched_keys, topics[args.region])
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            aws.cloudwatch.DashboardArgs(
                region=args.region,
                dashboard_name=f"{args.name_prefix}-{args.region}",
                dashboard_body=pulumi.Output.json_dumps(dashboard_body(args)),
            ),
            child_opts(self),
        )

        self.topic_arn = topics[args.region]
        # The health-check alarm's topic, when it is not this region's.
        self.health_topic_arn = topics.get(ROUTE53_METRICS_REGION) if args.region != ROUTE53_METRICS_REGION else None
        self.alarm_names = list(self.alarm_names_by_key.values())
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard.dashboard_name.apply(
            lambda dashboard_name: (
                f"https://{args.region}.console.aws.amazon.com/cloudwatch/home"
                f"?region={args.region}#dashboards:name={dashboard_name}"
            )
        )
        self.register_outputs(
            {"topic_arn": self.topic_arn, "dashboard_url": self.dashboard_url, "alarm_names": self.alarm_names}
        )

    def rollback_alarms(self, role: str) -> list[pulumi.Output[str]]:
        """The alarms that roll back `role`'s deployment: the API's, and the function's own errors and 5xx."""
        keys = alarms.rollback_alarms(self._args, role, set(self.alarm_names_by_key))
        return [self.alarm_names_by_key[key] for key in keys]

    def _topic(self, region: str, suffix: str) -> pulumi.Output[str]:
        """A KMS-encrypted topic (and its key) in `region`; names carry this stack's region."""
        args = self._args
        label = f"{args.name_prefix}-alerts-{args.region}"
        ctx = account_context(self, region)
        key = customer_managed_key(
            self,
            (f"{self._name}-key{suffix}", f"{self._name}-key-alias{suffix}"),
            region=region,
            description=f"Encrypts the {label} alarm topic",
            alias=f"alias/{label}",
            policy=policy_json(ctx, alerts_key_policy),
            tags=dict(args.tags),
        )
        topic = aws.sns.Topic(
            f"{self._name}-topic{suffix}",
            aws.sns.TopicArgs(region=region, name=label, kms_master_key_id=key.arn, tags=dict(args.tags)),
            child_opts(self),
        )
        # The key-watch rules (EventBridge) publish only to this stack's own region's topic.
        event_rules = region == args.region and bool(args.watched_keys)

        def render(values: list[Any]) -> str:
            topic_arn, context = values
            assert isinstance(context, AccountContext)
            return json.dumps(alert_topic_policy(str(topic_arn), context, event_rules), sort_keys=True)

        aws.sns.TopicPolicy(
            f"{self._name}-topic-policy{suffix}",
            aws.sns.TopicPolicyArgs(
                region=region, arn=topic.arn, policy=pulumi.Output.all(topic.arn, ctx).apply(render)
            ),
            # The same name and parent as before the policy covered alarms: an update, not a replacement
            # (deleting a TopicPolicy resets the topic to SNS's default policy).
            child_opts(self),
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{self._name}-email{suffix}",
                aws.sns.TopicSubscriptionArgs(
                    region=region, topic=topic.arn, protocol="email", endpoint=args.alarm_email
                ),
                child_opts(self),
            )
        return topic.arn

    def _alarm(self, spec: AlarmSpec, topics: dict[str, pulumi.Output[str]]) -> pulumi.Output[str]:
        """The alarm `spec` describes, notifying the topic of its region on ALARM and on OK; its name."""
        args = self._args
        region = spec.region or args.region
        actions = [topics[region]]
        metric = spec.metric
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.key}",
            aws.cloudwatch.MetricAlarmArgs(
                region=region,
                name=f"{args.name_prefix}-{args.region}-{spec.key}",
                alarm_description=spec.description,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                namespace=metric.namespace if metric else None,
                metric_name=metric.name if metric else None,
                dimensions=dict(metric.dimensions) if metric else None,
                period=PERIOD if metric else None,
                statistic=spec.statistic if metric and not spec.extended_statistic else None,
                extended_statistic=spec.extended_statistic,
                metric_queries=[_query_args(query) for query in spec.queries] or None,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=actions,
                ok_actions=actions,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        return alarm.name

    def _key_watch(self, keys: Sequence[pulumi.Input[str]], topic_arn: pulumi.Output[str]) -> None:
        """EventBridge rules to the alert topic (`alarms.KEY_RULES`)."""
        arns = pulumi.Output.all(*keys).apply(lambda values: [str(value) for value in values])
        for role in KEY_RULES:
            self._key_rule(role, arns, topic_arn)

    def _key_rule(self, role: str, key_arns: pulumi.Output[list[str]], topic_arn: pulumi.Output[str]) -> None:
        args = self._args
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-{role}",
            aws.cloudwatch.EventRuleArgs(
                region=args.region,
                name=f"{args.name_prefix}-{args.region}-{role}",
                description="A table key was disabled, scheduled for deletion, deleted or had its policy changed",
                event_pattern=key_arns.apply(lambda arns: json.dumps(key_event_pattern(role, arns))),
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-{role}-target",
            aws.cloudwatch.EventTargetArgs(region=args.region, rule=rule.name, arn=topic_arn),
            child_opts(self),
        )
