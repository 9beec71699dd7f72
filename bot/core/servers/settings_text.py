"""What /settings says: the summary of a server's settings and each subcommand's confirmation.

Discord-free text (the cog only sends it). Roles appear as mentions (`<@&id>`), which the cog
sends with mentions that ping no one; blocked words are someone's typing, shown escaped and
behind a spoiler so the list doesn't shout them at whoever opens it.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.i18n import LANGUAGE_NAMES, N_, LocaleLike, catalog_code, decimal, gettext, ngettext
from bot.core.models import QuotaLimits
from bot.core.public_text import shown
from bot.core.servers.guild_settings import GuildSettings, RoleQuota, Source, ThreadsMode

# Room for the blocked words in /settings view, within Discord's 2000 characters a message.
WORDS_ROOM = 1200
MESSAGE_LIMIT = 2000  # Discord's characters a message
# The role overrides listed in /settings view get what the rest leaves of a message, but at
# least this much; past it the summary names how many more, and the whole list goes as a file.
ROLES_ROOM_MIN = 300
ROLES_FILE = "role-quotas.txt"
# Refusals (said in the member's language at the error boundary).
BAD_ROLE_ID = N_(
    "`role_id` is a role's id: its digits (Server Settings → Roles → … → Copy Role ID)."
)
BOTH_ROLES = N_("Give `role` or `role_id`, not both.")
UNKNOWN_ROLE = N_(
    "This server has no role {role_id}: with `role_id` alone I remove the quota of a role "
    "that was deleted; to give a role a quota, pick it in `role`."
)
NOT_ALLOWED = N_("You need the Manage Server permission to change my settings here.")
NOTHING_GIVEN = N_(
    "Give `daily`, `active` or both; with only `role` (or `role_id`), I remove that role's own "
    "quota."
)
NO_WORDS_GIVEN = N_("Give words to `add`, to `remove`, or both, separated by commas.")

SOURCES = {
    Source.ROLE: N_("(from a role)"),
    Source.SERVER: N_("(this server's)"),
    Source.DEFAULT: N_("(the default)"),
}
THREADS = {
    ThreadsMode.OFF: N_("songs stay in the channel; I ignore the `thread` option"),
    ThreadsMode.OPTIONAL: N_("a song gets a thread of its own when its `thread` option asks"),
    ThreadsMode.ALWAYS: N_("every song gets a thread of its own"),
}


def role(role_id: int) -> str:
    return f"<@&{role_id}>"


def credits(amount: float, locale: LocaleLike = None) -> str:
    return decimal(locale, amount, 2)


def _source(source: Source, locale: LocaleLike = None) -> str:
    return gettext(locale, SOURCES[source])


def _role_quota(quota: RoleQuota, locale: LocaleLike = None) -> str:
    if quota.daily is not None and quota.active is not None:
        return gettext(
            locale, "{daily} a day, {active} at a time", daily=quota.daily, active=quota.active
        )
    if quota.daily is not None:
        return gettext(locale, "{daily} a day", daily=quota.daily)
    if quota.active is not None:
        return gettext(locale, "{active} at a time", active=quota.active)
    return gettext(locale, "nothing of its own")


def words_list(words: tuple[str, ...], room: int = WORDS_ROOM, locale: LocaleLike = None) -> str:
    """The words, each escaped and hidden behind a spoiler, cut to `room` characters."""
    listed: list[str] = []
    used = 0
    for word in words:
        item = f"||{shown(word, 100)}||"
        if used + len(item) + 2 > room:
            return gettext(
                locale,
                "{words} and {count} more",
                words=", ".join(listed),
                count=len(words) - len(listed),
            )
        listed.append(item)
        used += len(item) + 2
    return ", ".join(listed)


def language_line(
    settings: GuildSettings, locale: LocaleLike = None, server_locale: LocaleLike = None
) -> str:
    """/settings view's line for /settings language: the language of my public messages."""
    if settings.language is None:
        return gettext(
            locale,
            "Language of my statuses and songs: `auto` (the default), this server's Discord "
            "language: {language}.",
            language=LANGUAGE_NAMES[catalog_code(server_locale)],
        )
    return gettext(
        locale,
        "Language of my statuses and songs: {language} (this server's).",
        language=LANGUAGE_NAMES[catalog_code(settings.language)],
    )


def view_lines(
    settings: GuildSettings,
    defaults: QuotaLimits,
    limit: int = MESSAGE_LIMIT,
    *,
    locale: LocaleLike = None,
    server_locale: LocaleLike = None,
) -> list[str]:
    """Every setting, and where each value comes from (this server's, or the default), within
    `limit` characters joined by newlines, in the member's language (`locale`): role overrides
    past the room left are counted (`role_quota_lines` lists them all, for a file).
    `server_locale` is the server's Discord language, which `auto` follows."""
    server = settings.limits_for((), defaults)
    lines = [
        gettext(locale, "**My settings for this server**"),
        gettext(
            locale,
            "Songs a day per member: {daily} {source}.",
            daily=server.limits.daily,
            source=_source(server.daily_from, locale),
        ),
        gettext(
            locale,
            "Songs in progress per member: {active} {source}.",
            active=server.limits.active,
            source=_source(server.active_from, locale),
        ),
        "",  # the role overrides, filled in last with the room the others leave
    ]
    if settings.has_budget and settings.budget_credits is not None:
        lines.append(
            gettext(
                locale,
                "Daily budget: {credits} MusicGPT credits per UTC day (this server's).",
                credits=credits(settings.budget_credits, locale),
            )
        )
    else:
        lines.append(gettext(locale, "Daily budget: none (the default)."))
    if settings.blocked_words:
        lines.append(
            gettext(
                locale,
                "Blocked words ({count}, this server's): {words}.",
                count=len(settings.blocked_words),
                words=words_list(settings.blocked_words, locale=locale),
            )
        )
    else:
        lines.append(gettext(locale, "Blocked words: none (the default)."))
    mode = settings.threads_mode
    origin = Source.DEFAULT if mode is ThreadsMode.OPTIONAL else Source.SERVER
    lines.append(
        gettext(
            locale,
            "Threads: `{mode}` {source}: {meaning}.",
            mode=mode.value,
            source=_source(origin, locale),
            meaning=gettext(locale, THREADS[mode]),
        )
    )
    lines.append(language_line(settings, locale, server_locale))
    room = max(ROLES_ROOM_MIN, limit - len("\n".join(lines)))
    lines[3] = roles_line(settings, room, locale)
    return lines


