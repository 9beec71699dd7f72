"""House rules that are easy to break without noticing."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from discord.ext import commands

from bot.discord.bot import EXTENSIONS

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "bot" / "core"


def service_modules() -> list[Path]:
    """Every module of bot/core: the half of the bot that knows nothing of Discord."""
    return sorted(CORE.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_services_never_import_discord() -> None:
    services = service_modules()
    assert {p.name for p in services} >= {"intake.py", "quota.py", "dispatch.py", "client.py"}
    for path in services:
        modules = imported_modules(path)
        offending = {
            m
            for m in modules
            if m == "discord" or m.startswith(("discord.", "cogs", "bot.discord", "aiohttp.web"))
        }
        assert not offending, f"{path.relative_to(ROOT)} imports {offending}"


def test_every_extension_loads_and_command_names_are_unique() -> None:
    names: list[str] = []
    for extension in EXTENSIONS:
        module = importlib.import_module(extension)
        assert callable(module.setup)
        for cog_class in vars(module).values():
            if isinstance(cog_class, type) and issubclass(cog_class, commands.Cog):
                if cog_class.__module__ != extension:
                    continue
                names += [c.name for c in cog_class.__cog_app_commands__]
    assert sorted(names) == [
        "extend",
        "help",
        "history",
        "inpaint",
        "notify",
        "queue",
        "quota",
        "settings",
        "sing",
        "song",
        "usage",
    ]
    assert len(names) == len(set(names))


COGS = ROOT / "cogs"


def test_no_cog_imports_or_looks_up_another_cog() -> None:
    """Cogs hold commands, menus and listeners; what they share is a service on the bot
    (`bot.discord`), built in `setup_hook`, so no cog depends on another having loaded."""
    cogs = sorted(COGS.glob("*.py"))
    assert {p.name for p in cogs} >= {"sing.py", "inpaint.py", "context.py", "help.py"}
    for path in cogs:
        imported = {m for m in imported_modules(path) if m == "cogs" or m.startswith("cogs.")}
        assert not imported, f"{path.relative_to(ROOT)} imports {imported}"
        text = path.read_text()
        for lookup in ("get_cog", "loaded_cog"):
            assert lookup not in text, f"{path.relative_to(ROOT)} uses {lookup}"


def test_the_discord_side_services_are_not_cogs() -> None:
    for path in sorted((ROOT / "bot" / "discord").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                assert not bases & {"commands.Cog", "Cog"}, (
                    f"{path.relative_to(ROOT)} defines a cog"
                )
            if isinstance(node, ast.Attribute):
                assert node.attr != "get_cog", f"{path.relative_to(ROOT)} looks up a cog"


def test_no_production_module_is_over_500_lines() -> None:
    """No module over 500 lines anywhere under bot/ or cogs/: past that, split it on a seam."""
    paths = [*(ROOT / "bot").rglob("*.py"), *COGS.rglob("*.py")]
    assert len(paths) > 50  # the folders were found
    too_long = {}
    for path in sorted(paths):
        lines = len(path.read_text().splitlines())
        if lines > 500:
            too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}
