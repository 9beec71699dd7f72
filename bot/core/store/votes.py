"""Votes on takes (`bot.core.songs.votes`): one row per member per take they 👍, and what
/song reads of a song's family (`bot.core.songs.song_card.SongReader`)."""

from __future__ import annotations

import dataclasses

from bot.core.clock import SystemClock
from bot.core.models import Task
from bot.core.store.rows import fetch_tasks
from bot.core.store.tasks import Repository


@dataclasses.dataclass(frozen=True, slots=True)
class VoteMessage:
    """A result message whose 👍 buttons show song `task_id`'s votes."""

    channel_id: int
    message_id: int
    task_id: int


class VoteRepository(Repository):
    async def toggle_vote(self, task_id: int, take: int, user_id: int) -> bool:
        """Add the member's vote for the take, or take it back; True when it is now counted.

        One transaction, serialised per (task, take, member): SQLite's writers are serialised
        already, and PostgreSQL's adapter takes an advisory lock, so two clicks racing each
        other (two processes, two connections) toggle twice, never both "counted"."""
        async with self._db.transaction() as tx:
            await tx.serialize(f"vote:{task_id}:{take}:{user_id}")
            removed = await tx.execute(
                "DELETE FROM votes WHERE task_id = $1 AND take = $2 AND user_id = $3",
                (task_id, take, user_id),
            )
            if removed:
                return False
            await tx.execute(
                "INSERT INTO votes (task_id, take, user_id, created_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (task_id, take, user_id) DO NOTHING",
                (task_id, take, user_id, SystemClock().now()),
            )
            return True

    async def vote_counts(self, task_id: int) -> dict[int, int]:
        """Votes per take (1-based); takes nobody voted for are missing."""
        rows = await self._db.fetch(
            "SELECT take, COUNT(*) FROM votes WHERE task_id = $1 GROUP BY take", (task_id,)
        )
        return {int(row[0]): int(row[1]) for row in rows}

    async def vote_changed(self, message: VoteMessage, now: float) -> None:
        """A vote on `message`'s song changed at `now`: the message has counts to show."""
        await self._db.execute(
            "INSERT INTO vote_messages (message_id, task_id, channel_id, changed_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO UPDATE"
            " SET changed_at = excluded.changed_at",
            (message.message_id, message.task_id, message.channel_id, now),
        )

    async def votes_shown(self, message_id: int, read_at: float) -> None:
        """The message now shows the counts as they were read at `read_at`."""
        await self._db.execute(
            "UPDATE vote_messages SET shown_at = $2 WHERE message_id = $1", (message_id, read_at)
        )

    async def votes_not_shown(self, since: float) -> list[VoteMessage]:
        """Messages with a vote changed since `since` that they don't show yet."""
        rows = await self._db.fetch(
            "SELECT channel_id, message_id, task_id FROM vote_messages WHERE changed_at >= $1"
            " AND (shown_at IS NULL OR shown_at < changed_at) ORDER BY changed_at",
            (since,),
        )
        return [VoteMessage(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def task_in_guild(self, guild_id: int, number: int) -> Task | None:
        """Song #number (the task id statuses and results show) if it was asked for in this
        server; None whether it is another server's or doesn't exist."""
        tasks = await fetch_tasks(self._db, "t.id = $1 AND t.guild_id = $2", (number, guild_id))
        return tasks[0] if tasks else None

    async def children_of(self, task_id: int) -> list[Task]:
        """The songs made from this one, oldest first (by index tasks_by_parent)."""
        return await fetch_tasks(self._db, "t.parent_task_id = $1 ORDER BY t.id", (task_id,))
