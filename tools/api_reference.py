"""docs/api.html: the API reference, rendered from docs/openapi.yaml as one self-contained page.

    python -m tools.api_reference --write   # (re)write docs/api.html from docs/openapi.yaml
    python -m tools.api_reference           # exit 1, saying so in one line, if docs/api.html is out of date

The page needs nothing but a browser, offline: no script, no font, image or stylesheet from elsewhere,
and every link is an anchor within it. The output is deterministic (the document's order, no date), so
a test compares it with the committed file. Descriptions are read as the document writes them: a
subset of CommonMark (paragraphs, `- ` lists, pipe tables, `code` and **bold**); anything else is shown
as its text, escaped.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "openapi.yaml"
OUTPUT = ROOT / "docs" / "api.html"
METHODS = ("get", "put", "post", "patch", "delete")
NESTING = 2  # a body's fields, and those of the objects they hold: one level down
SCHEMA_PREFIX = "#/components/schemas/"
Node = Mapping[str, Any]

_CODE = re.compile(r"(`[^`]+`)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BOUNDS = (("minimum", "maximum", ""), ("minLength", "maxLength", " characters"), ("minItems", "maxItems", " items"))
_TABLE_RULE = re.compile(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?")

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0a58ca; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
code { background: var(--soft); padding: 0 3px; border-radius: 3px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; }
pre code { background: none; padding: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav { position: fixed; top: 0; bottom: 0; left: 0; width: 370px; overflow-y: auto; padding: 16px;
      border-right: 1px solid var(--line); background: #fbfcfd; font-size: 13px; }
nav ul { list-style: none; margin: 0 0 12px; padding: 0; }
nav li { margin: 3px 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
nav h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 16px 0 6px; }
main { margin-left: 370px; padding: 24px 40px 80px; max-width: 1100px; }
h1 { margin-top: 0; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 48px; }
section.operation { border-top: 1px solid var(--line); padding-top: 12px; margin-top: 32px; }
h3 code { font-size: 17px; background: none; }
h4 { margin: 20px 0 6px; }
table { border-collapse: collapse; margin: 8px 0 14px; width: 100%; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td p, li p { margin: 0; }
.method { display: inline-block; min-width: 62px; text-align: center; border-radius: 4px; padding: 1px 6px;
          color: #fff; font: 600 12px/1.7 ui-monospace, Menlo, Consolas, monospace; }
.get { background: #1a7f37; } .post { background: #0a58ca; } .delete { background: #cf222e; }
.put, .patch { background: #9a6700; }
.status { display: inline-block; min-width: 42px; font-weight: 600; }
.s2 { color: #1a7f37; } .s4 { color: #9a6700; } .s5 { color: #cf222e; }
details.response { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details.response > summary { cursor: pointer; }
details.response[open] > summary { margin-bottom: 6px; }
.example-title { margin: 10px 0 2px; color: var(--muted); font-size: 14px; }
.constraints { color: var(--muted); font-size: 13px; }
.muted { color: var(--muted); }
"""


def load(path: Path = SPEC) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


# --- the document's Markdown ----------------------------------------------------------------------


def inline(text: str) -> str:
    """`code` and **bold**; everything else escaped."""
    out = []
    for part in _CODE.split(text):
        if len(part) > 1 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(part)))
    return "".join(out)


def markdown(text: str) -> str:
    """Paragraphs, `- ` lists (an item's indented lines continue it) and pipe tables."""
    return "".join(_block(block.splitlines()) for block in re.split(r"\n[ \t]*\n", text.strip()) if block.strip())


def _block(lines: list[str]) -> str:
    if all(line.lstrip().startswith("|") for line in lines):
        return _table(lines)
    first_item = next((index for index, line in enumerate(lines) if line.startswith("- ")), None)
    if first_item is None:
        return _paragraph(lines)
    return (_paragraph(lines[:first_item]) if first_item else "") + _list(lines[first_item:])


def _paragraph(lines: Sequence[str]) -> str:
    return f"<p>{inline(' '.join(line.strip() for line in lines))}</p>\n"


def _list(lines: Sequence[str]) -> str:
    items: list[str] = []
    for line in lines:
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif items:
            items[-1] += " " + line.strip()
    return "<ul>\n" + "".join(f"<li>{inline(item)}</li>\n" for item in items) + "</ul>\n"


