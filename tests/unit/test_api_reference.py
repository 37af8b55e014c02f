"""docs/api.html is what `python -m tools.api_reference --write` renders from docs/openapi.yaml today, it
shows every operation and example, and it loads nothing from elsewhere: it works offline."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tools import api_reference

# Attributes that make a browser fetch something (`href` of an <a> only moves within the page here).
FETCHING = {"src", "srcset", "data", "poster", "action", "formaction", "background", "manifest", "xlink:href"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[tuple[str, str]] = []
        self.fetches: list[str] = []
        self.scripts = 0
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        self.fetches += [f"<{tag} {name}={value!r}>" for name, value in values.items() if name in FETCHING]
        if "href" in values:
            self.hrefs.append((tag, values["href"]))
        if "style" in values:
            self.styles.append(values["style"])
        self.scripts += tag == "script"
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def outside_references(page: str) -> list[str]:
    """What in `page` would load or lead to something outside it: a script, a fetching attribute, a link
    that is not an anchor of the page, a stylesheet import, font or url(); empty when it is self-contained."""
    links = _Links()
    links.feed(page)
    found = [f"{links.scripts} <script>"] if links.scripts else []
    found += links.fetches
    found += [f"<{tag} href={href!r}>" for tag, href in links.hrefs if not href.startswith("#")]
    found += [f"<a href={href!r}>: no such id" for _, href in links.hrefs if href[1:] not in links.ids]
    found += [f"style: {rule}" for css in links.styles for rule in re.findall(r"@import|@font-face|url\(", css)]
    return found


def test_the_committed_page_is_what_the_document_renders() -> None:
    current = api_reference.OUTPUT.read_text(encoding="utf-8")
    assert current == api_reference.render(api_reference.load()), "run: python -m tools.api_reference --write"


def test_the_page_loads_nothing_from_elsewhere_and_every_link_is_an_anchor_in_it() -> None:
    assert outside_references(api_reference.OUTPUT.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "outside",
    [
        '<script src="https://cdn.example.com/redoc.standalone.js"></script>',
        "<script>fetch('/x')</script>",
        '<link rel="stylesheet" href="https://fonts.example.com/css?family=Inter">',
        "<style>@import url(https://fonts.example.com/inter.css);</style>",
        '<style>@font-face { font-family: X; src: url("x.woff2"); }</style>',
        '<img src="//images.example.com/logo.png">',
        '<p style="background: url(https://example.com/x.png)">x</p>',
        '<a href="https://example.com/docs">the docs</a>',
        '<a href="#nowhere">a broken anchor</a>',
    ],
)
def test_the_check_finds_what_would_load_from_elsewhere(outside: str) -> None:
    page = api_reference.OUTPUT.read_text(encoding="utf-8").replace("</main>", outside + "</main>")
    assert outside_references(page)


def test_the_page_shows_every_operation_and_every_example() -> None:
    page = api_reference.OUTPUT.read_text(encoding="utf-8")
    reference = api_reference.Reference(api_reference.load())
    operations = list(reference.operations())
    assert len(operations) == 17
    for method, path, operation in operations:
        section = page[page.index(f'<section class="operation" id="op-{operation["operationId"]}">') :]
        section = section[: section.index("</section>")]
        assert f'<span class="method {method}">{method.upper()}</span> <code>{html.escape(path)}</code>' in section
        medias = [*(reference.resolve(operation.get("requestBody", {})).get("content") or {}).values()]
        for status, response in operation["responses"].items():
            assert f'id="op-{operation["operationId"]}-{status}"' in section, (path, status)
            medias += (reference.resolve(response).get("content") or {}).values()
        for media in medias:
            for _, example in reference.examples(media):
                value = example["value"]
                text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
                assert html.escape(text) in section, (path, example["summary"])
    enum = reference.document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["type"]["enum"]
    for kind in enum:
        assert f'<tr id="error-{api_reference.slug(kind)}"><td><code>{kind}</code></td><td><a href="#op-' in page


def test_every_operation_is_under_one_declared_tag() -> None:
    """The table of contents groups the operations by tag: each names one, declared at the top."""
    document = api_reference.load()
    declared = [tag["name"] for tag in document["tags"]]
    for _, path, operation in api_reference.Reference(document).operations():
        assert len(operation.get("tags", [])) == 1 and operation["tags"][0] in declared, path


def test_the_check_exits_1_with_one_line_until_the_page_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "api.html"
    arguments = ["--spec", str(api_reference.SPEC), "--output", str(output)]
    assert api_reference.main(arguments) == 1  # missing
    output.write_text("<html>stale</html>")
    assert api_reference.main(arguments) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 2 and "python -m tools.api_reference --write" in message
    assert api_reference.main([*arguments, "--write"]) == 0
    assert output.read_text(encoding="utf-8") == api_reference.OUTPUT.read_text(encoding="utf-8")
    assert api_reference.main(arguments) == 0
    assert capsys.readouterr().err == ""


def test_the_documents_markdown_is_rendered_and_everything_else_escaped() -> None:
    assert (
        api_reference.inline("a <b> & `c<d>` **e**") == "a &lt;b&gt; &amp; <code>c&lt;d&gt;</code> <strong>e</strong>"
    )
    rendered = api_reference.markdown(
        "Two answers:\n- `one`: first\n  and more\n- two\n\n| A | B |\n|---|---|\n| 1 | `2` |"
    )
    assert rendered == (
        "<p>Two answers:</p>\n<ul>\n<li><code>one</code>: first and more</li>\n<li>two</li>\n</ul>\n"
        "<table>\n<thead><tr><th>A</th><th>B</th></tr></thead>\n<tbody>\n"
        "<tr><td>1</td><td><code>2</code></td></tr>\n</tbody>\n</table>\n"
    )


def _keys_without_a_value(node: object, path: str = "") -> list[str]:
    """Keys whose value is null, outside the examples' values (where null is data)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None:
                found.append(f"{path}/{key}")
            elif key != "value":
                found += _keys_without_a_value(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _keys_without_a_value(item, f"{path}/{index}")
    return found


def test_no_description_of_the_document_is_cut_at_a_comma() -> None:
    """In a `{ ... }` mapping an unquoted value ends at its first comma, and the rest becomes a key without
    a value: `description: In minor units (pence, cents).` showed as "In minor units (pence"."""
    assert _keys_without_a_value(api_reference.load()) == []
    assert _keys_without_a_value({"amount": {"description": "In minor units (pence", "cents).": None}})
