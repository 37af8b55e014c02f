"""docs/components.md, the components' reference a platform team reads: it is what the generator
(tools/components_reference.py) makes of the code now, every field it lists has a description, every
component of `components/` is on it, and the generator spells types and defaults as they are written."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pulumi
import pytest

import components
from components.edge import ApiGatewayOrigin, CustomDomainArgs, LoadBalancerOrigin
from components.fargate_service import TaskSettings
from components.lambda_settings import BankSettings, FunctionsArgs, LambdaSettings, ResolverSettings
from components.monitoring import AlarmThresholds, ContainerMetrics, LambdaMetrics
from components.policies import TableAccess
from handlers.contract import routes
from tools import components_reference as reference


def test_the_committed_page_is_what_the_generator_makes_of_the_code() -> None:
    assert reference.TARGET.read_text() == reference.render(), f"docs/components.md is stale: run {reference.COMMAND}"


def test_the_check_exits_1_with_one_line_on_a_stale_page_and_0_on_a_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "docs" / "components.md"
    page.parent.mkdir()
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    monkeypatch.setattr(reference, "TARGET", page)
    page.write_text(reference.render().replace("| `region` |", "| `regions` |", 1))
    assert reference.main([]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"docs/components.md is out of date: run `{reference.COMMAND}`"
    ]
    assert reference.main(["--write"]) == 0
    assert reference.main([]) == 0
    assert page.read_text() == reference.render()


def test_the_walk_reaches_the_nested_settings_and_the_protocols_implementations() -> None:
    reached = set(reference.all_documented_classes())
    assert {BankSettings, ResolverSettings, LambdaSettings, CustomDomainArgs, FunctionsArgs} <= reached
    assert {TaskSettings, TableAccess, AlarmThresholds} <= reached
    assert {ApiGatewayOrigin, LoadBalancerOrigin, LambdaMetrics, ContainerMetrics} <= reached


def test_every_field_of_every_args_and_settings_class_has_a_docstring() -> None:
    undocumented = [
        f"{cls.__qualname__}.{f.name}"
        for cls in reference.all_documented_classes()
        for f in dataclasses.fields(cls)
        if not reference.field_docstring(cls, f.name).strip()
    ]
    assert undocumented == []


def test_every_component_and_every_args_and_settings_class_says_what_it_is() -> None:
    classes = [component.cls for component in reference.COMPONENTS] + reference.all_documented_classes()
    assert [cls.__qualname__ for cls in classes if not reference.class_docstring(cls).strip()] == []


def test_every_component_of_the_package_is_on_the_page() -> None:
    defined = set()
    for module_info in pkgutil.walk_packages(components.__path__, "components."):
        module = importlib.import_module(module_info.name)
        defined |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, pulumi.ComponentResource) and cls.__module__ == module.__name__
        }
    assert defined == {component.cls for component in reference.COMPONENTS}


def test_infrastructure_md_lists_every_component_with_its_type_token() -> None:
    """Its table of components (docs/infrastructure.md) once said three and listed nine; now it is checked."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "infrastructure.md").read_text()
    table = text[text.index("## Components") :].split("\n\n")[2]
    listed = {line.split("`")[1]: line.split("|")[2].strip() for line in table.splitlines()[2:]}
    tokens = {c.cls.__name__: f"`{reference.component_type_token(c.cls)}`" for c in reference.COMPONENTS}
    assert listed == tokens


# --- rendering, on a tiny Args class -----------------------------------------------------------------


@dataclass(frozen=True)
class Inner:
    """An inner settings class."""

    level: int = 3
    """A level."""


@dataclass(frozen=True)
class Tiny:
    """A tiny Args class.

    Fields: docs/components.md."""

    name: str
    """Required | piped."""
    secret: pulumi.Input[str] | None = None
    """An input, maybe
    a secret."""
    regions: Sequence[str] = ()
    labels: Mapping[str, int] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    mode: Literal["A", "B"] = "A"
    ratio: float = 0.5
    codes: tuple[str, ...] = ("x",)
    function: routes.Function = routes.AUTHORIZER
    outputs: list[pulumi.Output[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Bigger(Tiny):
    extra: bool = True
    """Its own."""


def test_types_are_spelt_as_annotations_write_them() -> None:
    hints = reference.field_hints(Tiny)
    assert {name: reference.render_type(hint) for name, hint in hints.items()} == {
        "name": "str",
        "secret": "pulumi.Input[str] | None",
        "regions": "Sequence[str]",
        "labels": "Mapping[str, int]",
        "inner": "test_components_reference.Inner",  # not the components' own: qualified
        "mode": 'Literal["A", "B"]',
        "ratio": "float",
        "codes": "tuple[str, ...]",
        "function": "routes.Function",
        "outputs": "list[pulumi.Output[str]]",
    }
    assert reference.render_type(pulumi.Input[int]) == "pulumi.Input[int]"
    assert reference.render_type(Mapping[str, pulumi.Input[str]]) == "Mapping[str, pulumi.Input[str]]"


def test_defaults_are_literals_factories_constants_or_required() -> None:
    defaults = {f.name: reference.render_default(Tiny, f) for f in dataclasses.fields(Tiny)}
    assert defaults == {
        "name": "required",
        "secret": "None",
        "regions": "()",
        "labels": "{}",
        "inner": "test_components_reference.Inner()",
        "mode": '"A"',
        "ratio": "0.5",
        "codes": '("x",)',
        "function": "routes.AUTHORIZER",
        "outputs": "[]",
    }


def test_a_fields_row_carries_its_docstring_also_when_inherited() -> None:
    rows = reference.field_table(Bigger)
    assert rows[:2] == ["| field | type | default | description |", "|---|---|---|---|"]
    assert rows[2] == "| `name` | `str` | required | Required \\| piped. |"
    assert rows[3] == "| `secret` | `pulumi.Input[str] \\| None` | `None` | An input, maybe a secret. |"
    assert rows[-1] == "| `extra` | `bool` | `True` | Its own. |"
    assert reference.field_docstring(Bigger, "regions") == ""
    section = reference.class_section(Tiny)
    assert section[:5] == ["### Tiny", "", f"`{__name__}.Tiny`", "", "A tiny Args class."]
