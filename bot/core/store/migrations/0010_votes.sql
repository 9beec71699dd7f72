-- 10: votes on takes (issue 22): one row per member per take they 👍, so a vote is counted
-- once and survives restarts. The same text runs on SQLite and PostgreSQL (BIGINT is an
-- INTEGER in SQLite, DOUBLE PRECISION a REAL; Discord ids fit in a signed 64-bit integer).
-- vote_counts reads by task_id, the primary key's first column: no other index is needed.
CREATE TABLE votes (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    take INTEGER NOT NULL CHECK (take >= 1),
    user_id BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (task_id, take, user_id)
);

-- The result messages whose buttons show a song's votes: when a vote last changed and when
-- the message last showed the counts, so a restart redraws the ones a stopped bot left behind.
CREATE TABLE vote_messages (
    message_id BIGINT PRIMARY KEY,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    changed_at DOUBLE PRECISION NOT NULL,
    shown_at DOUBLE PRECISION
);
