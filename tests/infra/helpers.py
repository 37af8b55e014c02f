"""Queries over recorded resources shared by the infra tests."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Protocol

from tests.infra.mocks import GLOBAL_TYPES, Recorded

TABLE = "aws:dynamodb/table:Table"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
LAMBDA_ALIAS = "aws:lambda/alias:Alias"
CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
CODEDEPLOY_APP = "aws:codedeploy/application:Application"
DEPLOYMENT_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
SIGNING_PROFILE = "aws:signer/signingProfile:SigningProfile"
SIGNING_JOB = "aws:signer/signingJob:SigningJob"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
PERMISSION = "aws:lambda/permission:Permission"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
REST_API = "aws:apigateway/restApi:RestApi"
API_RESOURCE = "aws:apigateway/resource:Resource"
METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
AUTHORIZER = "aws:apigateway/authorizer:Authorizer"
RESPONSE = "aws:apigateway/response:Response"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
ACCOUNT = "aws:apigateway/account:Account"
DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
BASE_PATH_MAPPING = "aws:apigateway/basePathMapping:BasePathMapping"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
IMAGE = "docker-build:index:Image"
CLUSTER = "aws:ecs/cluster:Cluster"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


class Recording(Protocol):
    def custom(self) -> list[Recorded]: ...
    def of_type(self, typ: str) -> list[Recorded]: ...
    def one(self, typ: str, name: str | None = None) -> Recorded: ...


def duplicates(recording: Recording) -> list[tuple[str, str]]:
    """(type, name) pairs registered more than once (mocks do not catch these; the engine would)."""
    counts = Counter((r.typ, r.name) for r in recording.custom())
    return [pair for pair, count in counts.items() if count > 1]


def regional(recording: Recording) -> list[Recorded]:
    return [r for r in recording.custom() if r.typ not in GLOBAL_TYPES]


def function_by_name(recording: Recording, function_name: str) -> Recorded:
    found = [f for f in recording.of_type(FUNCTION) if f.plain["name"] == function_name]
    assert len(found) == 1, function_name
    return found[0]


def live_alias(recording: Recording, function_name: str) -> Recorded:
    """The `live` alias of the function named `function_name`."""
    found = [a for a in recording.of_type(LAMBDA_ALIAS) if a.plain["functionName"] == function_name]
    assert len(found) == 1, function_name
    assert found[0].plain["name"] == "live"
    return found[0]


def role_policy(recording: Recording, role_arn: str) -> dict[str, Any]:
    """The inline policy of the role with this ARN, parsed."""
    role_id = role_arn.rsplit("/", 1)[-1]
    policies = [p for p in recording.of_type(ROLE_POLICY) if p.plain["role"] == role_id]
    assert len(policies) == 1, f"{role_arn}: {len(policies)} policies"
    document: dict[str, Any] = json.loads(policies[0].plain["policy"])
    return document


def function_policy(recording: Recording, function: Recorded) -> dict[str, Any]:
    """The inline policy attached to the function's role, parsed."""
    role_id = str(function.plain["role"]).rsplit("/", 1)[-1]
    policies = [p for p in recording.of_type(ROLE_POLICY) if p.plain["role"] == role_id]
    assert len(policies) == 1, f"{function.name}: {len(policies)} policies"
    document: dict[str, Any] = json.loads(policies[0].plain["policy"])
    return document


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(document: dict[str, Any]) -> list[str]:
    return [a for s in statements(document) for a in as_list(s["Action"])]


def statement(document: dict[str, Any], sid: str) -> dict[str, Any] | None:
    found = [s for s in statements(document) if s.get("Sid") == sid]
    return found[0] if found else None


def key_policy(key: Recorded) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(key.plain["policy"])
    return document


def service_principals(document: dict[str, Any]) -> set[str]:
    return {
        p
        for s in statements(document)
        for p in as_list(s.get("Principal", {}).get("Service", []))
        if isinstance(s.get("Principal"), dict)
    }


def fill_gateway_template(
    template: str, message: str = "sample message", authorizer: dict[str, str] | None = None
) -> str:
    """A gateway-response template as API Gateway fills it in: `$context.error.messageString` is the
    quoted message, `$context.authorizer.<key>` the Deny context's value as it is (unescaped)."""
    body = template.replace("$context.error.messageString", json.dumps(message))
    values = authorizer if authorizer is not None else {"error_message": "sample denial"}
    body = re.sub(r"\$context\.authorizer\.(\w+)", lambda match: values.get(match[1], ""), body)
    assert "$" not in body, f"a variable API Gateway would not fill in: {template}"
    return body


def render_gateway_template(
    template: str, message: str = "sample message", authorizer: dict[str, str] | None = None
) -> Any:
    return json.loads(fill_gateway_template(template, message, authorizer))


class _Absent:
    """A metric with no datapoint in a period: arithmetic and comparisons on it give no datapoint,
    as in CloudWatch metric math."""

    def _absent(self, *_: Any) -> _Absent:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _absent
    __truediv__ = __rtruediv__ = __gt__ = __lt__ = __ge__ = __le__ = _absent


ABSENT = _Absent()


def metric_math(expression: str, values: dict[str, float | None]) -> float | None:
    """One period of a CloudWatch metric-math expression (IF, FILL, + - * /, comparisons);
    a value of None is a metric with no datapoint. None when the expression has none either."""

    def if_(condition: Any, then: Any, otherwise: Any) -> Any:
        return ABSENT if condition is ABSENT else (then if condition else otherwise)

    def fill(value: Any, default: float) -> Any:
        return default if value is ABSENT else value

    names = {name: ABSENT if value is None else value for name, value in values.items()}
    python = re.sub(r"\bIF\(", "if_(", re.sub(r"\bFILL\(", "fill(", expression))
    result = eval(python, {"__builtins__": {}}, {"if_": if_, "fill": fill, **names})
    return None if result is ABSENT else float(result)
