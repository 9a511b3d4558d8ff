//! Checkpoints: the durable record of a thread's runs, and the [`Checkpointer`] trait that
//! stores them.
//!
//! A checkpoint is written at the start of every superstep (after the previous step's writes were
//! merged), plus one for the input of each run. The writes a task makes while a step runs are
//! saved as *pending writes* against the checkpoint of that step, so that a resumed run re-uses
//! finished tasks and re-runs only the failed and unfinished ones.
//!
//! # Guarantees every saver must give (the conformance kit checks them)
//!
//! - **Ordering**: the engine awaits a task's pending writes before it puts the checkpoint that
//!   follows them (in `sync` durability and, through one ordered queue, in `async`), so a
//!   checkpoint is never durable while writes that precede it are not.
//! - **Fencing**: a [`PutMode::Extend`] put names the checkpoint it extends; if another writer
//!   already extended that checkpoint (or the thread already has checkpoints and no parent is
//!   named), the put fails with [`CheckpointError::Conflict`]. Two runs racing on one thread:
//!   exactly one wins.
//! - **Fork fencing**: a [`PutMode::Fork`] put may branch off a checkpoint that already has
//!   children, but one run (the `run_id` of the metadata) forks one checkpoint at most once: a
//!   second fork of the same parent by the same run fails with [`CheckpointError::Conflict`].
//! - **Step intents**: [`claim_intent`](Checkpointer::claim_intent) is atomic; of two runners
//!   claiming one key while neither claim expired, exactly one gets [`IntentClaim::Fresh`] (or
//!   [`IntentClaim::Ambiguous`]) and the other [`IntentClaim::Held`]. A completed intent returns
//!   its result forever after.
//! - **Typed data**: values are bytes from a [`Codec`]; savers never interpret them.
//! - **Damaged data is an error**: a field version without a stored value, a delta whose base
//!   is gone, a delta chain that loops or is longer than [`MAX_DELTA_CHAIN`]: reading that
//!   checkpoint fails with [`CheckpointError::Corrupt`] (savers check chains with
//!   [`put_field_value`]), never with a panic, an endless query or a field silently left out.

mod chain;
mod codec;
mod corrupt;
mod filter;
mod intent;
mod maintenance;
mod memory;
#[cfg(feature = "msgpack")]
mod msgpack;
mod seen;
pub mod shared;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use chain::{MAX_DELTA_CHAIN, Segment, put_field_value, stored_version};
pub use codec::{Builtin, Codec, CodecError, JsonCodec};
#[cfg(feature = "msgpack")]
pub use codec::{FastMsgPackCodec, MsgPackCodec};
pub use corrupt::Corruption;
pub use filter::{DEFAULT_LIST_LIMIT, ENGINE_METADATA_KEYS};
pub use intent::{DEFAULT_INTENT_LEASE, IntentClaim, IntentLease, IntentRef, lease_millis};
pub use maintenance::SaverMaintenance;
pub use memory::InMemorySaver;
pub use seen::VersionsSeen;

/// The current checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Where a checkpoint lives: a thread, a namespace (empty for the top graph) and, optionally, a
/// checkpoint id (none means "the latest").
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckpointRef {
    /// The thread.
    pub thread_id: String,
    /// The namespace: empty for the top-level graph.
    pub namespace: String,
    /// A checkpoint id, or `None` for the latest.
    pub checkpoint_id: Option<String>,
}

impl CheckpointRef {
    /// The latest checkpoint of a thread's top-level graph.
    pub fn latest(thread_id: impl Into<String>) -> Self {
        CheckpointRef {
            thread_id: thread_id.into(),
            namespace: String::new(),
            checkpoint_id: None,
        }
    }

    /// A specific checkpoint.
    pub fn at(thread_id: impl Into<String>, checkpoint_id: impl Into<String>) -> Self {
        CheckpointRef {
            thread_id: thread_id.into(),
            namespace: String::new(),
            checkpoint_id: Some(checkpoint_id.into()),
        }
    }

    /// The same thread and namespace, at `checkpoint_id`.
    pub fn with_checkpoint(&self, checkpoint_id: impl Into<String>) -> Self {
        CheckpointRef {
            thread_id: self.thread_id.clone(),
            namespace: self.namespace.clone(),
            checkpoint_id: Some(checkpoint_id.into()),
        }
    }
}

/// A `Send` waiting for the next superstep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSend {
    /// The target node.
    pub node: String,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

