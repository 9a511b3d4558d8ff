//! Reading checkpoints back: the rows, then the values and pending writes of all of them in two
//! more queries, however many checkpoints are read (a `list` of N costs 3 queries, not 1 + 2N).

use std::collections::{BTreeMap, HashMap};

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointTuple, Corruption, MAX_DELTA_CHAIN,
    PendingWrite, Segment, put_field_value,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::database::Database;
use crate::error::classify;
use crate::inline;
use crate::saver::backend;

/// A checkpoint row, with the values it holds inline, before its other values and its writes
/// are read.
pub(crate) struct Head {
    thread_id: String,
    ns: String,
    id: String,
    parent: Option<String>,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
}

impl Head {
    /// A row of `checkpoint_id, parent_id, checkpoint, metadata, thread_id, ns, inline`.
    pub(crate) fn from_row(row: &PgRow) -> Result<Head, CheckpointError> {
        let checkpoint: sqlx::types::Json<Checkpoint> = row.try_get("checkpoint").map_err(backend)?;
        let metadata: sqlx::types::Json<CheckpointMetadata> = row.try_get("metadata").map_err(backend)?;
        let inline: Option<serde_json::Value> = row.try_get("inline").map_err(backend)?;
        let mut head = Head {
            thread_id: row.try_get("thread_id").map_err(backend)?,
            ns: row.try_get("ns").map_err(backend)?,
            id: row.try_get("checkpoint_id").map_err(backend)?,
            parent: row.try_get("parent_id").map_err(backend)?,
            checkpoint: checkpoint.0,
            metadata: metadata.0,
        };
        head.checkpoint.channel_values =
            inline::read(inline, &head.checkpoint.channel_versions).map_err(|p| head.corrupt(p))?;
        Ok(head)
    }

    fn corrupt(&self, problem: Corruption) -> CheckpointError {
        problem.at(&self.thread_id, &self.id)
    }

    /// The fields whose values are in `blobs` (not inline), with their versions.
    fn stored_fields(&self) -> Result<Vec<(String, i64)>, CheckpointError> {
        self.checkpoint
            .channel_versions
            .iter()
            .filter(|(field, _)| !self.checkpoint.channel_values.contains_key(*field))
            .map(|(field, version)| {
                let version = i64::try_from(*version).map_err(|_| {
                    self.corrupt(Corruption::OutOfRange {
                        what: format!("the version of field `{field}`"),
                        value: version.to_string(),
                        allowed: format!("1..={}", i64::MAX),
                    })
                })?;
                Ok((field.clone(), version))
            })
            .collect()
    }
}

/// A stored value to read: (thread, namespace, field, version).
type Key = (String, String, String, i64);

/// The statements [`tuples`] runs (the saver's, in its schema).
pub(crate) struct Statements<'a> {
    /// Chains of values by key (see the saver's `blobs`).
    pub(crate) blobs: &'a str,
    /// Pending writes of several checkpoints.
    pub(crate) writes: &'a str,
}

