-- 3: uploaded inputs kept after submit (for Again), one row per distinct content.
CREATE TABLE inputs (
    sha256 TEXT PRIMARY KEY,
    extension TEXT NOT NULL,
    size INTEGER NOT NULL,
    kept_at REAL NOT NULL,
    last_used_at REAL NOT NULL
);
CREATE INDEX inputs_by_last_use ON inputs (last_used_at);
