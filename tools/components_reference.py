"""docs/components.md, built from the components themselves: per component its class docstring, type token,
outputs (annotated attributes) and Args, and a table per Args or settings class: field, type, default, and
the field's attribute docstring (the string literal under it, read with `ast`: dataclasses do not keep it).

    python -m tools.components_reference           exit 1 with a one-line message if the page is out of date
    python -m tools.components_reference --write   rewrite it

tests/packaging/test_components_reference.py checks the page is current and that every field has a docstring.
"""

from __future__ import annotations

import argparse
import ast
import collections.abc
import dataclasses
import functools
import inspect
import itertools
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi.output

from components.code_signing import CodeSigning
from components.common import type_token
from components.container_service import ContainerService
from components.deployments import SafeDeployments
from components.edge import ApiGatewayOrigin, LoadBalancerOrigin, RegionalEdge
from components.fargate_service import FargateService
from components.global_store import GlobalStore
from components.image import ContainerImage
from components.lambda_functions import LambdaFunctions, RegionalResolver
from components.load_balancer import LoadBalancer
from components.monitoring import ContainerMetrics, LambdaMetrics, Monitoring
from components.network import Network
from components.regional_gateway import RegionalGateway
from components.rest_api import RestApi

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "components.md"
COMMAND = "python -m tools.components_reference --write"
# How an Args class's docstring ends, for help(): the page lists its fields (help() shows no attribute docstring).
POINTER = "Fields: docs/components.md."
# Names the annotations need beyond their module's globals: `pulumi` (imported only under TYPE_CHECKING
# by components.monitoring) and what `pulumi.Input`'s own forward reference, 'Output[T]', names.
_NAMES: dict[str, Any] = {"pulumi": pulumi, "Output": pulumi.Output, "T": getattr(pulumi.output, "T")}  # noqa: B009
_BARE_MODULES = ("builtins", "collections.abc", "typing", "pathlib")


@dataclass(frozen=True)
class Component:
    """A component to document, and the dataclasses that a Protocol-typed field of its Args takes (a
    Protocol names none of them, so the walk over the fields cannot find them)."""

    cls: type[pulumi.ComponentResource]
    implementations: tuple[type[Any], ...] = ()


# The page's order.
COMPONENTS = (
    Component(GlobalStore),
    Component(RegionalGateway),
    Component(LambdaFunctions),
    Component(RegionalResolver),
    Component(RestApi),
    Component(RegionalEdge, (ApiGatewayOrigin, LoadBalancerOrigin)),
    Component(Network),
    Component(ContainerImage),
    Component(ContainerService),
    Component(LoadBalancer),
    Component(FargateService),
    Component(Monitoring, (LambdaMetrics, ContainerMetrics)),
    Component(SafeDeployments),
    Component(CodeSigning),
)


# --- reading the classes ---------------------------------------------------------------------------


def own_hints(cls: type[Any]) -> dict[str, Any]:
    """The evaluated annotations `cls` itself declares (not its bases': pulumi.Resource's name what only
    its own module has)."""
    own = inspect.get_annotations(cls)
    probe = type("_Annotations", (), {"__annotations__": own, "__module__": cls.__module__})
    return typing.get_type_hints(probe, localns=_NAMES)


def field_hints(cls: type[Any]) -> dict[str, Any]:
    """The evaluated type of every field of the dataclass `cls`, inherited ones included."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        hints |= own_hints(klass)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def args_class(component: type[pulumi.ComponentResource]) -> type[Any]:
    args: type[Any] = typing.get_type_hints(component.__init__, localns=_NAMES)["args"]
    return args


@functools.cache
def _module_tree(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"))


def class_node(cls: type[Any]) -> ast.ClassDef:
    source = inspect.getsourcefile(cls)
    if source is None:
        raise LookupError(f"no source for {cls.__qualname__}")
    for node in _module_tree(source).body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node
    raise LookupError(f"{cls.__qualname__} is not defined at the top of {source}")


def attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """Attribute -> the string literal right under its annotation, for the attributes `cls` declares."""
    body = class_node(cls).body
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def declaring_class(cls: type[Any], name: str) -> type[Any]:
    """The class of `cls`'s MRO whose own annotations declare `name`."""
    return next(klass for klass in cls.__mro__ if name in inspect.get_annotations(klass))


def field_docstring(cls: type[Any], name: str) -> str:
    return attribute_docstrings(declaring_class(cls, name)).get(name, "")


def class_docstring(cls: type[Any]) -> str:
    """The class's own docstring (not one inherited: a dataclass without one gets its signature)."""
    return ast.get_docstring(class_node(cls)) or ""


