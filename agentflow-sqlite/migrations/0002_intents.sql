-- agentflow-sqlite schema, version 2: step intents.

-- One row per journaled step that began its side effect, keyed by the step's idempotency key.
-- `owner` is the run that holds the claim; the claim is live until `lease_until` (ms since the
-- Unix epoch; NULL once given up or completed). `result` is set, with `lease_until` cleared, in
-- the same statement that completes the claim.
CREATE TABLE intents (
    thread_id   TEXT    NOT NULL,
    ns          TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    lease_until INTEGER,
    result      BLOB,
    attempts    INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (thread_id, ns, key)
);