/// The tuples of `heads`, in order: their values from `blobs` (checked chain by chain) and
/// their pending writes, in two queries on one connection.
pub(crate) async fn tuples(
    db: &Database,
    sql: Statements<'_>,
    heads: Vec<Head>,
) -> Result<Vec<CheckpointTuple>, CheckpointError> {
    let Some(first) = heads.first() else {
        return Ok(Vec::new());
    };
    let context = (first.thread_id.clone(), first.id.clone());
    // Each stored value once, however many checkpoints share it.
    let mut keys: Vec<Key> = Vec::new();
    let mut key_of: HashMap<Key, usize> = HashMap::new();
    let mut wanted: Vec<Vec<(String, u64, usize)>> = Vec::with_capacity(heads.len());
    for head in &heads {
        let mut fields = Vec::new();
        for (field, version) in head.stored_fields()? {
            let key = (head.thread_id.clone(), head.ns.clone(), field.clone(), version);
            let index = *key_of.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                keys.len()
            });
            fields.push((field, version as u64, index));
        }
        wanted.push(fields);
    }
    let column = |pick: fn(&Key) -> String| keys.iter().map(pick).collect::<Vec<String>>();
    let (threads, nss, fields) = (
        column(|k| k.0.clone()),
        column(|k| k.1.clone()),
        column(|k| k.2.clone()),
    );
    let versions: Vec<i64> = keys.iter().map(|k| k.3).collect();
    let checkpoints = (
        heads.iter().map(|h| h.thread_id.clone()).collect::<Vec<_>>(),
        heads.iter().map(|h| h.ns.clone()).collect::<Vec<_>>(),
        heads.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
    );
    let persistent = db.persistent;
    let (chains, writes) = db
        .run(async |conn| {
            let chains = if keys.is_empty() {
                Vec::new()
            } else {
                sqlx::query(sql.blobs)
                    .bind(&threads)
                    .bind(&nss)
                    .bind(&fields)
                    .bind(&versions)
                    .bind(MAX_DELTA_CHAIN as i32)
                    .persistent(persistent)
                    .fetch_all(&mut *conn)
                    .await?
            };
            let writes = sqlx::query(sql.writes)
                .bind(&checkpoints.0)
                .bind(&checkpoints.1)
                .bind(&checkpoints.2)
                .persistent(persistent)
                .fetch_all(&mut *conn)
                .await?;
            Ok((chains, writes))
        })
        .await
        .map_err(|e| classify(e, &context.0, Some(&context.1)))?;
    let segments = segments_by_key(chains)?;
    let mut writes = writes_by_checkpoint(writes)?;
    heads
        .into_iter()
        .zip(wanted)
        .map(|(mut head, fields)| {
            for (field, version, key) in fields {
                let chain = segments.get(&key).cloned().unwrap_or(Ok(Vec::new()));
                chain
                    .and_then(|chain| put_field_value(&mut head.checkpoint, &field, version, chain))
                    .map_err(|p| head.corrupt(p))?;
            }
            let address = (head.thread_id, head.ns, head.id);
            let pending_writes = writes.remove(&address).unwrap_or_default();
            let (thread_id, ns, id) = address;
            Ok(CheckpointTuple::stored(
                thread_id,
                ns,
                id,
                head.parent,
                head.checkpoint,
                head.metadata,
                pending_writes,
            ))
        })
        .collect()
}

/// The segments of each key (1-based, as `WITH ORDINALITY` numbers them), newest first, or
/// what is wrong with them.
type Chains = HashMap<usize, Result<Vec<Segment>, Corruption>>;

/// The rows of the `blobs` statement as segments per key.
fn segments_by_key(rows: Vec<PgRow>) -> Result<Chains, CheckpointError> {
    let mut out = Chains::new();
    for row in rows {
        let key: i64 = row.try_get("key").map_err(backend)?;
        let channel: String = row.try_get("channel").map_err(backend)?;
        let version: i64 = row.try_get("version").map_err(backend)?;
        let base: Option<i64> = row.try_get("base_version").map_err(backend)?;
        let bytes: Vec<u8> = row.try_get("blob").map_err(backend)?;
        let key = usize::try_from(key).map_err(backend)?;
        let segment = Segment::from_stored(&channel, version, base, bytes);
        let chain = out.entry(key).or_insert_with(|| Ok(Vec::new()));
        match (chain, segment) {
            (Ok(chain), Ok(segment)) => chain.push(segment),
            (chain @ Ok(_), Err(problem)) => *chain = Err(problem),
            (Err(_), _) => {}
        }
    }
    Ok(out)
}

/// A checkpoint's address: (thread, namespace, id).
type Address = (String, String, String);

/// The rows of the `writes` statement by checkpoint, in order.
fn writes_by_checkpoint(rows: Vec<PgRow>) -> Result<BTreeMap<Address, Vec<PendingWrite>>, CheckpointError> {
    let mut out: BTreeMap<Address, Vec<PendingWrite>> = BTreeMap::new();
    for row in rows {
        let address = (
            row.try_get("thread_id").map_err(backend)?,
            row.try_get("ns").map_err(backend)?,
            row.try_get("checkpoint_id").map_err(backend)?,
        );
        let write = PendingWrite {
            task_id: row.try_get("task_id").map_err(backend)?,
            task_path: row.try_get("task_path").map_err(backend)?,
            channel: row.try_get("channel").map_err(backend)?,
            idx: row.try_get("idx").map_err(backend)?,
            value: row.try_get("blob").map_err(backend)?,
        };
        out.entry(address).or_default().push(write);
    }
    Ok(out)
}
