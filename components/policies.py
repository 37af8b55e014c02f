"""IAM and KMS policy documents as plain dicts (pure functions, so they are unit-testable).

Components call these inside `Output.apply` once ARNs are known and `json.dumps` the result.
Actions are always spelled out: the only wildcards are the KMS key-policy administration
statement (`kms:*` for the account root, the AWS default that keeps the key manageable), the
resources AWS requires to be `*` (X-Ray, `ecr:GetAuthorizationToken`, and a key policy's own
`Resource`) and the log bucket's Deny of anything without TLS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"
# DynamoDB actions that write items: a function with one of these may also encrypt with the table key.
# No `dynamodb:TransactWriteItems`: IAM has no such action. Each item of a transaction is authorized as
# its own PutItem/UpdateItem/DeleteItem/ConditionCheckItem (docs/operator-permissions.md).
DYNAMODB_WRITE_ACTIONS = frozenset(
    {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)
KMS_READ_ACTIONS = ("kms:Decrypt",)
KMS_WRITE_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions: "*" is required.
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
LOGS_SERVICE_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)
# What SNS needs from the key when CloudWatch alarms publish to an encrypted topic.
ALARM_PUBLISH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class AccountContext:
    """Where policies are evaluated: partition (`aws`, `aws-cn`...), its DNS suffix, account and region."""

    partition: str
    dns_suffix: str
    account_id: str
    region: str

    @property
    def root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def service(self, name: str) -> str:
        return f"{name}.{self.dns_suffix}"

    def regional_service(self, name: str) -> str:
        return f"{name}.{self.region}.{self.dns_suffix}"


def document(*statements: Statement) -> PolicyDocument:
    return {"Version": VERSION, "Statement": list(statements)}


def key_administration_statement(ctx: AccountContext) -> Statement:
    """The AWS default statement: the account (through IAM) administers and uses the key."""
    return {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": ctx.root_arn},
        "Action": "kms:*",
        "Resource": "*",
    }


def table_key_policy(ctx: AccountContext) -> PolicyDocument:
    """DynamoDB uses the key through grants made with the caller's IAM permissions; nothing else needed."""
    return document(key_administration_statement(ctx))


def logs_key_policy(ctx: AccountContext) -> PolicyDocument:
    """CloudWatch Logs in this region may use the key, only for log groups of this account and region."""
    return document(
        key_administration_statement(ctx),
        {
            "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": ctx.regional_service("logs")},
            "Action": list(LOGS_SERVICE_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account_id}:log-group:*"
                    )
                }
            },
        },
    )


def alerts_key_policy(ctx: AccountContext) -> PolicyDocument:
    """CloudWatch alarms and EventBridge rules publish to the SNS topic encrypted with this key: only on
    behalf of this account's alarms and rules in the key's region (the confused-deputy guard), the one
    region whose alarms and rules can notify a topic here."""
    return document(
        key_administration_statement(ctx),
        _publisher_statement("CloudWatchAlarmsPublishToEncryptedTopic", ctx, "cloudwatch", "alarm:*"),
        _publisher_statement("EventBridgeRulesPublishToEncryptedTopic", ctx, "events", "rule/*"),
    )


def _publisher_statement(sid: str, ctx: AccountContext, service: str, resource: str) -> Statement:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": ctx.service(service)},
        "Action": list(ALARM_PUBLISH_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ctx.account_id},
            "ArnLike": {"aws:SourceArn": f"arn:{ctx.partition}:{service}:{ctx.region}:{ctx.account_id}:{resource}"},
        },
    }


def alert_topic_policy(topic_arn: str, ctx: AccountContext, event_rules: bool) -> PolicyDocument:
    """The alert topic's policy. It replaces SNS's default policy, whose account-wide grant is what
    lets CloudWatch alarms publish: so the alarms get their own statement, scoped to this account's
    alarms in the topic's region, the only ones that can notify a topic there (SNS developer guide,
    "Example cases for Amazon SNS access control": CloudWatch alarms, `aws:SourceArn`/`aws:SourceAccount`).
    With `event_rules`, EventBridge may publish too, in a statement without a Condition block: the
    EventBridge user guide ("Using resource-based policies for Amazon EventBridge", Amazon SNS
    permissions) documents that form, and a condition there makes its deliveries fail."""
    alarms = f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:*"
    statements: list[Statement] = [
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": ctx.service("cloudwatch")},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}, "ArnLike": {"aws:SourceArn": alarms}},
        }
    ]
    if event_rules:
        statements.append(
            {
                "Sid": "EventBridgeRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": ctx.service("events")},
                "Action": "sns:Publish",
                "Resource": topic_arn,
            }
        )
    return document(*statements)


