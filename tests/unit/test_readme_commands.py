"""The commands' tables say exactly what the registered commands are: the full ones in
docs/commands.md, and the README's short one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.unit.registered import command_dicts, flattened, registered_tree

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMANDS_DOC = ROOT / "docs" / "commands.md"
ATTACHMENT, STRING = 11, 3


def commands_section() -> str:
    """docs/commands.md, where every command, option, button and menu is described."""
    return COMMANDS_DOC.read_text()


def readme_commands_section() -> str:
    text = README.read_text()
    start = text.index("\n## Commands at a glance\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def one_line(text: str) -> str:
    return " ".join(text.split())


def table_rows(section: str, header: str) -> list[list[str]]:
    """The cells of each row of the table whose header row starts with `header`."""
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]*)`", cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


def usage(command: dict[str, Any]) -> str:
    options = [o["name"] if o.get("required") else f"[{o['name']}]" for o in command["options"]]
    return " ".join([f"/{command['name']}", *options])


def choices(option: dict[str, Any]) -> str:
    if option.get("choices"):
        return ", ".join(f"`{c['value']}`" for c in option["choices"])
    if option["type"] == ATTACHMENT:
        return "an attachment"
    if option["type"] == STRING and "max_length" in option:
        return f"{option.get('min_length', 0)}–{option['max_length']} characters"
    return ""


async def documented_usages(section: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    async with registered_tree() as tree:
        registered = flattened(command_dicts(tree))
    documented = [(code(u), d) for u, d in table_rows(section, "| command | what")]
    return documented, [(usage(c), c["description"]) for c in registered]


async def test_docs_command_table_matches_the_registered_commands() -> None:
    documented, registered = await documented_usages(commands_section())
    assert documented == registered


async def test_readme_command_table_matches_the_registered_commands() -> None:
    documented, registered = await documented_usages(readme_commands_section())
    assert documented == registered


async def test_docs_option_table_matches_every_option() -> None:
    async with registered_tree() as tree:
        registered = flattened(command_dicts(tree))
    rows = table_rows(commands_section(), "| command | option |")
    documented = [(code(c), code(o), req, ch, d) for c, o, req, ch, d in rows]
    expected = [
        (
            f"/{command['name']}",
            option["name"],
            "yes" if option.get("required") else "no",
            choices(option),
            option["description"],
        )
        for command in registered
        for option in command["options"]
    ]
    assert documented == expected
    # What the issue found wrong: `audio` shown as required, the gender choices missing.
    assert ("/sing", "audio", "no", "an attachment") in [row[:4] for row in documented]
    genders = {row[3] for row in documented if row[1] == "gender"}
    assert genders == {"`male`, `female`, `neutral`"}


async def test_docs_and_readme_say_where_the_commands_work() -> None:
    section = one_line(commands_section())
    assert "\n## Servers and DMs\n" in commands_section()
    assert "`/sing`, `/inpaint` and `/extend` work in server channels only" in section
    sentence = "`/quota`, `/history`, `/help` and `/notify` work in servers and in a DM"
    assert sentence in section
    readme = one_line(readme_commands_section())
    readme_sentence = "`/quota`, `/history`, `/help` and `/notify` also work in a DM with me"
    assert "They work in server channels only" in readme
    assert readme_sentence in readme
    # ...which are exactly the commands registered for DMs (context 1) as well.
    async with registered_tree() as tree:
        in_dms = {c["name"] for c in command_dicts(tree) if 1 in c.get("contexts", [])}
    assert in_dms == set(re.findall(r"`/(\w+)`", sentence))
    assert in_dms == set(re.findall(r"`/(\w+)`", readme_sentence))
