"""What /settings stores and says, without Discord: words edited within bounds, a member's
limits read from the server's settings by the quota, and every text in the one voice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import QuotaExceeded, UserFacingError
from bot.core.models import QuotaLimits, Request, TaskKind
from bot.core.servers import settings_text
from bot.core.servers.guild_settings import (
    WORD_CHARS_MAX,
    WORDS_MAX,
    GuildSettings,
    GuildSettingsService,
    RoleQuota,
    Source,
    ThreadsMode,
    edited_words,
    split_words,
)
from bot.core.songs.quota import QuotaService, source_line
from bot.core.store import Store
from tests.unit.conftest import FakeClock
from tests.unit.test_voice import ENDS, voice_problems

ENV = QuotaLimits(daily=5, active=2)
GUILD, ROLE, OTHER_ROLE = 111, 222, 333
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


# --- words ----------------------------------------------------------------------------------


def test_words_are_split_on_commas_trimmed_and_deduplicated_ignoring_case() -> None:
    assert split_words(" Foo, bar ,,  ,FOO, baz  qux ") == ["Foo", "bar", "baz qux"]
    assert split_words(None) == [] and split_words(" , ") == []


def test_words_are_added_and_removed_ignoring_case() -> None:
    assert edited_words(["Foo", "bar"], add="BAR, new", remove="foo") == ["bar", "new"]
    assert edited_words(["a"], add=None, remove="A") == []


def test_a_too_long_word_or_too_many_words_are_refused() -> None:
    with pytest.raises(UserFacingError, match=f"at most {WORD_CHARS_MAX} characters"):
        split_words("x" * (WORD_CHARS_MAX + 1))
    assert split_words("x" * WORD_CHARS_MAX) == ["x" * WORD_CHARS_MAX]
    many = [f"w{n}" for n in range(WORDS_MAX)]
    assert len(edited_words(many, add="w0", remove=None)) == WORDS_MAX  # a repeat adds none
    with pytest.raises(UserFacingError, match=f"at most {WORDS_MAX} words"):
        edited_words(many, add="one more", remove=None)


# --- the quota reads the server's settings ----------------------------------------------


def request(user_id: int = 1) -> Request:
    return Request(TaskKind.SING, user_id, GUILD, 20, "ballad", "la", audio_url="https://x/a.mp3")


async def test_the_quota_uses_the_members_roles_then_the_server_then_the_environment(
    store: Store,
) -> None:
    settings = GuildSettingsService(store)
    quota = QuotaService(store, ENV, clock=FakeClock(start=NOON), guild_settings=settings)
    assert (await quota.limits_for(GUILD, [ROLE])).limits == ENV
    await settings.set_quota(GUILD, daily=1, active=None)
    await settings.set_quota(GUILD, daily=3, active=None, role_id=ROLE)
    await store.create_task(request(), now=NOON, daily_quota=5, max_active=5)

    with pytest.raises(QuotaExceeded, match="You've made today's song\\."):
        await quota.check(1, guild_id=GUILD, role_ids=[OTHER_ROLE])
    usage = await quota.check(1, guild_id=GUILD, role_ids=[OTHER_ROLE, ROLE])  # the role: 3
    assert usage.used_today == 1
    # Another server (and a DM) know nothing of this one's settings.
    await quota.check(1, guild_id=GUILD + 1, role_ids=[ROLE])
    await quota.check(1)
    effective = await quota.limits_for(GUILD, [ROLE])
    assert effective.limits == QuotaLimits(daily=3, active=2)
    assert (effective.daily_from, effective.active_from) == (Source.ROLE, Source.DEFAULT)


def test_quota_says_where_the_limits_come_from_only_when_not_the_default() -> None:
    settings = GuildSettings(daily_quota=4, role_quotas={ROLE: RoleQuota(active=6)})
    line = source_line(settings.limits_for([ROLE], ENV))
    assert (
        line == "Limits here: your 4 a day from this server's setting"
        " and your 6 at a time from a role of yours."
    )
    assert source_line(GuildSettings().limits_for([ROLE], ENV)) is None


# --- the texts ------------------------------------------------------------------------------

FULL = GuildSettings(
    daily_quota=0,
    role_quotas={ROLE: RoleQuota(daily=9, active=None), OTHER_ROLE: RoleQuota(active=4)},
    budget_credits=250.5,
    blocked_words=("b*d", "@everyone", "ok"),
    threads_mode=ThreadsMode.ALWAYS,
)


def test_view_lists_every_value_and_where_it_comes_from() -> None:
    text = "\n".join(settings_text.view_lines(FULL, ENV))
    assert "Songs a day per member: 0 (this server's)." in text
    assert "Songs in progress per member: 2 (the default)." in text
    assert f"<@&{ROLE}>: 9 a day" in text and f"<@&{OTHER_ROLE}>: 4 at a time" in text
    assert "250.5 MusicGPT credits per UTC day" in text
    assert "||b\\*d||" in text and "@everyone" not in text  # escaped, in spoilers
    assert "Threads: `always` (this server's)" in text
    plain = "\n".join(settings_text.view_lines(GuildSettings(), ENV))
    assert "Songs a day per member: 5 (the default)." in plain
    assert "Daily budget: none (the default)." in plain
    assert "Threads: `optional` (the default)" in plain


def test_a_long_word_list_is_cut_to_fit_a_message() -> None:
    words = tuple(f"{n:02d}" + "x" * 48 for n in range(WORDS_MAX))
    text = "\n".join(settings_text.view_lines(GuildSettings(blocked_words=words), ENV))
    assert len(text) < 2000 and text.count("||") % 2 == 0
    assert "more." in text


def test_sixty_role_overrides_and_every_word_stay_within_a_message() -> None:
    """A server with 60 overrides (the old summary failed with 400 at ~40) and the longest word
    list: within 2,000 characters, the rest counted, and every override in the file's lines."""
    roles = {10**17 + n: RoleQuota(daily=n, active=n % 3 + 1) for n in range(60)}
    words = tuple(f"{n:02d}" + "x" * 48 for n in range(WORDS_MAX))
    for settings in (
        GuildSettings(role_quotas=roles),
        GuildSettings(role_quotas=roles, blocked_words=words, budget_credits=12.5),
    ):
        lines = settings_text.view_lines(settings, ENV)
        text = "\n".join(lines)
        assert len(text) <= 2000
        assert "Roles with their own quota (60;" in text
        assert "more, all of them in the attached file." in text
        assert settings_text.roles_cut(settings, lines)
    file_lines = settings_text.role_quota_lines(
        GuildSettings(role_quotas=roles), {10**17: "Singers"}
    )
    assert len(file_lines) == 62
    assert f"@Singers · id {10**17}: 0 a day, 1 at a time" in file_lines
    assert f"(a deleted role) · id {10**17 + 59}: 59 a day, 3 at a time" in file_lines


