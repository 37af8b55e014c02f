"""The README's deploy guide, command by command: every command names its stack (a command that runs on
whatever stack is selected can change, or re-create, the other region), the destroy steps come in an order
that re-creates nothing, both deployment paths are complete, and the outputs table is the program's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STACKS = ("eu", "us")
# pulumi commands that act on no stack.
STACKLESS = frozenset({"login", "logout", "whoami", "version", "about"})
# pulumi commands that take the stack as their argument (`pulumi stack init eu`).
POSITIONAL = frozenset({"stack init", "stack rm", "stack select"})
_SEGMENT_END = re.compile(r"&&|\|\||\||;|\)|`")
_STACK_FLAG = re.compile(r"(?:^|\s)(?:-s|--stack)(?:\s+|=)(\S+)")


@dataclass(frozen=True)
class Command:
    section: str  # the ### heading it is under
    line: str  # the whole line, comments included
    text: str  # this command: from its program name to the end of its segment

    @property
    def words(self) -> list[str]:
        return self.text.split()


def guide() -> str:
    text = README.read_text()
    start = text.index("\n## Deploying to AWS\n")
    return text[start : text.index("\n## ", start + 1)]


def blocks() -> list[tuple[str, list[str]]]:
    """(section, lines) of every shell block in the guide, indented ones (in a list item) included."""
    found: list[tuple[str, list[str]]] = []
    section, current = "", None
    for raw in guide().splitlines():
        line = raw.strip()
        if raw.startswith("### "):
            section = raw[4:].strip()
        if current is None and line in ("```sh", "```bash"):
            current = []
        elif current is not None and line == "```":
            found.append((section, current))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, "an unclosed code block"
    return found


def commands(program: str) -> list[Command]:
    """Every invocation of `program` in the guide's blocks, in order: in `$(...)`, after `|` or `&&`, and
    in comments (a commented alternative is copied too)."""
    found = []
    pattern = re.compile(rf"(?<![\w./-]){re.escape(program)}\s")
    for section, lines in blocks():
        for line in lines:
            for match in pattern.finditer(line):
                rest = line[match.start() :]
                end = _SEGMENT_END.search(rest, len(program))
                found.append(Command(section, line, rest[: end.start() if end else None].strip()))
    return found


def named_stack(command: Command) -> str | None:
    """The stack a pulumi command names, if it names one."""
    flag = _STACK_FLAG.search(command.text)
    if flag:
        return flag[1].strip("\"'")
    words = command.words
    if len(words) >= 4 and " ".join(words[1:3]) in POSITIONAL:
        return words[3]
    return None


def pulumi_subcommand(command: Command) -> str:
    words = command.words
    return " ".join(words[1:3]) if words[1] == "stack" else words[1]


def test_the_guide_has_shell_blocks_to_check() -> None:
    sections = {section for section, _ in blocks()}
    assert {"Deploying", "Safe deployments", "Failing over and back", "Destroying"} <= sections
    assert len(commands("pulumi")) > 30


def test_every_pulumi_command_names_eu_or_us() -> None:
    unnamed = [c.line for c in commands("pulumi") if c.words[1] not in STACKLESS and named_stack(c) not in STACKS]
    assert unnamed == []


def test_every_make_deploy_names_its_stack_and_every_make_smoke_its_url() -> None:
    makes = commands("make")
    deploys = [c for c in makes if c.words[1] == "deploy"]
    smokes = [c for c in makes if c.words[1] == "smoke"]
    assert deploys and smokes
    assert [c.line for c in deploys if not re.search(r"\bSTACK=(eu|us)\b", c.text)] == []
    assert [c.line for c in smokes if not re.search(r"\bURL=\S", c.line)] == []
    tools = [c for c in commands(".venv/bin/python") if c.words[1:3] == ["-m", "deploy"]]
    assert tools and [c.line for c in tools if named_stack(c) not in STACKS] == []


def test_the_smoke_test_checks_each_regions_own_url_and_reads_only_on_a_real_bank() -> None:
    smokes = [c.line for c in commands("make") if c.words[1] == "smoke"]
    urls = [re.search(r'URL="\$\(pulumi stack output regionalApiUrl -s (eu|us)\)"', line) for line in smokes]
    assert all(urls), smokes
    paying = [u[1] for u, line in zip(urls, smokes, strict=True) if u and "ARGS=--pay" in line]
    read_only = [u[1] for u, line in zip(urls, smokes, strict=True) if u and "--pay" not in line]
    assert sorted(paying) == sorted(read_only) == ["eu", "us"]


def _block_with(section: str, text: str) -> list[str]:
    matching = [lines for s, lines in blocks() if s == section and any(text in line for line in lines)]
    assert len(matching) == 1, f"one {section} block with {text!r}"
    return matching[0]


@pytest.mark.parametrize(
    "bank",
    ["pulumi config set bankSimulator true -s {stack}", "pulumi config set --secret bankUrl -s {stack} https://"],
)
def test_each_deployment_path_configures_both_stacks_then_deploys_eu_first(bank: str) -> None:
    lines = _block_with("Deploying", bank.format(stack="eu"))
    text = "\n".join(lines)
    for stack in STACKS:
        assert bank.format(stack=stack) in text
    # The key is made once, in eu, and copied to us; then compared.
    assert "openssl rand -base64 48 | pulumi config set --secret fingerprintKey -s eu" in text
    assert "pulumi config get fingerprintKey -s eu | pulumi config set --secret fingerprintKey -s us" in text
    assert 'test "$(pulumi config get fingerprintKey -s eu)" = "$(pulumi config get fingerprintKey -s us)"' in text
    deploys = [line.split("#")[0].strip() for line in lines if line.startswith("make deploy")]
    assert deploys == ["make deploy STACK=eu", "make deploy STACK=us"]
    assert max(i for i, line in enumerate(lines) if "pulumi config set" in line) < lines.index(
        next(line for line in lines if line.startswith("make deploy STACK=eu"))
    )


def _destroy_steps() -> list[tuple[str, str]]:
    """(pulumi subcommand, stack) of the Destroying block's commands, comments left out."""
    steps = []
    for command in commands("pulumi"):
        if command.section == "Destroying" and not command.line.startswith("#"):
            stack = named_stack(command)
            assert stack is not None, command.line
            steps.append((pulumi_subcommand(command), stack))
    return steps


