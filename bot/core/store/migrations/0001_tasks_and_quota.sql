-- 1: tasks, their quota charges, and a few bot-wide values.
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('sing', 'inpaint')),
    status TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    status_message_id INTEGER,
    prompt TEXT NOT NULL,
    lyrics TEXT,
    gender TEXT,
    audio_url TEXT,
    audio_path TEXT,
    audio_filename TEXT,
    audio_duration REAL,
    replace_start REAL,
    replace_end REAL,
    lyrics_section_to_replace TEXT,
    num_outputs INTEGER NOT NULL DEFAULT 2,
    upload_limit INTEGER,
    musicgpt_task_id TEXT UNIQUE,
    conversion_ids TEXT NOT NULL DEFAULT '[]',
    eta_seconds INTEGER,
    credit_estimate REAL,
    cost REAL,
    outputs TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    delivered_message_ids TEXT NOT NULL DEFAULT '[]',
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_seen INTEGER NOT NULL DEFAULT 0,
    poll_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    submitted_at REAL,
    completed_at REAL,
    finished_at REAL,
    next_poll_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX tasks_by_status ON tasks (status, id);
CREATE INDEX tasks_active_by_user ON tasks (user_id)
    WHERE status NOT IN ('delivered', 'failed');
CREATE INDEX tasks_poll_due ON tasks (next_poll_at) WHERE status = 'submitted';

CREATE TABLE quota_charges (
    task_id INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    charged_at REAL NOT NULL,
    refunded_at REAL
);
CREATE INDEX quota_by_user_day ON quota_charges (user_id, day);

CREATE TABLE bot_values (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
