"""Pulumi mocks that record every resource and answer the computed outputs the components read."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pulumi

ACCOUNT = "123456789012"
PROJECT = "payment-gateway"
ORGANIZATION = "organization"
# How rpc.deserialize_properties marks a secret value in mock inputs.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# Resource types that have no region (IAM and Route 53 are global; an image build runs on the
# deployer's machine and pushes to the registry its tags name).
GLOBAL_TYPES = frozenset(
    {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:route53/record:Record",
        "aws:route53/healthCheck:HealthCheck",
        "docker-build:index:Image",
    }
)
AVAILABILITY_ZONES = ("a", "b", "c")


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """The value with every secret marker removed (for assertions on content)."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str
    custom: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)
    """The resource's ignoreChanges option (wire names), as the engine would receive it."""
    dependencies: list[str] = field(default_factory=list)
    """URNs the engine creates this resource after: its explicit depends_on (components expanded to
    their children) and the resources its inputs come from."""

    def depends_on(self, typ: str, name: str) -> bool:
        """Whether the engine waits for the resource of this type and name before creating this one."""
        return any(
            urn.rsplit("::", 1)[-1] == name and urn.rsplit("::", 2)[-2].endswith(typ) for urn in self.dependencies
        )

    @property
    def plain(self) -> dict[str, Any]:
        result: dict[str, Any] = unwrap(self.inputs)
        return result

    @property
    def region(self) -> str | None:
        region = self.plain.get("region")
        return str(region) if region is not None else None

    def json(self, key: str) -> Any:
        return json.loads(self.plain[key])


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records (type, name, inputs, provider) and returns inputs plus the computed outputs code reads."""

    def __init__(self, default_region: str = "eu-west-1") -> None:
        self.default_region = default_region
        self.resources: list[Recorded] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._provider_regions: dict[str, str] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending_options: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        self.urns: dict[str, list[str]] = {}
        self.engine_urns: dict[str, str] = {}  # the mock monitor's URN of a resource -> the engine's
        """Every registered resource's URN (components and providers included) and the URNs its aliases name."""

    # --- queries ---------------------------------------------------------------------------------

    def custom(self) -> list[Recorded]:
        return [r for r in self.resources if r.custom and not r.typ.startswith("pulumi:providers:")]

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.custom() if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    # --- Mocks -----------------------------------------------------------------------------------

    def _region(self, inputs: dict[str, Any], provider: str) -> str:
        region = unwrap(inputs.get("region"))
        if region:
            return str(region)
        for provider_id, provider_region in self._provider_regions.items():
            if provider.endswith("::" + provider_id):
                return provider_region
        return self.default_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ.startswith("pulumi:providers:"):
            region = unwrap(inputs.get("region"))
            if region:
                self._provider_regions[resource_id] = str(region)
        region = self._region(inputs, args.provider or "")
        computed = _COMPUTED.get(args.typ, _no_outputs)(args.name, unwrap(inputs), region)
        outputs = {**inputs, **computed}
        ignored, dependencies = self.pending_options.pop((args.typ, args.name), ([], []))
        self.resources.append(
            Recorded(
                args.typ, args.name, inputs, args.provider or "", bool(args.custom), outputs, ignored, dependencies
            )
        )
        return str(computed.get("id", resource_id)), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # The mock monitor iterates the failure list: return [] rather than None.
        call_args = unwrap(dict(args.args))
        self.calls.append((args.token, call_args))
        region = str(call_args.get("region") or self.default_region)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "ci", "id": ACCOUNT}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if args.token == "aws:kms/getAlias:getAlias":
            key_arn = _arn("kms", region, f"key/looked-up-{region}")
            return {
                "name": call_args["name"],
                "arn": _arn("kms", region, call_args["name"]),
                "targetKeyArn": key_arn,
                "targetKeyId": f"looked-up-{region}",
                "id": call_args["name"],
            }, []
        if args.token == "aws:signer/getSigningProfile:getSigningProfile":
            name = call_args["name"]
            arn = _arn("signer", region, f"/signing-profiles/{name}")
            return {"name": name, "arn": arn, "versionArn": f"{arn}/looked-up", "id": name}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{suffix}" for suffix in AVAILABILITY_ZONES]
            return {"names": names, "zoneIds": [f"zone-{n}" for n in names], "id": region}, []
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
                "userName": "AWS",
                "password": "ecr-token",
                "authorizationToken": "QVdTOmVjci10b2tlbg==",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{region}.amazonaws.com",
                "expiresAt": "2026-12-01T00:00:00Z",
                "id": region,
            }, []
        if args.token == "aws:dynamodb/getTable:getTable":
            table_arn = _arn("dynamodb", region, f"table/{call_args['name']}")
            return {
                "name": call_args["name"],
                "arn": table_arn,
                "streamArn": f"{table_arn}/stream/2026-01-01T00:00:00.000",
                "id": call_args["name"],
            }, []
        raise NotImplementedError(f"unmocked call {args.token}")


