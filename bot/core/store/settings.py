"""Bot-wide values (the webhook secret, the synced commands' hash) and per-server settings
(bot.core.servers.guild_settings), stored as text."""

from __future__ import annotations

from bot.core.store.tasks import Repository


class ValueRepository(Repository):
    async def get_value(self, key: str) -> str | None:
        row = await self._db.fetchrow("SELECT value FROM bot_values WHERE key = $1", (key,))
        return row["value"] if row else None

    async def set_value(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO bot_values (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def get_or_create_value(self, key: str, make: str) -> str:
        """The stored value for `key`, storing `make` first if there is none (two processes
        starting at once agree on one)."""
        await self._db.execute(
            "INSERT INTO bot_values (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            (key, make),
        )
        value = await self.get_value(key)
        assert value is not None  # noqa: S101 - inserted above, and never deleted
        return value


class GuildSettingsRepository(Repository):
    async def guild_settings(self, guild_id: int) -> dict[str, str]:
        """Every setting a server has made, by key, as stored (JSON text)."""
        rows = await self._db.fetch(
            "SELECT key, value FROM guild_settings WHERE guild_id = $1", (guild_id,)
        )
        return {row["key"]: row["value"] for row in rows}

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Store a server's setting; None removes it (back to the default)."""
        if value is None:
            await self._db.execute(
                "DELETE FROM guild_settings WHERE guild_id = $1 AND key = $2", (guild_id, key)
            )
        else:
            await self._db.execute(
                "INSERT INTO guild_settings (guild_id, key, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value",
                (guild_id, key, value),
            )
