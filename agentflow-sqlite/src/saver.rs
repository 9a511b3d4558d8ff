//! [`SqliteSaver`]: the [`Checkpointer`] on SQLite.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    Corruption, IntentClaim, IntentLease, IntentRef, ListOptions, MAX_DELTA_CHAIN, PendingWrite,
    PruneStrategy, PutMode, SaverMaintenance, Segment, put_field_value,
};
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{SqliteError, db, is_foreign_key_violation, is_unique_violation};
use crate::{intents, migrate};

/// How long a connection waits for another connection's write lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in a pool opened by [`SqliteSaver::open`]: SQLite has one writer at a time, so
/// more would only add readers.
const MAX_CONNECTIONS: u32 = 4;

/// Where each field's value is: field -> (version, origin checkpoint id).
type ChannelRefs = BTreeMap<String, (i64, String)>;

/// A [`Checkpointer`] that keeps checkpoints in a SQLite database file.
///
/// - **WAL** journal mode: readers never block the writer, and a commit is one append to the
///   log. The database stays usable by several processes at once (on one machine: WAL needs
///   shared memory, so not over a network file system).
/// - **Fencing in the database**: each checkpoint row records which checkpoint it extends, under
///   a unique index, so of two writers (threads, pools or processes) extending one checkpoint,
///   exactly one commits; the other gets [`CheckpointError::Conflict`].
/// - **One commit per superstep**: [`put_step`](Checkpointer::put_step) stores the step's last
///   writes and the next checkpoint in one transaction.
/// - Writes take SQLite's write lock up front (`BEGIN IMMEDIATE`) and wait up to the busy
///   timeout ([`DEFAULT_BUSY_TIMEOUT`]) for another process's transaction; after that they fail
///   with a retryable [`CheckpointError::Backend`] ([`SqliteError::Busy`]).
/// - Field values are stored once per version; a forked thread's branches keep their own
///   values even where their version numbers meet.
///
/// ```no_run
/// use agentflow_sqlite::SqliteSaver;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let saver = SqliteSaver::open("checkpoints.db").await?;
/// // graph.compile()?.with_checkpointer(saver)
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqliteSaver {
    pool: SqlitePool,
    /// Serializes this saver's write transactions in process, so that they queue here instead
    /// of polling SQLite's busy handler. Other processes are held off by SQLite's lock.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction that holds the in-process write lock until it ends.
struct WriteTx<'a> {
    tx: Transaction<'static, Sqlite>,
    _guard: MutexGuard<'a, ()>,
}

