"""The answer to /song number:N: one song's card, sent privately, as plain Discord markdown.

What the song is (its lineage, "Rewrite of #12 take 2, 0:30-0:45", or what a fresh one was),
who asked (`<@id>`: the cog sends with no mentions allowed), its status and prompt (the
member's text, escaped by `bot.core.public_text`), each take on its own line with its length,
a link and its 👍 count, the leader marked; then the song it was made from and every song
made from it (rewrites, agains, extensions, sung-over) as a tree: three levels deep, five
songs a branch, "and N more" for the rest, cut at the end so the card fits one message.

A number that isn't a song of this server gets the same "not found" whether the song is in
another server or doesn't exist: nothing of another server is read out, and songs made from
this one in another server (which can't happen today) would not be shown either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from bot.core.i18n import N_, LocaleLike, gettext, ngettext
from bot.core.models import Output, Task, TaskKind, TaskStatus
from bot.core.public_text import safe_link, shown
from bot.core.songs.history import STATUS_WORDS, task_link
from bot.core.songs.progress import failure_text, lineage_line
from bot.core.songs.votes import LEADER_MARK, THUMB, Tally, VoteCounter

MESSAGE_LIMIT: Final = 2000  # Discord's, per message
DEPTH: Final = 3  # levels of songs made from songs made from it
BREADTH: Final = 5  # songs shown under one song; "and N more" for the rest
MAX_SHOWN: Final = 25  # songs in the whole tree (the message fits about fifteen anyway)
PROMPT_LIMIT: Final = 300
REASON_LIMIT: Final = 300
TITLE_LIMIT: Final = 60
LINK_LIMIT: Final = 400  # a take's link longer than this is left out (the result has the file)
ELLIPSIS: Final = "…"
SEPARATOR: Final = " · "
NOT_FOUND: Final = N_("I have no song #{number} in this server.")

# What a song made from nothing else is; one made from another says so (`lineage_line`).
FRESH: Final[dict[TaskKind, str]] = {
    TaskKind.SING: N_("Sung over an instrumental"),
    TaskKind.INPAINT: N_("Rewrite of part of a song"),
    TaskKind.EXTEND: N_("Extension of a song"),
}


class SongReader(Protocol):
    """What /song needs from the store."""

    async def task_in_guild(self, guild_id: int, number: int) -> Task | None:
        """Song #number if it was asked for in this server, else None (whether it is another
        server's or doesn't exist)."""
        ...

    async def children_of(self, task_id: int) -> Sequence[Task]:
        """The songs whose `parent_task_id` is `task_id`, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Branch:
    """A song made from another, with the songs made from it that are shown, and how many
    more there are."""

    task: Task
    children: tuple[Branch, ...] = ()
    hidden: int = 0


@dataclass(frozen=True, slots=True)
class Family:
    """Everything the card shows: the song, its votes, where it came from, what came of it."""

    song: Task
    tally: Tally
    parent: Task | None = None  # None: a fresh song, or a parent the card may not show
    children: tuple[Branch, ...] = ()
    hidden: int = 0


def not_found(number: int, locale: LocaleLike = None) -> str:
    return gettext(locale, NOT_FOUND, number=number)


async def song_card(
    reader: SongReader, votes: VoteCounter, guild_id: int, number: int, locale: LocaleLike = None
) -> str:
    """The whole /song answer for song #number of server `guild_id`, in the member's language."""
    family = await load_family(reader, votes, guild_id, number)
    return card_text(family, locale) if family is not None else not_found(number, locale)


async def load_family(
    reader: SongReader,
    votes: VoteCounter,
    guild_id: int,
    number: int,
    *,
    depth: int = DEPTH,
    breadth: int = BREADTH,
    max_shown: int = MAX_SHOWN,
) -> Family | None:
    """Song #number of this server with its votes, parent and descendants; None if it isn't
    one. The tree is read a level at a time, so a crowded first branch doesn't starve the
    others; one `children_of` per song shown (and per song one level below the last, for
    its "and N more")."""
    song = await reader.task_in_guild(guild_id, number)
    if song is None:
        return None
    tally = Tally.of(await votes.vote_counts(song.id), len(song.outputs))
    parent = None
    if song.parent_task_id is not None:
        parent = await reader.task_in_guild(guild_id, song.parent_task_id)

    kept: dict[int, list[Task]] = {}
    hidden: dict[int, int] = {}
    seen = {song.id}
    level = [song.id]
    shown_count = 0
    for below in range(1, depth + 2):  # the last pass only counts what is below the tree
        next_level: list[int] = []
        for task_id in level:
            made = [
                t
                for t in await reader.children_of(task_id)
                if t.guild_id == guild_id and t.id not in seen
            ]
            room = 0 if below > depth else max(0, min(breadth, max_shown - shown_count))
            kept[task_id] = made[:room]
            hidden[task_id] = len(made) - len(kept[task_id])
            shown_count += len(kept[task_id])
            seen.update(t.id for t in kept[task_id])
            next_level += [t.id for t in kept[task_id]]
        level = next_level

    def branches(task_id: int) -> tuple[Branch, ...]:
        return tuple(Branch(t, branches(t.id), hidden.get(t.id, 0)) for t in kept.get(task_id, []))

    return Family(song, tally, parent, branches(song.id), hidden.get(song.id, 0))