def test_destroying_takes_us_down_first_and_never_touches_it_again() -> None:
    steps = _destroy_steps()
    assert steps[0] == ("destroy", "us")
    assert [stack for _, stack in steps[1:]] == ["eu"] * (len(steps) - 1)  # nothing re-creates us


def test_destroying_eu_turns_deletion_protection_off_and_applies_it_before_destroying() -> None:
    lines = [line for line in _block_with("Destroying", "pulumi destroy -s eu") if not line.startswith("#")]
    order = [
        "pulumi config set deletionProtection false -s eu",
        "pulumi up -s eu",
        "pulumi destroy -s eu",
    ]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in order]
    assert positions == sorted(positions)
    # deletionProtection is a primary-only key: set on us, the program refuses it.
    assert not [c.line for c in commands("pulumi") if "deletionProtection" in c.text and named_stack(c) == "us"]
    assert _destroy_steps().count(("up", "us")) == 0


def test_the_outputs_table_is_what_the_program_exports() -> None:
    exported = set(re.findall(r'pulumi\.export\(\s*"(\w+)"', (ROOT / "__main__.py").read_text()))
    text = guide()
    outputs = text[text.index("**The stack outputs**") :]
    outputs = outputs[: outputs.index("\n\n**", 1)]
    documented = re.findall(r"^- `(\w+)`", outputs, re.MULTILINE)
    assert exported and sorted(documented) == sorted(exported)


def test_the_python_313_path_is_given_with_a_make_target_that_takes_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PYTHON \?= python3$", makefile, re.MULTILINE)
    assert "$(PYTHON) -m venv $(VENV)" in makefile
    assert any(
        line.startswith("make clean && make install PYTHON=python3.13")
        for line in _block_with("Deploying", "make install")
    )
    assert re.search(r"^clean:\n\trm -rf \$\(VENV\)", makefile, re.MULTILINE)
