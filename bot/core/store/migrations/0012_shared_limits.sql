-- 12: MusicGPT's limits as every process uses them (issue 21): one row per limit, `polls`
-- (the byId budget) and `parallel` (songs at MusicGPT at once), made on first use. A row is
-- changed only in a transaction that one process at a time holds (bot/core/store/limits.py),
-- so what one process learns from a 429 is what all of them use. The same text runs on SQLite
-- and PostgreSQL.
CREATE TABLE musicgpt_limits (
    name TEXT PRIMARY KEY,
    -- The figure in use, learned from 429s; NULL: the setting (nothing learned).
    learned DOUBLE PRECISION,
    -- What MusicGPT ran of ours when it last said 429 (`parallel` only).
    took_only INTEGER,
    -- When the figure last changed (a 429, or a step back up).
    changed_at DOUBLE PRECISION,
    -- The next moment a call may start (`polls` only): pushed on by every call, by a 429.
    next_allowed DOUBLE PRECISION NOT NULL DEFAULT 0
);
