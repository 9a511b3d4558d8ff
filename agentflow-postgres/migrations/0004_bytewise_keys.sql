-- Keys compare bytewise. Ids are ASCII, and a locale collation costs every index comparison
-- (PostgreSQL before 17 treats even C.UTF-8 as a locale). Only the indexes are rebuilt; no
-- row is rewritten. Ordering of checkpoint ids (UUIDv7 strings) is unchanged.
ALTER TABLE {schema}.checkpoints
    ALTER COLUMN thread_id TYPE TEXT COLLATE "C",
    ALTER COLUMN ns TYPE TEXT COLLATE "C",
    ALTER COLUMN checkpoint_id TYPE TEXT COLLATE "C",
    ALTER COLUMN parent_id TYPE TEXT COLLATE "C",
    ALTER COLUMN extends TYPE TEXT COLLATE "C";
ALTER TABLE {schema}.blobs
    ALTER COLUMN thread_id TYPE TEXT COLLATE "C",
    ALTER COLUMN ns TYPE TEXT COLLATE "C",
    ALTER COLUMN channel TYPE TEXT COLLATE "C";
ALTER TABLE {schema}.writes
    ALTER COLUMN thread_id TYPE TEXT COLLATE "C",
    ALTER COLUMN ns TYPE TEXT COLLATE "C",
    ALTER COLUMN checkpoint_id TYPE TEXT COLLATE "C",
    ALTER COLUMN task_id TYPE TEXT COLLATE "C";
