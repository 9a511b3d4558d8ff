//! The database layers of the read-only guarantee, and bounded results.
//!
//! PostgreSQL: every call runs in its own transaction, started `READ ONLY` (the server refuses
//! any write, even one inside a function the query calls) with `statement_timeout`,
//! `lock_timeout` and `idle_in_transaction_session_timeout` set locally, and always rolled
//! back. Queries go through the extended protocol, which refuses more than one statement.
//! Rows are read through a cursor over the query wrapped so that no value larger than its
//! share of `max_row_bytes` leaves the server ([`pg_bounded`](super::pg_bounded)), fetched
//! in small batches up to n + 1 rows: the server computes and sends no more than that,
//! whatever the query would return.
//!
//! SQLite: the connection is opened read-only with `PRAGMA query_only`; no string or blob may
//! grow past `max_row_bytes` (`SQLITE_LIMIT_LENGTH`); a progress handler interrupts the
//! statement at its deadline or when SQLite's memory grows past 64 times that. Rows are
//! streamed and the statement is dropped after n + 1.
//!
//! Both: at most `max_bytes` of JSON rows, long text values shortened; a connection whose
//! session the call changed is closed, not returned to the pool ([`session`](super::session)).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgRow, PgTransactionManager};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{
    Column as _, ConnectOptions as _, Connection as _, Executor as _, Postgres, Row, Sqlite, Statement as _,
    TransactionManager as _, TypeInfo as _,
};

use super::config::{SqlConfig, SqlDialect};
use super::error::SqlError;
use super::guard::postgres::{self as postgres_guard, CURSOR, resolve};
use super::guard::{CheckedQuery, TableRef, sqlite};
use super::pg_bounded::{self, Bounds};
use super::session::{PgSessionState, SqliteSessionState};
use super::sqlite_limits;
use super::value::{pg_type_name, pg_value, shorten, sqlite_value};

/// The rows of a query, bounded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// The result's columns, in order.
    pub columns: Vec<ColumnInfo>,
    /// The rows, each a JSON array in column order.
    pub rows: Vec<Vec<Value>>,
    /// How many rows were returned (`rows.len()`).
    pub row_count: usize,
    /// True when the query had more rows than were returned (the row limit or the byte limit
    /// stopped reading).
    pub truncated: bool,
    /// What the model should know about the result: why it was cut, which values were
    /// shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A result column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The column's name (or alias).
    pub name: String,
    /// The database's name for its type (`int4`, `text`, `timestamptz`; SQLite: the declared
    /// type, `NULL` for expressions).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Rows asked for per `FETCH`: few enough that a batch abandoned at the byte limit (the rest
/// is read and discarded when the transaction ends) costs little, whatever the rows' size.
const FETCH_BATCH: usize = 50;

/// How many times `max_row_bytes` SQLite's memory may grow during one statement.
const SQLITE_MEMORY_FACTOR: i64 = 32;

/// How many times `max_row_bytes` the values of one SQLite result row may take together: SQLite
/// computes a row's values before anything can interrupt it, so each value's length limit is
/// this budget shared between the columns (never more than `max_row_bytes`).
const SQLITE_ROW_FACTOR: usize = 16;

/// Accumulates rows until the row or byte limit.
struct Collector {
    limit: usize,
    max_bytes: usize,
    max_cell_chars: usize,
    columns: Vec<ColumnInfo>,
    rows: Vec<Vec<Value>>,
    bytes: usize,
    more_rows: bool,
    byte_capped: bool,
    shortened: bool,
    /// Values the server did not send whole (larger than their share of `max_row_bytes`).
    previewed: Option<usize>,
}

impl Collector {
    fn new(limit: usize, config: &SqlConfig) -> Self {
        Collector {
            limit,
            max_bytes: config.max_bytes,
            max_cell_chars: config.max_cell_chars,
            columns: Vec::new(),
            rows: Vec::new(),
            bytes: 2,
            more_rows: false,
            byte_capped: false,
            shortened: false,
            previewed: None,
        }
    }

