//! [`SqlDatabase`]: a PostgreSQL or SQLite pool, its dialect and limits; the entry point of
//! every read-only query.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::CancellationToken;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::time::Instant;

use super::config::{SqlConfig, SqlDialect};
use super::error::SqlError;
use super::exec::{self, QueryResult};
use super::guard::check_with;
use super::schema::{self, SchemaInfo};

#[derive(Clone, Debug)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A database the SQL tools read from: a PostgreSQL or SQLite pool, with its dialect and
/// [`SqlConfig`]. Cheap to clone.
///
/// Every query goes through three layers, each of which alone refuses writes: the parser
/// guard ([`check`]), a `READ ONLY` transaction (PostgreSQL) or a read-only connection with
/// `PRAGMA query_only` (SQLite), and the privileges of the database role (see
/// `docs/backends/sql.md`). Rows are bounded by count and bytes, statements by a timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use agentflow_tools::ToolRegistry;
/// use agentflow_tools::sql::{self, SqlConfig, SqlDatabase, TableAccess};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let db = SqlDatabase::connect_postgres("postgres://analyst@db/shop")
///     .await?
///     .with_config(
///         SqlConfig::default()
///             .max_rows(200)
///             .statement_timeout(Duration::from_secs(10))
///             .access(TableAccess::only().schema("sales")),
///     );
///
/// // Directly…
/// let result = db.query("SELECT region, sum(total) FROM sales.orders GROUP BY 1", None).await?;
/// println!("{} rows, truncated: {}", result.row_count, result.truncated);
///
/// // …or as tools for a model: `sql_query` and `sql_schema`.
/// let mut tools = ToolRegistry::new();
/// sql::register(&mut tools, db);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SqlDatabase {
    pool: Pool,
    config: Arc<SqlConfig>,
}

impl SqlDatabase {
    /// Reads through an existing PostgreSQL pool (it may be shared with code that writes:
    /// every call runs in its own `READ ONLY` transaction and leaves the session's settings as
    /// they were). Prefer a pool logged in as a role with `SELECT` privileges only.
    pub fn postgres(pool: PgPool) -> Self {
        SqlDatabase {
            pool: Pool::Postgres(pool),
            config: Arc::default(),
        }
    }