def _no_outputs(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {}


def _key(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"id": f"{name}-key-id", "keyId": f"{name}-key-id", "arn": _arn("kms", region, f"key/{name}-key-id")}


def _table(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    arn = _arn("dynamodb", region, f"table/{inputs['name']}")
    return {"id": inputs["name"], "arn": arn, "streamArn": f"{arn}/stream/2026-01-01T00:00:00.000"}


def _log_group(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"arn": _arn("logs", region, f"log-group:{inputs['name']}")}


def _role(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"id": f"{name}-x", "name": f"{name}-x", "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}-x"}


def _invoke_arn(region: str, function_arn: str) -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def _function(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    arn = _arn("lambda", region, f"function:{inputs['name']}")
    version = "7" if inputs.get("publish") else "$LATEST"  # a published function's latest version
    return {
        "id": inputs["name"],
        "arn": arn,
        "invokeArn": _invoke_arn(region, arn),
        "version": version,
        "qualifiedArn": f"{arn}:{version}",
    }


def _alias(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    arn = _arn("lambda", region, f"function:{inputs['functionName']}:{inputs['name']}")
    return {"arn": arn, "invokeArn": _invoke_arn(region, arn)}


def _bucket(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    bucket = f"{inputs.get('bucketPrefix', '')}{name}"
    return {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


def _bucket_object(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"versionId": f"{name}-version"}


def _signing_job(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    destination = inputs["destination"]["s3"]
    key = f"{destination.get('prefix', '')}{name}-job-id.zip"
    return {"jobId": f"{name}-job-id", "signedObjects": [{"s3s": [{"bucket": destination["bucket"], "key": key}]}]}


def _signing_profile(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    profile = f"{inputs.get('namePrefix', '')}generated"
    arn = _arn("signer", region, f"/signing-profiles/{profile}")
    return {"id": profile, "name": profile, "arn": arn, "versionArn": f"{arn}/v1"}


def _codedeploy_application(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"id": inputs["name"], "arn": _arn("codedeploy", region, f"application:{inputs['name']}")}


def _function_url(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"functionUrl": f"https://{name}.lambda-url.{region}.on.aws/"}


def _rest_api(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    api_id = f"{name}-id"
    return {
        "id": api_id,
        "rootResourceId": f"{name}-root",
        "executionArn": _arn("execute-api", region, api_id),
        "arn": f"arn:aws:apigateway:{region}::/restapis/{api_id}",
    }


def _stage(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    api, stage = inputs["restApi"], inputs["stageName"]
    return {
        "arn": f"arn:aws:apigateway:{region}::/restapis/{api}/stages/{stage}",
        "invokeUrl": f"https://{api}.execute-api.{region}.amazonaws.com/{stage}",
        "executionArn": _arn("execute-api", region, f"{api}/{stage}"),
    }


def _certificate(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    names = [inputs["domainName"], *inputs.get("subjectAlternativeNames", [])]
    return {
        "arn": _arn("acm", region, f"certificate/{name}"),
        "domainValidationOptions": [
            {
                "domainName": d,
                "resourceRecordName": f"_token.{d}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_validation.{d}.acm-validations.aws.",
            }
            for d in names
        ],
    }


def _domain_name(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {
        "regionalDomainName": f"d-{name}.execute-api.{region}.amazonaws.com",
        "regionalZoneId": f"ZONE-{region}",
    }


def _record(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"fqdn": str(inputs["name"]).rstrip(".")}


def _generic_arn(service: str) -> Callable[[str, dict[str, Any], str], dict[str, Any]]:
    def computed(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
        return {"arn": _arn(service, region, f"{service}/{name}")}

    return computed


def _repository(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {
        "arn": _arn("ecr", region, f"repository/{inputs['name']}"),
        "registryId": ACCOUNT,
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{inputs['name']}",
    }


def _image(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """The digest follows the tags, as a real build's follows the context."""
    digest = "sha256:" + hashlib.sha256(json.dumps(inputs.get("tags")).encode()).hexdigest()
    return {"digest": digest, "ref": f"{inputs['tags'][0].split(':')[0]}@{digest}"}


def _load_balancer(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    suffix = f"app/{name}/0123456789abcdef"
    return {
        "arn": _arn("elasticloadbalancing", region, f"loadbalancer/{suffix}"),
        "arnSuffix": suffix,
        "dnsName": f"{name}-1234567890.{region}.elb.amazonaws.com",
        "zoneId": f"ELB-ZONE-{region}",
    }


def _target_group(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    suffix = f"targetgroup/{name}/fedcba9876543210"
    return {"arn": _arn("elasticloadbalancing", region, suffix), "arnSuffix": suffix}


def _gateway_endpoint(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"prefixListId": f"pl-{inputs['serviceName'].rsplit('.', 1)[-1]}"}


def _named(service: str) -> Callable[[str, dict[str, Any], str], dict[str, Any]]:
    """A resource whose `name` output is its input name (or, autonamed, its resource name)."""

    def computed(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
        physical = str(inputs.get("name") or name)
        return {"name": physical, "arn": _arn(service, region, f"{service}/{physical}")}

    return computed


def _topic(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    return {"arn": _arn("sns", region, str(inputs.get("name", name)))}


_COMPUTED: dict[str, Callable[[str, dict[str, Any], str], dict[str, Any]]] = {
    "aws:kms/key:Key": _key,
    "aws:dynamodb/table:Table": _table,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/role:Role": _role,
    "aws:lambda/function:Function": _function,
    "aws:lambda/functionUrl:FunctionUrl": _function_url,
    "aws:lambda/alias:Alias": _alias,
    "aws:lambda/codeSigningConfig:CodeSigningConfig": _generic_arn("lambda"),
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketObjectv2:BucketObjectv2": _bucket_object,
    "aws:signer/signingJob:SigningJob": _signing_job,
    "aws:signer/signingProfile:SigningProfile": _signing_profile,
    "aws:codedeploy/application:Application": _codedeploy_application,
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway/stage:Stage": _stage,
    "aws:acm/certificate:Certificate": _certificate,
    "aws:apigateway/domainName:DomainName": _domain_name,
    "aws:route53/record:Record": _record,
    "aws:sns/topic:Topic": _topic,
    "aws:wafv2/webAcl:WebAcl": _generic_arn("wafv2"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _generic_arn("cloudwatch"),
    "aws:cloudwatch/eventRule:EventRule": _generic_arn("events"),
    "aws:ecr/repository:Repository": _repository,
    "docker-build:index:Image": _image,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _generic_arn("elasticloadbalancing"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _gateway_endpoint,
    "aws:ecs/cluster:Cluster": _named("ecs"),
    "aws:ecs/service:Service": _named("ecs"),
    "aws:ecs/taskDefinition:TaskDefinition": _generic_arn("ecs"),
    "aws:secretsmanager/secret:Secret": _generic_arn("secretsmanager"),
}


def fresh_runtime(stack: str, config: dict[str, str], secret_keys: Iterable[str] = ()) -> RecordingMocks:
    """A new event loop, new mocks and this config: nothing leaks from a previous run."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = RecordingMocks(default_region=config.get("aws:region", "eu-west-1"))
    mocks.loop = loop
    # set_mocks creates the root Stack only when there is none; a Stack left by a previous runtime
    # holds futures of a previous loop ("await wasn't used with future"). Start from none.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, organization=ORGANIZATION)
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    _record_options(mocks)
    return mocks


def _record_options(mocks: RecordingMocks) -> None:
    """MockResourceArgs carries no resource options: keep ignoreChanges and the dependencies (depends_on
    and input dependencies, as URNs) from the RegisterResource request itself."""
    monitor = pulumi.runtime.settings.get_monitor()
    register = monitor.RegisterResource  # type: ignore[union-attr]

    def recording(request: Any) -> Any:
        mocks.pending_options[(request.type, request.name)] = (list(request.ignoreChanges), list(request.dependencies))
        if request.type != "pulumi:pulumi:Stack":
            _record_urn(mocks, monitor, request)
        return register(request)

    monitor.RegisterResource = recording  # type: ignore[union-attr]


def _engine_urn(parent: str, typ: str, name: str) -> str:
    """The URN the engine gives: the parent's whole qualified type chain, then `$type`. (The mock monitor
    keeps only the parent's last type, so it would not see a change of a grandparent.)"""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    parent_type = parent.split("::")[2] if parent else ""
    # The root stack is every top-level resource's parent, but no part of their URNs.
    qualified = f"{parent_type}${typ}" if parent_type and parent_type != "pulumi:pulumi:Stack" else typ
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def _record_urn(mocks: RecordingMocks, monitor: Any, request: Any) -> None:
    """Record the engine's URN of this resource and those its aliases name, parents resolved to engine URNs."""
    as_engine = mocks.engine_urns
    parent = as_engine.get(request.parent, request.parent)
    urn = _engine_urn(parent, request.type, request.name)
    as_engine[monitor.make_urn(request.parent, request.type, request.name)] = urn
    own = [_alias_urn(as_engine, parent, request, alias) for alias in request.aliases]
    mocks.urns[urn] = own + _inherited_aliases(parent, mocks.urns.get(parent, []), request, own)


def _inherited_aliases(parent: str, parent_aliases: list[str], request: Any, own: list[str]) -> list[str]:
    """The engine multiplies out the parent's aliases (step_generator.go, generateAliases): a child of a
    resource that moved keeps its URN through its parent's alias, itself and under each of its own aliases."""
    if not parent:
        return []
    parent_name = parent.rsplit("::", 1)[-1]
    children = [(request.type, request.name)] + [(a.split("::")[2].split("$")[-1], a.rsplit("::", 1)[-1]) for a in own]
    inherited = []
    for parent_alias in parent_aliases:
        alias_prefix, alias_name = parent_alias.rsplit("::", 1)
        for child_type, child_name in children:
            # A child named `<parent>-x` was named after its parent: under the alias, `<alias name>-x`.
            named = (
                alias_name + child_name.removeprefix(parent_name) if child_name.startswith(parent_name) else child_name
            )
            inherited.append(f"{alias_prefix}${child_type}::{named}")
    return inherited


def _alias_urn(as_engine: dict[str, str], parent: str, request: Any, alias: Any) -> str:
    """The URN an alias names, its missing parts taken from the resource, as the engine does."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    if spec.noParent:
        return _engine_urn("", spec.type or request.type, spec.name or request.name)
    alias_parent = as_engine.get(spec.parentUrn, spec.parentUrn) if spec.parentUrn else parent
    return _engine_urn(alias_parent, spec.type or request.type, spec.name or request.name)


def close_runtime(mocks: RecordingMocks) -> None:
    """Cancel what never ran (e.g. the root Stack's registration in a test that ran no program), then close."""
    loop = mocks.loop
    if loop is not None and not loop.is_closed():
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    asyncio.set_event_loop(None)