def assume_role_policy(service_principal: str) -> PolicyDocument:
    return document(
        {"Effect": "Allow", "Principal": {"Service": service_principal}, "Action": "sts:AssumeRole"},
    )


@dataclass(frozen=True)
class FunctionAccess:
    """What one Lambda function may touch; see `function_policy`."""

    table_actions: Sequence[str]
    leading_keys: Sequence[str]
    indexes: Sequence[str]
    table_arn: str
    table_key_arn: str
    environment_key_arn: str
    log_group_arn: str


@dataclass(frozen=True)
class TableAccess:
    """The table access of several functions served by one process (the container serves them all)."""

    actions: tuple[str, ...]
    """DynamoDB actions (`dynamodb:GetItem`...) the task role may take on this region's table."""
    leading_keys: tuple[str, ...]
    """Partition-key patterns the actions are limited to (`dynamodb:LeadingKeys`, StringLike); empty: the
    whole table."""
    indexes: tuple[str, ...]
    """Secondary indexes the actions also apply to."""

    @classmethod
    def union(cls, accesses: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]]) -> TableAccess:
        """(actions, leading keys, indexes) of each function, merged. A function without leading keys
        may touch the whole table, so then the union has none either."""
        whole_table = any(actions and not keys for actions, keys, _ in accesses)
        return cls(
            actions=tuple(sorted({a for actions, _, _ in accesses for a in actions})),
            leading_keys=() if whole_table else tuple(dict.fromkeys(k for _, keys, _ in accesses for k in keys)),
            indexes=tuple(sorted({i for _, _, indexes in accesses for i in indexes})),
        )