    /// Connects to PostgreSQL at `url` with a small pool of its own, whose sessions also
    /// default to read-only transactions (`default_transaction_read_only`).
    pub async fn connect_postgres(url: &str) -> Result<Self, SqlError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| SqlError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_postgres_with(options).await
    }

    /// [`connect_postgres`](Self::connect_postgres) with explicit options.
    pub async fn connect_postgres_with(options: PgConnectOptions) -> Result<Self, SqlError> {
        let options = options
            .options([("default_transaction_read_only", "on")])
            .application_name("agentflow-sql");
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| SqlError::from_sqlx(e, Duration::ZERO))?;
        Ok(Self::postgres(pool))
    }

    /// Opens the SQLite database file at `path` read-only (it must exist).
    pub async fn connect_sqlite(path: impl AsRef<Path>) -> Result<Self, SqlError> {
        Self::connect_sqlite_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens SQLite with `options`, forced read-only: the file is opened with
    /// `SQLITE_OPEN_READONLY`, every connection runs `PRAGMA query_only = ON`, and no file is
    /// created. (Taking options rather than a pool is deliberate: a pool opened for writing
    /// cannot be made read-only after the fact.)
    pub async fn connect_sqlite_with(options: SqliteConnectOptions) -> Result<Self, SqlError> {
        let options = options
            .read_only(true)
            .create_if_missing(false)
            .pragma("query_only", "ON")
            // Rows the worker thread may read ahead of the caller: few, as each may be large.
            .row_buffer_size(2);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| SqlError::from_sqlx(e, Duration::ZERO))?;
        Ok(SqlDatabase {
            pool: Pool::Sqlite(pool),
            config: Arc::default(),
        })
    }

    /// Replaces the limits and table access rule.
    pub fn with_config(mut self, config: SqlConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The limits and table access rule.
    pub fn config(&self) -> &SqlConfig {
        &self.config
    }

    /// The SQL dialect queries must be written in.
    pub fn dialect(&self) -> SqlDialect {
        match self.pool {
            Pool::Postgres(_) => SqlDialect::Postgres,
            Pool::Sqlite(_) => SqlDialect::Sqlite,
        }
    }

    /// Runs one read-only query and returns at most `max_rows` rows (the configured default
    /// when `None`, never more than the configured limit).
    pub async fn query(&self, sql: &str, max_rows: Option<usize>) -> Result<QueryResult, SqlError> {
        self.query_within(sql, max_rows, None, None).await
    }

    /// [`query`](Self::query), giving up at `deadline` (the statement timeout is shortened to
    /// it) or when `cancellation` fires.
    pub async fn query_within(
        &self,
        sql: &str,
        max_rows: Option<usize>,
        deadline: Option<Instant>,
        cancellation: Option<&CancellationToken>,
    ) -> Result<QueryResult, SqlError> {
        let checked = check_with(sql, self.dialect(), &self.config)?;
        let limit = self.config.rows_for(max_rows);
        let timeout = self.timeout(deadline);
        let run = async {
            match &self.pool {
                Pool::Postgres(pool) => {
                    exec::run_postgres(pool, &self.config, &checked, limit, timeout).await
                }
                Pool::Sqlite(pool) => exec::run_sqlite(pool, &self.config, &checked, limit, timeout).await,
            }
        };
        guarded(run, timeout, cancellation).await
    }

    /// The readable tables with their columns; with `table`, only the table(s) of that name
    /// (`name` or `schema.name`).
    pub async fn schema(&self, table: Option<&str>) -> Result<SchemaInfo, SqlError> {
        self.schema_within(table, None, None).await
    }

    /// [`schema`](Self::schema) with a deadline and cancellation.
    pub async fn schema_within(
        &self,
        table: Option<&str>,
        deadline: Option<Instant>,
        cancellation: Option<&CancellationToken>,
    ) -> Result<SchemaInfo, SqlError> {
        let timeout = self.timeout(deadline);
        let run = async {
            match &self.pool {
                Pool::Postgres(pool) => schema::list_postgres(pool, &self.config, table, timeout).await,
                Pool::Sqlite(pool) => schema::list_sqlite(pool, &self.config, table, timeout).await,
            }
        };
        guarded(run, timeout, cancellation).await
    }

    /// The statement timeout, shortened to what is left before `deadline`.
    fn timeout(&self, deadline: Option<Instant>) -> Duration {
        let configured = self.config.statement_timeout;
        match deadline {
            Some(deadline) => configured
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => configured,
        }
    }

    /// The SQLite pool, for tests that watch its connections.
    #[cfg(test)]
    pub(crate) fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            Pool::Postgres(_) => None,
        }
    }

    /// Runs a statement with the parser check skipped, straight through the database layer:
    /// for the tests that prove that layer refuses writes on its own.
    #[cfg(test)]
    pub(crate) async fn query_unchecked(&self, sql: &str) -> Result<QueryResult, SqlError> {
        let timeout = self.config.statement_timeout;
        let unchecked = super::guard::CheckedQuery::unchecked(sql);
        match &self.pool {
            Pool::Postgres(pool) => exec::run_postgres(pool, &self.config, &unchecked, 10, timeout).await,
            Pool::Sqlite(pool) => exec::run_sqlite(pool, &self.config, &unchecked, 10, timeout).await,
        }
    }
}

/// Bounds `work` by a client-side backstop (the server's own timeout normally fires first; this
/// one covers a hung network) and by cancellation. Dropping the work drops its connection's
/// transaction, which sqlx rolls back.
async fn guarded<T>(
    work: impl Future<Output = Result<T, SqlError>>,
    timeout: Duration,
    cancellation: Option<&CancellationToken>,
) -> Result<T, SqlError> {
    // Several statements run per call (setup, allowlist lookups, the query, its fetch).
    let backstop = timeout.saturating_mul(3).saturating_add(Duration::from_secs(5));
    let cancelled = async {
        match cancellation {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = tokio::time::timeout(backstop, work) => result.unwrap_or(Err(SqlError::Timeout(timeout))),
        () = cancelled => Err(SqlError::Cancelled),
    }
}
