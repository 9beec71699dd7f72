"""Sentences said later (`bot.core.i18n.said`): a refusal raised in a service, said at the
error boundary in the member's language; statuses in the server's; the server's choice."""

from __future__ import annotations

import discord

from bot.core.errors import DiskFull, UserFacingError
from bot.core.i18n.said import said, said_n
from bot.core.models import QuotaLimits, QuotaRefusal, QuotaUsage
from bot.core.servers.guild_settings import GuildSettings, parse
from bot.core.songs.quota import refusal_said
from bot.core.timecodes import BadTime, check_range, parse_timecode
from bot.discord.tree import user_message_for

NOW = 19_000 * 86_400.0 - 3 * 3600  # 21:00 UTC: three hours before the reset


def test_a_refusal_is_english_until_someone_reads_it() -> None:
    error = UserFacingError(
        said("That file is {size}; the limit is {limit}.", size="30 MB", limit="25 MB")
    )
    assert error.user_message == "That file is 30 MB; the limit is 25 MB."
    assert str(error) == error.user_message
    assert error.message_in("es-ES") == "Ese archivo pesa 30 MB; el límite es 25 MB."
    assert error.message_in("ko") == error.user_message  # no catalog: English
    assert UserFacingError("MusicGPT's own words.").message_in("de") == "MusicGPT's own words."


def test_the_error_boundary_answers_in_the_members_language() -> None:
    refused = BadTime(said("`{field}` is not a time I can use.", field="start"))
    assert user_message_for(refused, discord.Locale.brazil_portuguese) == (
        "`start` não é um tempo que eu consiga usar."
    )
    assert (user_message_for(DiskFull(), "fr") or "").startswith("Mon disque est plein")
    assert user_message_for(DiskFull()) == DiskFull.MESSAGE


def test_a_value_said_later_is_said_in_the_same_language() -> None:
    error = None
    try:
        parse_timecode("   ", field="end")
    except BadTime as caught:
        error = caught
    assert error is not None
    assert error.user_message == "`end` must be a time like 75, 75.5, 1:15 or 1:15.5 (got nothing)."
    assert error.message_in("de").endswith("(bekommen habe ich nichts).")


def test_quota_refusals_in_each_language_with_their_plurals() -> None:
    limits = QuotaLimits(daily=3, active=2)
    daily = refusal_said(QuotaRefusal("daily", QuotaUsage(3, 0)), limits, NOW)
    assert str(daily).startswith("You've made all 3 of today's songs.")
    assert daily.in_("es-419").startswith("Ya hiciste las 3 canciones de hoy.")
    assert "(dans 3 h)" in daily.in_("fr")
    active = refusal_said(QuotaRefusal("active", QuotaUsage(0, 2)), limits, NOW)
    assert active.in_("ja").startswith("すでに 2 曲中 2 曲を制作中です。")
    one = said_n("✅ Posted {count} take below.", "✅ Posted {count} takes below.", 1)
    assert (one.in_(None), one.in_("pt-BR")) == (
        "✅ Posted 1 take below.",
        "✅ Postei 1 versão aqui embaixo.",
    )


def test_range_refusals_name_both_times() -> None:
    try:
        check_range(30, 15, None)
    except BadTime as error:
        assert error.message_in("es-ES") == "`start` (0:30) debe ir antes de `end` (0:15)."
    else:
        raise AssertionError("no refusal")


def test_the_servers_language_is_its_owners_choice_else_its_own() -> None:
    assert GuildSettings().public_locale("pt-BR") == "pt-BR"
    assert GuildSettings(language="de").public_locale("pt-BR") == "de"
    assert parse({"language": '"ja"'}).language == "ja"
    assert parse({"language": '"auto"'}).language is None
    assert parse({"language": '"klingon"'}).language is None  # a hand-edited row: auto