/// A snapshot of a run between supersteps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`CHECKPOINT_VERSION`]).
    pub v: u32,
    /// Time-ordered id (a UUIDv7 string: sorting ids sorts by creation time).
    pub id: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Encoded state fields. In a `put` only the fields of `new_versions` (for a field in
    /// `channel_deltas`, only its new items); from a saver, every field (for a field stored as
    /// deltas, its last full snapshot, followed by `channel_appends`).
    #[serde(default)]
    pub channel_values: BTreeMap<String, Vec<u8>>,
    /// In a `put`: fields whose value in `channel_values` is a delta (the items appended since
    /// the given version), not a full value. Append fields are stored this way so that a growing
    /// list costs storage linear in its length, not quadratic.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channel_deltas: BTreeMap<String, u64>,
    /// From a saver: for fields stored as deltas, the appended segments that follow the snapshot
    /// in `channel_values`, oldest first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channel_appends: BTreeMap<String, Vec<Vec<u8>>>,
    /// Version of every state field: a new one, unique within the thread, whenever the field is
    /// written. Savers store values by (field, version).
    pub channel_versions: BTreeMap<String, u64>,
    /// For each node, the field versions it saw when it last ran.
    #[serde(default, skip_serializing_if = "VersionsSeen::is_empty")]
    pub versions_seen: VersionsSeen,
    /// The fields written by the step that produced this checkpoint.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub updated_channels: Vec<String>,
    /// Nodes triggered for the next superstep.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub next: Vec<String>,
    /// Sends queued for the next superstep, in order.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sends: Vec<PendingSend>,
    /// Joins partly satisfied: join key -> sources that have run.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub joins: BTreeMap<String, Vec<String>>,
    /// The codec that encoded the values.
    pub codec: String,
}

/// A checkpoint without its field values, borrowed: what a saver keeps in the checkpoint's own
/// record (values are stored by version). It serializes as [`Checkpoint`] does, minus the values,
/// and reads back as a `Checkpoint` with none. Unlike [`Checkpoint::without_values`] it copies
/// nothing: the maps of field names cost a hundred allocations to clone on a wide state.
///
/// ```
/// # use agentflow_core::checkpoint::Checkpoint;
/// # fn demo(checkpoint: &Checkpoint) -> serde_json::Result<()> {
/// let row = serde_json::to_vec(&checkpoint.head())?;
/// let back: Checkpoint = serde_json::from_slice(&row)?;
/// assert_eq!(back, checkpoint.without_values());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CheckpointHead<'a> {
    v: u32,
    id: &'a str,
    ts_ms: u64,
    channel_versions: &'a BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "is_seen_empty")]
    versions_seen: &'a VersionsSeen,
    #[serde(skip_serializing_if = "is_empty_ref")]
    updated_channels: &'a Vec<String>,
    #[serde(skip_serializing_if = "is_empty_ref")]
    next: &'a Vec<String>,
    #[serde(skip_serializing_if = "is_empty_ref")]
    sends: &'a Vec<PendingSend>,
    #[serde(skip_serializing_if = "is_empty_ref")]
    joins: &'a BTreeMap<String, Vec<String>>,
    codec: &'a str,
}

/// An empty checkpoint of the current format with no id, to fill with struct update syntax
/// (`Checkpoint { id, channel_values, ..Default::default() }`).
impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            v: CHECKPOINT_VERSION,
            id: String::new(),
            ts_ms: 0,
            channel_values: BTreeMap::new(),
            channel_deltas: BTreeMap::new(),
            channel_appends: BTreeMap::new(),
            channel_versions: BTreeMap::new(),
            versions_seen: VersionsSeen::default(),
            updated_channels: Vec::new(),
            next: Vec::new(),
            sends: Vec::new(),
            joins: BTreeMap::new(),
            codec: "json".into(),
        }
    }
}

impl Checkpoint {
    /// The value of a field that a put's `new_versions` names: every saver needs it, and its
    /// absence is the caller's error.
    pub fn new_value(&self, field: &str) -> Result<&[u8], CheckpointError> {
        self.channel_values
            .get(field)
            .map(Vec::as_slice)
            .ok_or_else(|| CheckpointError::Backend {
                retryable: false,
                source: format!("new version of `{field}` has no value").into(),
            })
    }