def _table(lines: Sequence[str]) -> str:
    rows = [line.strip() for line in lines if not _TABLE_RULE.fullmatch(line.strip())]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    head = "".join(f"<th>{inline(cell)}</th>" for cell in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{inline(cell)}</td>" for cell in row) + "</tr>\n" for row in cells[1:])
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


# --- the page ---------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _types(schema: Node) -> list[str]:
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else [str(kind) for kind in kinds]


def _bounds(low: object, high: object) -> str:
    if low is not None and high is not None:
        return f"{low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _error_of(example: Node) -> Node | None:
    """The `error` object of an error example, else None."""
    value = example.get("value")
    error = value.get("error") if isinstance(value, Mapping) else None
    return error if isinstance(error, Mapping) else None


def _status_class(status: str) -> str:
    return f"s{status[0]}" if status[:1] in "245" else ""


class Reference:
    """One rendering of one document: resolves its `$ref`s and writes each part of the page."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Node) -> Node:
        seen: set[str] = set()
        while "$ref" in node:
            ref = str(node["$ref"])
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"cannot resolve {ref}")
            seen.add(ref)
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def operations(self) -> Iterator[tuple[str, str, Node]]:
        for path, item in self.document["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method, path, item[method]

    def tags(self) -> list[tuple[str, str]]:
        """(name, description) of each tag in the document's order, then any tag only an operation names."""
        declared = [(str(tag["name"]), str(tag.get("description", ""))) for tag in self.document.get("tags", [])]
        named = {name for name, _ in declared}
        for _, _, operation in self.operations():
            for tag in operation.get("tags") or ["Other"]:
                if tag not in named:
                    named.add(tag)
                    declared.append((tag, ""))
        return declared

    def by_tag(self, tag: str) -> list[tuple[str, str, Node]]:
        return [op for op in self.operations() if (op[2].get("tags") or ["Other"])[0] == tag]

    # --- schemas ---

    def type_text(self, schema: Node) -> str:
        """A schema's type in words: `integer | null`, `array of Payment`, `Payment or Refund`."""
        ref = str(schema.get("$ref", ""))
        name = ref.removeprefix(SCHEMA_PREFIX) if ref.startswith(SCHEMA_PREFIX) else ""
        name = "" if "/" in name else name  # a property of a schema is no type's name
        node = self.resolve(schema)
        if len(node.get("allOf", ())) == 1:
            return self.type_text(node["allOf"][0])
        if "oneOf" in node or "anyOf" in node:
            return " or ".join(self.type_text(option) for option in node.get("oneOf", node.get("anyOf", [])))
        words = []
        for kind in _types(node):
            if kind == "array":
                words.append(f"array of {self.type_text(node.get('items', {}))}")
            elif kind == "object" and name:
                words.append(name)
            else:
                words.append(str(kind))
        text = " | ".join(words) or name or "any"
        return f"{text} ({name})" if name and name not in text else text

    def constraints(self, schema: Node) -> list[str]:
        node = self.resolve(schema)
        if len(node.get("allOf", ())) == 1:
            node = self.resolve(node["allOf"][0])
        found = []
        if "enum" in node:
            found.append("one of " + ", ".join(f"`{value}`" for value in node["enum"]))
        if "format" in node:
            found.append(f"format `{node['format']}`")
        for low, high, unit in _BOUNDS:
            if low in node or high in node:
                found.append(_bounds(node.get(low), node.get(high)) + unit)
        if "pattern" in node:
            found.append(f"pattern `{node['pattern']}`")
        if "default" in node:
            found.append(f"default `{json.dumps(node['default'])}`")
        return found

    def fields(self, schema: Node, prefix: str = "", depth: int = 1) -> Iterator[tuple[str, Node, bool]]:
        """(dotted name, schema, required) of an object's properties and, to NESTING, of theirs."""
        node = self.resolve(schema)
        required = set(node.get("required", ()))
        for name, prop in (node.get("properties") or {}).items():
            full = f"{prefix}.{name}" if prefix else str(name)
            yield full, prop, name in required
            inner = self.resolve(prop)
            if "array" in _types(inner):
                inner, full = self.resolve(inner.get("items", {})), f"{full}[]"
            if depth < NESTING and inner.get("properties"):
                yield from self.fields(inner, full, depth + 1)

    def fields_table(self, schema: Node) -> str:
        rows = []
        for name, prop, required in self.fields(schema):
            description = str(prop.get("description") or self.resolve(prop).get("description") or "")
            limits = self.constraints(prop)
            rows.append(
                f"<tr><td><code>{html.escape(name)}</code></td>"
                f"<td>{html.escape(self.type_text(prop))}"
                + (f'<div class="constraints">{inline("; ".join(limits))}</div>' if limits else "")
                + f"</td><td>{'yes' if required else 'no'}</td><td>{markdown(description)}</td></tr>\n"
            )
        if not rows:
            return ""
        head = "<tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>"
        return f"<table>\n<thead>{head}</thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n"

    # --- examples ---

    def examples(self, media: Node) -> Iterator[tuple[str, Node]]:
        for name, example in (media.get("examples") or {}).items():
            yield str(name), self.resolve(example)

    def example_html(self, name: str, example: Node) -> str:
        value = example.get("value")
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        summary = inline(str(example.get("summary", "")))
        return (
            f'<p class="example-title">Example <code>{html.escape(name)}</code>: {summary}</p>'
            f"\n<pre><code>{html.escape(text)}</code></pre>\n"
        )

    def content_html(self, content: Node, *, show_fields: bool) -> str:
        parts = []
        for media_type, media in content.items():
            schema = media.get("schema") or {}
            parts.append(
                f"<p>Content <code>{html.escape(media_type)}</code>: {html.escape(self.type_text(schema))}</p>\n"
            )
            if show_fields:
                parts.append(self.fields_table(schema))
            parts.extend(self.example_html(name, example) for name, example in self.examples(media))
        return "".join(parts)

    # --- an operation ---

    def auth_html(self, operation: Node) -> str:
        requirements = operation.get("security", self.document.get("security", []))
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        names = [name for requirement in requirements for name in requirement]
        if not names:
            return "<p><strong>Authentication:</strong> none.</p>\n"
        described = "; ".join(inline(str(schemes.get(name, {}).get("description", name))) for name in names)
        return f"<p><strong>Authentication:</strong> {described}</p>\n"

    def parameters_html(self, operation: Node) -> str:
        parameters = [self.resolve(parameter) for parameter in operation.get("parameters", [])]
        if not parameters:
            return ""
        rows = []
        for parameter in parameters:
            schema = parameter.get("schema", {})
            limits = self.constraints(schema)
            rows.append(
                f"<tr><td><code>{html.escape(str(parameter['name']))}</code></td>"
                f"<td>{html.escape(str(parameter['in']))}</td>"
                f"<td>{'yes' if parameter.get('required') else 'no'}</td>"
                f"<td>{html.escape(self.type_text(schema))}"
                + (f'<div class="constraints">{inline("; ".join(limits))}</div>' if limits else "")
                + f"</td><td>{markdown(str(parameter.get('description', '')))}</td></tr>\n"
            )
        head = "<tr><th>Name</th><th>In</th><th>Required</th><th>Type</th><th>Description</th></tr>"
        return f"<h4>Parameters</h4>\n<table>\n<thead>{head}</thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n"

    def request_html(self, operation: Node) -> str:
        if "requestBody" not in operation:
            return ""
        body = self.resolve(operation["requestBody"])
        need = "required" if body.get("required") else "optional"
        description = markdown(str(body.get("description", "")))
        return f"<h4>Request body ({need})</h4>\n{description}" + self.content_html(body["content"], show_fields=True)

    def response_html(self, anchor: str, status: str, response: Node) -> str:
        resolved = self.resolve(response)
        success = status.startswith("2")
        headers = resolved.get("headers") or {}
        rows = "".join(
            f"<tr><td><code>{html.escape(str(name))}</code></td>"
            f"<td>{'yes' if self.resolve(header).get('required') else 'no'}</td>"
            f"<td>{markdown(str(header.get('description') or self.resolve(header).get('description', '')))}</td></tr>\n"
            for name, header in headers.items()
        )
        header_table = (
            "<table>\n<thead><tr><th>Header</th><th>Always</th><th>Description</th></tr></thead>\n"
            f"<tbody>\n{rows}</tbody>\n</table>\n"
            if rows
            else ""
        )
        content = resolved.get("content") or {}
        body = self.content_html(content, show_fields=success) if content else '<p class="muted">No body.</p>'
        return (
            f'<details class="response" id="{anchor}-{status}"{" open" if success else ""}>'
            f'<summary><span class="status {_status_class(status)}">{html.escape(status)}</span> '
            f"{inline(self.label(content))}</summary>\n"
            f"{markdown(str(resolved.get('description', '')))}{header_table}{body}</details>\n"
        )

    def label(self, content: Node) -> str:
        """A response in a few words: its error types, else its body's type."""
        kinds: list[str] = []
        for media in content.values():
            for _, example in self.examples(media):
                error = _error_of(example)
                if error is not None and f"`{error['type']}`" not in kinds:
                    kinds.append(f"`{error['type']}`")
        types = [self.type_text(media.get("schema") or {}) for media in content.values()]
        return ", ".join(kinds) or ", ".join(dict.fromkeys(types)) or "no body"

    def operation_html(self, method: str, path: str, operation: Node) -> str:
        anchor = f"op-{operation['operationId']}"
        responses = sorted(operation["responses"].items())
        return (
            f'<section class="operation" id="{anchor}">\n'
            f'<h3><span class="method {method}">{method.upper()}</span> <code>{html.escape(path)}</code></h3>\n'
            f"<p><strong>{inline(str(operation.get('summary', '')))}</strong>"
            f' <span class="muted">(<code>{html.escape(str(operation["operationId"]))}</code>)</span></p>\n'
            f"{markdown(str(operation.get('description', '')))}"
            f"{self.auth_html(operation)}{self.parameters_html(operation)}{self.request_html(operation)}"
            "<h4>Responses</h4>\n"
            + "".join(self.response_html(anchor, status, response) for status, response in responses)
            + "</section>\n"
        )

    # --- the error types ---

    def error_types_html(self) -> str:
        """Each type of the Error schema's enum, the statuses its examples show it with, and one example."""
        error = self.document["components"]["schemas"]["Error"]["properties"]["error"]
        shown: dict[str, dict[str, tuple[str, str]]] = {kind: {} for kind in error["properties"]["type"]["enum"]}
        for _, _, operation in self.operations():
            for status, response in sorted(operation["responses"].items()):
                for media in (self.resolve(response).get("content") or {}).values():
                    for _, example in self.examples(media):
                        error = _error_of(example)
                        if error is not None:
                            found = shown.setdefault(str(error["type"]), {})
                            anchor = f"op-{operation['operationId']}-{status}"
                            found.setdefault(status, (anchor, str(error.get("message", ""))))
        rows = []
        for kind, statuses in shown.items():
            links = ", ".join(f'<a href="#{anchor}">{status}</a>' for status, (anchor, _) in sorted(statuses.items()))
            message = next(iter(statuses.values()), ("", ""))[1]
            rows.append(
                f'<tr id="error-{slug(kind)}"><td><code>{html.escape(kind)}</code></td><td>{links}</td>'
                f"<td>{html.escape(message)}</td></tr>\n"
            )
        head = "<tr><th>Type</th><th>Status (an example)</th><th>Message, for example</th></tr>"
        return (
            '<h2 id="error-types">Error types</h2>\n'
            "<p>Every error has the shape of the <code>Error</code> schema, "
            '<code>{"error": {"type": ..., "message": ..., "fields": [...]}}</code>; its <code>type</code> is one of '
            "these. The table of answers above says what each means and what to do next.</p>\n"
            f"<table>\n<thead>{head}</thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n"
        )

    # --- the whole page ---

    def navigation_html(self) -> str:
        parts = ['<nav>\n<p><a href="#top"><strong>Overview</strong></a></p>\n']
        for tag, _ in self.tags():
            items = "".join(
                f'<li><a href="#op-{operation["operationId"]}" title="{html.escape(str(operation.get("summary")))}">'
                f'<span class="method {method}">{method.upper()}</span> '
                f"{html.escape(path)}</a></li>\n"
                for method, path, operation in self.by_tag(tag)
            )
            parts.append(f'<h2><a href="#tag-{slug(tag)}">{html.escape(tag)}</a></h2>\n<ul>\n{items}</ul>\n')
        parts.append('<h2><a href="#error-types">Error types</a></h2></nav>')
        return "".join(parts)

    def overview_html(self) -> str:
        info = self.document["info"]
        servers = "".join(
            f"<li><code>{html.escape(str(server['url']))}</code>: {inline(str(server.get('description', '')))}</li>\n"
            for server in self.document.get("servers", [])
        )
        return (
            f'<h1 id="top">{html.escape(str(info["title"]))} <span class="muted">{html.escape(str(info["version"]))}'
            "</span></h1>\n"
            f"<p><strong>{inline(str(info.get('summary', '')))}</strong></p>\n"
            '<p class="muted">Generated from <code>docs/openapi.yaml</code> (OpenAPI '
            f"{html.escape(str(self.document['openapi']))}) by <code>python -m tools.api_reference --write</code>; "
            "edit the document, not this page.</p>\n"
            f"{markdown(str(info.get('description', '')))}"
            f"<h2>Servers</h2>\n<ul>\n{servers}</ul>\n"
        )

    def page(self) -> str:
        sections = []
        for tag, description in self.tags():
            operations = "".join(self.operation_html(*operation) for operation in self.by_tag(tag))
            sections.append(f'<h2 id="tag-{slug(tag)}">{html.escape(tag)}</h2>\n{markdown(description)}{operations}')
        title = html.escape(f"{self.document['info']['title']} {self.document['info']['version']}")
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"{self.navigation_html()}\n<main>\n{self.overview_html()}\n"
            + "\n".join(sections)
            + f"\n{self.error_types_html()}\n</main>\n</body>\n</html>\n"
        )


def render(document: Mapping[str, Any]) -> str:
    return Reference(document).page()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.api_reference", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the page (default: check it is current)")
    parser.add_argument("--spec", type=Path, default=SPEC, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=OUTPUT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    page = render(load(args.spec))
    if args.write:
        args.output.write_text(page, encoding="utf-8")
        return 0
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if current != page:
        print(
            f"{_shown(args.output)} is out of date with {_shown(args.spec)}: run python -m tools.api_reference --write",
            file=sys.stderr,
        )
        return 1
    return 0


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
