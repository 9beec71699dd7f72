"""bot.core.servers.guild_settings: per-server settings typed, stored, cached, and how a member's
limits
are decided (roles, then server, then environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.models import QuotaLimits
from bot.core.servers.guild_settings import (
    GuildSettings,
    GuildSettingsService,
    RoleQuota,
    Source,
    ThreadsMode,
    parse,
)
from bot.core.store import Store

ENV = QuotaLimits(daily=5, active=2)
GUILD = 111


@pytest.fixture
async def service(tmp_path: Path):
    async with Store.open(tmp_path / "bot.db") as store:
        yield GuildSettingsService(store)


def test_a_server_that_set_nothing_follows_the_environment() -> None:
    limits = GuildSettings().limits_for([1, 2], ENV)
    assert limits.limits == ENV
    assert (limits.daily_from, limits.active_from) == (Source.DEFAULT, Source.DEFAULT)


def test_the_largest_role_override_wins_each_limit_on_its_own() -> None:
    settings = GuildSettings(
        daily_quota=3,
        max_active=1,
        role_quotas={10: RoleQuota(daily=20), 11: RoleQuota(daily=8, active=4), 12: RoleQuota(50)},
    )
    limits = settings.limits_for([10, 11], ENV)
    assert limits.limits == QuotaLimits(daily=20, active=4)
    assert (limits.daily_from, limits.active_from) == (Source.ROLE, Source.ROLE)
    only_server = settings.limits_for([99], ENV)
    assert only_server.limits == QuotaLimits(daily=3, active=1)
    assert only_server.daily_from is Source.SERVER
    # A role that sets only `daily` leaves `active` to the server.
    mixed = settings.limits_for([10], ENV)
    assert mixed.limits == QuotaLimits(daily=20, active=1)
    assert mixed.active_from is Source.SERVER


@pytest.mark.parametrize(
    ("mode", "option", "expected"),
    [
        (ThreadsMode.OFF, True, False),
        (ThreadsMode.OPTIONAL, True, True),
        (ThreadsMode.OPTIONAL, None, False),
        (ThreadsMode.ALWAYS, None, True),
        (ThreadsMode.ALWAYS, False, True),
    ],
)
def test_threads_mode(mode: ThreadsMode, option: bool | None, expected: bool) -> None:
    assert GuildSettings(threads_mode=mode).wants_thread(option) is expected


def test_values_that_do_not_parse_count_as_unset() -> None:
    settings = parse(
        {
            "daily_quota": '"ten"',
            "max_active": "true",
            "role_quotas": '{"abc": {"daily": 1}, "12": {"daily": "x", "active": 3}}',
            "budget_credits": "-4",
            "blocked_words": '["ok", 5]',
            "threads_mode": '"sometimes"',
            "unknown": "{",
        }
    )
    assert settings.daily_quota is None and settings.max_active is None
    assert settings.role_quotas == {12: RoleQuota(daily=None, active=3)}
    assert settings.budget_credits is None and not settings.has_budget
    assert settings.blocked_words == ("ok",)
    assert settings.threads_mode is ThreadsMode.OPTIONAL


async def test_settings_are_stored_per_server_and_survive_a_new_service(
    service: GuildSettingsService, tmp_path: Path
) -> None:
    await service.set_quota(GUILD, daily=7, active=None)
    await service.set_quota(GUILD, daily=None, active=3, role_id=42)
    await service.set_quota(GUILD, daily=30, active=None, role_id=42)
    await service.set_budget(GUILD, 12.5)
    await service.set_blocked_words(GUILD, ["Foo", "bar", "Foo", ""])
    await service.set_threads_mode(GUILD, ThreadsMode.ALWAYS)
    assert await service.get(GUILD + 1) == GuildSettings()
    async with Store.open(tmp_path / "bot.db") as again:
        settings = await GuildSettingsService(again).get(GUILD)
    assert settings.daily_quota == 7 and settings.max_active is None
    assert settings.role_quotas == {42: RoleQuota(daily=30, active=3)}
    assert settings.budget_credits == 12.5
    assert settings.blocked_words == ("Foo", "bar")
    assert settings.threads_mode is ThreadsMode.ALWAYS


async def test_writes_drop_the_cached_read(service: GuildSettingsService) -> None:
    assert (await service.get(GUILD)).budget_credits is None
    await service.set_budget(GUILD, 3)
    assert (await service.get(GUILD)).budget_credits == 3
    await service.set_budget(GUILD, 0)  # 0: no budget
    assert not (await service.get(GUILD)).has_budget
    await service.set_quota(GUILD, daily=1, active=1, role_id=5)
    await service.clear_role_quota(GUILD, 5)
    assert (await service.get(GUILD)).role_quotas == {}


async def test_outside_a_server_the_defaults(service: GuildSettingsService) -> None:
    assert await service.get(None) == GuildSettings()


async def test_a_deleted_roles_override_is_forgotten(service: GuildSettingsService) -> None:
    await service.set_quota(1, daily=4, active=None, role_id=77)
    await service.set_quota(1, daily=2, active=None, role_id=78)
    assert await service.forget_role(1, 77) is True
    assert list((await service.get(1)).role_quotas) == [78]
    assert await service.forget_role(1, 77) is False  # nothing more to do
    assert await service.forget_role(2, 78) is False  # another server's role
    assert await service.forget_role(1, 78) is True
    assert (await service.get(1)).role_quotas == {}
