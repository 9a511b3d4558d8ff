-- Checkpoints: one row per checkpoint; field values live in `blobs`, by version.
CREATE TABLE {schema}.checkpoints (
    thread_id     TEXT NOT NULL,
    ns            TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_id     TEXT,
    -- The checkpoint this one extends as a line of history ('' for a thread's first), NULL for
    -- forks. Unique per thread: a second writer extending the same checkpoint is refused.
    extends       TEXT,
    checkpoint    JSONB NOT NULL,
    metadata      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, ns, checkpoint_id)
    -- No foreign key to the parent: the saver checks it with an index lookup in the same
    -- statement, which costs a fraction of a foreign-key trigger on every commit.
);
CREATE UNIQUE INDEX checkpoints_fence ON {schema}.checkpoints (thread_id, ns, extends)
    WHERE extends IS NOT NULL;
-- No index on metadata or created_at: list filters within a thread (the primary key's prefix),
-- and the TTL sweep is occasional; every index costs each superstep's commit.

-- Field values: written once per (field, version), never rewritten.
CREATE TABLE {schema}.blobs (
    thread_id TEXT NOT NULL,
    ns        TEXT NOT NULL DEFAULT '',
    channel   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    blob      BYTEA NOT NULL,
    PRIMARY KEY (thread_id, ns, channel, version)
);

-- Pending writes of tasks, against the checkpoint of their superstep.
CREATE TABLE {schema}.writes (
    thread_id     TEXT NOT NULL,
    ns            TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    idx           BIGINT NOT NULL,
    task_path     TEXT NOT NULL DEFAULT '',
    channel       TEXT NOT NULL,
    blob          BYTEA NOT NULL,
    PRIMARY KEY (thread_id, ns, checkpoint_id, task_id, idx)
    -- Checked by the saver, not a foreign key (see above); deleted with their checkpoint.
);
