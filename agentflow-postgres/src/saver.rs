//! [`PostgresSaver`]: checkpoints in PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    ENGINE_METADATA_KEYS, IntentClaim, IntentLease, IntentRef, ListOptions, PendingWrite, PruneStrategy,
    PutMode, SaverMaintenance,
};
use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use crate::database::Database;
use crate::error::{PostgresError, classify};
use crate::intents::{self, IntentSql};
use crate::{inline, read};

/// Checkpoints in PostgreSQL, through a connection pool.
///
/// - No lock of its own: concurrent runs use connections in parallel (LangGraph's saver
///   serializes every query behind one lock, #7259), up to a budget that every saver and store
///   over the pool share: all but a quarter of the pool's connections (at least one), so that
///   the pool's other users always find one.
/// - Every statement runs under a statement timeout
///   ([`DEFAULT_STATEMENT_TIMEOUT`](crate::DEFAULT_STATEMENT_TIMEOUT), see
///   [`statement_timeout`](Self::statement_timeout)).
/// - [`list`](Checkpointer::list) returns at most [`DEFAULT_LIST_LIMIT`](crate::DEFAULT_LIST_LIMIT) checkpoints unless told
///   otherwise, in three queries however many.
/// - Damaged data (a delta whose base is gone, a chain that loops) is
///   [`CheckpointError::Corrupt`], read by a query with a depth bound.
/// - A superstep is one statement, hence one commit: the last task's writes, the new field
///   versions and the checkpoint row ([`Checkpointer::put_step`]).
/// - Fencing is a unique index: of two writers extending one checkpoint, the second gets
///   [`CheckpointError::Conflict`].
/// - Field values are stored once per version: an unchanged field is never written again.
/// - [`pgbouncer_compatible`](Self::pgbouncer_compatible) avoids named prepared statements, for
///   transaction-pooling proxies.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use agentflow_postgres::PostgresSaver;
///
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
/// let saver = PostgresSaver::new(pool).schema("agentflow")?;
/// saver.migrate().await?;
/// // graph.with_checkpointer(saver)
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresSaver {
    db: Database,
    sql: Statements,
}

#[derive(Clone, Debug)]
struct Statements {
    put_step: String,
    /// For a step with no value bound for `blobs` (all small, no delta): one insert fewer.
    put_step_inline: String,
    put_step_upsert: String,
    put_writes: String,
    put_writes_upsert: String,
    get_latest: String,
    get_by_id: String,
    blobs: String,
    writes: String,
    list: String,
    intents: IntentSql,
}

