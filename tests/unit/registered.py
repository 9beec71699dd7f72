"""The app commands as the bot registers them, built without connecting to Discord."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import EXTENSIONS
from bot.discord.tree import SingingTree


@asynccontextmanager
async def registered_tree() -> AsyncIterator[app_commands.CommandTree[Any]]:
    """A tree holding every cog's commands, added the way `setup_hook` loads them.

    Only the cogs that define app commands are added: their constructors just keep the bot,
    whereas the status and delivery cogs want the services a real start builds.
    """
    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.none(), tree_cls=SingingTree, help_command=None
    )
    for extension in EXTENSIONS:
        module = importlib.import_module(extension)
        for cog_class in vars(module).values():
            if (
                isinstance(cog_class, type)
                and issubclass(cog_class, commands.Cog)
                and cog_class.__module__ == extension
                and cog_class.__cog_app_commands__
            ):
                await bot.add_cog(cog_class(bot))
    try:
        yield bot.tree
    finally:
        await bot.close()


def command_dicts(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """What the bot sends Discord when it syncs: each command's JSON, in registration order."""
    return [command.to_dict(tree) for command in tree.get_commands()]


SUBCOMMAND = 1


def flattened(described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each command as members type it: a group's subcommands become "settings view" and so
    on, with their own options and description (and the group's contexts)."""
    flat = []
    for command in described:
        subs = [o for o in command.get("options", []) if o["type"] == SUBCOMMAND]
        if not subs:
            flat.append(command)
            continue
        for sub in subs:
            flat.append(
                {
                    **sub,
                    "name": f"{command['name']} {sub['name']}",
                    "options": sub.get("options", []),
                    "contexts": command.get("contexts"),
                }
            )
    return flat
