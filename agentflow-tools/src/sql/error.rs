//! [`SqlError`]: why a query was refused or failed, and how each failure maps onto
//! [`ToolError`] (fix the query, retry later, or give up).

use std::time::Duration;

use crate::tool::ToolError;

/// A refused or failed SQL call.
///
/// Convert it with `ToolError::from` (or `?` in a tool):
///
/// - refusals of the read-only guard and errors in the query itself (syntax, unknown column,
///   division by zero, a write refused by the database) become [`ToolError::InvalidArguments`],
///   with a message that tells the model what to change;
/// - an unavailable database, a lock timeout, a serialization failure become
///   [`ToolError::Retryable`];
/// - a statement timeout, a permission error and anything else become [`ToolError::Terminal`]
///   (running the same query again cannot help).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is empty (or only comments).
    #[error("the SQL is empty: send one SELECT query")]
    Empty,
    /// The SQL parser could not read the text.
    #[error("the SQL could not be parsed ({0}); send one valid SELECT query")]
    Parse(String),
    /// More than one statement (`SELECT 1; DROP TABLE t`).
    #[error(
        "only one statement is allowed, got {0}; send a single SELECT query without `;` between statements"
    )]
    MultipleStatements(usize),
    /// The statement, or a clause in it, would write, lock or change the session.
    #[error(
        "only read-only queries are allowed (SELECT, WITH ... SELECT, VALUES, EXPLAIN without ANALYZE): {0}"
    )]
    NotReadOnly(String),
    /// A call to a function outside the allow-list (built-in functions that only compute a
    /// value from their arguments, plus `SqlConfig::allow_function`): `pg_sleep`, `set_config`,
    /// `pg_advisory_lock`, `dblink`, `load_extension`, a user function…
    #[error(
        "function {0}() is not allowed: only built-in functions that compute a value from their arguments \
         (aggregates, string, math, date/time, JSON, arrays) may be called"
    )]
    DeniedFunction(String),
    /// A table, view or table function the configured allowlist does not include.
    #[error("{0} is not readable by this tool; the sql_schema tool lists the tables you may query")]
    TableNotAllowed(String),
    /// A table that does not exist (or is not visible to the tool's database role).
    #[error("table {0} does not exist; the sql_schema tool lists the tables you may query")]
    UnknownTable(String),
    /// Syntax the guard does not analyse (constructs of other SQL dialects), refused rather than
    /// trusted.
    #[error("unsupported syntax: {0}")]
    Unsupported(String),
    /// The database itself refused a write (the read-only transaction or connection): a
    /// function or view the query called tried to modify data.
    #[error("the database refused a write ({0}); only read-only queries are allowed")]
    ReadOnlyViolation(String),
    /// The statement ran longer than the statement timeout and was cancelled. Retrying the same
    /// query would time out again.
    #[error(
        "the query was cancelled after {} ms (statement timeout); it is too expensive: filter with WHERE, \
         aggregate, add LIMIT or avoid cross joins, and do not retry it unchanged",
        .0.as_millis()
    )]
    Timeout(Duration),
    /// The database rejected the query (syntax, unknown column, wrong types, division by zero):
    /// the model can fix it. The message is the database's, with its hint when it gave one.
    #[error("the query failed: {0}")]
    Query(String),
    /// The tool's database role may not read something the query touches.
    #[error("permission denied: {0}; query only the tables the sql_schema tool lists")]
    PermissionDenied(String),
    /// The database could not be reached (connection refused or lost, pool exhausted).
    #[error("the database is unavailable: {0}")]
    Connection(String),
    /// A transient failure (lock timeout, serialization failure, deadlock, server shutting down).
    #[error("transient database failure: {0}")]
    Transient(String),
    /// The run was cancelled while the query ran.
    #[error("the query was cancelled")]
    Cancelled,
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
    /// The database could not be set up (an invalid URL or option).
    #[error("invalid SQL backend configuration: {0}")]
    Config(String),
}

impl From<SqlError> for ToolError {
    fn from(e: SqlError) -> Self {
        let message = e.to_string();
        match e {
            SqlError::Empty
            | SqlError::Parse(_)
            | SqlError::MultipleStatements(_)
            | SqlError::NotReadOnly(_)
            | SqlError::DeniedFunction(_)
            | SqlError::TableNotAllowed(_)
            | SqlError::UnknownTable(_)
            | SqlError::Unsupported(_)
            | SqlError::ReadOnlyViolation(_)
            | SqlError::Query(_) => ToolError::InvalidArguments(message),
            SqlError::Connection(_) | SqlError::Transient(_) => ToolError::retryable(message),
            SqlError::Timeout(_)
            | SqlError::PermissionDenied(_)
            | SqlError::Cancelled
            | SqlError::Database(_)
            | SqlError::Config(_) => ToolError::terminal(message),
        }
    }
}