impl Statements {
    fn new(s: &str) -> Self {
        let checkpoint_columns = "checkpoint_id, parent_id, checkpoint, metadata, thread_id, ns, inline";
        let engine_keys = ENGINE_METADATA_KEYS.map(|key| format!("'{key}'")).join(", ");
        Statements {
            put_step: put_step_sql(s, false, true),
            put_step_inline: put_step_sql(s, false, false),
            put_step_upsert: put_step_sql(s, true, true),
            put_writes: put_writes_sql(s, false),
            put_writes_upsert: put_writes_sql(s, true),
            get_latest: format!(
                "SELECT {checkpoint_columns} FROM {s}.checkpoints
                 WHERE thread_id = $1 AND ns = $2 ORDER BY checkpoint_id DESC LIMIT 1"
            ),
            get_by_id: format!(
                "SELECT {checkpoint_columns} FROM {s}.checkpoints
                 WHERE thread_id = $1 AND ns = $2 AND checkpoint_id = $3"
            ),
            // For each key (thread, namespace, field, version): its value, then the versions it
            // extends (deltas), newest first; at most one more than the longest chain, so that a
            // damaged chain that loops ends.
            blobs: format!(
                "WITH RECURSIVE chain AS (
                    SELECT k.key, b.thread_id, b.ns, b.channel, b.version, b.base_version, b.blob,
                           0 AS depth
                    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])
                        WITH ORDINALITY AS k(thread_id, ns, channel, version, key)
                    JOIN {s}.blobs b
                      ON b.thread_id = k.thread_id AND b.ns = k.ns AND b.channel = k.channel
                     AND b.version = k.version
                  UNION ALL
                    SELECT c.key, b.thread_id, b.ns, b.channel, b.version, b.base_version, b.blob,
                           c.depth + 1
                    FROM chain c JOIN {s}.blobs b
                      ON b.thread_id = c.thread_id AND b.ns = c.ns AND b.channel = c.channel
                     AND b.version = c.base_version
                    WHERE c.depth < $5
                 )
                 SELECT key, channel, version, base_version, blob FROM chain ORDER BY key, depth"
            ),
            // The pending writes of several checkpoints.
            writes: format!(
                "SELECT w.thread_id, w.ns, w.checkpoint_id, w.task_id, w.task_path, w.channel, w.idx, w.blob
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS c(thread_id, ns, checkpoint_id)
                 JOIN {s}.writes w
                   ON w.thread_id = c.thread_id AND w.ns = c.ns AND w.checkpoint_id = c.checkpoint_id
                 ORDER BY w.thread_id, w.ns, w.checkpoint_id, w.task_id, w.idx"
            ),
            list: format!(
                "SELECT {checkpoint_columns} FROM {s}.checkpoints
                 WHERE ($1::text IS NULL OR (thread_id = $1 AND ns = $2))
                   AND NOT EXISTS (
                       SELECT 1 FROM jsonb_each($3) f
                        WHERE f.value IS DISTINCT FROM CASE WHEN f.key IN ({engine_keys})
                              THEN metadata -> f.key ELSE metadata -> 'extra' -> f.key END)
                   AND ($4::text IS NULL OR checkpoint_id < $4)
                 ORDER BY checkpoint_id DESC
                 LIMIT $5"
            ),
            intents: IntentSql::new(s),
        }
    }
}

/// The superstep statement: the previous checkpoint's writes, the new field versions and the
/// checkpoint row commit together, or not at all. `parent` is an index lookup standing in for
/// foreign keys: nothing is written unless the parent exists (or there is none), and no row comes
/// back then.
///
/// Small values ($17) join the parent's inline values, minus the fields this step versions again
/// ($9), in the new row (see [`crate::inline`]). A delta whose base the parent holds inline moves
/// that base to `blobs`, where delta chains are read.
///
/// Plain inserts by default: a speculative insertion (`ON CONFLICT`) costs an index probe and a
/// WAL record per row. The `upsert` form runs only when a write or field version is already
/// stored (see [`stored_before`]). Without `blobs`, the statement has no `blobs` insert at all,
/// for the common step whose new values are all inline.
fn put_step_sql(s: &str, upsert: bool, blobs: bool) -> String {
    let (on_write, on_blob) = on_conflict(upsert);
    let blobs = if blobs {
        format!(
            ", b AS (
            INSERT INTO {s}.blobs (thread_id, ns, channel, version, blob, base_version)
            SELECT $1, $2, c.channel, c.version, c.blob, c.base
            FROM UNNEST($9::text[], $10::bigint[], $11::bytea[], $16::bigint[])
                AS c(channel, version, blob, base)
            WHERE c.blob IS NOT NULL AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM parent))
            UNION ALL
            SELECT $1, $2, c.channel, c.base, decode(split_part(p.inline ->> c.channel, ':', 2), 'hex'), NULL
            FROM UNNEST($9::text[], $16::bigint[]) AS c(channel, base), parent p
            WHERE c.base IS NOT NULL AND split_part(p.inline ->> c.channel, ':', 1) = c.base::text
            {on_blob}
        )"
        )
    } else {
        String::new()
    };
    format!(
        "WITH parent AS (
            SELECT inline FROM {s}.checkpoints
            WHERE thread_id = $1 AND ns = $2 AND checkpoint_id = $3
        ), w AS (
            INSERT INTO {s}.writes (thread_id, ns, checkpoint_id, task_id, idx, task_path, channel, blob)
            SELECT $1, $2, $3, t.task_id, t.idx, t.task_path, t.channel, t.blob
            FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::bytea[])
                AS t(task_id, idx, task_path, channel, blob)
            WHERE EXISTS (SELECT 1 FROM parent)
            {on_write}
        ){blobs}
        INSERT INTO {s}.checkpoints (thread_id, ns, checkpoint_id, parent_id, extends, checkpoint, metadata, inline)
        SELECT $1, $2, $12, $3, $13, $14, $15,
               nullif((coalesce((SELECT inline FROM parent), '{{}}') - $9::text[]) || $17::jsonb, '{{}}')
        WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM parent)
        RETURNING 1"
    )
}