    /// The checkpoint without its values, borrowed ([`CheckpointHead`]).
    pub fn head(&self) -> CheckpointHead<'_> {
        CheckpointHead {
            v: self.v,
            id: &self.id,
            ts_ms: self.ts_ms,
            channel_versions: &self.channel_versions,
            versions_seen: &self.versions_seen,
            updated_channels: &self.updated_channels,
            next: &self.next,
            sends: &self.sends,
            joins: &self.joins,
            codec: &self.codec,
        }
    }

    /// The checkpoint without its field values (what a saver keeps in the checkpoint's own
    /// record; values are stored by version). Copies no value bytes.
    pub fn without_values(&self) -> Checkpoint {
        Checkpoint {
            v: self.v,
            id: self.id.clone(),
            ts_ms: self.ts_ms,
            channel_values: BTreeMap::new(),
            channel_deltas: BTreeMap::new(),
            channel_appends: BTreeMap::new(),
            channel_versions: self.channel_versions.clone(),
            versions_seen: self.versions_seen.clone(),
            updated_channels: self.updated_channels.clone(),
            next: self.next.clone(),
            sends: self.sends.clone(),
            joins: self.joins.clone(),
            codec: self.codec.clone(),
        }
    }
}

/// Why a checkpoint was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSource {
    /// The input of a run.
    Input,
    /// The loop, after a superstep.
    Loop,
    /// A manual `update_state`.
    Update,
    /// A copy of an earlier checkpoint, to run again from there.
    Fork,
}

/// What is known about a checkpoint besides its content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Why it was written.
    pub source: CheckpointSource,
    /// The superstep: -1 for an input checkpoint of a new thread, then 0, 1, ...
    pub step: i64,
    /// Namespace -> checkpoint id of the parent graphs (subgraphs).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub parents: BTreeMap<String, String>,
    /// The run that wrote it.
    pub run_id: String,
    /// User metadata (from `RunConfig::metadata`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A task's write, saved while its step runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    /// The task.
    pub task_id: String,
    /// The task's node (LangGraph's task path).
    pub task_path: String,
    /// What the write is (see [`channels`]).
    pub channel: String,
    /// Position: writes are upserted by `(task_id, idx)`.
    pub idx: i64,
    /// Encoded value.
    pub value: Vec<u8>,
}

/// Reserved write channels and their indices.
pub mod channels {
    /// A finished task's update and routes, as one value (`idx` 0).
    pub const RESULT: &str = "__result__";
    /// The input of a run, written by the `__start__` task (`idx` 0).
    pub const INPUT: &str = "__input__";
    /// A journaled step's result (`idx` = 1 + the step's position in the task); the channel is
    /// `__step__:{name}`.
    pub const STEP: &str = "__step__";
    /// A failed task's error message (`idx` -1).
    pub const ERROR: &str = "__error__";
    /// A task's pending interrupts (`idx` -3).
    pub const INTERRUPT: &str = "__interrupt__";
    /// Resume values for a task's interrupts, in order (`idx` -4).
    pub const RESUME: &str = "__resume__";
    /// Index of [`ERROR`].
    pub const ERROR_IDX: i64 = -1;
    /// Index of [`INTERRUPT`].
    pub const INTERRUPT_IDX: i64 = -3;
    /// Index of [`RESUME`].
    pub const RESUME_IDX: i64 = -4;

    /// The task id of a run's input writes ([`INPUT`]).
    pub const INPUT_TASK: &str = crate::START;
    /// The task id under which a pause before nodes (`interrupt_before`) is recorded, so that
    /// the resumed run does not pause there again.
    pub const INTERRUPT_BEFORE_TASK: &str = "__interrupt_before__";
    /// The writer named in a checkpoint made by `update_state` without `as_node`.
    pub const UPDATE_WRITER: &str = "__update__";
    /// The writer name of a resume command's update.
    pub const COMMAND_WRITER: &str = "__command__";
}

/// A checkpoint with its address, metadata, parent and pending writes.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointTuple {
    /// Where it is.
    pub config: CheckpointRef,
    /// The checkpoint, with every field's value.
    pub checkpoint: Checkpoint,
    /// Its metadata.
    pub metadata: CheckpointMetadata,
    /// The checkpoint it extends.
    pub parent: Option<CheckpointRef>,
    /// Writes saved against it, sorted by (task id, idx).
    pub pending_writes: Vec<PendingWrite>,
}

impl CheckpointTuple {
    /// The tuple of a stored checkpoint: its address is `(thread_id, namespace, checkpoint_id)`,
    /// its parent (if any) is in the same thread and namespace.
    pub fn stored(
        thread_id: String,
        namespace: String,
        checkpoint_id: String,
        parent_id: Option<String>,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        pending_writes: Vec<PendingWrite>,
    ) -> Self {
        let config = CheckpointRef {
            thread_id,
            namespace,
            checkpoint_id: Some(checkpoint_id),
        };
        CheckpointTuple {
            parent: parent_id.map(|p| config.with_checkpoint(p)),
            config,
            checkpoint,
            metadata,
            pending_writes,
        }
    }
}