def test_a_few_overrides_are_all_in_the_summary() -> None:
    lines = settings_text.view_lines(FULL, ENV)
    assert not settings_text.roles_cut(FULL, lines)
    assert "Roles with their own quota (2;" in lines[3] and lines[3].endswith("at a time.")


def all_texts() -> list[str]:
    return [
        settings_text.NOT_ALLOWED,
        settings_text.NOTHING_GIVEN,
        settings_text.NO_WORDS_GIVEN,
        *settings_text.view_lines(FULL, ENV)[1:],
        *settings_text.view_lines(GuildSettings(), ENV)[1:],
        settings_text.quota_set(FULL, ENV, None),
        settings_text.quota_set(FULL, ENV, ROLE),
        settings_text.quota_set(GuildSettings(), ENV, ROLE),
        settings_text.budget_set(FULL),
        settings_text.budget_set(GuildSettings()),
        settings_text.words_set(FULL),
        settings_text.words_set(GuildSettings()),
        *(settings_text.threads_set(GuildSettings(threads_mode=m)) for m in ThreadsMode),
    ]


@pytest.mark.parametrize("text", all_texts())
def test_every_settings_text_is_in_the_one_voice(text: str) -> None:
    assert not voice_problems(text), text
    assert text.endswith(ENDS), text
    assert text[:1].isupper() or text[:1] in "`/", text


def test_confirmations_say_what_is_set_now() -> None:
    assert "0 songs a day (this server's)" in settings_text.quota_set(FULL, ENV, None)
    role_line = settings_text.quota_set(FULL, ENV, ROLE)
    assert f"<@&{ROLE}> can make 9 songs a day (from a role)" in role_line
    assert "no longer has a quota" in settings_text.quota_set(GuildSettings(), ENV, ROLE)
    assert "blocks 3 words" in settings_text.words_set(FULL)
    assert "`off`" in settings_text.threads_set(GuildSettings(threads_mode=ThreadsMode.OFF))
