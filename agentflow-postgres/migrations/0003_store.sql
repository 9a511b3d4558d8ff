-- Long-term memory (`PostgresStore`): JSON documents under a namespace ('.'-joined labels) and a
-- key, like LangGraph's `store` table, with the text index and the embedding on the row.
CREATE TABLE {schema}.store (
    prefix     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ,
    -- to_tsvector('simple', ...) of the value's indexed strings (all of them, or the fields the
    -- put named), computed at write time.
    search     TSVECTOR NOT NULL DEFAULT ''::tsvector,
    -- Ranked by cosine similarity in plain SQL (pgvector is optional).
    embedding  FLOAT8[],
    PRIMARY KEY (prefix, key)
);
-- Namespace-prefix searches and listings (LIKE 'prefix.%').
CREATE INDEX store_prefix ON {schema}.store (prefix text_pattern_ops);
-- Text queries.
CREATE INDEX store_search ON {schema}.store USING gin (search);
-- Equality filters (value @> pattern narrows before the exact comparison).
CREATE INDEX store_value ON {schema}.store USING gin (value jsonb_path_ops);
-- TTL sweeps.
CREATE INDEX store_expires ON {schema}.store (expires_at) WHERE expires_at IS NOT NULL;
