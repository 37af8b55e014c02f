"""ContainerImage: the API's image, built for linux/arm64 at `pulumi up` and pushed to this region's ECR
repository (scan on push, immutable tags, the last few images kept).

The tag is a content hash of the build context as the Dockerfile sees it: the files its COPY/ADD
instructions take from the context, less what `.dockerignore` excludes, plus the Dockerfile and
`.dockerignore` themselves. An unchanged tree gives the same tag, so docker-build finds nothing to do,
the digest stays, and the task definition (which names the image by digest) is not replaced.
`build_context_files` is the list that hash covers; tests reuse it to check what goes into the image.

Building needs a Docker engine with buildx on the deployer's machine (and QEMU/binfmt to build arm64
on x86); see the README.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.common import child_opts, type_token
from container import spec

DOCKERIGNORE = ".dockerignore"
PLATFORM = docker_build.Platform.LINUX_ARM64
KEEP_IMAGES = 10
_INSTRUCTION = re.compile(r"^\s*(COPY|ADD)\s+(.*)$", re.IGNORECASE)


def _logical_lines(dockerfile: str) -> Iterator[str]:
    """Instructions with their `\\` continuations joined and comments dropped."""
    current = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        yield current + line
        current = ""
    if current:
        yield current


def copied_sources(dockerfile: str) -> list[str]:
    """The context paths (or globs) that COPY and ADD take; `--from` copies (another stage or image)
    and URLs take nothing from the context."""
    sources: list[str] = []
    for line in _logical_lines(dockerfile):
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        rest = match.group(2).strip()
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        paths = [w for w in words if not w.startswith("--")][:-1]  # the last one is the destination
        sources += [p for p in paths if "://" not in p]
    return sources


def _ignore_rules(root: Path) -> list[tuple[bool, str]]:
    """(exclude?, pattern) in order; the last rule that matches a path decides, as in Docker."""
    path = root / DOCKERIGNORE
    if not path.is_file():
        return []
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip().lstrip("/")))
        rules.append((not negated, pattern))
    return rules


def _segment_regex(segment: str) -> str:
    """One path segment of a pattern: `*` and `?` never cross a `/`; `[...]` is a character class."""
    out, i = "", 0
    while i < len(segment):
        char = segment[i]
        end = segment.find("]", i + 1) if char == "[" else -1
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif end > i:
            body = segment[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's patterns: `**` spans any number of directories, none included."""
    segments = pattern.split("/")
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return re.compile(regex + r"\Z")