impl SqliteSaver {
    /// Opens (creating it if needed) the database file at `path`, with WAL, a 5 s busy timeout,
    /// foreign keys and `synchronous = FULL`, and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::from_options(Self::options(path)).await
    }

    /// Opens a database by URL: `sqlite://path/to/file.db` (created if missing, unless the URL
    /// sets a `mode`) or `sqlite::memory:` (see [`in_memory`](Self::in_memory)). The saver
    /// writes, so the database must be writable.
    pub async fn connect(url: &str) -> Result<Self, SqliteError> {
        let mut options = SqliteConnectOptions::from_str(url).map_err(|e| SqliteError::Open {
            target: url.to_owned(),
            source: e,
        })?;
        if !url.contains("mode=") {
            options = options.create_if_missing(true);
        }
        if is_memory_url(url) {
            return Self::memory_pool(options, url).await;
        }
        Self::from_options(options.synchronous(SqliteSynchronous::Full)).await
    }

    /// A private in-memory database (one connection, gone when the saver is dropped): for
    /// tests.
    pub async fn in_memory() -> Result<Self, SqliteError> {
        let url = "sqlite::memory:";
        let options = SqliteConnectOptions::from_str(url).map_err(|e| SqliteError::Open {
            target: url.to_owned(),
            source: e,
        })?;
        Self::memory_pool(options, url).await
    }

    async fn memory_pool(options: SqliteConnectOptions, url: &str) -> Result<Self, SqliteError> {
        // Every connection to `:memory:` is its own database: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.foreign_keys(true))
            .await
            .map_err(|e| migrate::open_error(url, e))?;
        Self::init(pool, url).await
    }

    /// The connection options [`open`](Self::open) uses for `path`; adjust them (a different
    /// busy timeout, `synchronous = NORMAL` for speed over power-loss durability, ...) and pass
    /// them to [`from_options`](Self::from_options).
    pub fn options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full)
    }

    /// Opens a database with the given options (foreign keys are turned on; the database is
    /// switched to WAL) and brings its schema up to date.
    pub async fn from_options(options: SqliteConnectOptions) -> Result<Self, SqliteError> {
        let target = options.get_filename().display().to_string();
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options.foreign_keys(true))
            .await
            .map_err(|e| migrate::open_error(&target, e))?;
        Self::init(pool, &target).await
    }

    /// Uses an existing pool (its connection options apply: keep foreign keys on, as sqlx does
    /// by default). Switches the database to WAL and brings its schema up to date.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, SqliteError> {
        let target = pool.connect_options().get_filename().display().to_string();
        Self::init(pool, &target).await
    }

    async fn init(pool: SqlitePool, target: &str) -> Result<Self, SqliteError> {
        {
            let mut conn = pool.acquire().await.map_err(|e| migrate::open_error(target, e))?;
            migrate::enable_wal(&mut conn, target, DEFAULT_BUSY_TIMEOUT).await?;
        }
        migrate::migrate(&pool, target).await?;
        tracing::debug!(%target, "agentflow-sqlite: database ready");
        Ok(SqliteSaver {
            pool,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, SqliteError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM agentflow_migrations")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write_tx(&self) -> Result<WriteTx<'_>, CheckpointError> {
        let guard = self.write_lock.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(WriteTx { tx, _guard: guard })
    }
}

/// The fencing key of a fork of `parent` by run `run_id` (never a checkpoint id: those have no
/// spaces).
pub(crate) fn fork_fence(parent: &str, run_id: &str) -> String {
    format!("fork {parent} by {run_id}")
}

fn is_memory_url(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, json: &str) -> Result<T, CheckpointError> {
    serde_json::from_str(json).map_err(|source| SqliteError::Decode { what, source }.into())
}

fn encode<T: serde::Serialize>(what: &'static str, value: &T) -> Result<String, CheckpointError> {
    serde_json::to_string(value).map_err(|e| {
        SqliteError::Invalid {
            what,
            message: e.to_string(),
        }
        .into()
    })
}

fn version(channel: &str, v: u64) -> Result<i64, CheckpointError> {
    i64::try_from(v).map_err(|_| {
        SqliteError::Invalid {
            what: "a field version",
            message: format!("version {v} of `{channel}` does not fit in a signed 64-bit integer"),
        }
        .into()
    })
}

/// A `SELECT` of the checkpoint columns a tuple is made from, followed by `$rest`.
macro_rules! select_heads {
    ($rest:literal) => {
        concat!(
            "SELECT thread_id, ns, checkpoint_id, parent_id, checkpoint, metadata, channel_refs
               FROM checkpoints ",
            $rest
        )
    };
}

/// A checkpoint row, before its values and writes are loaded.
struct Head {
    thread_id: String,
    ns: String,
    checkpoint_id: String,
    parent_id: Option<String>,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    refs_json: String,
}

fn head(row: &SqliteRow) -> Result<Head, CheckpointError> {
    let checkpoint: String = row.try_get("checkpoint").map_err(db)?;
    let metadata: String = row.try_get("metadata").map_err(db)?;
    Ok(Head {
        thread_id: row.try_get("thread_id").map_err(db)?,
        ns: row.try_get("ns").map_err(db)?,
        checkpoint_id: row.try_get("checkpoint_id").map_err(db)?,
        parent_id: row.try_get("parent_id").map_err(db)?,
        checkpoint: decode("checkpoint", &checkpoint)?,
        metadata: decode("checkpoint metadata", &metadata)?,
        refs_json: row.try_get("channel_refs").map_err(db)?,
    })
}

/// Loads a checkpoint's values and pending writes.
async fn load(conn: &mut SqliteConnection, head: Head) -> Result<CheckpointTuple, CheckpointError> {
    let Head {
        thread_id,
        ns,
        checkpoint_id,
        parent_id,
        mut checkpoint,
        metadata,
        refs_json,
    } = head;
    // Each field's value: the blob it references, then the blobs its deltas extend, down to a
    // full value; at most one more than the longest chain, so that a damaged chain that loops
    // ends.
    let rows = sqlx::query(
        "WITH RECURSIVE chain (channel, depth, version, blob, base_version, base_origin) AS (
             SELECT b.channel, 0, b.version, b.blob, b.base_version, b.base_origin
               FROM json_each(?1) AS j
               JOIN blobs AS b
                 ON b.thread_id = ?2 AND b.ns = ?3 AND b.channel = j.key
                AND b.version = json_extract(j.value, '$[0]')
                AND b.origin = json_extract(j.value, '$[1]')
             UNION ALL
             SELECT b.channel, c.depth + 1, b.version, b.blob, b.base_version, b.base_origin
               FROM chain AS c
               JOIN blobs AS b
                 ON b.thread_id = ?2 AND b.ns = ?3 AND b.channel = c.channel
                AND b.version = c.base_version AND b.origin = c.base_origin
              WHERE c.depth < ?4
         )
         SELECT channel, version, base_version, blob FROM chain ORDER BY channel, depth",
    )
    .bind(&refs_json)
    .bind(&thread_id)
    .bind(&ns)
    .bind(MAX_DELTA_CHAIN as i64)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let corrupt = |problem: Corruption| problem.at(&thread_id, &checkpoint_id);
    let mut segments: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    for row in rows {
        let channel: String = row.try_get("channel").map_err(db)?;
        let version: i64 = row.try_get("version").map_err(db)?;
        let base: Option<i64> = row.try_get("base_version").map_err(db)?;
        let bytes = row.try_get("blob").map_err(db)?;
        let segment = Segment::from_stored(&channel, version, base, bytes).map_err(corrupt)?;
        segments.entry(channel).or_default().push(segment);
    }
    for (channel, version) in checkpoint.channel_versions.clone() {
        let chain = segments.remove(&channel).unwrap_or_default();
        put_field_value(&mut checkpoint, &channel, version, chain).map_err(corrupt)?;
    }
    let writes = sqlx::query(
        "SELECT task_id, task_path, channel, idx, blob FROM writes
          WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3
          ORDER BY task_id, idx",
    )
    .bind(&thread_id)
    .bind(&ns)
    .bind(&checkpoint_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let pending_writes = writes
        .iter()
        .map(|row| {
            Ok(PendingWrite {
                task_id: row.try_get("task_id")?,
                task_path: row.try_get("task_path")?,
                channel: row.try_get("channel")?,
                idx: row.try_get("idx")?,
                value: row.try_get("blob")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)?;
    Ok(CheckpointTuple::stored(
        thread_id,
        ns,
        checkpoint_id,
        parent_id,
        checkpoint,
        metadata,
        pending_writes,
    ))
}

async fn checkpoint_exists(
    conn: &mut SqliteConnection,
    thread_id: &str,
    ns: &str,
    checkpoint_id: &str,
) -> Result<bool, CheckpointError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM checkpoints WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3",
    )
    .bind(thread_id)
    .bind(ns)
    .bind(checkpoint_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    Ok(found.is_some())
}

/// `put_writes` inside a transaction.
async fn put_writes_in(
    conn: &mut SqliteConnection,
    target: &CheckpointRef,
    writes: &[PendingWrite],
) -> Result<(), CheckpointError> {
    let id = target.checkpoint_id.clone().unwrap_or_default();
    let not_found = || CheckpointError::NotFound {
        thread_id: target.thread_id.clone(),
        checkpoint_id: id.clone(),
    };
    if !checkpoint_exists(conn, &target.thread_id, &target.namespace, &id).await? {
        return Err(not_found());
    }
    for write in writes {
        sqlx::query(
            "INSERT INTO writes (thread_id, ns, checkpoint_id, task_id, idx, task_path, channel, blob)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (thread_id, ns, checkpoint_id, task_id, idx) DO UPDATE SET
                 task_path = excluded.task_path,
                 channel = excluded.channel,
                 blob = excluded.blob",
        )
        .bind(&target.thread_id)
        .bind(&target.namespace)
        .bind(&id)
        .bind(&write.task_id)
        .bind(write.idx)
        .bind(&write.task_path)
        .bind(&write.channel)
        .bind(&write.value)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                not_found()
            } else {
                db(e)
            }
        })?;
    }
    Ok(())
}

