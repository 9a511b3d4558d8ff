//! PostgreSQL and SQLite checkpointers and the long-term memory store (issue #4; not built yet).
