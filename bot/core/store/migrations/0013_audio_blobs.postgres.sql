-- 13 (PostgreSQL): audio bytes in the database, so any process can send a queued upload or
-- an input kept for Again (issue 21). One head row per distinct content (sha256), its bytes
-- in ordered chunks of at most 1 MB: no single value near the upload limit, and a reader
-- holds one chunk at a time. A blob is written in one transaction with its chunks, so a
-- head row always has all its bytes. `stored_at`: the last time an intake stored (or found)
-- it, so a blob whose task row is about to be written is not swept as unused meanwhile.
-- A task names its blob by `tasks.input_sha256` (indexed since 0002).
CREATE TABLE audio_blobs (
    sha256 TEXT PRIMARY KEY,
    extension TEXT NOT NULL,
    size BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE audio_chunks (
    sha256 TEXT NOT NULL REFERENCES audio_blobs (sha256) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (sha256, seq)
);

-- A waveform picture (bot.core.media.waveform_jobs) as drawn, a few dozen KB, so whichever
-- process draws the task's status message can upload it, not only the one that drew it.
CREATE TABLE waveform_pictures (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    png BYTEA NOT NULL
);