def what_it_is(task: Task, locale: LocaleLike = None) -> str:
    """`lineage_line` ("Rewrite of #12 take 2, ..."), or what a fresh song is."""
    return lineage_line(task, locale) or gettext(locale, FRESH[task.kind])


def length_text(seconds: float | None, locale: LocaleLike = None) -> str:
    """m:ss (h:mm:ss past an hour), rounded to the second; "unknown length" when not known."""
    if seconds is None or seconds < 0:
        return gettext(locale, "unknown length")
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _status(task: Task, locale: LocaleLike) -> str:
    words = STATUS_WORDS.get(task.status)
    return gettext(locale, words) if words is not None else task.status.value


def _take_link(output: Output, locale: LocaleLike) -> str | None:
    link = safe_link(output.audio_url)
    if link is None:
        return None
    # Parentheses are left as they are by safe_link; in a markdown link they would end it.
    link = link.replace("(", "%28").replace(")", "%29")
    return gettext(locale, "[listen]({url})", url=link) if len(link) <= LINK_LIMIT else None


def take_line(number: int, output: Output, tally: Tally, locale: LocaleLike = None) -> str:
    """`Take 1 “Title” · 2:31 · [listen](…) · 👍 3 · ⭐ leading`."""
    name = gettext(locale, "Take {number}", number=number)
    if output.title and output.title.strip():
        name += f" “{shown(output.title, TITLE_LIMIT)}”"
    parts = [name, length_text(output.duration, locale)]
    if link := _take_link(output, locale):
        parts.append(link)
    parts.append(f"{THUMB} {tally.count(number)}")
    if tally.leader == number:
        parts.append(gettext(locale, LEADER_MARK))
    return SEPARATOR.join(parts)


def song_line(task: Task, locale: LocaleLike = None) -> str:
    """A song of the tree: `#13 · Again of #12 · failed · [status](…)`."""
    parts = [f"#{task.id}", what_it_is(task, locale)]
    if task.status is not TaskStatus.DELIVERED:
        parts.append(_status(task, locale))
    if link := task_link(task, locale):
        parts.append(link)
    return SEPARATOR.join(parts)


def _head(family: Family, locale: LocaleLike) -> list[str]:
    song = family.song
    header = [gettext(locale, "**Song #{number}**", number=song.id), _status(song, locale)]
    if link := task_link(song, locale):
        header.append(link)
    lines = [SEPARATOR.join(header), what_it_is(song, locale)]
    lines.append(
        gettext(
            locale,
            "Asked for by <@{user}> <t:{unix}:R>",
            user=song.user_id,
            unix=int(song.created_at),
        )
    )
    if song.prompt:
        prompt = shown(song.prompt, PROMPT_LIMIT)
        lines.append(gettext(locale, "Prompt: “{prompt}”", prompt=prompt))
    if song.status is TaskStatus.FAILED:
        lines.append(shown(failure_text(song, locale), REASON_LIMIT))
    lines += [take_line(n, o, family.tally, locale) for n, o in enumerate(song.outputs, start=1)]
    if family.parent is not None:
        parent = song_line(family.parent, locale)
        lines.append(gettext(locale, "**Made from** {song}", song=parent))
    return lines


def _tree(
    branches: Sequence[Branch], hidden: int, locale: LocaleLike, level: int = 0
) -> list[tuple[str, int]]:
    """(line, songs it stands for) in reading order: a song stands for itself, "and N more"
    for N."""
    indent = "  " * level
    rows: list[tuple[str, int]] = []
    for branch in branches:
        rows.append((f"{indent}- {song_line(branch.task, locale)}", 1))
        rows += _tree(branch.children, branch.hidden, locale, level + 1)
    if hidden:
        rows.append((f"{indent}- " + gettext(locale, "and {count} more", count=hidden), hidden))
    return rows


def card_text(family: Family, locale: LocaleLike = None) -> str:
    """The card, at most 2000 characters, in the member's language: the tree is cut from the
    end to fit, saying how many songs it leaves out."""

    def _more(count: int) -> str:
        return ngettext(
            locale,
            "…and {count} more song made from it.",
            "…and {count} more songs made from it.",
            count,
        )

    lines = _head(family, locale)
    rows = _tree(family.children, family.hidden, locale)
    if rows:
        lines.append(gettext(locale, "**Made from it**"))
    else:
        lines.append(gettext(locale, "Nothing made from it yet."))
    text = "\n".join(lines)
    room = MESSAGE_LIMIT - len(text)
    body = [line for line, _ in rows]
    if sum(len(line) + 1 for line in body) > room:
        kept = 0
        used = 0
        for line, _ in rows:
            left_out = sum(count for _, count in rows[kept + 1 :])
            if used + len(line) + 1 + len(_more(left_out)) + 1 > room:
                break
            used += len(line) + 1
            kept += 1
        body = [line for line, _ in rows[:kept]]
        body.append(_more(sum(count for _, count in rows[kept:])))
    text = "\n".join([text, *body])
    if len(text) > MESSAGE_LIMIT:  # a head too long on its own: cut at a line's end
        cut = text.rfind("\n", 0, MESSAGE_LIMIT - len(ELLIPSIS))
        text = text[: cut if cut > 0 else MESSAGE_LIMIT - len(ELLIPSIS)] + ELLIPSIS
    return text