/// A batch of pending writes, if their checkpoint exists (no row comes back otherwise). Plain
/// inserts unless `upsert`, as in [`put_step_sql`].
fn put_writes_sql(s: &str, upsert: bool) -> String {
    let (on_write, _) = on_conflict(upsert);
    format!(
        "INSERT INTO {s}.writes (thread_id, ns, checkpoint_id, task_id, idx, task_path, channel, blob)
         SELECT $1, $2, $3, t.task_id, t.idx, t.task_path, t.channel, t.blob
         FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::bytea[])
             AS t(task_id, idx, task_path, channel, blob)
         WHERE EXISTS (SELECT 1 FROM {s}.checkpoints
                       WHERE thread_id = $1 AND ns = $2 AND checkpoint_id = $3)
         {on_write}
         RETURNING 1"
    )
}

/// The conflict clauses of the write and field-version inserts: a task run again replaces its
/// writes (task ids are deterministic, so a fork re-running a step writes the same keys); a
/// field version is written once.
fn on_conflict(upsert: bool) -> (&'static str, &'static str) {
    if upsert {
        (
            "ON CONFLICT (thread_id, ns, checkpoint_id, task_id, idx) DO UPDATE
                SET task_path = EXCLUDED.task_path, channel = EXCLUDED.channel, blob = EXCLUDED.blob",
            "ON CONFLICT DO NOTHING",
        )
    } else {
        ("", "")
    }
}

/// Whether a plain insert failed only because a pending write or a field version it carries is
/// already stored: a task run again, or a statement sent again after its reply was lost. The
/// upsert form of the statement then applies (fencing conflicts are other constraints).
fn stored_before(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(crate::error::sqlstate::UNIQUE_VIOLATION)
                && matches!(db.constraint(), Some("writes_pkey" | "blobs_pkey"))
        }
        _ => false,
    }
}

/// The columns of a pending-write batch, as arrays for `UNNEST`.
struct WriteColumns {
    task_ids: Vec<String>,
    idxs: Vec<i64>,
    paths: Vec<String>,
    channels: Vec<String>,
    blobs: Vec<Vec<u8>>,
}

impl WriteColumns {
    fn new(writes: &[PendingWrite]) -> Self {
        WriteColumns {
            task_ids: writes.iter().map(|w| w.task_id.clone()).collect(),
            idxs: writes.iter().map(|w| w.idx).collect(),
            paths: writes.iter().map(|w| w.task_path.clone()).collect(),
            channels: writes.iter().map(|w| w.channel.clone()).collect(),
            blobs: writes.iter().map(|w| w.value.clone()).collect(),
        }
    }
}

pub(crate) fn backend(error: impl Into<agentflow_core::BoxError>) -> CheckpointError {
    CheckpointError::Backend {
        retryable: false,
        source: error.into(),
    }
}

impl PostgresSaver {
    /// A saver over `pool`, in schema `agentflow`. Call [`migrate`](Self::migrate) once before
    /// use (every start is fine: it is idempotent and safe when processes race).
    pub fn new(pool: PgPool) -> Self {
        let db = Database::new(pool);
        PostgresSaver {
            sql: Statements::new(&db.schema),
            db,
        }
    }

