-- 5 (PostgreSQL): per-server settings (bot.guild_settings), one row per server and setting.
CREATE TABLE guild_settings (
    guild_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (guild_id, key)
);
