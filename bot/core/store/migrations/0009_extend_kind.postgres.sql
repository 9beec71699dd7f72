-- 9 (PostgreSQL): a third kind of song, `extend` (/extend and the Extend buttons). The
-- CHECK is named in 0001's PostgreSQL variant, so it is replaced by name.
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check,
    ADD CONSTRAINT tasks_kind_check CHECK (kind IN ('sing', 'inpaint', 'extend'));
