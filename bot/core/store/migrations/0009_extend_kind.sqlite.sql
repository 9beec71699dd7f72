-- 9: a third kind of song, `extend` (/extend and the Extend buttons).
-- SQLite can't alter a CHECK constraint; its documented way to loosen one
-- (https://www.sqlite.org/lang_altertable.html#otheralter) is to edit the table's stored
-- definition in place: every existing row already satisfies the wider CHECK, and no table
-- is rebuilt, so nothing that references tasks (quota_charges cascades) is touched.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
    SET sql = replace(sql, 'CHECK (kind IN (''sing'', ''inpaint''))',
                      'CHECK (kind IN (''sing'', ''inpaint'', ''extend''))')
    WHERE type = 'table' AND name = 'tasks';
PRAGMA writable_schema = RESET;