    /// Adds a row whose values are already as they should be returned; false when reading
    /// should stop.
    fn push_shortened(&mut self, row: Vec<Value>) -> bool {
        if self.rows.len() >= self.limit {
            // The (limit + 1)th row: there is more.
            self.more_rows = true;
            return false;
        }
        let size = serde_json::to_string(&row).map_or(0, |s| s.len()) + 1;
        if self.bytes + size > self.max_bytes {
            self.more_rows = true;
            self.byte_capped = true;
            return false;
        }
        self.bytes += size;
        self.rows.push(row);
        true
    }

    fn finish(self) -> QueryResult {
        let mut notes = Vec::new();
        if self.byte_capped {
            notes.push(format!(
                "only the first {} rows fit in the {}-byte result limit; select fewer columns, filter or aggregate",
                self.rows.len(),
                self.max_bytes
            ));
        } else if self.more_rows {
            notes.push(format!(
                "the query has more rows than the {} returned; add WHERE/LIMIT, aggregate, or ask for more rows with max_rows",
                self.rows.len()
            ));
        }
        if self.shortened {
            notes.push(format!(
                "text values longer than {} characters were shortened",
                self.max_cell_chars
            ));
        }
        if let Some(share) = self.previewed {
            notes.push(format!(
                "values larger than {share} bytes were not sent whole, only their first characters; \
                 select a part of them (left(col::text, 200), length(col)) or fewer columns"
            ));
        }
        QueryResult {
            row_count: self.rows.len(),
            columns: self.columns,
            rows: self.rows,
            truncated: self.more_rows,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }
}

type TypeInfoOf<R> = <<R as Row>::Database as sqlx::Database>::TypeInfo;

/// The result's columns, from a row or a prepared statement's description.
fn describe_columns<C: sqlx::Column>(
    columns: &[C],
    type_name: impl Fn(&<C::Database as sqlx::Database>::TypeInfo) -> String,
) -> Vec<ColumnInfo> {
    columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_owned(),
            type_name: type_name(c.type_info()),
        })
        .collect()
}

/// Reads rows from `stream` into `out` until it ends or a limit is reached (`value` decodes one
/// value, shortened to the given number of characters, and says whether it was); the stream is
/// dropped then, which stops the statement (SQLite) or leaves the rest of the batch unread
/// (PostgreSQL: at most `limit + 1` rows were asked for).
async fn collect<R, S>(
    stream: S,
    out: &mut Collector,
    type_name: impl Fn(&TypeInfoOf<R>) -> String,
    value: impl Fn(&R, usize, usize) -> (Value, bool),
) -> Result<(), sqlx::Error>
where
    R: Row,
    S: Stream<Item = Result<R, sqlx::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(row) = stream.try_next().await? {
        if out.columns.is_empty() {
            out.columns = describe_columns(row.columns(), &type_name);
        }
        let (values, shortened): (Vec<Value>, Vec<bool>) =
            (0..row.len()).map(|i| value(&row, i, out.max_cell_chars)).unzip();
        out.shortened |= shortened.contains(&true);
        if !out.push_shortened(values) {
            break;
        }
    }
    Ok(())
}

/// Whether the statement is read through a cursor (queries) or run as is (EXPLAIN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Cursor,
    Direct,
}

impl Mode {
    pub(crate) fn of(checked: &CheckedQuery) -> Self {
        if checked.is_explain() {
            Mode::Direct
        } else {
            Mode::Cursor
        }
    }
}

