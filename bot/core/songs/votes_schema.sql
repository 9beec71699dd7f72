-- Votes on takes (issue 22): one row per member per take they 👍, so a vote is counted once
-- and survives restarts; copy-db copies the table like any other. Proposed as the next
-- numbered migration; the same text runs on SQLite and PostgreSQL (BIGINT is an INTEGER in
-- SQLite, DOUBLE PRECISION a REAL; Discord ids fit in a signed 64-bit integer).
CREATE TABLE votes (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    take INTEGER NOT NULL CHECK (take >= 1),
    user_id BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,  -- unix seconds, the store's clock
    PRIMARY KEY (task_id, take, user_id)
);
-- vote_counts reads by task_id, the primary key's first column: no other index is needed.

-- The statements the store would run (placeholders as the repositories write them):
--
-- toggle_vote(task_id, take, user_id), in one transaction; True when the INSERT added a row:
--   DELETE FROM votes WHERE task_id = $1 AND take = $2 AND user_id = $3;
--   -- when that deleted nothing:
--   INSERT INTO votes (task_id, take, user_id, created_at) VALUES ($1, $2, $3, $4)
--       ON CONFLICT (task_id, take, user_id) DO NOTHING;
--   Two clicks of one member racing each other both find nothing to delete; the primary key
--   keeps one row and both are answered "counted", which is what the member sees.
--
-- vote_counts(task_id):
--   SELECT take, COUNT(*) FROM votes WHERE task_id = $1 GROUP BY take;
