"""The naive way to answer /sing, for the acknowledgement benchmark: NOT the bot.

A minimal discord.py bot whose /sing first downloads the attachment and checks its content
(with the real bot's own `download_to_file` and `inspect_audio_async`), and only then opens
the lyrics modal (the real bot's `SingLyrics`). The real bot opens the modal at once and lets
the download run behind it. Configured by the same environment variables as the bot:
DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL, DEV_GUILD_ID, DATABASE_PATH (its
directory holds the downloads).

    python -m bench.naive_bot
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import aiohttp
import discord
import yarl
from discord import app_commands

from bot.core.media.download import download_to_file
from bot.core.media.inspect import inspect_audio_async
from bot.core.songs.forms import PendingAudio
from bot.discord.ui.modals import SingLyrics, Values

MAX_BYTES = 25 * 1024 * 1024


class NaiveBot(discord.Client):
    def __init__(self, guild_id: int, audio_dir: Path) -> None:
        super().__init__(intents=discord.Intents(guilds=True))
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)
        self.audio_dir = audio_dir
        self.session: aiohttp.ClientSession | None = None

        @self.tree.command(name="sing", description="Put AI vocals over an instrumental.")
        async def sing(
            interaction: discord.Interaction, prompt: str, audio: discord.Attachment
        ) -> None:
            assert self.session is not None
            path = self.audio_dir / f"{uuid.uuid4().hex}.part"
            # The naive order: fetch and check first, answer after.
            await download_to_file(self.session, audio.url, path, max_bytes=MAX_BYTES)
            await inspect_audio_async(path, max_bytes=MAX_BYTES)

            async def on_lyrics(modal_interaction: discord.Interaction, _: Values) -> None:
                await modal_interaction.followup.send("ok", ephemeral=True)

            # Its file goes when the form times out.
            await interaction.response.send_modal(SingLyrics(on_lyrics, PendingAudio(path=path)))

    async def setup_hook(self) -> None:
        self.session = aiohttp.ClientSession()
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await super().close()


async def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    audio_dir = Path(os.environ["DATABASE_PATH"]).parent / "naive-audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    client = NaiveBot(int(os.environ["DEV_GUILD_ID"]), audio_dir)
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