def table_statements(access: TableAccess, table_arn: str, table_key_arn: str, ctx: AccountContext) -> list[Statement]:
    """Exactly its actions on this region's table (and the indexes named), limited to the partition-key
    prefixes with `dynamodb:LeadingKeys` when any are given (on an index, the condition applies to the
    index's partition key); the table's KMS key through DynamoDB only, encrypt/generate only for writers."""
    if not access.actions:
        return []
    table: Statement = {
        "Sid": "TableItems",
        "Effect": "Allow",
        "Action": sorted(access.actions),
        "Resource": [table_arn, *(f"{table_arn}/index/{index}" for index in access.indexes)],
    }
    if access.leading_keys:
        table["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(access.leading_keys)}}
    writes = any(action in DYNAMODB_WRITE_ACTIONS for action in access.actions)
    return [
        table,
        {
            "Sid": "TableKeyThroughDynamoDb",
            "Effect": "Allow",
            "Action": sorted(KMS_WRITE_ACTIONS if writes else KMS_READ_ACTIONS),
            "Resource": [table_key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": ctx.regional_service("dynamodb")}},
        },
    ]


def function_policy(access: FunctionAccess, ctx: AccountContext) -> PolicyDocument:
    """Least privilege for one function.

    - its table access (`table_statements`);
    - decrypt with the key that encrypts its environment (the fingerprint HMAC key is in there);
    - write to its own log group;
    - X-Ray, whose actions take no resource ARN.
    """
    table = TableAccess(tuple(access.table_actions), tuple(access.leading_keys), tuple(access.indexes))
    statements = table_statements(table, access.table_arn, access.table_key_arn, ctx)
    statements += [
        {
            "Sid": "EnvironmentKey",
            "Effect": "Allow",
            "Action": list(KMS_READ_ACTIONS),
            "Resource": [access.environment_key_arn],
        },
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": list(LOG_WRITE_ACTIONS),
            "Resource": [f"{access.log_group_arn}:*"],
        },
        {"Sid": "XRayTraces", "Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": "*"},
    ]
    return document(*statements)


def task_policy(access: TableAccess, table_arn: str, table_key_arn: str, ctx: AccountContext) -> PolicyDocument:
    """The container task's own role: the table access of the functions it serves, nothing else (its
    logs are written and its secrets read by the execution role, on the task's behalf)."""
    return document(*table_statements(access, table_arn, table_key_arn, ctx))


ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


@dataclass(frozen=True)
class ExecutionAccess:
    """What ECS needs to start a task: pull its image, read its secrets, create its log streams."""

    repository_arn: str
    secret_arns: Sequence[str]
    secrets_key_arn: str
    log_group_arn: str


def execution_role_policy(access: ExecutionAccess, ctx: AccountContext) -> PolicyDocument:
    """The task execution role: `ecr:GetAuthorizationToken` takes no resource (AWS requires `*`)."""
    return document(
        {"Sid": "EcrToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "PullImage", "Effect": "Allow", "Action": list(ECR_PULL_ACTIONS), "Resource": [access.repository_arn]},
        {
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": list(access.secret_arns),
        },
        {
            "Sid": "SecretsKeyThroughSecretsManager",
            "Effect": "Allow",
            "Action": list(KMS_READ_ACTIONS),
            "Resource": [access.secrets_key_arn],
            "Condition": {"StringEquals": {"kms:ViaService": ctx.regional_service("secretsmanager")}},
        },
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": list(LOG_WRITE_ACTIONS),
            "Resource": [f"{access.log_group_arn}:*"],
        },
    )


FLOW_LOGS_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams")


def flow_logs_policy(log_group_arn: str) -> PolicyDocument:
    """VPC flow logs deliver to their own log group only."""
    return document(
        {
            "Sid": "FlowLogsToOwnLogGroup",
            "Effect": "Allow",
            "Action": list(FLOW_LOGS_ACTIONS),
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        }
    )


def source_account_assume_role_policy(service_principal: str, ctx: AccountContext) -> PolicyDocument:
    """A service role only this account's resources can make the service assume (the confused-deputy guard)."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": service_principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
        }
    )


# Regions opened before August 2022 deliver ALB access logs from a regional ELB account; newer ones
# from the log-delivery service principal (Elastic Load Balancing user guide, "Enable access logs").
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}


def alb_logs_bucket_policy(bucket_arn: str, prefix: str, ctx: AccountContext) -> PolicyDocument:
    """ELB writes this account's access logs under `prefix` only; nothing reaches the bucket without TLS."""
    logs = f"{bucket_arn}/{prefix}/AWSLogs/{ctx.account_id}/*"
    account = ELB_LOG_ACCOUNTS.get(ctx.region)
    principal = (
        {"AWS": f"arn:{ctx.partition}:iam::{account}:root"}
        if account
        else {"Service": ctx.service("logdelivery.elasticloadbalancing")}
    )
    return document(
        {
            "Sid": "ElbWritesAccessLogs",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": logs,
        },
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


API_GATEWAY_LOGS_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
)


def api_gateway_logging_policy(ctx: AccountContext) -> PolicyDocument:
    """API Gateway's account-wide CloudWatch role: the actions AWS documents, this region's log groups only."""
    return document(
        {
            "Sid": "ApiGatewayWritesLogsInThisRegion",
            "Effect": "Allow",
            "Action": list(API_GATEWAY_LOGS_ACTIONS),
            "Resource": [f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account_id}:log-group:*"],
        }
    )


# AWSCodeDeployRoleForLambda's Lambda actions (AWS managed policy reference; it grants them on "*"):
# read the alias and move its traffic, on the alias...
CODEDEPLOY_ALIAS_ACTIONS = ("lambda:GetAlias", "lambda:UpdateAlias")
# ...and check the provisioned concurrency of the versions it shifts between. That API requires a
# Qualifier (Lambda API reference, GetProvisionedConcurrencyConfig: a version number or an alias), so
# it is authorized against `function:NAME:<qualifier>`: granting the function and its alias only
# would deny it for the version and fail the deployment.
CODEDEPLOY_VERSION_ACTIONS = ("lambda:GetProvisionedConcurrencyConfig",)


def codedeploy_lambda_policy(
    ctx: AccountContext, function_names: Sequence[str], alias: str, alarm_names: Sequence[str]
) -> PolicyDocument:
    """AWSCodeDeployRoleForLambda narrowed to these functions' alias and these alarms. Left out of the
    managed policy: sns:Publish (no deployment triggers), S3 reads (the AppSpec is sent inline) and
    invoking `CodeDeployHook_*` functions (no lifecycle hooks)."""
    functions = [f"arn:{ctx.partition}:lambda:{ctx.region}:{ctx.account_id}:function:{name}" for name in function_names]
    return document(
        {
            "Sid": "ShiftLiveAliasTraffic",
            "Effect": "Allow",
            "Action": list(CODEDEPLOY_ALIAS_ACTIONS),
            "Resource": sorted(functions + [f"{arn}:{alias}" for arn in functions]),
        },
        {
            "Sid": "ReadVersionsProvisionedConcurrency",
            "Effect": "Allow",
            "Action": list(CODEDEPLOY_VERSION_ACTIONS),
            "Resource": sorted(f"{arn}:*" for arn in functions),
        },
        {
            "Sid": "ReadRollbackAlarms",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms"],
            "Resource": sorted(
                {f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}" for name in alarm_names}
            ),
        },
    )
