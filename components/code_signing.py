"""CodeSigning: the Lambda archive signed by AWS Signer, and a config that makes Lambda refuse anything else.

Lambda verifies signatures only on code it reads from S3, so with signing the archive takes this path:
`build/lambda.zip` -> `s3://<bucket>/unsigned/lambda.zip` (a versioned, private bucket) -> a Signer
signing job (`aws signer start-signing-job`, here an `aws.signer.SigningJob`) -> `signed/<job id>.zip`
-> every function (`s3_bucket`/`s3_key`), each with a code-signing config whose policy is `Enforce`:
code not signed by the profile (uploaded by hand, or tampered with in the bucket) is refused at deploy.

The archive is reproducible (components.packaging), so an unchanged tree uploads no new object version
and starts no new signing job: nothing is re-signed or redeployed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import block_public_access, child_opts, encrypt_with_s3_keys, type_token

CREATE_PROFILE = "create"
"""The `codeSigningProfile` value that makes the stack create its own signing profile."""
SIGNING_PLATFORM = "AWSLambda-SHA384-ECDSA"
# Signer's rule for profile names (letters, digits, underscores).
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_]{2,64}$")
UNSIGNED_KEY = "unsigned/lambda.zip"
SIGNED_PREFIX = "signed/"
# Signer's default validity; a signature that expires only stops new deployments of that code.
SIGNATURE_VALIDITY_MONTHS = 135
NONCURRENT_DAYS = 30


def valid_profile(profile: str) -> bool:
    return profile == CREATE_PROFILE or PROFILE_NAME.match(profile) is not None


def signed_location(
    objects: Sequence[aws.signer.outputs.SigningJobSignedObject],
) -> aws.signer.outputs.SigningJobSignedObjectS3:
    """Where the job wrote the signed archive (one object, in S3)."""
    locations = [s3 for signed in objects for s3 in signed.s3s or ()]
    if len(locations) != 1:
        raise ValueError(f"the signing job should write one signed object, not {len(locations)}")
    return locations[0]


@dataclass(frozen=True)
class SignedCode:
    """Where the signed archive is, and the config every function must carry (CodeSigning.code)."""

    s3_bucket: pulumi.Input[str]
    """The bucket holding the signed archive: each function's `s3_bucket`."""
    s3_key: pulumi.Input[str]
    """The signed archive's key, `signed/<job id>.zip`: each function's `s3_key`."""
    config_arn: pulumi.Input[str]
    """The code-signing config (policy `Enforce`) each function carries: unsigned code is refused."""


@dataclass(frozen=True)
class CodeSigningArgs:
    """The archive to sign and the Signer profile that signs it. Fields: docs/components.md."""

    region: str
    """The region of the bucket, the signing job and the code-signing config: the functions' region."""
    archive: pulumi.Asset
    """The built zip (a FileAsset: uploaded byte for byte)."""
    profile: str
    """`create`: a profile owned by this stack; otherwise the name of an existing profile in `region`
    (e.g. one a security team owns, so that deploying credentials alone cannot create a trusted signer)."""
    name_prefix: str = "payment-gateway"
    """The bucket's name prefix (`<prefix>-code-`) and the created profile's (non-alphanumerics as `_`)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the bucket, the archive object, the profile and the code-signing config."""

    def __post_init__(self) -> None:
        if not valid_profile(self.profile):
            raise ValueError(
                f"signing profile must be {CREATE_PROFILE!r} or a Signer profile name, not {self.profile!r}"
            )