def is_ignored(relative: str, rules: list[tuple[bool, str]]) -> bool:
    """A path is excluded when the last rule matching it, or one of its parent directories, excludes it."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for exclude, pattern in rules:
        regex = _pattern_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            ignored = exclude
    return ignored


def build_context_files(root: Path, dockerfile: str = spec.DOCKERFILE) -> list[str]:
    """Sorted context-relative paths of every file the image is built from."""
    rules = _ignore_rules(root)
    found: set[str] = {dockerfile} | ({DOCKERIGNORE} if (root / DOCKERIGNORE).is_file() else set())
    for source in copied_sources((root / dockerfile).read_text()):
        matches = sorted(root.glob(source.strip("/") or ".")) if any(c in source for c in "*?[") else [root / source]
        for match in matches:
            files = [match] if match.is_file() else sorted(p for p in match.rglob("*") if p.is_file())
            found |= {p.relative_to(root).as_posix() for p in files}
    return sorted(path for path in found if not is_ignored(path, rules) or path in (dockerfile, DOCKERIGNORE))


def context_hash(root: Path, dockerfile: str = spec.DOCKERFILE) -> str:
    """SHA-256 over each context file's path, executable bit and content."""
    digest = hashlib.sha256()
    for relative in build_context_files(root, dockerfile):
        path = root / relative
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        digest.update(f"{relative}\0{executable}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_locations(context: Path, dockerfile: str, cwd: Path) -> tuple[str, str]:
    """(context, Dockerfile) as docker-build takes them: relative to `cwd`, the Pulumi program's
    working directory (the project root at `pulumi up`). docker-build compares `context.location` as
    a string: an absolute path differs per checkout (CI, a colleague), so it would rebuild an unchanged
    tree and push its `ctx-<hash>` tag again, which the IMMUTABLE repository refuses."""
    location = Path(os.path.relpath(context.resolve(), cwd.resolve()))
    return location.as_posix(), (location / dockerfile).as_posix()


@dataclass(frozen=True)
class ContainerImageArgs:
    """What the image is built from and the repository it is pushed to. Fields: docs/components.md."""

    region: str
    """The region of the ECR repository: an AWS region name."""
    context: Path
    """The build context: the project root (the Dockerfile copies handlers/ and container/)."""
    repository_name: str
    """The ECR repository's name; the image is pushed there as `ctx-<hash of the build context>`."""
    kms_key_arn: pulumi.Input[str]
    """Encrypts the repository's images (the stack's customer-managed key, not ECR's AES256 default)."""
    dockerfile: str = spec.DOCKERFILE
    """The Dockerfile, relative to `context`; it and the files it copies make the tag's hash."""
    keep_images: int = KEEP_IMAGES
    """Images the repository keeps (its lifecycle policy expires older ones): at least 2, the running one
    and the one a rollback returns to."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the repository."""

    def __post_init__(self) -> None:
        if self.keep_images < 2:
            raise ValueError("keep at least 2 images: the running one and the one a rollback returns to")


def lifecycle_policy(keep: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the last {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


class ContainerImage(pulumi.ComponentResource):
    """The ECR repository (KMS-encrypted, scan on push, immutable tags, the last `keep_images` kept) and the
    linux/arm64 image built at `pulumi up` and pushed as `ctx-<hash of the build context>`."""

    repository_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    tag: str
    image_ref: pulumi.Output[str]
    """`<repository>@sha256:...`: what the task definition runs."""

    def __init__(self, name: str, args: ContainerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("image", "ContainerImage"), name, None, opts)
        repository = aws.ecr.Repository(
            f"{name}-repository",
            aws.ecr.RepositoryArgs(
                region=args.region,
                name=args.repository_name,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                # ECR makes a grant on the key with the deployer's permissions at creation, and uses it
                # for every push and pull (ECR user guide, "Encryption at rest"): the execution role
                # needs no KMS permission. Changing the key replaces the repository.
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
                ],
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            aws.ecr.LifecyclePolicyArgs(
                region=args.region, repository=repository.name, policy=lifecycle_policy(args.keep_images)
            ),
            pulumi.ResourceOptions(parent=repository),
        )
        self.tag = f"ctx-{context_hash(args.context, args.dockerfile)}"
        token = aws.ecr.get_authorization_token_output(
            region=args.region, registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        context, dockerfile = build_locations(args.context, args.dockerfile, Path.cwd())
        image = docker_build.Image(
            f"{name}-image",
            docker_build.ImageArgs(
                context=docker_build.BuildContextArgs(location=context),
                dockerfile=docker_build.DockerfileArgs(location=dockerfile),
                platforms=[PLATFORM],
                tags=[pulumi.Output.concat(repository.repository_url, ":", self.tag)],
                push=True,
                # `pulumi preview` needs no Docker engine; the build runs at `pulumi up`.
                build_on_preview=False,
                registries=[
                    docker_build.RegistryArgs(
                        address=repository.repository_url.apply(lambda url: url.split("/", 1)[0]),
                        username=token.user_name,
                        password=token.password,
                    )
                ],
            ),
            child_opts(self),
        )
        self.repository_arn = repository.arn
        self.repository_url = repository.repository_url
        self.image_ref = pulumi.Output.concat(repository.repository_url, "@", image.digest)
        self.register_outputs({"repository_url": self.repository_url, "image_ref": self.image_ref, "tag": self.tag})
