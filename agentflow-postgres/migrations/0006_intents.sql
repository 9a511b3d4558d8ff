-- Step intents: one row per journaled step that began its side effect, keyed by the step's
-- idempotency key. `owner` is the run that holds the claim, live until `lease_until` (server
-- time; NULL once given up or completed). `result` is set, with `lease_until` cleared, by the
-- statement that completes the claim.
CREATE TABLE {schema}.intents (
    thread_id   TEXT NOT NULL,
    ns          TEXT NOT NULL DEFAULT '',
    key         TEXT NOT NULL,
    owner       TEXT NOT NULL,
    lease_until TIMESTAMPTZ,
    result      BYTEA,
    attempts    INTEGER NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, ns, key)
);