    /// Uses another schema (created by `migrate` if missing).
    pub fn schema(self, schema: &str) -> Result<Self, PostgresError> {
        let db = self.db.with_schema(schema)?;
        Ok(PostgresSaver {
            sql: Statements::new(&db.schema),
            db,
        })
    }

    /// Uses unnamed statements only, so that no state lives on a server connection between
    /// statements (for PgBouncer-style transaction pooling). Costs a parse per statement.
    pub fn pgbouncer_compatible(mut self, on: bool) -> Self {
        self.db.persistent = !on;
        self
    }

    /// How long one statement may run before the server cancels it (the error is retryable);
    /// `None` leaves the server's `statement_timeout`. Default:
    /// [`DEFAULT_STATEMENT_TIMEOUT`](crate::DEFAULT_STATEMENT_TIMEOUT). Set on the session of
    /// each connection the saver uses and reset before the connection goes back to the pool;
    /// not set with [`pgbouncer_compatible`](Self::pgbouncer_compatible) (configure it on the
    /// server or role there).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.db.statement_timeout = timeout;
        self
    }

    /// Creates or upgrades the tables; returns how many migrations it applied.
    pub async fn migrate(&self) -> Result<usize, PostgresError> {
        self.db.migrate().await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// The schema name.
    pub fn schema_name(&self) -> &str {
        &self.db.schema
    }

    /// Runs `statement` in its plain form (`plain`), and again in its upsert form (`upsert`) if
    /// a write or field version it carries is already stored ([`stored_before`]); returns the
    /// rows it returned.
    async fn write_or_upsert<'q>(
        &self,
        plain: &'q str,
        upsert: &'q str,
        statement: impl Fn(&'q str) -> Query<'q, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        let first = statement(plain);
        match self.db.run(async |conn| first.fetch_all(conn).await).await {
            Err(e) if stored_before(&e) => {
                let again = statement(upsert);
                self.db.run(async |conn| again.fetch_all(conn).await).await
            }
            done => done,
        }
    }

    /// The tuples of checkpoint rows: their values and writes in two more queries.
    async fn tuples(&self, rows: Vec<PgRow>) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let heads = rows
            .iter()
            .map(read::Head::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let sql = read::Statements {
            blobs: &self.sql.blobs,
            writes: &self.sql.writes,
        };
        read::tuples(&self.db, sql, heads).await
    }
}

