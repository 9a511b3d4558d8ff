//! SQLite persistence for agentflow: [`SqliteSaver`], a
//! [`Checkpointer`](agentflow_core::checkpoint::Checkpointer) on one database file.
//!
//! ```no_run
//! use agentflow_sqlite::SqliteSaver;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let saver = SqliteSaver::open("agent.db").await?; // created if missing, schema migrated
//! // let graph = builder.compile()?.with_checkpointer(saver);
//! # Ok(()) }
//! ```
//!
//! # Schema and migrations
//!
//! Four tables (`checkpoints`, `blobs`, `writes`, and `intents` for the claims of journaled
//! steps) and `agentflow_migrations`, which records the schema version. Migrations are embedded and applied when a saver opens the database, in one
//! `BEGIN IMMEDIATE` transaction, so processes opening a new database at once are safe. A
//! database migrated by a newer version of this crate is refused
//! ([`SqliteError::SchemaTooNew`]) rather than misread; a damaged file or one that is not a
//! database is reported as [`SqliteError::Corrupt`].
//!
//! # Several processes
//!
//! The database runs in WAL mode: readers do not block the writer. Writes take SQLite's write
//! lock at their start and wait for another process's transaction up to the busy timeout
//! (5 s by default), then fail with a retryable error. Fencing is a unique index: of two
//! writers extending one checkpoint, in one process or several, exactly one commits and the
//! other gets [`CheckpointError::Conflict`](agentflow_core::checkpoint::CheckpointError::Conflict).
//! The same holds for a run forking one checkpoint twice, and for two runners claiming one
//! journaled step ([`Checkpointer::claim_intent`](agentflow_core::checkpoint::Checkpointer::claim_intent)):
//! each claim is one write transaction.
#![warn(missing_docs)]

mod error;
mod intents;
mod migrate;
mod saver;

pub use error::SqliteError;
pub use migrate::SCHEMA_VERSION;
pub use saver::{DEFAULT_BUSY_TIMEOUT, SqliteSaver};
/// The sqlx version this crate uses (for [`SqliteSaver::from_options`] and
/// [`SqliteSaver::from_pool`]).
pub use sqlx;

/// The constructors' futures can be spawned: a compile-time check.
#[cfg(test)]
mod send_checks {
    fn is_send<T: Send>(_: T) {}

    #[allow(dead_code)]
    fn constructors_are_send(pool: sqlx::SqlitePool) {
        is_send(crate::SqliteSaver::open("x"));
        is_send(crate::SqliteSaver::connect("sqlite://x"));
        is_send(crate::SqliteSaver::in_memory());
        is_send(crate::SqliteSaver::from_options(crate::SqliteSaver::options("x")));
        is_send(crate::SqliteSaver::from_pool(pool));
    }
}
