"""Run the Discord stand-in by hand: `python -m tests.standins.discord --port 8766`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .api import DiscordStandIn
from .model import ChannelSpec, GuildSpec


async def _serve(args: argparse.Namespace) -> None:
    guild = GuildSpec(
        id=args.guild_id,
        channels=[ChannelSpec("general", id=args.channel_id)],
        premium_tier=args.premium_tier,
    )
    dc = DiscordStandIn(
        args.token, app_id=args.app_id, guilds=[guild], host=args.host, port=args.port
    )
    async with dc:
        print(f"api base:    {dc.api_base}")
        print(f"gateway url: {dc.gateway_url}")
        print(f"token:       {dc.token}")
        print(f"app id:      {dc.app_id}")
        print(f"guild id:    {dc.guild_id}  channel id: {dc.channel_id}")
        for user in dc.users.values():
            print(f"user:        {user.username} {user.id}{' (bot)' if user.bot else ''}")
        print(f"export DISCORD_API_BASE={dc.api_base} DISCORD_GATEWAY_URL={dc.gateway_url}")
        print(flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Discord stand-in (REST + gateway + CDN)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="stand-in-token")
    parser.add_argument("--app-id", type=int, default=0)
    parser.add_argument("--guild-id", type=int, default=0)
    parser.add_argument("--channel-id", type=int, default=0)
    parser.add_argument("--premium-tier", type=int, default=0, choices=[0, 1, 2, 3])
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
