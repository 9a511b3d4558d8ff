//! Embedded, versioned migrations with a small runner of our own.
//!
//! The runner takes SQLite's write lock first (`BEGIN IMMEDIATE`), then reads the applied
//! version from `agentflow_migrations`, applies what is missing and records it, all in one
//! transaction. Two processes opening a new database at once therefore serialize: the second
//! waits for the lock (up to the busy timeout), then finds the schema current.

use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor, Row, SqlitePool};

use crate::error::{SqliteError, is_busy, is_corrupt};

/// One migration: applied in `version` order, each exactly once.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "intents",
        sql: include_str!("../migrations/0002_intents.sql"),
    },
];

/// The schema version this crate writes.
pub const SCHEMA_VERSION: i64 = 2;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS agentflow_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Classifies an error met while opening `target`.
pub(crate) fn open_error(target: &str, e: sqlx::Error) -> SqliteError {
    if is_corrupt(&e) {
        SqliteError::Corrupt {
            target: target.to_owned(),
            source: e,
        }
    } else if is_busy(&e) {
        SqliteError::Busy { source: e }
    } else {
        SqliteError::Open {
            target: target.to_owned(),
            source: e,
        }
    }
}

/// Switches the database to WAL. The switch needs an exclusive lock that SQLite's busy handler
/// does not wait for, so a busy database is retried here for up to `patience`.
pub(crate) async fn enable_wal(
    conn: &mut SqliteConnection,
    target: &str,
    patience: Duration,
) -> Result<(), SqliteError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(5);
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(mode) => {
                if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
                    tracing::warn!(%target, %mode, "agentflow-sqlite: could not switch to WAL");
                }
                return Ok(());
            }
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                tracing::debug!(%target, "agentflow-sqlite: database busy while enabling WAL; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(open_error(target, e)),
        }
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`], in one `BEGIN IMMEDIATE` transaction.
pub(crate) async fn migrate(pool: &SqlitePool, target: &str) -> Result<(), SqliteError> {
    let mut conn = pool.acquire().await.map_err(|e| open_error(target, e))?;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| open_error(target, e))?;
    sqlx::query(CREATE_TABLE)
        .execute(&mut *tx)
        .await
        .map_err(|e| open_error(target, e))?;
    let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM agentflow_migrations")
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("v"))
        .map_err(|e| open_error(target, e))?;
    if applied > SCHEMA_VERSION {
        return Err(SqliteError::SchemaTooNew {
            found: applied,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        let failed = |source| SqliteError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        // Several statements: SQLite runs them one after another.
        (&mut *tx).execute(migration.sql).await.map_err(failed)?;
        sqlx::query("INSERT INTO agentflow_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::saver::now_ms())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tracing::info!(
            %target,
            version = migration.version,
            name = migration.name,
            "agentflow-sqlite: applied migration"
        );
    }
    tx.commit().await.map_err(|e| open_error(target, e))?;
    Ok(())
}