impl SqlError {
    /// Classifies an error of sqlx by its SQLSTATE (PostgreSQL) or result code (SQLite).
    /// `timeout` is the statement timeout in force, for the message.
    pub(crate) fn from_sqlx(e: sqlx::Error, timeout: Duration) -> Self {
        match e {
            sqlx::Error::Database(db) => {
                let message = db.message().to_owned();
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    let full = match pg.hint() {
                        Some(hint) => format!("{message} (hint: {hint})"),
                        None => message,
                    };
                    return from_sqlstate(&code, full, timeout);
                }
                from_sqlite_code(&code, message, timeout)
            }
            sqlx::Error::Io(e) => SqlError::Connection(e.to_string()),
            sqlx::Error::Tls(e) => SqlError::Connection(e.to_string()),
            sqlx::Error::PoolTimedOut => {
                SqlError::Connection("no connection available (pool timed out)".into())
            }
            sqlx::Error::PoolClosed => SqlError::Connection("the connection pool is closed".into()),
            sqlx::Error::WorkerCrashed => SqlError::Connection("the SQLite worker thread crashed".into()),
            sqlx::Error::Protocol(p) => SqlError::Connection(format!("protocol error: {p}")),
            other => SqlError::Database(other.to_string()),
        }
    }
}

/// PostgreSQL SQLSTATE classes: <https://www.postgresql.org/docs/current/errcodes-appendix.html>.
fn from_sqlstate(code: &str, message: String, timeout: Duration) -> SqlError {
    match code {
        // query_canceled: only the statement timeout cancels our statements.
        "57014" => SqlError::Timeout(timeout),
        "25006" => SqlError::ReadOnlyViolation(message),
        "42501" => SqlError::PermissionDenied(message),
        // lock_not_available (lock_timeout), serialization_failure, deadlock_detected,
        // too_many_connections, admin/crash shutdown, cannot_connect_now.
        "55P03" | "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" => SqlError::Transient(message),
        _ if code.starts_with("08") => SqlError::Connection(message),
        // Syntax or access rule (42), data exception (22), cardinality (21), feature not
        // supported (0A), invalid cursor/transaction state from the query itself (24, 25),
        // PL/pgSQL raise (P0), program limit (54): all mean "change the query".
        _ if [
            "42", "22", "21", "0A", "24", "25", "P0", "54", "2B", "2F", "38", "39",
        ]
        .iter()
        .any(|class| code.starts_with(class)) =>
        {
            SqlError::Query(message)
        }
        _ => SqlError::Database(format!("{message} (SQLSTATE {code})")),
    }
}

/// SQLite result codes (the primary code is the low byte of an extended code):
/// <https://www.sqlite.org/rescode.html>.
fn from_sqlite_code(code: &str, message: String, timeout: Duration) -> SqlError {
    let Ok(extended) = code.parse::<i32>() else {
        return SqlError::Database(message);
    };
    match extended & 0xff {
        // SQLITE_INTERRUPT: our progress handler stopped the statement at its deadline.
        9 => SqlError::Timeout(timeout),
        // SQLITE_READONLY (read-only connection, `PRAGMA query_only`).
        8 => SqlError::ReadOnlyViolation(message),
        // SQLITE_BUSY, SQLITE_LOCKED.
        5 | 6 => SqlError::Transient(message),
        // SQLITE_AUTH (authorizer).
        23 => SqlError::PermissionDenied(message),
        // SQLITE_CANTOPEN, SQLITE_IOERR.
        14 | 10 => SqlError::Connection(message),
        // SQLITE_ERROR (syntax, no such table/column/function), SQLITE_MISMATCH, SQLITE_RANGE,
        // SQLITE_CONSTRAINT (a CHECK in a generated column…), SQLITE_TOOBIG.
        1 | 20 | 25 | 19 | 18 => SqlError::Query(message),
        _ => SqlError::Database(format!("{message} (SQLite code {extended})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentflow_core::Failure;

    #[test]
    fn maps_onto_tool_errors() {
        let d = Duration::from_millis(1500);
        assert!(matches!(
            ToolError::from(SqlError::NotReadOnly("x".into())),
            ToolError::InvalidArguments(_)
        ));
        assert!(ToolError::from(SqlError::Connection("down".into())).is_retryable());
        assert!(ToolError::from(SqlError::Transient("lock".into())).is_retryable());
        let timeout = ToolError::from(SqlError::Timeout(d));
        assert!(
            matches!(&timeout, ToolError::Terminal(m) if m.contains("1500 ms") && m.contains("do not retry"))
        );
        assert_eq!(from_sqlstate("57014", "x".into(), d), SqlError::Timeout(d));
        assert!(matches!(
            from_sqlstate("42P01", "x".into(), d),
            SqlError::Query(_)
        ));
        assert!(matches!(
            from_sqlstate("08006", "x".into(), d),
            SqlError::Connection(_)
        ));
        assert!(matches!(
            from_sqlstate("XX000", "x".into(), d),
            SqlError::Database(_)
        ));
        assert!(matches!(
            from_sqlite_code("264", "x".into(), d),
            SqlError::ReadOnlyViolation(_)
        ));
        assert_eq!(from_sqlite_code("9", "x".into(), d), SqlError::Timeout(d));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            SqlError::from_sqlx(sqlx::Error::Io(refused), d),
            SqlError::Connection(_)
        ));
        assert!(ToolError::from(SqlError::from_sqlx(sqlx::Error::PoolTimedOut, d)).is_retryable());
    }
}
