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
        "help",
        "history",
        "inpaint",
        "notify",
        "quota",
        "settings",
        "sing",
        "usage",
    ]
    assert len(names) == len(set(names))