def component_type_token(component: type[pulumi.ComponentResource]) -> str:
    """The token its __init__ passes to ComponentResource: its `type_token(module, name)` call."""
    for node in ast.walk(class_node(component)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type_token":
            module, name = (arg.value for arg in node.args if isinstance(arg, ast.Constant))
            return type_token(str(module), str(name))
    raise LookupError(f"{component.__qualname__} calls no type_token")


def nested_dataclasses(hint: Any) -> Iterator[type[Any]]:
    """The components' dataclasses a type names, at any depth (`Mapping[str, X]`, `X | None`...)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint.__module__.startswith("components."):
        yield hint
    for arg in typing.get_args(hint):
        yield from nested_dataclasses(arg)


def documented_classes(component: Component) -> list[type[Any]]:
    """Its Args class, then every settings dataclass reachable from its fields (depth first, in field
    order), then the implementations of its Protocol-typed fields and what they reach."""
    found: list[type[Any]] = []

    def visit(cls: type[Any]) -> None:
        if cls in found:
            return
        found.append(cls)
        for hint in field_hints(cls).values():
            for nested in nested_dataclasses(hint):
                visit(nested)

    for cls in (args_class(component.cls), *component.implementations):
        visit(cls)
    return found


def all_documented_classes() -> list[type[Any]]:
    """Every Args and settings class of every component, each once, in the page's order."""
    seen: list[type[Any]] = []
    for component in COMPONENTS:
        seen += [cls for cls in documented_classes(component) if cls not in seen]
    return seen


# --- rendering ---------------------------------------------------------------------------------------


def type_name(cls: type[Any]) -> str:
    """`str`, `Sequence`, `pulumi.Output`, `aws.iam.Role`, `routes.Function`; the components' own bare."""
    module, name = cls.__module__, cls.__qualname__
    if module in _BARE_MODULES or module.startswith("components."):
        return name
    if module.startswith("pulumi_aws."):
        return f"aws.{module.split('.')[1]}.{name}"
    if module == "pulumi" or module.startswith("pulumi."):
        return f"pulumi.{name}"
    return f"{module.rpartition('.')[2]}.{name}"


def _is_output(hint: Any) -> bool:
    """An Output, evaluated or still `pulumi.Input`'s forward reference 'Output[T]'."""
    if isinstance(hint, typing.ForwardRef):
        return hint.__forward_arg__.startswith("Output[")
    return hint is pulumi.Output or typing.get_origin(hint) is pulumi.Output


def _union(members: Sequence[Any]) -> str:
    """`pulumi.Input[X]` is `X | Awaitable[X] | Output[...]` once evaluated: it is written back as such."""
    awaited = [typing.get_args(m)[0] for m in members if typing.get_origin(m) is collections.abc.Awaitable]
    inputs = [x for x in awaited if x in members] if any(_is_output(m) for m in members) else []
    parts = []
    for member in members:
        if member in inputs:
            parts.append(f"pulumi.Input[{render_type(member)}]")
        elif inputs and (_is_output(member) or typing.get_origin(member) is collections.abc.Awaitable):
            continue
        else:
            parts.append(render_type(member))
    return " | ".join(parts)


def render_type(hint: Any) -> str:
    """A type as its annotation would spell it: `pulumi.Input[str] | None`, `Sequence[str]`, `int`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        rendered = _union(args)
    elif origin is typing.Literal:
        rendered = f"Literal[{', '.join(json.dumps(arg) for arg in args)}]"
    elif origin is not None:
        rendered = f"{type_name(origin)}[{', '.join(render_type(arg) for arg in args)}]"
    elif hint is None or hint is type(None):
        rendered = "None"
    elif isinstance(hint, type):
        rendered = type_name(hint)
    else:
        rendered = _SPECIAL.get(hint, str(hint))
    return rendered


_SPECIAL: dict[Any, str] = {Ellipsis: "...", Any: "Any"}
_PLAIN = (type(None), bool, int, float, str)
_EMPTY_FACTORIES: dict[Callable[[], Any], str] = {dict: "{}", list: "[]", tuple: "()", set: "set()"}


def _is_plain(value: Any) -> bool:
    if type(value) in (tuple, list):  # not a NamedTuple: `routes.AUTHORIZER` is a constant, not a literal
        return all(_is_plain(item) for item in value)
    return isinstance(value, _PLAIN)


def render_value(value: Any, module: types.ModuleType | None = None) -> str:
    """A plain value as written (strings in double quotes); another as the constant it is, `routes.ROUTES`,
    found among `module`'s names and those of the modules it imports."""
    if isinstance(value, str):
        return json.dumps(value)
    if type(value) is tuple and _is_plain(value):
        return f"({', '.join(render_value(item) for item in value)}{',' if len(value) == 1 else ''})"
    if type(value) is list and _is_plain(value):
        return f"[{', '.join(render_value(item) for item in value)}]"
    if _is_plain(value):
        return repr(value)
    for name, found in _constants(module):
        if found is value:
            return name
    return repr(value)


def _constants(module: types.ModuleType | None) -> Iterator[tuple[str, Any]]:
    if module is None:
        return
    names = sorted(vars(module).items())
    yield from ((name, value) for name, value in names if name.isupper())
    for alias, imported in names:
        if isinstance(imported, types.ModuleType):
            yield from ((f"{alias}.{name}", value) for name, value in sorted(vars(imported).items()) if name.isupper())


def render_default(cls: type[Any], field: dataclasses.Field[Any]) -> str:
    """The literal default, `ResolverSettings()` or `{}` for a factory, or "required"."""
    module = sys.modules[declaring_class(cls, field.name).__module__]
    if field.default is not dataclasses.MISSING:
        return render_value(field.default, module)
    factory = field.default_factory
    if factory is dataclasses.MISSING:
        return "required"
    if factory in _EMPTY_FACTORIES:
        return _EMPTY_FACTORIES[factory]
    if isinstance(factory, type):
        return f"{type_name(factory)}()"
    return render_value(factory(), module)


def _cell(text: str) -> str:
    """One table cell: one line, its pipes escaped (in code spans too, as GitHub's tables need)."""
    return " ".join(text.split()).replace("|", "\\|")


def _without_pointer(text: str) -> str:
    """A class docstring without its pointer to this page."""
    return text.removesuffix(POINTER).rstrip()


def _paragraphs(text: str) -> str:
    """A docstring as Markdown paragraphs: each paragraph's lines joined."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def _anchor(cls: type[Any]) -> str:
    return f"#{cls.__name__.lower()}"


def _link(cls: type[Any]) -> str:
    return f"[`{cls.__name__}`]({_anchor(cls)})"


def _type_cell(hint: Any) -> str:
    links = list(dict.fromkeys(nested_dataclasses(hint)))
    see = f" ({', '.join(_link(cls) for cls in links)})" if links else ""
    return f"`{_cell(render_type(hint))}`{see}"


def field_table(cls: type[Any]) -> list[str]:
    hints = field_hints(cls)
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        default = _cell(render_default(cls, field))
        default = default if default == "required" else f"`{default}`"
        description = _cell(field_docstring(cls, field.name))
        lines.append(f"| `{field.name}` | {_type_cell(hints[field.name])} | {default} | {description} |")
    return lines


def class_section(cls: type[Any]) -> list[str]:
    lines = [f"### {cls.__name__}", "", f"`{cls.__module__}.{cls.__qualname__}`", ""]
    doc = _without_pointer(class_docstring(cls))
    if doc:
        lines += [_paragraphs(doc), ""]
    return [*lines, *field_table(cls), ""]


def outputs_table(component: type[pulumi.ComponentResource]) -> list[str]:
    """Its public annotated attributes: what a program reads once it is constructed."""
    hints = {name: hint for name, hint in own_hints(component).items() if not name.startswith("_")}
    if not hints:
        return []
    docs = attribute_docstrings(component)
    lines = ["| output | type | description |", "|---|---|---|"]
    lines += [f"| `{name}` | {_type_cell(hint)} | {_cell(docs.get(name, ''))} |" for name, hint in hints.items()]
    return [*lines, ""]


def component_section(component: Component, documented: list[type[Any]]) -> list[str]:
    cls, args = component.cls, args_class(component.cls)
    lines = [
        f"## {cls.__name__}",
        "",
        f"`{cls.__module__}.{cls.__qualname__}` · type token `{component_type_token(cls)}` · args {_link(args)}",
        "",
    ]
    doc = class_docstring(cls)
    if doc:
        lines += [_paragraphs(doc), ""]
    lines += outputs_table(cls)
    for nested in documented_classes(component):
        if nested not in documented:
            documented.append(nested)
            lines += class_section(nested)
    return lines


def render() -> str:
    lines = [
        f"<!-- Generated by `{COMMAND}` from the components' code; do not edit by hand. -->",
        "",
        "# Components reference",
        "",
        "The reusable components of `components/`: what each builds, its type token, its outputs, and every",
        "field of its Args and of the settings classes they hold (type, default, what it changes, its unit",
        "and the range the Args refuse values outside of). Each component is `Component(name, args, opts)`;",
        "a `pulumi.Input[...]` field takes a plain value or an Output (pass a secret Output where the field",
        "says it is a secret). The descriptions are the fields' attribute docstrings in the code, which an IDE",
        "shows on hover; `help()` shows only the class docstrings. This page is generated from them:",
        f"after changing an Args class, run `{COMMAND}` (tests/packaging checks the page is current).",
        "",
        "| component | type token | args |",
        "|---|---|---|",
    ]
    for component in COMPONENTS:
        cls, args = component.cls, args_class(component.cls)
        token = component_type_token(cls)
        lines.append(f"| [{cls.__name__}]({_anchor(cls)}) | `{token}` | {_link(args)} |")
    lines.append("")
    documented: list[type[Any]] = []
    for component in COMPONENTS:
        lines += component_section(component, documented)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"rewrite {TARGET.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET.relative_to(ROOT)}")
        return 0
    if not TARGET.is_file() or TARGET.read_text(encoding="utf-8") != text:
        print(f"{TARGET.relative_to(ROOT)} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