class CodeSigning(pulumi.ComponentResource):
    """The archive uploaded to a private, versioned bucket, signed by a Signer profile (this stack's own or
    an existing one), and a code-signing config (`Enforce`) admitting only that profile's signatures.
    Pass `code` to FunctionsArgs.code_signing."""

    code: SignedCode
    bucket_name: pulumi.Output[str]
    profile_name: pulumi.Output[str]

    def __init__(self, name: str, args: CodeSigningArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("signing", "CodeSigning"), name, None, opts)
        self._name = name
        self._args = args
        bucket, versioning = self._bucket()
        unsigned = aws.s3.BucketObjectv2(
            f"{name}-unsigned",
            aws.s3.BucketObjectv2Args(
                region=args.region, bucket=bucket.bucket, key=UNSIGNED_KEY, source=args.archive, tags=dict(args.tags)
            ),
            # Uploaded after versioning is on: the signing job names the object's version.
            child_opts(self, depends_on=[versioning]),
        )
        self.profile_name, version_arn = self._profile()
        job = aws.signer.SigningJob(
            f"{name}-job",
            aws.signer.SigningJobArgs(
                region=args.region,
                profile_name=self.profile_name,
                source=aws.signer.SigningJobSourceArgs(
                    s3=aws.signer.SigningJobSourceS3Args(
                        bucket=bucket.bucket, key=unsigned.key, version=unsigned.version_id
                    )
                ),
                destination=aws.signer.SigningJobDestinationArgs(
                    s3=aws.signer.SigningJobDestinationS3Args(bucket=bucket.bucket, prefix=SIGNED_PREFIX)
                ),
            ),
            child_opts(self),
        )
        config = aws.lambda_.CodeSigningConfig(
            f"{name}-config",
            aws.lambda_.CodeSigningConfigArgs(
                region=args.region,
                description=f"{args.name_prefix}: only code signed by {args.profile} deploys",
                allowed_publishers=aws.lambda_.CodeSigningConfigAllowedPublishersArgs(
                    signing_profile_version_arns=[version_arn]
                ),
                policies=aws.lambda_.CodeSigningConfigPoliciesArgs(untrusted_artifact_on_deployment="Enforce"),
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        signed = job.signed_objects.apply(signed_location)
        self.code = SignedCode(
            s3_bucket=signed.apply(lambda s3: s3.bucket or ""),
            s3_key=signed.apply(lambda s3: s3.key or ""),
            config_arn=config.arn,
        )
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket_name": self.bucket_name, "profile_name": self.profile_name})

    def _bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketVersioning]:
        """Private, encrypted, versioned (Signer signs a given object version); old versions expire."""
        args, name = self._args, self._name
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            aws.s3.BucketArgs(
                region=args.region,
                bucket_prefix=f"{args.name_prefix}-code-",
                force_destroy=True,  # only rebuildable artifacts: Lambda keeps its own copy of each version
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        block_public_access(f"{name}-bucket-public-access", args.region, bucket.id, child_opts(self))
        encrypt_with_s3_keys(f"{name}-bucket-encryption", args.region, bucket.id, child_opts(self))
        versioning = aws.s3.BucketVersioning(
            f"{name}-bucket-versioning",
            aws.s3.BucketVersioningInitArgs(
                region=args.region,
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            ),
            child_opts(self),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                region=args.region,
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-replaced-archives",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=NONCURRENT_DAYS
                        ),
                    )
                ],
            ),
            child_opts(self, depends_on=[versioning]),
        )
        return bucket, versioning

    def _profile(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """(profile name, profile version ARN): this stack's own profile, or an existing one looked up."""
        args = self._args
        if args.profile != CREATE_PROFILE:
            found = aws.signer.get_signing_profile_output(
                name=args.profile, region=args.region, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            return found.name, found.version_arn
        profile = aws.signer.SigningProfile(
            f"{self._name}-profile",
            aws.signer.SigningProfileArgs(
                region=args.region,
                # A cancelled profile's name can never be reused: let the provider add a unique suffix.
                name_prefix=re.sub(r"[^A-Za-z0-9]", "_", args.name_prefix)[:30] + "_",
                platform_id=SIGNING_PLATFORM,
                signature_validity_period=aws.signer.SigningProfileSignatureValidityPeriodArgs(
                    value=SIGNATURE_VALIDITY_MONTHS, type="MONTHS"
                ),
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        return profile.name, profile.version_arn