fn is_empty<T>(collection: &T) -> bool
where
    for<'a> &'a T: IntoIterator,
{
    collection.into_iter().next().is_none()
}

fn is_seen_empty(seen: &&VersionsSeen) -> bool {
    seen.is_empty()
}

/// [`is_empty`] for a borrowed field of [`CheckpointHead`].
fn is_empty_ref<T>(collection: &&T) -> bool
where
    for<'a> &'a T: IntoIterator,
{
    is_empty(*collection)
}

/// How a put relates to its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutMode {
    /// Continue a line of history: the parent must not have been extended by anyone else.
    Extend,
    /// Branch off an earlier checkpoint (time travel): the parent may already have children,
    /// but the same run (`metadata.run_id`) may fork one parent only once, so that a fork
    /// attempted twice at once does not run its side effects on two branches.
    Fork,
}

/// What `list` returns.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Only checkpoints whose metadata matches every key ([`CheckpointMetadata::matches`]:
    /// JSON equality, not containment).
    pub filter: BTreeMap<String, serde_json::Value>,
    /// Only checkpoints with an id lower than this one.
    pub before: Option<String>,
    /// At most this many; `None` means [`DEFAULT_LIST_LIMIT`] in every saver (so that a
    /// forgotten limit cannot read a whole database), `Some(usize::MAX)` means all.
    pub limit: Option<usize>,
}

impl ListOptions {
    /// [`limit`](Self::limit), or [`DEFAULT_LIST_LIMIT`] when it is `None`.
    pub fn limit_or_default(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIST_LIMIT)
    }
}

/// What `prune` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneStrategy {
    /// Keep each namespace's latest checkpoint (with its pending writes); delete the rest.
    KeepLatest,
    /// Delete everything.
    Delete,
}

/// A saver failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Another writer extended the same checkpoint first (writer fencing).
    #[error(
        "conflict on thread `{thread_id}`: checkpoint {parent:?} was already extended by another \
         writer; reload the thread and retry"
    )]
    Conflict {
        /// The thread.
        thread_id: String,
        /// The checkpoint both writers extended (`None`: the thread's first checkpoint).
        parent: Option<String>,
    },
    /// A checkpoint that a request names does not exist.
    #[error("checkpoint {checkpoint_id} not found on thread `{thread_id}`")]
    NotFound {
        /// The thread.
        thread_id: String,
        /// The missing checkpoint.
        checkpoint_id: String,
    },
    /// Stored data is damaged: a delta without its base, an index or step out of range...
    /// Never retryable: reading it again gives the same.
    #[error("corrupt stored data on thread `{thread_id}`, checkpoint {checkpoint_id}: {problem}")]
    Corrupt {
        /// The thread.
        thread_id: String,
        /// The checkpoint whose data is damaged.
        checkpoint_id: String,
        /// What is wrong.
        problem: Corruption,
    },
    /// Encoding or decoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The storage backend failed; `retryable` says whether trying again may help.
    #[error("checkpoint storage failed: {source}")]
    Backend {
        /// Whether retrying may help (a lost connection) or not (a constraint violation).
        retryable: bool,
        /// The backend's error.
        #[source]
        source: crate::BoxError,
    },
}

impl CheckpointError {
    /// True when retrying the operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CheckpointError::Backend { retryable: true, .. })
    }
}