def roles_line(settings: GuildSettings, room: int, locale: LocaleLike = None) -> str:
    """The role overrides in one line of at most `room` characters, the rest counted."""
    total = len(settings.role_quotas)
    if not total:
        return gettext(locale, "Roles with their own quota: none (the default).")
    items = [
        f"{role(role_id)}: {_role_quota(quota, locale)}"
        for role_id, quota in sorted(settings.role_quotas.items())
    ]
    for shown_count in range(total, 0, -1):
        left = total - shown_count
        listed = "; ".join(items[:shown_count])
        if left:
            line = gettext(
                locale,
                "Roles with their own quota ({total}; a member gets the largest of theirs): "
                "{roles}; and {count} more, all of them in the attached file.",
                total=total,
                roles=listed,
                count=left,
            )
        else:
            line = gettext(
                locale,
                "Roles with their own quota ({total}; a member gets the largest of theirs): "
                "{roles}.",
                total=total,
                roles=listed,
            )
        if len(line) <= room:
            return line
    return gettext(
        locale,
        "Roles with their own quota: {total}, all of them in the attached file.",
        total=total,
    )


def roles_cut(settings: GuildSettings, lines: list[str]) -> bool:
    """Whether the summary left role overrides out (then the file goes with it): the roles
    line mentions fewer roles than have a quota of their own."""
    return lines[3].count("<@&") < len(settings.role_quotas)


def role_quota_lines(
    settings: GuildSettings, names: Mapping[int, str], locale: LocaleLike = None
) -> list[str]:
    """Every role override, one a line, for the file /settings view attaches: the role's name
    (`names`, the server's roles; a deleted role has none) and its id, which `role_id` takes."""
    lines = [
        gettext(locale, "Roles with their own quota (a member gets the largest of theirs)"),
        "",
    ]
    for role_id, quota in sorted(settings.role_quotas.items()):
        name = names.get(role_id)
        label = f"@{name}" if name is not None else gettext(locale, "(a deleted role)")
        lines.append(
            gettext(
                locale,
                "{role} · id {role_id}: {quota}",
                role=label,
                role_id=role_id,
                quota=_role_quota(quota, locale),
            )
        )
    return lines


def quota_set(
    settings: GuildSettings,
    defaults: QuotaLimits,
    role_id: int | None,
    locale: LocaleLike = None,
) -> str:
    """The confirmation of /settings quota: what a member (of the role) gets now."""
    if role_id is None:
        now = settings.limits_for((), defaults)
        return ngettext(
            locale,
            "Done: each member here can make {count} song a day {daily_source} and have "
            "{active} in progress {active_source}, unless a role of theirs gives more.",
            "Done: each member here can make {count} songs a day {daily_source} and have "
            "{active} in progress {active_source}, unless a role of theirs gives more.",
            now.limits.daily,
            daily_source=_source(now.daily_from, locale),
            active=now.limits.active,
            active_source=_source(now.active_from, locale),
        )
    quota = settings.role_quotas.get(role_id)
    if quota is None:
        return gettext(locale, "Done: {role} no longer has a quota of its own.", role=role(role_id))
    now = settings.limits_for((role_id,), defaults)
    return ngettext(
        locale,
        "Done: members with {role} can make {count} song a day {daily_source} and have "
        "{active} in progress {active_source}, unless another role of theirs gives more.",
        "Done: members with {role} can make {count} songs a day {daily_source} and have "
        "{active} in progress {active_source}, unless another role of theirs gives more.",
        now.limits.daily,
        role=role(role_id),
        daily_source=_source(now.daily_from, locale),
        active=now.limits.active,
        active_source=_source(now.active_from, locale),
    )


def budget_set(settings: GuildSettings, locale: LocaleLike = None) -> str:
    if settings.has_budget and settings.budget_credits is not None:
        return gettext(
            locale,
            "Done: this server can spend up to {credits} MusicGPT credits per UTC day; past "
            "that, I turn new songs away until 00:00 UTC.",
            credits=credits(settings.budget_credits, locale),
        )
    return gettext(locale, "Done: this server has no daily credit budget now.")


def words_set(settings: GuildSettings, locale: LocaleLike = None) -> str:
    count = len(settings.blocked_words)
    if not count:
        return gettext(locale, "Done: this server blocks no words now.")
    return ngettext(
        locale,
        "Done: this server blocks {count} word now, in prompts and lyrics. "
        "`/settings view` lists it.",
        "Done: this server blocks {count} words now, in prompts and lyrics. "
        "`/settings view` lists them.",
        count,
    )


def threads_set(settings: GuildSettings, locale: LocaleLike = None) -> str:
    mode = settings.threads_mode
    return gettext(
        locale,
        "Done: threads are `{mode}` here now: {meaning}.",
        mode=mode.value,
        meaning=gettext(locale, THREADS[mode]),
    )
