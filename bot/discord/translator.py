"""What Discord shows of my commands, in the member's language.

discord.py passes every command, option and choice description and name through the tree's
`app_commands.Translator` as a `locale_str` when it syncs (cogs may pass plain `str`: it
wraps them), once per Discord locale, and sends what comes back as `*_localizations`.
This one answers from the gettext catalogs (`bot.core.i18n`; the msgid is the English text):

- descriptions, choice names and the message menus' names ("Sing over this") are
  translated;
- command, group and option names are not: members and docs type them (`/sing prompt:`),
  so they are a contract, the same in every language;
- a translation over Discord's limit (100 characters, 32 for a menu's name) is left out
  with a warning, since one would make Discord refuse the whole sync.

`python -m bot.discord.translator EXTRACTED.pot bot/locale/bot.pot` (a step of
`make messages`) adds every command text, as the registered commands have them, to what
`pybabel extract` found, and writes the template.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.ext import commands

from bot.core import i18n

log = logging.getLogger(__name__)

# Discord's limits for localised texts (the same as for the English ones).
DESCRIPTION_LIMIT = 100
CHOICE_NAME_LIMIT = 100
MENU_NAME_LIMIT = 32

_NAMES = (Where.command_name, Where.group_name, Where.parameter_name)


def is_menu(context: app_commands.TranslationContextTypes) -> bool:
    """A message or user menu's name: words members read (and click), not type."""
    return context.location is Where.command_name and isinstance(
        context.data, app_commands.ContextMenu
    )


def limit_for(context: app_commands.TranslationContextTypes) -> int | None:
    """How long a translation may be where it goes, or None where nothing is translated."""
    if is_menu(context):
        return MENU_NAME_LIMIT
    if context.location in _NAMES:
        return None
    if context.location is Where.choice_name:
        return CHOICE_NAME_LIMIT
    return DESCRIPTION_LIMIT


class CatalogTranslator(app_commands.Translator):
    """Command texts from the gettext catalogs; None (Discord shows English) elsewhere."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        limit = limit_for(context)
        if limit is None:
            return None
        text = i18n.translation_or_none(locale, string.message)
        if text is None:
            return None
        text = text.strip()
        if not 1 <= len(text) <= limit:
            log.warning(
                "the %s translation of %r has %d characters (Discord takes 1 to %d); "
                "English shown there",
                locale.value,
                string.message,
                len(text),
                limit,
            )
            return None
        return text


# --- what `make messages` adds to the template ----------------------------------------------


class _Recorder(app_commands.Translator):
    """Notes each text discord.py would have translated, and where it goes."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        limit = limit_for(context)
        if (
            limit is not None
            and locale is discord.Locale.american_english
            and any(c.isalpha() for c in string.message)  # choices "1" and "2" stay
        ):
            where = f"{_place(context)} (at most {limit} characters)"
            places = self.seen.setdefault(string.message, [])
            if where not in places:
                places.append(where)
        return None


def _place(context: app_commands.TranslationContextTypes) -> str:
    data: Any = context.data
    if is_menu(context):
        return "the name of a message menu"
    if context.location is Where.choice_name:
        return f"a choice, value {data.value!r}"
    if context.location is Where.parameter_description:
        return f"/{data.command.qualified_name} {data.name}: an option's description"
    if isinstance(data, app_commands.Command | app_commands.Group):
        return f"/{data.qualified_name}: a command's description"
    return "a command text"


async def command_messages(tree: app_commands.CommandTree[Any]) -> dict[str, list[str]]:
    """Every text of the tree's commands that is translated, with where it goes."""
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return recorder.seen


@contextlib.asynccontextmanager
async def command_tree(extensions: Iterable[str]) -> AsyncIterator[app_commands.CommandTree[Any]]:
    """The commands as `setup_hook` registers them, without Discord: every cog of the
    extensions whose constructor and `cog_load` need only the bot (the others, which want
    the services a real start builds, define no commands)."""
    from bot.discord.tree import SingingTree

    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.none(), tree_cls=SingingTree, help_command=None
    )
    try:
        for extension in extensions:
            module = importlib.import_module(extension)
            for cog_class in vars(module).values():
                if not (
                    isinstance(cog_class, type)
                    and issubclass(cog_class, commands.Cog)
                    and cog_class.__module__ == extension
                ):
                    continue
                try:
                    await asyncio.wait_for(bot.add_cog(cog_class(bot)), 5)
                except Exception as error:  # a service cog (it wants a real start): no commands
                    log.debug("skipped %s (%r)", cog_class.__name__, error)
        yield bot.tree
    finally:
        with contextlib.suppress(Exception):
            await bot.close()


async def registered_messages(extensions: Iterable[str]) -> dict[str, list[str]]:
    """Every translated text of the registered commands, with where it goes."""
    async with command_tree(extensions) as tree:
        return await command_messages(tree)


def _entries(catalog: Any) -> list[tuple[Any, ...]]:
    return [(m.id, tuple(m.auto_comments), tuple(sorted(m.flags))) for m in catalog if m.id]


def write_template(extracted: Path, pot: Path, messages: dict[str, list[str]]) -> int:
    """The template: what `pybabel extract` found (in `extracted`, which is removed) and the
    command texts. `pot` is left alone when its messages are already these (no new date to
    commit); how many messages it has."""
    from babel.messages.pofile import read_po, write_po

    with extracted.open("rb") as file:
        catalog = read_po(file)
    extracted.unlink()
    for message, places in messages.items():
        catalog.add(message, auto_comments=places)
    if pot.exists():
        with pot.open("rb") as file:
            if _entries(read_po(file)) == _entries(catalog):
                return len(_entries(catalog))
    with pot.open("wb") as file:
        write_po(file, catalog, width=100, include_lineno=False)
    return len(_entries(catalog))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m bot.discord.translator EXTRACTED.pot bot/locale/bot.pot",
            file=sys.stderr,
        )
        return 2
    from bot.discord.bot import EXTENSIONS

    messages = asyncio.run(registered_messages(EXTENSIONS))
    total = write_template(Path(argv[0]), Path(argv[1]), messages)
    print(f"{total} messages ({len(messages)} of them command texts) in {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
