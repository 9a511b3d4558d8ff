-- agentflow-sqlite schema, version 1.

-- One row per checkpoint. `checkpoint` is the checkpoint as JSON without its field values;
-- `channel_refs` maps each field to the blob holding its value: {"field": [version, origin]}.
-- `extends` is the fencing key: the parent id for a PutMode::Extend put, '' for a thread's first
-- checkpoint, NULL for a fork. The partial unique index below makes "extended twice" a
-- constraint violation, so fencing holds across processes.
CREATE TABLE checkpoints (
    thread_id     TEXT    NOT NULL,
    ns            TEXT    NOT NULL,
    checkpoint_id TEXT    NOT NULL,
    parent_id     TEXT,
    extends       TEXT,
    checkpoint    TEXT    NOT NULL,
    metadata      TEXT    NOT NULL,
    channel_refs  TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (thread_id, ns, checkpoint_id)
);

CREATE UNIQUE INDEX checkpoints_fence
    ON checkpoints (thread_id, ns, extends)
    WHERE extends IS NOT NULL;

CREATE INDEX checkpoints_by_id ON checkpoints (checkpoint_id);

-- Field values, stored once per (field, version). `origin` is the checkpoint that first stored
-- the value; it tells apart two branches of a forked thread that reached the same version
-- number with different values. A delta (the items an append field gained) names the value it
-- extends in (base_version, base_origin); a full value has NULL there.
CREATE TABLE blobs (
    thread_id    TEXT    NOT NULL,
    ns           TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    origin       TEXT    NOT NULL,
    blob         BLOB    NOT NULL,
    base_version INTEGER,
    base_origin  TEXT,
    PRIMARY KEY (thread_id, ns, channel, version, origin),
    CHECK ((base_version IS NULL) = (base_origin IS NULL))
);

-- Pending writes of a checkpoint, upserted by (task_id, idx).
CREATE TABLE writes (
    thread_id     TEXT    NOT NULL,
    ns            TEXT    NOT NULL,
    checkpoint_id TEXT    NOT NULL,
    task_id       TEXT    NOT NULL,
    idx           INTEGER NOT NULL,
    task_path     TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    blob          BLOB    NOT NULL,
    PRIMARY KEY (thread_id, ns, checkpoint_id, task_id, idx),
    FOREIGN KEY (thread_id, ns, checkpoint_id)
        REFERENCES checkpoints (thread_id, ns, checkpoint_id) ON DELETE CASCADE
);