/// Deletes everything of `threads` within a transaction.
async fn delete_threads(conn: &mut PgConnection, s: &str, threads: &[String]) -> Result<(), sqlx::Error> {
    for table in ["writes", "checkpoints", "blobs", "intents"] {
        sqlx::query(&format!("DELETE FROM {s}.{table} WHERE thread_id = ANY($1)"))
            .bind(threads)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl SaverMaintenance for PostgresSaver {
    async fn sweep_idle(&self, max_age: Duration) -> Result<u64, CheckpointError> {
        let s = &self.db.schema;
        let find = format!(
            "SELECT thread_id FROM {s}.checkpoints GROUP BY thread_id
             HAVING max(created_at) < now() - make_interval(secs => $1)"
        );
        let swept = self
            .db
            .run(async |conn| {
                let mut tx = conn.begin().await?;
                let threads: Vec<String> = sqlx::query_scalar(&find)
                    .bind(max_age.as_secs_f64())
                    .fetch_all(&mut *tx)
                    .await?;
                delete_threads(&mut tx, s, &threads).await?;
                tx.commit().await?;
                Ok(threads.len() as u64)
            })
            .await
            .map_err(|e| classify(e, "", None))?;
        Ok(swept)
    }

    /// Field values, pending writes, and the checkpoint rows' JSON (checkpoint, metadata and
    /// inline values), in bytes.
    async fn stored_bytes(&self, thread_id: &str) -> Result<u64, CheckpointError> {
        let s = &self.db.schema;
        let sql = format!(
            "SELECT coalesce((SELECT sum(length(blob)) FROM {s}.blobs WHERE thread_id = $1), 0)::bigint
                  + coalesce((SELECT sum(length(blob)) FROM {s}.writes WHERE thread_id = $1), 0)::bigint
                  + coalesce((SELECT sum(length(checkpoint::text) + length(metadata::text)
                                         + coalesce(length(inline::text), 0))
                              FROM {s}.checkpoints WHERE thread_id = $1), 0)::bigint"
        );
        let query = sqlx::query_scalar(&sql)
            .bind(thread_id)
            .persistent(self.db.persistent);
        let bytes: i64 = self
            .db
            .run(async |conn| query.fetch_one(conn).await)
            .await
            .map_err(|e| classify(e, thread_id, None))?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

#[async_trait]
impl Checkpointer for PostgresSaver {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        let query = match &target.checkpoint_id {
            Some(id) => sqlx::query(&self.sql.get_by_id)
                .bind(&target.thread_id)
                .bind(&target.namespace)
                .bind(id),
            None => sqlx::query(&self.sql.get_latest)
                .bind(&target.thread_id)
                .bind(&target.namespace),
        }
        .persistent(self.db.persistent);
        let row = self
            .db
            .run(async |conn| query.fetch_optional(conn).await)
            .await
            .map_err(|e| classify(e, &target.thread_id, None))?;
        let tuples = self.tuples(row.into_iter().collect()).await?;
        Ok(tuples.into_iter().next())
    }

    /// At most `options.limit` checkpoints, or [`DEFAULT_LIST_LIMIT`](crate::DEFAULT_LIST_LIMIT) when it is `None`; three
    /// queries however many. The filter compares by JSONB `=` per key, as
    /// [`CheckpointMetadata::matches`] does.
    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let limit = i64::try_from(options.limit_or_default()).unwrap_or(i64::MAX);
        let query = sqlx::query(&self.sql.list)
            .bind(thread.map(|t| t.thread_id.as_str()))
            .bind(thread.map_or("", |t| t.namespace.as_str()))
            .bind(sqlx::types::Json(&options.filter))
            .bind(options.before.as_deref())
            .bind(limit)
            .persistent(self.db.persistent);
        let rows = self
            .db
            .run(async |conn| query.fetch_all(conn).await)
            .await
            .map_err(|e| classify(e, thread.map_or("", |t| t.thread_id.as_str()), None))?;
        self.tuples(rows).await
    }

    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.put_step(&[], parent, checkpoint, metadata, new_versions, mode)
            .await
    }

    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        if !writes.is_empty() && parent.checkpoint_id.is_none() {
            return Err(backend("writes need the checkpoint they belong to"));
        }
        let mut channels = Vec::with_capacity(new_versions.len());
        let mut versions = Vec::with_capacity(new_versions.len());
        // None where the value rides in the row instead.
        let mut blobs: Vec<Option<&[u8]>> = Vec::with_capacity(new_versions.len());
        let mut bases: Vec<Option<i64>> = Vec::with_capacity(new_versions.len());
        let mut small = BTreeMap::new();
        for (channel, version) in new_versions {
            let base = checkpoint.channel_deltas.get(channel).map(|b| *b as i64);
            let value = checkpoint.new_value(channel)?;
            if inline::fits(value, base.is_some()) {
                small.insert(channel.as_str(), inline::entry(*version, value));
                blobs.push(None);
            } else {
                blobs.push(Some(value));
            }
            channels.push(channel.as_str());
            versions.push(*version as i64);
            bases.push(base);
        }
        let row = checkpoint.head();
        // The fencing key (unique per thread): a checkpoint is extended once, and forked once
        // by one run.
        let extends = match (mode, &parent.checkpoint_id) {
            (PutMode::Fork, Some(p)) => Some(format!("fork {p} by {}", metadata.run_id)),
            (_, p) => Some(p.clone().unwrap_or_default()),
        };
        let w = WriteColumns::new(writes);
        // A delta never rides inline, so no blob bound means no delta either.
        let first = if blobs.iter().all(Option::is_none) {
            &self.sql.put_step_inline
        } else {
            &self.sql.put_step
        };
        let statement = |sql| {
            sqlx::query(sql)
                .bind(&parent.thread_id)
                .bind(&parent.namespace)
                .bind(parent.checkpoint_id.as_deref())
                .bind(&w.task_ids)
                .bind(&w.idxs)
                .bind(&w.paths)
                .bind(&w.channels)
                .bind(&w.blobs)
                .bind(&channels)
                .bind(&versions)
                .bind(&blobs)
                .bind(&checkpoint.id)
                .bind(extends.as_deref())
                .bind(sqlx::types::Json(&row))
                .bind(sqlx::types::Json(metadata))
                .bind(&bases)
                .bind(sqlx::types::Json(&small))
                .persistent(self.db.persistent)
        };
        let inserted = self
            .write_or_upsert(first, &self.sql.put_step_upsert, statement)
            .await
            .map_err(|e| classify(e, &parent.thread_id, parent.checkpoint_id.as_deref()))?;
        if inserted.is_empty() {
            return Err(CheckpointError::NotFound {
                thread_id: parent.thread_id.clone(),
                checkpoint_id: parent.checkpoint_id.clone().unwrap_or_default(),
            });
        }
        Ok(parent.with_checkpoint(checkpoint.id.clone()))
    }

    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        if writes.is_empty() {
            return Ok(());
        }
        let Some(id) = target.checkpoint_id.as_deref() else {
            return Err(backend("writes need the checkpoint they belong to"));
        };
        let w = WriteColumns::new(writes);
        let statement = |sql| {
            sqlx::query(sql)
                .bind(&target.thread_id)
                .bind(&target.namespace)
                .bind(id)
                .bind(&w.task_ids)
                .bind(&w.idxs)
                .bind(&w.paths)
                .bind(&w.channels)
                .bind(&w.blobs)
                .persistent(self.db.persistent)
        };
        let written = self
            .write_or_upsert(&self.sql.put_writes, &self.sql.put_writes_upsert, statement)
            .await
            .map_err(|e| classify(e, &target.thread_id, Some(id)))?;
        if written.is_empty() {
            return Err(CheckpointError::NotFound {
                thread_id: target.thread_id.clone(),
                checkpoint_id: id.to_owned(),
            });
        }
        Ok(())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let threads = [thread_id.to_owned()];
        self.db
            .run(async |conn| {
                let mut tx = conn.begin().await?;
                delete_threads(&mut tx, &self.db.schema, &threads).await?;
                tx.commit().await
            })
            .await
            .map_err(|e| classify(e, thread_id, None))
    }

    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError> {
        let s = &self.db.schema;
        let statements = match strategy {
            PruneStrategy::Delete => Vec::new(),
            PruneStrategy::KeepLatest => vec![
                // Everything but each namespace's newest checkpoint...
                format!(
                    "DELETE FROM {s}.checkpoints c WHERE c.thread_id = ANY($1)
                     AND c.checkpoint_id < (SELECT max(k.checkpoint_id) FROM {s}.checkpoints k
                                            WHERE k.thread_id = c.thread_id AND k.ns = c.ns)"
                ),
                // ...with its writes; the kept checkpoint no longer has a parent.
                format!(
                    "DELETE FROM {s}.writes w WHERE w.thread_id = ANY($1) AND NOT EXISTS (
                        SELECT 1 FROM {s}.checkpoints c WHERE c.thread_id = w.thread_id
                          AND c.ns = w.ns AND c.checkpoint_id = w.checkpoint_id)"
                ),
                format!(
                    "UPDATE {s}.checkpoints c SET parent_id = NULL WHERE c.thread_id = ANY($1)
                     AND c.parent_id IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM {s}.checkpoints p WHERE p.thread_id = c.thread_id
                          AND p.ns = c.ns AND p.checkpoint_id = c.parent_id)"
                ),
                // Field versions no kept checkpoint needs (directly, or as the base of a delta).
                // UNION, not UNION ALL: a damaged chain that loops ends when no new row comes.
                format!(
                    "WITH RECURSIVE keep AS (
                        SELECT c.thread_id, c.ns, v.key COLLATE \"C\" AS channel, v.value::bigint AS version
                        FROM {s}.checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
                        WHERE c.thread_id = ANY($1)
                      UNION
                        SELECT b.thread_id, b.ns, b.channel, b.base_version
                        FROM {s}.blobs b JOIN keep k
                          ON b.thread_id = k.thread_id AND b.ns = k.ns AND b.channel = k.channel
                         AND b.version = k.version
                        WHERE b.base_version IS NOT NULL
                     )
                     DELETE FROM {s}.blobs b WHERE b.thread_id = ANY($1) AND NOT EXISTS (
                        SELECT 1 FROM keep k WHERE k.thread_id = b.thread_id AND k.ns = b.ns
                          AND k.channel = b.channel AND k.version = b.version)"
                ),
            ],
        };
        self.db
            .run(async |conn| {
                let mut tx = conn.begin().await?;
                if strategy == PruneStrategy::Delete {
                    delete_threads(&mut tx, s, thread_ids).await?;
                }
                for sql in &statements {
                    sqlx::query(sql).bind(thread_ids).execute(&mut *tx).await?;
                }
                tx.commit().await
            })
            .await
            .map_err(|e| classify(e, "", None))
    }

    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        let s = &self.db.schema;
        let used = format!("SELECT EXISTS (SELECT 1 FROM {s}.checkpoints WHERE thread_id = $1)");
        let statements = [
            format!(
                "INSERT INTO {s}.checkpoints (thread_id, ns, checkpoint_id, parent_id, extends, checkpoint, metadata, created_at, inline)
                 SELECT $2, ns, checkpoint_id, parent_id, extends, checkpoint, metadata, created_at, inline
                 FROM {s}.checkpoints WHERE thread_id = $1"
            ),
            format!(
                "INSERT INTO {s}.blobs (thread_id, ns, channel, version, blob, base_version)
                 SELECT $2, ns, channel, version, blob, base_version FROM {s}.blobs WHERE thread_id = $1"
            ),
            format!(
                "INSERT INTO {s}.writes (thread_id, ns, checkpoint_id, task_id, idx, task_path, channel, blob)
                 SELECT $2, ns, checkpoint_id, task_id, idx, task_path, channel, blob FROM {s}.writes WHERE thread_id = $1"
            ),
        ];
        // Whether the copy was made: not when the target already has checkpoints.
        let copied = self
            .db
            .run(async |conn| {
                let mut tx = conn.begin().await?;
                let used: bool = sqlx::query_scalar(&used).bind(target).fetch_one(&mut *tx).await?;
                if used {
                    return Ok(false);
                }
                for sql in &statements {
                    sqlx::query(sql)
                        .bind(source)
                        .bind(target)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            })
            .await
            .map_err(|e| classify(e, target, None))?;
        if !copied {
            return Err(CheckpointError::Conflict {
                thread_id: target.to_owned(),
                parent: None,
            });
        }
        Ok(())
    }

    async fn claim_intent(
        &self,
        intent: &IntentRef,
        lease: IntentLease<'_>,
    ) -> Result<IntentClaim, CheckpointError> {
        intents::claim(&self.db, &self.sql.intents, intent, lease).await
    }

    async fn complete_intent(
        &self,
        intent: &IntentRef,
        owner: &str,
        result: &[u8],
    ) -> Result<bool, CheckpointError> {
        intents::complete(&self.db, &self.sql.intents, intent, owner, result).await
    }

    async fn release_intent(&self, intent: &IntentRef, owner: &str) -> Result<(), CheckpointError> {
        intents::release(&self.db, &self.sql.intents, intent, owner).await
    }
}
