//! # agentflow-postgres
//!
//! PostgreSQL persistence for agentflow, over a sqlx [`PgPool`](sqlx::PgPool):
//!
//! - [`PostgresSaver`]: a [`Checkpointer`](agentflow_core::checkpoint::Checkpointer) with no
//!   global lock, one statement (one commit) per superstep, writer fencing enforced by a unique
//!   index, versioned field values (unchanged fields are never rewritten; values of a few bytes
//!   ride in the checkpoint row), retention (prune, TTL sweep) and thread copies, and the
//!   fenced claims of journaled steps (one upsert per claim, leases in server time);
//! - [`PostgresStore`]: a long-term memory [`Store`](agentflow_core::store::Store) (namespaced
//!   JSON items, metadata filters, full-text and cosine-ranked search, TTL);
//! - embedded, versioned migrations ([`PostgresSaver::migrate`]) that are safe when several
//!   processes start at once.
//!
//! On a pool shared with the rest of an application, the saver and the store together hold at
//! most all but a quarter of its connections (at least one is left to others), and each of
//! their statements runs under a statement timeout ([`DEFAULT_STATEMENT_TIMEOUT`], set on the
//! session and reset before a connection goes back to the pool). Damaged stored data is a
//! [`CheckpointError::Corrupt`](agentflow_core::checkpoint::CheckpointError::Corrupt), never a
//! panic or an endless query.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod database;
mod error;
mod inline;
mod intents;
mod migrate;
mod read;
mod saver;
mod share;
pub mod store;
mod vector;
mod warm;

pub use agentflow_core::checkpoint::DEFAULT_LIST_LIMIT;
pub use database::DEFAULT_STATEMENT_TIMEOUT;
pub use error::PostgresError;
pub use saver::PostgresSaver;
/// The sqlx version this crate uses (for the [`PgPool`](sqlx::PgPool) that
/// [`PostgresSaver`] and [`PostgresStore`] are built from).
pub use sqlx;
pub use store::PostgresStore;
