"""What /settings says: the summary of a server's settings and each subcommand's confirmation.

Discord-free text (the cog only sends it). Roles appear as mentions (`<@&id>`), which the cog
sends with mentions that ping no one; blocked words are someone's typing, shown escaped and
behind a spoiler so the list doesn't shout them at whoever opens it.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.models import QuotaLimits
from bot.core.public_text import shown
from bot.core.servers.guild_settings import GuildSettings, RoleQuota, Source, ThreadsMode
from bot.core.wording import count

# Room for the blocked words in /settings view, within Discord's 2000 characters a message.
WORDS_ROOM = 1200
MESSAGE_LIMIT = 2000  # Discord's characters a message
# The role overrides listed in /settings view get what the rest leaves of a message, but at
# least this much; past it the summary names how many more, and the whole list goes as a file.
ROLES_ROOM_MIN = 300
ROLES_FILE = "role-quotas.txt"
BAD_ROLE_ID = "`role_id` is a role's id: its digits (Server Settings → Roles → … → Copy Role ID)."
BOTH_ROLES = "Give `role` or `role_id`, not both."
UNKNOWN_ROLE = (
    "This server has no role {role_id}: with `role_id` alone I remove the quota of a role "
    "that was deleted; to give a role a quota, pick it in `role`."
)
NOT_ALLOWED = "You need the Manage Server permission to change my settings here."
NOTHING_GIVEN = (
    "Give `daily`, `active` or both; with only `role` (or `role_id`), I remove that role's own "
    "quota."
)
NO_WORDS_GIVEN = "Give words to `add`, to `remove`, or both, separated by commas."

SOURCES = {
    Source.ROLE: "from a role",
    Source.SERVER: "this server's",
    Source.DEFAULT: "the default",
}
THREADS = {
    ThreadsMode.OFF: "songs stay in the channel; I ignore the `thread` option",
    ThreadsMode.OPTIONAL: "a song gets a thread of its own when its `thread` option asks",
    ThreadsMode.ALWAYS: "every song gets a thread of its own",
}


def role(role_id: int) -> str:
    return f"<@&{role_id}>"


def credits(amount: float) -> str:
    return f"{amount:g}"


def _source(source: Source) -> str:
    return f"({SOURCES[source]})"


def _role_quota(quota: RoleQuota) -> str:
    parts = []
    if quota.daily is not None:
        parts.append(f"{quota.daily} a day")
    if quota.active is not None:
        parts.append(f"{quota.active} at a time")
    return ", ".join(parts) or "nothing of its own"


def words_list(words: tuple[str, ...], room: int = WORDS_ROOM) -> str:
    """The words, each escaped and hidden behind a spoiler, cut to `room` characters."""
    listed: list[str] = []
    used = 0
    for word in words:
        item = f"||{shown(word, 100)}||"
        if used + len(item) + 2 > room:
            return ", ".join(listed) + f" and {len(words) - len(listed)} more"
        listed.append(item)
        used += len(item) + 2
    return ", ".join(listed)


def view_lines(
    settings: GuildSettings, defaults: QuotaLimits, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """Every setting, and where each value comes from (this server's, or the default), within
    `limit` characters joined by newlines: role overrides past the room left are counted
    (`role_quota_lines` lists them all, for a file)."""
    server = settings.limits_for((), defaults)
    lines = [
        "**My settings for this server**",
        f"Songs a day per member: {server.limits.daily} {_source(server.daily_from)}.",
        f"Songs in progress per member: {server.limits.active} {_source(server.active_from)}.",
        "",  # the role overrides, filled in last with the room the others leave
    ]
    if settings.has_budget and settings.budget_credits is not None:
        lines.append(
            f"Daily budget: {credits(settings.budget_credits)} MusicGPT credits per UTC day "
            "(this server's)."
        )
    else:
        lines.append("Daily budget: none (the default).")
    if settings.blocked_words:
        lines.append(
            f"Blocked words ({len(settings.blocked_words)}, this server's): "
            f"{words_list(settings.blocked_words)}."
        )
    else:
        lines.append("Blocked words: none (the default).")
    mode = settings.threads_mode
    origin = "the default" if mode is ThreadsMode.OPTIONAL else "this server's"
    lines.append(f"Threads: `{mode.value}` ({origin}): {THREADS[mode]}.")
    room = max(ROLES_ROOM_MIN, limit - len("\n".join(lines)))
    lines[3] = roles_line(settings, room)
    return lines


def roles_line(settings: GuildSettings, room: int) -> str:
    """The role overrides in one line of at most `room` characters, the rest counted."""
    total = len(settings.role_quotas)
    if not total:
        return "Roles with their own quota: none (the default)."
    head = f"Roles with their own quota ({total}; a member gets the largest of theirs): "
    items = [
        f"{role(role_id)}: {_role_quota(quota)}"
        for role_id, quota in sorted(settings.role_quotas.items())
    ]
    for shown_count in range(total, 0, -1):
        left = total - shown_count
        tail = f"; and {left} more, all of them in the attached file." if left else "."
        line = head + "; ".join(items[:shown_count]) + tail
        if len(line) <= room:
            return line
    return f"Roles with their own quota: {total}, all of them in the attached file."


def roles_cut(settings: GuildSettings, lines: list[str]) -> bool:
    """Whether the summary left role overrides out (then the file goes with it)."""
    return bool(settings.role_quotas) and "attached file" in lines[3]


def role_quota_lines(settings: GuildSettings, names: Mapping[int, str]) -> list[str]:
    """Every role override, one a line, for the file /settings view attaches: the role's name
    (`names`, the server's roles; a deleted role has none) and its id, which `role_id` takes."""
    lines = ["Roles with their own quota (a member gets the largest of theirs)", ""]
    for role_id, quota in sorted(settings.role_quotas.items()):
        name = names.get(role_id)
        label = f"@{name}" if name is not None else "(a deleted role)"
        lines.append(f"{label} · id {role_id}: {_role_quota(quota)}")
    return lines


def quota_set(settings: GuildSettings, defaults: QuotaLimits, role_id: int | None) -> str:
    """The confirmation of /settings quota: what a member (of the role) gets now."""
    if role_id is None:
        now = settings.limits_for((), defaults)
        return (
            f"Done: each member here can make {count(now.limits.daily, 'song')} a day "
            f"{_source(now.daily_from)} and have {now.limits.active} in progress "
            f"{_source(now.active_from)}, unless a role of theirs gives more."
        )
    quota = settings.role_quotas.get(role_id)
    if quota is None:
        return f"Done: {role(role_id)} no longer has a quota of its own."
    now = settings.limits_for((role_id,), defaults)
    return (
        f"Done: members with {role(role_id)} can make {count(now.limits.daily, 'song')} a day "
        f"{_source(now.daily_from)} and have {now.limits.active} in progress "
        f"{_source(now.active_from)}, unless another role of theirs gives more."
    )


def budget_set(settings: GuildSettings) -> str:
    if settings.has_budget and settings.budget_credits is not None:
        return (
            f"Done: this server can spend up to {credits(settings.budget_credits)} MusicGPT "
            "credits per UTC day; past that, I turn new songs away until 00:00 UTC."
        )
    return "Done: this server has no daily credit budget now."


def words_set(settings: GuildSettings) -> str:
    count = len(settings.blocked_words)
    if not count:
        return "Done: this server blocks no words now."
    return (
        f"Done: this server blocks {count} word{'s' if count != 1 else ''} now, in prompts and "
        "lyrics. `/settings view` lists them."
    )


def threads_set(settings: GuildSettings) -> str:
    mode = settings.threads_mode
    return f"Done: threads are `{mode.value}` here now: {THREADS[mode]}."