/// Quotes a PostgreSQL identifier.
fn quote_pg(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Runs the checked statement on PostgreSQL in a read-only transaction that is always rolled
/// back. The names it uses (tables, functions, operators, types) are checked first, in the
/// same transaction.
pub(crate) async fn run_postgres(
    pool: &PgPool,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let mut call = PgCall::begin(pool, config, timeout).await?;
    let result = run_postgres_in(&mut call.conn, config, checked, limit, timeout).await;
    call.finish().await;
    result
}

/// One call's `READ ONLY` transaction on a pooled connection, with the call's timeouts set
/// locally.
///
/// The session's state is read before the transaction and again after its rollback: a
/// connection the call changed (an advisory lock, a prepared statement…) is closed instead of
/// going back to the pool. If the call is abandoned before [`finish`](Self::finish) (its future
/// dropped on cancellation or the client-side backstop), the statement it was running is
/// cancelled on the server and the connection is closed, never reused.
pub(crate) struct PgCall {
    pub(crate) conn: PoolConnection<Postgres>,
    before: PgSessionState,
    /// The transaction is open and [`finish`](Self::finish) has not run.
    open: bool,
    abandon: CancelOnDrop,
}

impl PgCall {
    pub(crate) async fn begin(
        pool: &PgPool,
        config: &SqlConfig,
        timeout: Duration,
    ) -> Result<Self, SqlError> {
        let err = |e| SqlError::from_sqlx(e, timeout);
        let mut conn = pool.acquire().await.map_err(err)?;
        let before = PgSessionState::read(&mut conn).await.map_err(err)?;
        // The transaction manager keeps sqlx's view of the transaction right (it rolls back a
        // transaction left open).
        PgTransactionManager::begin(&mut conn, Some("BEGIN TRANSACTION READ ONLY".into()))
            .await
            .map_err(err)?;
        // From here on, dropping the call without finishing it closes the connection.
        let mut call = PgCall {
            conn,
            before,
            open: true,
            abandon: CancelOnDrop {
                options: None,
                pid: 0,
                started: 0,
            },
        };
        let millis = |d: Duration| d.as_millis().clamp(1, u128::from(u32::MAX)).to_string();
        // SET LOCAL through set_config(..., true): the settings end with the transaction, so a
        // pooled connection shared with other code is left as it was. The lexer reads the text
        // with standard_conforming_strings on, as the guard's parser did. The session's pid and
        // the transaction's start identify the statement to cancel if the call is abandoned.
        let (pid, started): (i32, i64) = sqlx::query_as(
            "SELECT pg_catalog.pg_backend_pid(), (extract(epoch FROM pg_catalog.now()) * 1000000)::int8, \
             pg_catalog.set_config('statement_timeout', $1, true), \
             pg_catalog.set_config('lock_timeout', $2, true), \
             pg_catalog.set_config('idle_in_transaction_session_timeout', $3, true), \
             pg_catalog.set_config('standard_conforming_strings', 'on', true)",
        )
        .bind(millis(timeout))
        .bind(millis(config.lock_timeout.min(timeout)))
        .bind(millis(timeout + Duration::from_secs(10)))
        .fetch_one(&mut *call.conn)
        .await
        .map_err(err)?;
        call.abandon = CancelOnDrop {
            options: Some(pool.connect_options()),
            pid,
            started,
        };
        Ok(call)
    }

    /// Rolls back (nothing to commit; this also closes the cursor), then checks that the
    /// session is as it was before the call. A failed rollback means a broken connection: the
    /// rows already read are still good, and the connection is closed.
    pub(crate) async fn finish(mut self) {
        self.abandon.options = None;
        self.open = false;
        if let Err(e) = PgTransactionManager::rollback(&mut self.conn).await {
            tracing::warn!(error = %e, "rolling back the read-only SQL transaction failed; closing the connection");
            self.conn.close_on_drop();
            return;
        }
        match PgSessionState::read(&mut self.conn).await {
            Ok(after) if after == self.before => {}
            Ok(after) => {
                tracing::warn!(
                    changed = ?after.changes_since(&self.before),
                    "a SQL call left state on its session; closing the connection instead of returning it to the pool"
                );
                self.conn.close_on_drop();
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the SQL session's state failed; closing the connection");
                self.conn.close_on_drop();
            }
        }
    }
}

impl Drop for PgCall {
    fn drop(&mut self) {
        // Abandoned mid-call: the session's state is unknown (and a statement may still run).
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// Cancels the statement of an abandoned call (armed while `options` is set).
struct CancelOnDrop {
    options: Option<Arc<PgConnectOptions>>,
    pid: i32,
    started: i64,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(options) = self.options.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pid, started) = (self.pid, self.started);
        runtime.spawn(async move {
            // A connection of its own: the pool may be exhausted, and the abandoned one is
            // busy until its statement ends.
            let Ok(mut conn) = options.connect().await else {
                return;
            };
            // Only while that transaction is still the session's, so that a statement of
            // whoever uses the connection next is never cancelled.
            let cancel = sqlx::query(
                "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE pid = $1 AND (extract(epoch FROM xact_start) * 1000000)::int8 = $2",
            )
            .bind(pid)
            .bind(started)
            .execute(&mut conn)
            .await;
            if let Err(e) = cancel {
                tracing::debug!(error = %e, "cancelling an abandoned SQL statement failed");
            }
            let _ = conn.close().await;
        });
    }
}

async fn run_postgres_in(
    conn: &mut PgConnection,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let err = |e| SqlError::from_sqlx(e, timeout);
    let mut out = Collector::new(limit, config);
    match Mode::of(checked) {
        Mode::Direct => {
            if checked.database_checks() && !config.postgres_explain {
                return Err(SqlError::Unsupported(
                    "EXPLAIN is turned off for this database: PostgreSQL prints the constants it \
                     computes while planning in full, so its output cannot be bounded; run the \
                     query itself (with LIMIT) instead"
                        .into(),
                ));
            }
            check_names(conn, config, checked, timeout).await?;
            // EXPLAIN cannot be wrapped or read through a cursor: its lines come as they are.
            let decode = |row: &PgRow, i: usize, max_chars: usize| {
                let mut value = row.try_get_raw(i).map(pg_value).unwrap_or(Value::Null);
                let shortened = shorten(&mut value, max_chars);
                (value, shortened)
            };
            let stream = sqlx::query(checked.statement())
                .persistent(false)
                .fetch(&mut *conn);
            collect(stream, &mut out, pg_type_name, decode)
                .await
                .map_err(err)?;
        }
        Mode::Cursor => {
            // Every text sent is checked whole by the guard, wrapper included: what runs is
            // what was checked, however the query's text meets the wrapper's.
            let query = checked.source();
            // The query's columns, from its plan (it does not run).
            let probe = postgres_guard::check(&pg_bounded::probe(query), &config.functions)?;
            check_names(conn, config, &probe, timeout).await?;
            sqlx::query(probe.statement())
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
            let row = sqlx::query(&format!("FETCH 1 FROM {CURSOR}"))
                .persistent(false)
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
            out.columns = describe_columns(row.columns(), pg_type_name);
            sqlx::query(&format!("CLOSE {CURSOR}"))
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
            let columns = out.columns.len();
            let bounds = Bounds::new(
                config.max_row_bytes,
                config.max_bytes,
                config.max_cell_chars,
                columns,
            );
            let wrapped =
                postgres_guard::check(&pg_bounded::wrap(query, columns, bounds), &config.functions)?;
            check_names(conn, config, &wrapped, timeout).await?;
            sqlx::query(wrapped.statement())
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
            fetch_bounded(conn, &mut out, columns, bounds)
                .await
                .map_err(err)?;
        }
    }
    Ok(out.finish())
}

/// Resolves in the database, in the call's transaction, the tables and the other names
/// (functions, operators, types) of a statement about to run.
async fn check_names(
    conn: &mut PgConnection,
    config: &SqlConfig,
    checked: &CheckedQuery,
    timeout: Duration,
) -> Result<(), SqlError> {
    if !checked.database_checks() {
        return Ok(());
    }
    check_postgres_tables(conn, config, checked.tables(), timeout).await?;
    resolve::check_names(conn, &config.functions, checked.names(), timeout).await
}

/// Reads the wrapped query's rows from the cursor in batches until the row or byte limit
/// (`limit + 1` rows at most, to tell whether there are more) or the end.
async fn fetch_bounded(
    conn: &mut PgConnection,
    out: &mut Collector,
    columns: usize,
    bounds: Bounds,
) -> Result<(), sqlx::Error> {
    let wanted = out.limit.saturating_add(1);
    let mut fetched = 0;
    while fetched < wanted {
        let batch = (wanted - fetched).min(FETCH_BATCH);
        let fetch = format!("FETCH FORWARD {batch} FROM {CURSOR}");
        let mut rows = std::pin::pin!(sqlx::query(&fetch).persistent(false).fetch(&mut *conn));
        let mut received = 0;
        while let Some(row) = rows.try_next().await? {
            received += 1;
            let (mut values, previewed) = pg_bounded::decode_row(&row, columns);
            // Values sent whole are shortened like any other; a preview is already short
            // (and its marker must stay).
            for (value, previewed) in values.iter_mut().zip(&previewed) {
                if *previewed {
                    out.previewed = Some(bounds.share);
                } else {
                    out.shortened |= shorten(value, out.max_cell_chars);
                }
            }
            if !out.push_shortened(values) {
                return Ok(());
            }
        }
        if received < batch {
            return Ok(());
        }
        fetched += received;
    }
    Ok(())
}

/// Resolves each table in the database (search path, quoting and case folding as the query
/// itself would see them) and checks it against the allowlist.
async fn check_postgres_tables(
    conn: &mut PgConnection,
    config: &SqlConfig,
    tables: &[TableRef],
    timeout: Duration,
) -> Result<(), SqlError> {
    for table in tables {
        let qualified = match &table.schema {
            Some(schema) => format!("{}.{}", quote_pg(schema), quote_pg(&table.name)),
            None => quote_pg(&table.name),
        };
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = pg_catalog.to_regclass($1)",
        )
        .bind(&qualified)
        .persistent(false)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| SqlError::from_sqlx(e, timeout))?;
        match found {
            None => return Err(SqlError::UnknownTable(table.to_string())),
            Some((schema, name)) if !config.access.allows(SqlDialect::Postgres, &schema, &name) => {
                return Err(SqlError::TableNotAllowed(format!("table {schema}.{name}")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Runs the checked statement on a read-only SQLite connection, interrupted at its deadline,
/// once SQLite's compilation of it passed the guard.
pub(crate) async fn run_sqlite(
    pool: &SqlitePool,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let mut call = SqliteCall::begin(pool, config, timeout).await?;
    let result = run_sqlite_on(&mut call.conn, config, checked, limit, timeout).await;
    let result = call.explain_interrupt(result);
    call.finish().await;
    result
}

/// Why the progress handler stops a statement.
#[derive(Default)]
struct Stops {
    /// The call was abandoned (its future dropped).
    abandoned: AtomicBool,
    /// SQLite's memory grew past the call's budget.
    over_memory: AtomicBool,
}

/// One call's connection, whose statements are interrupted at the deadline, when SQLite's
/// memory grows past the call's budget, or as soon as the call is abandoned (its future
/// dropped) before [`finish`](Self::finish).
pub(crate) struct SqliteCall {
    pub(crate) conn: PoolConnection<Sqlite>,
    before: SqliteSessionState,
    stops: Arc<Stops>,
    memory_budget: i64,
    armed: bool,
}

impl SqliteCall {
    pub(crate) async fn begin(
        pool: &SqlitePool,
        config: &SqlConfig,
        timeout: Duration,
    ) -> Result<Self, SqlError> {
        let err = |e| SqlError::from_sqlx(e, timeout);
        let mut conn = pool.acquire().await.map_err(err)?;
        let before = SqliteSessionState::read(&mut conn).await.map_err(err)?;
        let deadline = std::time::Instant::now() + timeout;
        let stops = Arc::new(Stops::default());
        let watched = stops.clone();
        let cap = i64::try_from(config.max_row_bytes).unwrap_or(i64::MAX);
        let memory_budget = cap.saturating_mul(SQLITE_MEMORY_FACTOR);
        // The counter is process-wide: the budget is measured from where it stands now.
        let baseline = sqlite_limits::memory_used();
        {
            let mut handle = conn.lock_handle().await.map_err(err)?;
            sqlite_limits::set_length_limit(&mut handle, config.max_row_bytes);
            // Installed before anything runs on the connection: it replaces the handler of an
            // earlier call, whose passed deadline would interrupt everything. Every 100
            // instructions: one instruction can allocate up to the length limit.
            handle.set_progress_handler(100, move || {
                if watched.abandoned.load(Ordering::Relaxed) || std::time::Instant::now() >= deadline {
                    return false;
                }
                if sqlite_limits::memory_used().saturating_sub(baseline) > memory_budget {
                    watched.over_memory.store(true, Ordering::Relaxed);
                    return false;
                }
                true
            });
        }
        Ok(SqliteCall {
            conn,
            before,
            stops,
            memory_budget,
            armed: true,
        })
    }

    /// An interruption caused by the memory budget is reported as such, not as a timeout.
    fn explain_interrupt(&self, result: Result<QueryResult, SqlError>) -> Result<QueryResult, SqlError> {
        match result {
            Err(SqlError::Timeout(_)) if self.stops.over_memory.load(Ordering::Relaxed) => {
                Err(SqlError::Query(format!(
                    "the query was stopped: it needed more than {} MiB of memory; select fewer or \
                     smaller values (substr, length) or aggregate",
                    self.memory_budget / (1024 * 1024)
                )))
            }
            other => other,
        }
    }

    /// Removes the deadline, then checks that the connection is as it was before the call;
    /// if not, it is closed instead of going back to the pool.
    pub(crate) async fn finish(mut self) {
        self.armed = false;
        if let Ok(mut handle) = self.conn.lock_handle().await {
            handle.remove_progress_handler();
        }
        match SqliteSessionState::read(&mut self.conn).await {
            Ok(after) if after == self.before => {}
            Ok(after) => {
                tracing::warn!(
                    changed = ?after.changes_since(&self.before),
                    "a SQL call left state on its connection; closing it instead of returning it to the pool"
                );
                self.conn.close_on_drop();
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the SQL connection's state failed; closing it");
                self.conn.close_on_drop();
            }
        }
    }
}

impl Drop for SqliteCall {
    fn drop(&mut self) {
        // Abandoned mid-call: stop its statement; the connection's state is unknown, so it is
        // closed rather than pooled.
        if self.armed {
            self.stops.abandoned.store(true, Ordering::Relaxed);
            self.conn.close_on_drop();
        }
    }
}

/// The longest string or blob a SQLite statement with `columns` result columns may build.
fn sqlite_value_limit(config: &SqlConfig, columns: usize) -> usize {
    let row_budget = config.max_row_bytes.saturating_mul(SQLITE_ROW_FACTOR);
    (row_budget / columns.max(1)).min(config.max_row_bytes)
}

/// A SQLite error, with what to do about a value over the length limit (`SQLITE_TOOBIG`).
fn sqlite_error(e: sqlx::Error, timeout: Duration, value_limit: usize) -> SqlError {
    if let sqlx::Error::Database(db) = &e
        && db.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff) == Some(18)
    {
        return SqlError::Query(format!(
            "{}: a string or blob would be longer than {value_limit} bytes (max_row_bytes, \
             shared between the result's columns); select a part of it (substr, length) or \
             fewer columns instead",
            db.message(),
        ));
    }
    SqlError::from_sqlx(e, timeout)
}

async fn run_sqlite_on(
    conn: &mut PoolConnection<Sqlite>,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let sql = checked.statement();
    if checked.database_checks() {
        sqlite::check_program(conn, config, sql, checked.is_explain(), timeout).await?;
    }
    let mut out = Collector::new(limit, config);
    // The statement's columns, before it runs: they share the row's memory budget.
    let statement = (&mut **conn)
        .prepare(sql)
        .await
        .map_err(|e| sqlite_error(e, timeout, config.max_row_bytes))?;
    let type_name = |t: &sqlx::sqlite::SqliteTypeInfo| t.name().to_owned();
    let declared_columns = describe_columns(statement.columns(), type_name);
    let value_limit = sqlite_value_limit(config, declared_columns.len());
    sqlite_limits::set_length_limit(
        &mut conn
            .lock_handle()
            .await
            .map_err(|e| SqlError::from_sqlx(e, timeout))?,
        value_limit,
    );
    let err = |e| sqlite_error(e, timeout, value_limit);
    let decode = |row: &SqliteRow, i: usize, max_chars: usize| {
        let declared = row.columns().get(i).map_or("", |c| c.type_info().name());
        row.try_get_raw(i)
            .map(|v| sqlite_value(v, declared, max_chars))
            .unwrap_or((Value::Null, false))
    };
    let stream = sqlx::query(sql).persistent(false).fetch(&mut **conn);
    collect(stream, &mut out, &type_name, decode).await.map_err(err)?;
    if out.columns.is_empty() {
        // No row to read them from.
        out.columns = declared_columns;
    }
    Ok(out.finish())
}
