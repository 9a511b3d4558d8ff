//! [`SqliteError`]: what opening, migrating or using the database can fail with.

use agentflow_core::checkpoint::CheckpointError;

/// SQLite's primary result codes this crate tells apart (the low byte of an extended code).
mod code {
    pub const BUSY: i64 = 5;
    pub const LOCKED: i64 = 6;
    pub const CORRUPT: i64 = 11;
    pub const CONSTRAINT: i64 = 19;
    pub const NOTADB: i64 = 26;
    /// `SQLITE_CONSTRAINT_FOREIGNKEY`.
    pub const CONSTRAINT_FOREIGNKEY: i64 = 787;
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`.
    pub const CONSTRAINT_PRIMARYKEY: i64 = 1555;
    /// `SQLITE_CONSTRAINT_UNIQUE`.
    pub const CONSTRAINT_UNIQUE: i64 = 2067;
}

/// An error of the SQLite saver.
///
/// The [`Checkpointer`](agentflow_core::checkpoint::Checkpointer) methods report these as
/// [`CheckpointError::Backend`] (with `retryable` set for [`SqliteError::Busy`] and lost
/// connections); fencing conflicts and missing checkpoints are reported as
/// [`CheckpointError::Conflict`] and [`CheckpointError::NotFound`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The database could not be opened or connected to.
    #[error("cannot open SQLite database `{target}`: {source}")]
    Open {
        /// The path or URL.
        target: String,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// The file is not a SQLite database, or it is damaged.
    #[error(
        "`{target}` is not a usable SQLite database (corrupt, truncated, encrypted or not a \
         database file): {source}"
    )]
    Corrupt {
        /// The path or URL.
        target: String,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// The database was migrated by a newer version of this crate.
    #[error(
        "the database schema is at version {found}, newer than this agentflow-sqlite supports \
         ({supported}); upgrade agentflow-sqlite, or use another database file"
    )]
    SchemaTooNew {
        /// The version the database is at.
        found: i64,
        /// The newest version this crate knows.
        supported: i64,
    },
    /// A migration failed; it was rolled back.
    #[error("migration {version} (`{name}`) failed and was rolled back: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// Another connection held the write lock for longer than the busy timeout. Retrying may
    /// succeed.
    #[error(
        "the database is busy: another process is writing this database/thread and held its \
         lock longer than the busy timeout; retry ({source})"
    )]
    Busy {
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// Any other database error.
    #[error("SQLite error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored row could not be decoded.
    #[error("stored {what} is malformed: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be encoded for storage.
    #[error("cannot store {what}: {message}")]
    Invalid {
        /// What was being stored.
        what: &'static str,
        /// Why it cannot be.
        message: String,
    },
}

impl SqliteError {
    /// True when retrying the operation may succeed (a busy database, a lost connection).
    pub fn is_retryable(&self) -> bool {
        match self {
            SqliteError::Busy { .. } => true,
            SqliteError::Database(e) => matches!(
                e,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for SqliteError {
    fn from(e: sqlx::Error) -> Self {
        if is_busy(&e) {
            SqliteError::Busy { source: e }
        } else {
            SqliteError::Database(e)
        }
    }
}

impl From<SqliteError> for CheckpointError {
    fn from(e: SqliteError) -> Self {
        if let SqliteError::Busy { .. } = &e {
            tracing::warn!(error = %e, "agentflow-sqlite: database busy");
        }
        CheckpointError::Backend {
            retryable: e.is_retryable(),
            source: Box::new(e),
        }
    }
}

/// A database error as a [`CheckpointError`].
pub(crate) fn db(e: sqlx::Error) -> CheckpointError {
    SqliteError::from(e).into()
}

/// The extended result code of a database error.
fn extended_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    }
}

fn primary_code(e: &sqlx::Error) -> Option<i64> {
    extended_code(e).map(|c| c & 0xff)
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended form).
pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    matches!(primary_code(e), Some(code::BUSY | code::LOCKED))
}

/// A unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(
        extended_code(e),
        Some(code::CONSTRAINT_UNIQUE | code::CONSTRAINT_PRIMARYKEY)
    )
}

/// A foreign-key violation.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    extended_code(e) == Some(code::CONSTRAINT_FOREIGNKEY)
        || (primary_code(e) == Some(code::CONSTRAINT)
            && matches!(e, sqlx::Error::Database(db) if db.message().contains("FOREIGN KEY")))
}

/// The file is not a database or is damaged.
pub(crate) fn is_corrupt(e: &sqlx::Error) -> bool {
    matches!(primary_code(e), Some(code::CORRUPT | code::NOTADB))
}
