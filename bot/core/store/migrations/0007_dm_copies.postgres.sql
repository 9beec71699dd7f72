-- 7 (PostgreSQL, Discord ids BIGINT): /notify: a member's choice of a DM copy of their songs, and each task's copy (wanted
-- when the task is delivered, then claimed, then sent or refused; `notify.CopyState`).
CREATE TABLE member_preferences (
    user_id BIGINT PRIMARY KEY,
    dm_copies INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);
ALTER TABLE tasks ADD COLUMN dm_state TEXT;
ALTER TABLE tasks ADD COLUMN dm_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN dm_message_id BIGINT;
CREATE INDEX tasks_dm_unfinished ON tasks (id) WHERE dm_state IN ('pending', 'sending');
