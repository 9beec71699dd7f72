-- 4 (PostgreSQL, a thread id is a Discord id: BIGINT): a thread per song: asked for, then opened (its id) or refused (why), never both.
ALTER TABLE tasks ADD COLUMN thread_wanted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN thread_id BIGINT;
ALTER TABLE tasks ADD COLUMN thread_refusal TEXT;
CREATE INDEX tasks_thread_undecided ON tasks (id)
    WHERE thread_wanted = 1 AND thread_id IS NULL AND thread_refusal IS NULL;
