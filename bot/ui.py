"""Discord pieces: the lyrics modals and the status embed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import discord

from bot.intake import LYRICS_MAX
from bot.progress import StatusView
from bot.tree import report_error

MODAL_TIMEOUT = 15 * 60  # as long as the interaction token lives
MODAL_PREFIX = "lyrics-form:"
# Lyrics forms open in this process. A submit for any other one was opened before a restart
# (or timed out): discord.py would drop it silently, so the bot answers it instead.
OPEN_MODALS: set[str] = set()


def is_stale_modal(interaction: discord.Interaction) -> bool:
    if interaction.type is not discord.InteractionType.modal_submit or not interaction.data:
        return False
    custom_id = str(interaction.data.get("custom_id", ""))
    return custom_id.startswith(MODAL_PREFIX) and custom_id not in OPEN_MODALS


SubmitHandler = Callable[[discord.Interaction, dict[str, str]], Awaitable[None]]


class LyricsModal(discord.ui.Modal):
    """Collects lyrics; `handler` gets the typed values keyed by input id."""

    def __init__(
        self,
        *,
        title: str,
        inputs: list[tuple[str, str, bool, str]],
        handler: SubmitHandler,
        on_abandon: Callable[[], None],
    ) -> None:
        custom_id = f"{MODAL_PREFIX}{uuid.uuid4().hex}"
        super().__init__(title=title, timeout=MODAL_TIMEOUT, custom_id=custom_id)
        OPEN_MODALS.add(custom_id)
        self._handler = handler
        self._on_abandon = on_abandon
        self._inputs: dict[str, discord.ui.TextInput[LyricsModal]] = {}
        for custom_id, label, required, placeholder in inputs:
            text_input: discord.ui.TextInput[LyricsModal] = discord.ui.TextInput(
                custom_id=custom_id,
                style=discord.TextStyle.paragraph,
                required=required,
                max_length=LYRICS_MAX,
                placeholder=placeholder,
            )
            self._inputs[custom_id] = text_input
            self.add_item(discord.ui.Label(text=label, component=text_input))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # Forget the form a while later, not now: the bot's on_interaction sees this same
        # submit concurrently and must still find the form open.
        asyncio.get_running_loop().call_later(60, OPEN_MODALS.discard, self.custom_id)
        values = {custom_id: item.value or "" for custom_id, item in self._inputs.items()}
        await self._handler(interaction, values)

    async def on_timeout(self) -> None:
        OPEN_MODALS.discard(self.custom_id)
        self._on_abandon()

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report_error(interaction, error)


def sing_modal(handler: SubmitHandler, on_abandon: Callable[[], None]) -> LyricsModal:
    return LyricsModal(
        title="Lyrics for your song",
        inputs=[("lyrics", "Lyrics", True, "The words to sing over your instrumental")],
        handler=handler,
        on_abandon=on_abandon,
    )


def inpaint_modal(handler: SubmitHandler, on_abandon: Callable[[], None]) -> LyricsModal:
    return LyricsModal(
        title="Lyrics for the new part",
        inputs=[
            ("lyrics", "Lyrics of the whole song", False, "Optional: helps MusicGPT blend in"),
            ("new_lyrics", "New lyrics for the replaced part", False, "Optional"),
        ],
        handler=handler,
        on_abandon=on_abandon,
    )


COLOURS = {"working": 0x5865F2, "finished": 0x57F287, "failed": 0xED4245}


def status_embed(view: StatusView) -> discord.Embed:
    colour = COLOURS["failed" if view.failed else "finished" if view.finished else "working"]
    description = view.stage if view.progress is None else f"{view.stage}\n`{view.progress}`"
    embed = discord.Embed(title=view.title, description=description, colour=colour)
    for name, value in view.details:
        embed.add_field(name=name, value=value[:1024], inline=name != "Prompt")
    return embed
