"""The README stays short, every link in the docs leads somewhere, and the settings tables say
exactly what `bot/core/config.py` reads."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from bot.core import config
from tests.unit.test_readme_commands import table_rows

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
OPERATIONS = DOCS / "operations.md"
OWNERS = DOCS / "owners.md"
MARKDOWN = sorted([README, ROOT / "CONTRIBUTING.md", *DOCS.glob("*.md")])
README_MAX_LINES = 220

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose(path: Path, *, code_spans: bool = False) -> list[str]:
    """The file's lines outside fenced code blocks; inline code taken out unless asked for."""
    lines, in_fence = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line if code_spans else CODE_SPAN.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(path, code_spans=True):
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            base = slug(match.group(1).replace("`", ""))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose(path) for m in LINK.finditer(line)]


def test_the_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md is {len(lines)} lines; move details to docs/"


def test_the_docs_are_all_there() -> None:
    names = {p.name for p in DOCS.glob("*.md")}
    assert names >= {
        "commands.md",
        "owners.md",
        "operations.md",
        "architecture.md",
        "benchmarks.md",
    }


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(path: Path) -> None:
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert broken == []


def test_the_link_checker_sees_links_and_anchors() -> None:
    # The README links the docs, and one anchor that exists (so the checks above check).
    assert "docs/commands.md" in links(README)
    assert "docs/operations.md#every-setting" in links(README)
    assert "every-setting" in anchors(OPERATIONS)
    assert slug("MusicGPT's limits") == "musicgpts-limits"
    assert slug("Logs, exit codes and restarts") == "logs-exit-codes-and-restarts"


def config_variables() -> list[str]:
    """Every environment variable `load_settings` reads, in its order."""
    source = inspect.getsource(config.load_settings)
    return list(dict.fromkeys(re.findall(r'(?:env\.get\(|optional\(\s*)"([A-Z_]+)"', source)))


def default_cell(name: str) -> str:
    """The default column as the tables write it, from Settings' own default."""
    if name in ("DISCORD_TOKEN", "MUSICGPT_API_KEY"):
        return "required"
    fields = {f.name: f.default for f in dataclasses.fields(config.Settings)}
    default = fields[name.lower()]
    if default is None:
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def settings_rows(path: Path) -> list[tuple[str, str]]:
    rows = table_rows(path.read_text(), "| variable | default |")
    return [(name.strip("`"), default) for name, default, _ in rows]


def test_operations_lists_every_setting_with_its_default() -> None:
    names = config_variables()
    assert len(names) >= 22 and "SHOW_COST" in names and "METRICS_TOKEN" in names
    assert settings_rows(OPERATIONS) == [(name, default_cell(name)) for name in names]


def test_the_readme_settings_are_real_and_include_the_required_ones() -> None:
    everything = dict(settings_rows(OPERATIONS))
    readme = settings_rows(README)
    assert [name for name, _ in readme][:2] == ["DISCORD_TOKEN", "MUSICGPT_API_KEY"]
    for name, default in readme:
        assert everything.get(name) == default, name
    assert len(readme) == len(dict(readme))


def test_env_example_names_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^(?:# )?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert set(config_variables()) <= named


def test_owners_say_what_a_song_costs_and_that_show_cost_exists() -> None:
    text = OWNERS.read_text()
    section = text[text.index("\n## What a song costs\n") :]
    section = section[: section.index("\n## ", 1)]
    assert "`SHOW_COST=true`" in section
    assert "credit_estimate" in section and "conversion_cost" in section
