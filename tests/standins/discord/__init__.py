"""The Discord stand-in: `DiscordStandIn` and the names tests use with it.

Modules, each with one job, imported in this direction only:

* `model`: specs a test passes in, records it reads back, Discord's error bodies, mentions;
* `rules`: Discord's checks on what the bot sends (messages, modals, commands);
* `state`: the world (guilds, channels, users, messages, interactions, uploads), its
  payloads, and what the bot's calls do to it;
* `client`: what a user's Discord client does before an interaction reaches the bot;
* `rest` (REST routes, CDN, faults) and `gateway` (the websocket): HTTP onto `state`;
* `openapi`: checks recorded requests against Discord's OpenAPI description;
* `api`: `DiscordStandIn`, the test-facing whole (its docstring lists what tests call).
"""

from .api import MODAL_SHOW_DELAY, DiscordStandIn, InteractionHandle
from .gateway import GatewaySession
from .model import (
    Callback,
    ChannelSpec,
    DiscordHTTPError,
    GuildSpec,
    Mentions,
    ModalField,
    PartSummary,
    Perm,
    RecordedRequest,
    RoleSpec,
    StoredAttachment,
    StoredMessage,
    UserSpec,
    guild_id_for_shard,
    resolve_mentions,
    shard_of,
)
from .openapi import Violation
from .rest import RECORD, Fault, Faults

__all__ = [
    "MODAL_SHOW_DELAY",
    "RECORD",
    "Callback",
    "ChannelSpec",
    "DiscordHTTPError",
    "DiscordStandIn",
    "Fault",
    "Faults",
    "GatewaySession",
    "GuildSpec",
    "InteractionHandle",
    "Mentions",
    "ModalField",
    "PartSummary",
    "Perm",
    "RecordedRequest",
    "RoleSpec",
    "StoredAttachment",
    "StoredMessage",
    "UserSpec",
    "Violation",
    "guild_id_for_shard",
    "resolve_mentions",
    "shard_of",
]
