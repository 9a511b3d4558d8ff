//! Read-only SQL tools for PostgreSQL and SQLite (feature `sql`), for a data-specialist agent.
//!
//! - [`SqlDatabase`]: a PostgreSQL or SQLite pool with its dialect and [`SqlConfig`] (row,
//!   byte and time limits, the [`TableAccess`] allowlist); runs queries and lists the schema.
//! - [`check`]: the syntactic half of the guard on its own (PostgreSQL's own parser: one
//!   `SELECT`/`WITH`/`VALUES`/`EXPLAIN` statement, nothing that writes or locks, functions from
//!   an allow-list), returning the tables the query reads. The rest of the guard resolves
//!   names in the database (SQLite: reads SQLite's compiled program) when the query runs.
//! - [`QueryTool`] (`sql_query`), [`SchemaTool`] (`sql_schema`), [`register`]: the tools.
//! - [`SqlError`]: refusals and failures, convertible into [`ToolError`](crate::ToolError).
//!
//! Read-only by construction, in layers that each refuse writes on their own: the guard,
//! which checks the database's own reading of the very text that runs; a `READ ONLY` transaction, always rolled back, with `statement_timeout` and
//! `lock_timeout` (PostgreSQL) or a read-only connection with `PRAGMA query_only` and an
//! interrupting deadline (SQLite); and the database role's privileges. Results are read
//! through a cursor (PostgreSQL) or a stream (SQLite) and stop after the row limit, so a
//! query over millions of rows costs no more than the rows returned.
//!
//! ```no_run
//! use agentflow_tools::ToolRegistry;
//! use agentflow_tools::sql::{self, SqlDatabase};
//!
//! # async fn demo() -> Result<(), agentflow_tools::sql::SqlError> {
//! let db = SqlDatabase::connect_sqlite("shop.db").await?;
//! let mut tools = ToolRegistry::new();
//! sql::register(&mut tools, db);
//! assert_eq!(tools.names().collect::<Vec<_>>(), ["sql_query", "sql_schema"]);
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/backends/sql.md` for the database role to use and the limits.

#[cfg(test)]
mod bypass_tests;
mod config;
mod database;
mod error;
mod exec;
mod guard;
mod pg_bounded;
mod schema;
mod session;
#[cfg(test)]
mod session_tests;
mod sqlite_limits;
mod tools;
mod value;

pub use config::{
    DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_CELL_CHARS, DEFAULT_MAX_ROW_BYTES, DEFAULT_MAX_ROWS,
    DEFAULT_MAX_ROWS_LIMIT, DEFAULT_STATEMENT_TIMEOUT, SqlConfig, SqlDialect, TableAccess,
};
pub use database::SqlDatabase;
pub use error::SqlError;
pub use exec::{ColumnInfo, QueryResult};
pub use guard::{CheckedQuery, TableRef, check};
pub use schema::{ColumnSchema, SchemaInfo, TableInfo};
pub use tools::{QueryArgs, QueryTool, SchemaArgs, SchemaTool, register, tools};
