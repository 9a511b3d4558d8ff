//! Errors of the PostgreSQL backend, and how database errors map to checkpoint errors.

use agentflow_core::checkpoint::CheckpointError;

/// Setting up the backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The schema name is not a plain identifier.
    #[error(
        "invalid schema name `{0}`: use lowercase letters, digits and underscores, starting with a letter"
    )]
    InvalidSchema(String),
    /// The database has migrations this version does not know (a newer release wrote it).
    #[error(
        "schema `{schema}` is at migration {found}, newer than this release knows ({known}); \
         upgrade agentflow-postgres"
    )]
    NewerSchema {
        /// The schema.
        schema: String,
        /// The newest migration applied.
        found: i64,
        /// The newest migration this release has.
        known: i64,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// SQLSTATE codes this backend acts on.
pub(crate) mod sqlstate {
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK: &str = "40P01";
    /// Class 08: connection exceptions; 57P01..03: admin shutdown, crash shutdown, cannot connect.
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CRASH_SHUTDOWN: &str = "57P02";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    /// A statement cancelled: by the statement timeout, or by an administrator.
    pub const QUERY_CANCELED: &str = "57014";
}

/// What a failed statement means for a checkpoint operation.
pub(crate) fn classify(error: sqlx::Error, thread_id: &str, checkpoint: Option<&str>) -> CheckpointError {
    if let sqlx::Error::Database(db) = &error {
        match db.code().as_deref() {
            Some(sqlstate::UNIQUE_VIOLATION) => {
                return CheckpointError::Conflict {
                    thread_id: thread_id.to_owned(),
                    parent: checkpoint.map(str::to_owned),
                };
            }
            Some(sqlstate::FOREIGN_KEY_VIOLATION) => {
                return CheckpointError::NotFound {
                    thread_id: thread_id.to_owned(),
                    checkpoint_id: checkpoint.unwrap_or_default().to_owned(),
                };
            }
            _ => {}
        }
    }
    let retryable = is_transient(&error);
    CheckpointError::Backend {
        retryable,
        source: Box::new(error),
    }
}

/// Errors that may go away by trying again: lost connections, a restarting server, pool
/// exhaustion, serialization failures, a statement cancelled by the statement timeout (say,
/// while a lock was held).
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            code.starts_with("08")
                || matches!(
                    code,
                    sqlstate::SERIALIZATION_FAILURE
                        | sqlstate::DEADLOCK
                        | sqlstate::ADMIN_SHUTDOWN
                        | sqlstate::CRASH_SHUTDOWN
                        | sqlstate::CANNOT_CONNECT_NOW
                        | sqlstate::QUERY_CANCELED
                )
        }
        _ => false,
    }
}
