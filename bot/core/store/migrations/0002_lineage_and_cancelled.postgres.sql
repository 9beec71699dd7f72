-- 2 (PostgreSQL, ids BIGINT): lineage (a Rewrite's or Again's parent), kept inputs, and the `cancelled` status.
ALTER TABLE tasks ADD COLUMN parent_task_id BIGINT REFERENCES tasks (id);
ALTER TABLE tasks ADD COLUMN parent_output INTEGER;
ALTER TABLE tasks ADD COLUMN input_sha256 TEXT;
DROP INDEX tasks_active_by_user;
CREATE INDEX tasks_active_by_user ON tasks (user_id)
    WHERE status NOT IN ('delivered', 'failed', 'cancelled');
CREATE INDEX tasks_by_user ON tasks (user_id, id);
CREATE INDEX tasks_by_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_by_input ON tasks (input_sha256) WHERE input_sha256 IS NOT NULL;