/// The origin of the value of `channel` at `version` stored last (for a version the parent does
/// not reference: a caller sending versions out of the usual line).
async fn latest_origin(
    conn: &mut SqliteConnection,
    thread_id: &str,
    ns: &str,
    channel: &str,
    version: i64,
) -> Result<Option<String>, CheckpointError> {
    sqlx::query_scalar(
        "SELECT origin FROM blobs
          WHERE thread_id = ?1 AND ns = ?2 AND channel = ?3 AND version = ?4
          ORDER BY rowid DESC LIMIT 1",
    )
    .bind(thread_id)
    .bind(ns)
    .bind(channel)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)
}

/// `put` inside a transaction.
async fn put_in(
    conn: &mut SqliteConnection,
    parent: &CheckpointRef,
    checkpoint: &Checkpoint,
    metadata: &CheckpointMetadata,
    new_versions: &BTreeMap<String, u64>,
    mode: PutMode,
) -> Result<CheckpointRef, CheckpointError> {
    let (thread_id, ns) = (&parent.thread_id, &parent.namespace);
    let conflict = || CheckpointError::Conflict {
        thread_id: thread_id.clone(),
        parent: parent.checkpoint_id.clone(),
    };
    // The parent: none only for a thread's first checkpoint; otherwise it must exist.
    let parent_refs: ChannelRefs = match &parent.checkpoint_id {
        None => {
            let any: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM checkpoints WHERE thread_id = ?1 AND ns = ?2 LIMIT 1")
                    .bind(thread_id)
                    .bind(ns)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            if any.is_some() {
                return Err(conflict());
            }
            ChannelRefs::new()
        }
        Some(p) => {
            let refs: Option<String> = sqlx::query_scalar(
                "SELECT channel_refs FROM checkpoints
                  WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3",
            )
            .bind(thread_id)
            .bind(ns)
            .bind(p)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
            match refs {
                Some(json) => decode("channel references", &json)?,
                None => {
                    return Err(CheckpointError::NotFound {
                        thread_id: thread_id.clone(),
                        checkpoint_id: p.clone(),
                    });
                }
            }
        }
    };
    let on_insert = |e: sqlx::Error| {
        if is_unique_violation(&e) {
            conflict()
        } else {
            db(e)
        }
    };

    // New values: reuse an identical stored value of the same version, else store it. A delta
    // is stored with a reference to the value it extends, as this checkpoint's parent sees it.
    let mut refs = ChannelRefs::new();
    for (channel, &v) in new_versions {
        let bytes = checkpoint.new_value(channel)?;
        let v = version(channel, v)?;
        let base = match checkpoint.channel_deltas.get(channel) {
            None => None,
            Some(&b) => {
                let b = version(channel, b)?;
                let origin = match parent_refs.get(channel).filter(|(have, _)| *have == b) {
                    Some((_, origin)) => Some(origin.clone()),
                    None => latest_origin(conn, thread_id, ns, channel, b).await?,
                };
                let origin = origin.ok_or_else(|| CheckpointError::Backend {
                    retryable: false,
                    source: format!(
                        "the new value of `{channel}` is a delta on version {b}, which is not stored"
                    )
                    .into(),
                })?;
                Some((b, origin))
            }
        };
        let (base_version, base_origin) = match &base {
            Some((b, origin)) => (Some(*b), Some(origin.as_str())),
            None => (None, None),
        };
        let same: Option<String> = sqlx::query_scalar(
            "SELECT origin FROM blobs
              WHERE thread_id = ?1 AND ns = ?2 AND channel = ?3 AND version = ?4 AND blob = ?5
                AND base_version IS ?6 AND base_origin IS ?7
              LIMIT 1",
        )
        .bind(thread_id)
        .bind(ns)
        .bind(channel)
        .bind(v)
        .bind(bytes)
        .bind(base_version)
        .bind(base_origin)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        let origin = match same {
            Some(origin) => origin,
            None => {
                sqlx::query(
                    "INSERT INTO blobs
                         (thread_id, ns, channel, version, origin, blob, base_version, base_origin)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .bind(thread_id)
                .bind(ns)
                .bind(channel)
                .bind(v)
                .bind(&checkpoint.id)
                .bind(bytes)
                .bind(base_version)
                .bind(base_origin)
                .execute(&mut *conn)
                .await
                .map_err(on_insert)?;
                checkpoint.id.clone()
            }
        };
        refs.insert(channel.clone(), (v, origin));
    }

    // Every field of the checkpoint points at its value: new ones above, unchanged ones where
    // the parent's point.
    let mut all = ChannelRefs::new();
    for (channel, &v) in &checkpoint.channel_versions {
        let v = version(channel, v)?;
        let known = refs
            .get(channel)
            .or_else(|| parent_refs.get(channel))
            .filter(|(have, _)| *have == v)
            .map(|(_, origin)| origin.clone());
        let origin = match known {
            Some(origin) => Some(origin),
            None => latest_origin(conn, thread_id, ns, channel, v).await?,
        };
        if let Some(origin) = origin {
            all.insert(channel.clone(), (v, origin));
        }
    }

    // The fencing key: the unique index on (thread_id, ns, extends) lets one checkpoint be
    // extended once, a thread have one first checkpoint, and a run fork a checkpoint once.
    let extends = match (&parent.checkpoint_id, mode) {
        (None, _) => Some(String::new()),
        (Some(p), PutMode::Extend) => Some(p.clone()),
        (Some(p), PutMode::Fork) => Some(fork_fence(p, &metadata.run_id)),
    };
    let stored = checkpoint.head();
    sqlx::query(
        "INSERT INTO checkpoints
             (thread_id, ns, checkpoint_id, parent_id, extends, checkpoint, metadata, channel_refs,
              created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(thread_id)
    .bind(ns)
    .bind(&checkpoint.id)
    .bind(&parent.checkpoint_id)
    .bind(extends)
    .bind(encode("checkpoint", &stored)?)
    .bind(encode("checkpoint metadata", metadata)?)
    .bind(encode("channel references", &all)?)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .map_err(on_insert)?;
    tracing::debug!(
        thread_id = %thread_id,
        ns = %ns,
        checkpoint_id = %checkpoint.id,
        parent = ?parent.checkpoint_id,
        ?mode,
        "agentflow-sqlite: put checkpoint"
    );
    Ok(parent.with_checkpoint(checkpoint.id.clone()))
}

async fn delete_thread_in(conn: &mut SqliteConnection, thread_id: &str) -> Result<(), CheckpointError> {
    for sql in [
        "DELETE FROM writes WHERE thread_id = ?1",
        "DELETE FROM checkpoints WHERE thread_id = ?1",
        "DELETE FROM blobs WHERE thread_id = ?1",
        "DELETE FROM intents WHERE thread_id = ?1",
    ] {
        sqlx::query(sql)
            .bind(thread_id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn keep_latest_in(conn: &mut SqliteConnection, thread_id: &str) -> Result<(), CheckpointError> {
    let latest =
        sqlx::query("SELECT ns, MAX(checkpoint_id) AS id FROM checkpoints WHERE thread_id = ?1 GROUP BY ns")
            .bind(thread_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    for row in latest {
        let ns: String = row.try_get("ns").map_err(db)?;
        let id: String = row.try_get("id").map_err(db)?;
        for sql in [
            "DELETE FROM writes WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id <> ?3",
            "DELETE FROM checkpoints WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id <> ?3",
            // The kept checkpoint starts the thread's history now.
            "UPDATE checkpoints SET parent_id = NULL, extends = ''
              WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3",
            // Keep the values the kept checkpoint references, with the bases of deltas.
            "DELETE FROM blobs WHERE thread_id = ?1 AND ns = ?2
                AND (channel, version, origin) NOT IN (
                 WITH RECURSIVE keep (channel, version, origin) AS (
                     SELECT j.key, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')
                       FROM checkpoints AS c, json_each(c.channel_refs) AS j
                      WHERE c.thread_id = ?1 AND c.ns = ?2 AND c.checkpoint_id = ?3
                     UNION
                     SELECT b.channel, b.base_version, b.base_origin
                       FROM keep AS k
                       JOIN blobs AS b
                         ON b.thread_id = ?1 AND b.ns = ?2 AND b.channel = k.channel
                        AND b.version = k.version AND b.origin = k.origin
                      WHERE b.base_version IS NOT NULL
                 )
                 SELECT channel, version, origin FROM keep)",
        ] {
            sqlx::query(sql)
                .bind(thread_id)
                .bind(&ns)
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

#[async_trait]
impl SaverMaintenance for SqliteSaver {
    async fn sweep_idle(&self, max_age: std::time::Duration) -> Result<u64, CheckpointError> {
        let cutoff = now_ms().saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
        let mut w = self.write_tx().await?;
        let threads: Vec<String> = sqlx::query_scalar(
            "SELECT thread_id FROM checkpoints GROUP BY thread_id HAVING MAX(created_at) < ?1",
        )
        .bind(cutoff)
        .fetch_all(&mut *w.tx)
        .await
        .map_err(db)?;
        for thread_id in &threads {
            delete_thread_in(&mut w.tx, thread_id).await?;
        }
        w.tx.commit().await.map_err(db)?;
        Ok(threads.len() as u64)
    }

    /// Values, writes and checkpoint rows (checkpoint, metadata and value references), in bytes.
    async fn stored_bytes(&self, thread_id: &str) -> Result<u64, CheckpointError> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT sum(length(blob)) FROM blobs WHERE thread_id = ?1), 0)
                  + coalesce((SELECT sum(length(blob)) FROM writes WHERE thread_id = ?1), 0)
                  + coalesce((SELECT sum(length(CAST(checkpoint AS BLOB)) + length(CAST(metadata AS BLOB))
                                         + length(CAST(channel_refs AS BLOB)))
                              FROM checkpoints WHERE thread_id = ?1), 0)",
        )
        .bind(thread_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

#[async_trait]
impl Checkpointer for SqliteSaver {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        // One read transaction: a consistent snapshot of the row, its values and its writes.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = match &target.checkpoint_id {
            Some(id) => sqlx::query(select_heads!(
                "WHERE thread_id = ?1 AND ns = ?2 AND checkpoint_id = ?3"
            ))
            .bind(&target.thread_id)
            .bind(&target.namespace)
            .bind(id),
            None => sqlx::query(select_heads!(
                "WHERE thread_id = ?1 AND ns = ?2 ORDER BY checkpoint_id DESC LIMIT 1"
            ))
            .bind(&target.thread_id)
            .bind(&target.namespace),
        }
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let tuple = match row {
            Some(row) => Some(load(&mut tx, head(&row)?).await?),
            None => None,
        };
        tx.commit().await.map_err(db)?;
        Ok(tuple)
    }

    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let sql = select_heads!(
            "WHERE (?1 IS NULL OR thread_id = ?1)
               AND (?2 IS NULL OR ns = ?2)
               AND (?3 IS NULL OR checkpoint_id < ?3)
             ORDER BY checkpoint_id DESC, thread_id, ns"
        );
        let limit = options.limit_or_default();
        let mut heads = Vec::new();
        if limit > 0 {
            let mut rows = sqlx::query(sql)
                .bind(thread.map(|t| &t.thread_id))
                .bind(thread.map(|t| &t.namespace))
                .bind(&options.before)
                .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let head = head(&row)?;
                if head.metadata.matches(&options.filter) {
                    heads.push(head);
                    if heads.len() >= limit {
                        break;
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(heads.len());
        for head in heads {
            out.push(load(&mut tx, head).await?);
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        let mut w = self.write_tx().await?;
        let stored = put_in(&mut w.tx, parent, checkpoint, metadata, new_versions, mode).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(stored)
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
        // The step's last writes and the checkpoint after them: one transaction, one commit.
        let mut w = self.write_tx().await?;
        if !writes.is_empty() {
            put_writes_in(&mut w.tx, parent, writes).await?;
        }
        let stored = put_in(&mut w.tx, parent, checkpoint, metadata, new_versions, mode).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        let mut w = self.write_tx().await?;
        put_writes_in(&mut w.tx, target, writes).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        let mut w = self.write_tx().await?;
        delete_thread_in(&mut w.tx, thread_id).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError> {
        let mut w = self.write_tx().await?;
        for thread_id in thread_ids {
            match strategy {
                PruneStrategy::Delete => delete_thread_in(&mut w.tx, thread_id).await?,
                PruneStrategy::KeepLatest => keep_latest_in(&mut w.tx, thread_id).await?,
            }
        }
        w.tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        let mut w = self.write_tx().await?;
        let used: Option<i64> = sqlx::query_scalar("SELECT 1 FROM checkpoints WHERE thread_id = ?1 LIMIT 1")
            .bind(target)
            .fetch_optional(&mut *w.tx)
            .await
            .map_err(db)?;
        if used.is_some() {
            return Err(CheckpointError::Conflict {
                thread_id: target.to_owned(),
                parent: None,
            });
        }
        for sql in [
            // Leftovers of an emptied target would shadow nothing, but keep the copy exact.
            "DELETE FROM writes WHERE thread_id = ?2",
            "DELETE FROM blobs WHERE thread_id = ?2",
            "INSERT INTO checkpoints
                 (thread_id, ns, checkpoint_id, parent_id, extends, checkpoint, metadata,
                  channel_refs, created_at)
             SELECT ?2, ns, checkpoint_id, parent_id, extends, checkpoint, metadata, channel_refs,
                    created_at
               FROM checkpoints WHERE thread_id = ?1",
            "INSERT INTO blobs
                 (thread_id, ns, channel, version, origin, blob, base_version, base_origin)
             SELECT ?2, ns, channel, version, origin, blob, base_version, base_origin
               FROM blobs WHERE thread_id = ?1",
            "INSERT INTO writes
                 (thread_id, ns, checkpoint_id, task_id, idx, task_path, channel, blob)
             SELECT ?2, ns, checkpoint_id, task_id, idx, task_path, channel, blob
               FROM writes WHERE thread_id = ?1",
        ] {
            sqlx::query(sql)
                .bind(source)
                .bind(target)
                .execute(&mut *w.tx)
                .await
                .map_err(db)?;
        }
        w.tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn claim_intent(
        &self,
        intent: &IntentRef,
        lease: IntentLease<'_>,
    ) -> Result<IntentClaim, CheckpointError> {
        let mut w = self.write_tx().await?;
        let claim = intents::claim(&mut w.tx, intent, lease).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(claim)
    }

    async fn complete_intent(
        &self,
        intent: &IntentRef,
        owner: &str,
        result: &[u8],
    ) -> Result<bool, CheckpointError> {
        let mut w = self.write_tx().await?;
        let done = intents::complete(&mut w.tx, intent, owner, result).await?;
        w.tx.commit().await.map_err(db)?;
        Ok(done)
    }

    async fn release_intent(&self, intent: &IntentRef, owner: &str) -> Result<(), CheckpointError> {
        let mut w = self.write_tx().await?;
        intents::release(&mut w.tx, intent, owner).await?;
        w.tx.commit().await.map_err(db)
    }
}
