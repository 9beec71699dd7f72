-- 3 (PostgreSQL): uploaded inputs kept after submit (for Again), one row per distinct content.
CREATE TABLE inputs (
    sha256 TEXT PRIMARY KEY,
    extension TEXT NOT NULL,
    size BIGINT NOT NULL,
    kept_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX inputs_by_last_use ON inputs (last_used_at);
