//! The database layers of the read-only guarantee, and bounded results.
//!
//! PostgreSQL: every call runs in its own transaction, started `READ ONLY` (the server refuses
//! any write, even one inside a function the query calls) with `statement_timeout`,
//! `lock_timeout` and `idle_in_transaction_session_timeout` set locally, and always rolled
//! back. Queries go through the extended protocol, which refuses more than one statement.
//! Rows are read through a cursor (`DECLARE ... CURSOR` then `FETCH n + 1`), so the server
//! computes and sends no more than that, whatever the query would return.
//!
//! SQLite: the connection is opened read-only with `PRAGMA query_only`; a progress handler
//! interrupts the statement at its deadline. Rows are streamed and the statement is dropped
//! after n + 1.
//!
//! Both: at most `max_bytes` of JSON rows, long text values shortened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{
    Column as _, ConnectOptions as _, Connection as _, Executor as _, Postgres, Row, Sqlite, Statement as _,
    TypeInfo as _,
};

use super::config::{SqlConfig, SqlDialect};
use super::error::SqlError;
use super::guard::postgres::CURSOR;
use super::guard::postgres::resolve;
use super::guard::{CheckedQuery, TableRef, sqlite};
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
        }
    }

    /// Adds a row; false when reading should stop.
    fn push(&mut self, mut row: Vec<Value>) -> bool {
        if self.rows.len() >= self.limit {
            // The (limit + 1)th row: there is more.
            self.more_rows = true;
            return false;
        }
        for value in &mut row {
            self.shortened |= shorten(value, self.max_cell_chars);
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

/// Reads rows from `stream` into `out` until it ends or a limit is reached; the stream is
/// dropped then, which stops the statement (SQLite) or leaves the rest of the batch unread
/// (PostgreSQL: at most `limit + 1` rows were asked for).
async fn collect<R, S>(
    stream: S,
    out: &mut Collector,
    type_name: impl Fn(&TypeInfoOf<R>) -> String,
    value: impl Fn(&R, usize) -> Value,
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
        let values = (0..row.len()).map(|i| value(&row, i)).collect();
        if !out.push(values) {
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
    let result = run_postgres_in(&mut call.tx, config, checked, limit, timeout).await;
    call.finish().await;
    result
}

/// One call's `READ ONLY` transaction, with the call's timeouts set locally.
///
/// If the call is abandoned before [`finish`](Self::finish) (its future dropped on
/// cancellation or the client-side backstop), the statement it was running is cancelled on the
/// server instead of running on until the statement timeout.
pub(crate) struct PgCall {
    pub(crate) tx: sqlx::Transaction<'static, Postgres>,
    abandon: CancelOnDrop,
}

impl PgCall {
    pub(crate) async fn begin(
        pool: &PgPool,
        config: &SqlConfig,
        timeout: Duration,
    ) -> Result<Self, SqlError> {
        let err = |e| SqlError::from_sqlx(e, timeout);
        let mut tx = pool
            .begin_with("BEGIN TRANSACTION READ ONLY")
            .await
            .map_err(err)?;
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
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        Ok(PgCall {
            tx,
            abandon: CancelOnDrop {
                options: Some(pool.connect_options()),
                pid,
                started,
            },
        })
    }

    /// Rolls back (nothing to commit; this also closes the cursor). A failed rollback means
    /// a broken connection, which sqlx discards: the rows already read are still good.
    pub(crate) async fn finish(mut self) {
        self.abandon.options = None;
        if let Err(e) = self.tx.rollback().await {
            tracing::warn!(error = %e, "rolling back the read-only SQL transaction failed");
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
    tx: &mut sqlx::Transaction<'static, Postgres>,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let err = |e| SqlError::from_sqlx(e, timeout);
    check_postgres_tables(tx, config, checked.tables(), timeout).await?;
    resolve::check_names(tx, &config.functions, checked.names(), timeout).await?;
    // The text the guard parsed: the EXPLAIN as sent, or the query's cursor declaration.
    let sql = checked.statement();

    let mut out = Collector::new(limit, config);
    let decode = |row: &PgRow, i: usize| row.try_get_raw(i).map(pg_value).unwrap_or(Value::Null);
    match Mode::of(checked) {
        Mode::Direct => {
            let stream = sqlx::query(sql).persistent(false).fetch(&mut **tx);
            collect(stream, &mut out, pg_type_name, decode)
                .await
                .map_err(err)?;
        }
        Mode::Cursor => {
            sqlx::query(sql)
                .persistent(false)
                .execute(&mut **tx)
                .await
                .map_err(err)?;
            let fetch = format!("FETCH FORWARD {} FROM {CURSOR}", limit.saturating_add(1));
            let stream = sqlx::query(&fetch).persistent(false).fetch(&mut **tx);
            collect(stream, &mut out, pg_type_name, decode)
                .await
                .map_err(err)?;
            if out.columns.is_empty() {
                // No rows, hence no row description: describe the cursor (prepared, not run). The
                // text is unique so that sqlx's statement cache never hands back another
                // cursor's columns.
                let peek = format!("FETCH NEXT FROM {CURSOR} /* {} */", uuid::Uuid::new_v4().simple());
                let statement = (&mut **tx).prepare(&peek).await.map_err(err)?;
                out.columns = describe_columns(statement.columns(), pg_type_name);
            }
        }
    }
    Ok(out.finish())
}

/// Resolves each table in the database (search path, quoting and case folding as the query
/// itself would see them) and checks it against the allowlist.
async fn check_postgres_tables(
    tx: &mut sqlx::Transaction<'static, Postgres>,
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
        .fetch_optional(&mut **tx)
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
    let mut call = SqliteCall::begin(pool, timeout).await?;
    let result = run_sqlite_on(&mut call.conn, config, checked, limit, timeout).await;
    call.finish().await;
    result
}

/// One call's connection, whose statements are interrupted at the deadline, or as soon as the
/// call is abandoned (its future dropped) before [`finish`](Self::finish).
pub(crate) struct SqliteCall {
    pub(crate) conn: PoolConnection<Sqlite>,
    abandoned: Arc<AtomicBool>,
    armed: bool,
}

impl SqliteCall {
    pub(crate) async fn begin(pool: &SqlitePool, timeout: Duration) -> Result<Self, SqlError> {
        let err = |e| SqlError::from_sqlx(e, timeout);
        let mut conn = pool.acquire().await.map_err(err)?;
        let deadline = std::time::Instant::now() + timeout;
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = abandoned.clone();
        // Installed before anything runs on the connection: it replaces the handler of an
        // earlier call, whose passed deadline would interrupt everything.
        conn.lock_handle()
            .await
            .map_err(err)?
            .set_progress_handler(1000, move || {
                !flag.load(Ordering::Relaxed) && std::time::Instant::now() < deadline
            });
        Ok(SqliteCall {
            conn,
            abandoned,
            armed: true,
        })
    }

    /// Removes the deadline.
    pub(crate) async fn finish(mut self) {
        self.armed = false;
        if let Ok(mut handle) = self.conn.lock_handle().await {
            handle.remove_progress_handler();
        }
    }
}

impl Drop for SqliteCall {
    fn drop(&mut self) {
        if self.armed {
            self.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

async fn run_sqlite_on(
    conn: &mut PoolConnection<Sqlite>,
    config: &SqlConfig,
    checked: &CheckedQuery,
    limit: usize,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let err = |e| SqlError::from_sqlx(e, timeout);
    let sql = checked.statement();
    if checked.database_checks() {
        sqlite::check_program(conn, config, sql, checked.is_explain(), timeout).await?;
    }
    let mut out = Collector::new(limit, config);
    let decode = |row: &SqliteRow, i: usize| {
        let declared = row.columns().get(i).map_or("", |c| c.type_info().name());
        row.try_get_raw(i)
            .map(|v| sqlite_value(v, declared))
            .unwrap_or(Value::Null)
    };
    let type_name = |t: &sqlx::sqlite::SqliteTypeInfo| t.name().to_owned();
    let stream = sqlx::query(sql).persistent(false).fetch(&mut **conn);
    collect(stream, &mut out, &type_name, decode).await.map_err(err)?;
    if out.columns.is_empty() {
        let statement = (&mut **conn).prepare(sql).await.map_err(err)?;
        out.columns = describe_columns(statement.columns(), type_name);
    }
    Ok(out.finish())
}