/// A store of checkpoints (LangGraph's `BaseCheckpointSaver`). Implementations: [`InMemorySaver`]
/// here, PostgreSQL in `agentflow-postgres`, SQLite in `agentflow-sqlite`. Check an implementation with the
/// conformance kit in `agentflow_core::testing` (feature `testing`).
#[async_trait]
pub trait Checkpointer: Send + Sync + 'static {
    /// The checkpoint `target` names, or the latest of its thread and namespace; `None` if there
    /// is none.
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError>;

    /// Checkpoints newest first: of one thread and namespace, or of every thread (`None`).
    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError>;

    /// Stores `checkpoint` as the child of `parent.checkpoint_id` (see [`PutMode`] for fencing).
    /// `checkpoint.channel_values` holds only the fields in `new_versions`; the others keep the
    /// values of their current versions. Returns the new checkpoint's address.
    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError>;

    /// Stores the writes a superstep's last task made against `parent.checkpoint_id`, then the
    /// checkpoint that follows them (see [`put`](Self::put)). Backends that can should do both in
    /// one transaction: a superstep then costs one durable commit. The default calls
    /// [`put_writes`](Self::put_writes), then [`put`](Self::put).
    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        if !writes.is_empty() {
            self.put_writes(parent, writes).await?;
        }
        self.put(parent, checkpoint, metadata, new_versions, mode).await
    }

    /// Stores a task's writes against checkpoint `target.checkpoint_id`, upserting by
    /// `(task_id, idx)`.
    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError>;

    /// Deletes every checkpoint and write of a thread (all namespaces).
    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError>;

    /// Deletes old checkpoints of the given threads, or the threads themselves.
    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError>;

    /// Copies every checkpoint and write of `source` to `target` (which must be empty).
    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError>;

    /// Claims a step's intent for `lease.owner` before its side effect runs, atomically: a key
    /// never claimed is created ([`IntentClaim::Fresh`]); a completed one returns its result
    /// ([`IntentClaim::Completed`]); a claim whose lease expired, or that `lease.owner` holds
    /// itself, passes to the claimant ([`IntentClaim::Ambiguous`]); a live claim of another
    /// owner is left alone ([`IntentClaim::Held`]). A claim that passes starts a new lease.
    async fn claim_intent(
        &self,
        intent: &IntentRef,
        lease: IntentLease<'_>,
    ) -> Result<IntentClaim, CheckpointError>;

    /// Completes `owner`'s claim with the effect's result, in one write. Returns `false` (and
    /// stores nothing) when `owner` no longer holds the claim: another runner took it over after
    /// the lease expired, or completed it.
    async fn complete_intent(
        &self,
        intent: &IntentRef,
        owner: &str,
        result: &[u8],
    ) -> Result<bool, CheckpointError>;

    /// Gives up `owner`'s claim without completing it (the effect failed): the next claimant,
    /// whoever it is, finds the outcome ambiguous at once instead of waiting for the lease.
    async fn release_intent(&self, intent: &IntentRef, owner: &str) -> Result<(), CheckpointError>;
}

/// A new checkpoint id: a UUIDv7, forced above `after` so that ids of one thread always sort in
/// creation order, even within one millisecond or if the clock steps back.
pub fn next_checkpoint_id(after: Option<&str>) -> String {
    format_checkpoint_id(next_checkpoint_number(after.and_then(checkpoint_number)))
}

/// The number of a checkpoint id, in any spelling of a UUID; `None` for other text.
pub(crate) fn checkpoint_number(id: &str) -> Option<u128> {
    uuid::Uuid::parse_str(id).ok().map(|id| id.as_u128())
}

/// [`next_checkpoint_id`] as a number: a fresh UUIDv7, or one more than `after` when the clock
/// is behind it.
pub(crate) fn next_checkpoint_number(after: Option<u128>) -> u128 {
    let fresh = crate::ids::uuid_v7().as_u128();
    match after {
        Some(prev) if fresh <= prev => prev.checked_add(1).unwrap_or(fresh),
        _ => fresh,
    }
}

/// A checkpoint id in its canonical text: lowercase and hyphenated, so that ids sort as text as
/// they do as numbers.
pub(crate) fn format_checkpoint_id(number: u128) -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Uuid::from_u128(number)
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod id_tests {
    use super::next_checkpoint_id;

    #[test]
    fn a_new_id_sorts_after_the_one_it_follows() {
        let old = "00000000-0000-7000-8000-000000000000";
        let fresh = next_checkpoint_id(Some(old));
        assert!(fresh.as_str() > old && fresh.len() == 36);
        // Ahead of the clock: one more than the previous id, in any spelling of it.
        let ahead = "ffffffff-ffff-7fff-bfff-ffffffffff00";
        assert_eq!(
            next_checkpoint_id(Some(ahead)),
            "ffffffff-ffff-7fff-bfff-ffffffffff01"
        );
        let upper = ahead.to_uppercase();
        assert_eq!(
            next_checkpoint_id(Some(&upper)),
            "ffffffff-ffff-7fff-bfff-ffffffffff01"
        );
        // Not an id: a fresh one.
        assert_eq!(next_checkpoint_id(Some("step-3")).len(), 36);
        let chain: Vec<String> = (0..1000).fold(vec![next_checkpoint_id(None)], |mut ids, _| {
            ids.push(next_checkpoint_id(ids.last().map(String::as_str)));
            ids
        });
        assert!(chain.windows(2).all(|w| w[0] < w[1]));
    }
}
