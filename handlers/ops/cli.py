"""What every operator command shares (handlers.ops.admin parses them, handlers.ops.payments adds the
payments' commands): the expected failure, the subcommand table's entries, the default region."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from handlers.adapters.dynamo import DynamoRepository


class AdminError(Exception):
    """An operator's request that cannot be done; the message is the one line the command prints."""


def default_region(region: str | None) -> str:
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"


@attrs.frozen
class Argument:
    flags: tuple[str, ...]
    options: Mapping[str, Any]  # add_argument's keywords; `help` is required


def argument(*flags: str, help: str, **options: Any) -> Argument:
    return Argument(flags, {"help": help, **options})


@attrs.frozen
class Command:
    help: str
    run: Callable[[DynamoRepository, argparse.Namespace], None]
    arguments: tuple[Argument, ...] = ()
