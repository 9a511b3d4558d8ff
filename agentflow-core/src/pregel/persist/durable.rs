//! A run's durable bookkeeping: the current checkpoint, field versions, what the saver holds
//! of each field, and what tasks left before the run stopped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use crate::checkpoint::{
    Checkpoint, CheckpointMetadata, CheckpointRef, CheckpointSource, CheckpointTuple, Codec, PendingWrite,
    PutMode, VersionsSeen, checkpoint_number, format_checkpoint_id, next_checkpoint_number,
};
use crate::config::Durability;
use crate::control::Interrupt;
use crate::state::{Applied, FieldSet, State};

use super::Persister;
use super::persister::PutOp;

/// What a task left at the current checkpoint before the run stopped.
#[derive(Default)]
pub(crate) struct SavedTask {
    pub(crate) result: Option<Vec<u8>>,
    pub(crate) interrupts: Vec<Interrupt>,
    pub(crate) resume: Vec<serde_json::Value>,
    pub(crate) journal: Vec<(String, Vec<u8>)>,
}

/// A run's durable bookkeeping. Made by [`Durable::for_run`] or [`Durable::for_update`]; the
/// engine moves it on through named steps ([`advance`](Durable::advance),
/// [`mark_persisted`](Durable::mark_persisted), ...).
pub(crate) struct Durable {
    persister: Arc<Persister>,
    thread: CheckpointRef,
    /// The checkpoint of the current superstep (the one pending writes go to).
    checkpoint: CheckpointId,
    /// `checkpoint` in the thread, made when first asked for (exit mode never asks).
    current: OnceLock<Arc<CheckpointRef>>,
    /// The newest checkpoint known to be in the saver (or queued for it).
    persisted: Option<String>,
    /// How the next put relates to `persisted`.
    mode: PutMode,
    step: i64,
    versions: Vec<u64>,
    /// Per node, the field versions it saw when it last ran (shared: one snapshot per step).
    versions_seen: VersionsSeen,
    /// Fields written since `persisted`.
    dirty: FieldSet,
    /// Fields written by the step that produced the current checkpoint.
    updated: FieldSet,
    source: CheckpointSource,
    saved: HashMap<String, SavedTask>,
    /// Resumed from a pause before this step's nodes: do not pause there again.
    skip_before: bool,
    extra: BTreeMap<String, serde_json::Value>,
    run_id: String,
    /// Per field: what the last persisted checkpoint holds (for delta encoding).
    stored: Vec<StoredField>,
    /// Fields overwritten since the last persisted checkpoint (their next write is a full value).
    replaced: FieldSet,
    /// What the current superstep's task ids (and so its steps' idempotency keys) derive from;
    /// see [`Durable::lineage`].
    lineage: u128,
}

/// What the saver holds of one field.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StoredField {
    /// The persisted version (0: none).
    pub(crate) version: u64,
    /// For append fields: the persisted length.
    pub(crate) len: Option<usize>,
    /// Bytes of the last full snapshot.
    pub(crate) snapshot_bytes: usize,
    /// Bytes of the deltas written since it.
    pub(crate) delta_bytes: usize,
    /// Values in the stored chain: the snapshot and the deltas since it (0: none stored).
    pub(crate) segments: usize,
}

/// A checkpoint id as a number (what task ids and versions derive from) and as text (what
/// savers store), which is made only when asked for: in exit mode, most steps' ids never are.
#[derive(Debug)]
pub(crate) struct CheckpointId {
    number: u128,
    text: OnceLock<String>,
}

impl CheckpointId {
    /// An id read from a saver or given by the caller.
    pub(crate) fn parse(text: String) -> Self {
        let number = checkpoint_number(&text)
            // Not an id this crate made: a number only for deriving task ids and versions.
            .unwrap_or_else(|| u128::from(crate::ids::fnv64(text.as_bytes())));
        CheckpointId {
            number,
            text: OnceLock::from(text),
        }
    }

    /// A new id, after `previous` if there is one (as [`next_checkpoint_id`] makes).
    ///
    /// [`next_checkpoint_id`]: crate::checkpoint::next_checkpoint_id
    pub(crate) fn next(previous: Option<&str>) -> Self {
        Self::after(previous.and_then(checkpoint_number))
    }

    fn after(previous: Option<u128>) -> Self {
        CheckpointId {
            number: next_checkpoint_number(previous),
            text: OnceLock::new(),
        }
    }

    pub(crate) fn number(&self) -> u128 {
        self.number
    }

    pub(crate) fn as_str(&self) -> &str {
        self.text.get_or_init(|| format_checkpoint_id(self.number))
    }
}

/// The metadata key under which a checkpoint records its lineage ([`Durable::lineage`]), as 32
/// hex digits.
pub(crate) const LINEAGE_KEY: &str = "__lineage__";

/// The lineage a stored checkpoint recorded; for checkpoints written before lineages were
/// recorded, the number of its id (`number`), which task ids derived from then.
pub(crate) fn stored_lineage(number: u128, metadata: &BTreeMap<String, serde_json::Value>) -> u128 {
    metadata
        .get(LINEAGE_KEY)
        .and_then(serde_json::Value::as_str)
        .and_then(|text| u128::from_str_radix(text, 16).ok())
        .unwrap_or(number)
}

/// The lineage of the superstep after one with lineage `lineage`.
pub(crate) fn next_lineage(lineage: u128) -> u128 {
    crate::ids::StableHasher::new()
        .field(&lineage.to_le_bytes())
        .field(b"next superstep")
        .finish()
}

/// The thread and saver a [`Durable`] writes to.
pub(crate) struct DurableTarget {
    pub(crate) persister: Arc<Persister>,
    /// The thread (no checkpoint id).
    pub(crate) thread: CheckpointRef,
}

impl Durable {
    /// The common start: at `checkpoint`, nothing known about fields, persisted or saved.
    fn at(target: DurableTarget, checkpoint: CheckpointId, fields: usize) -> Self {
        Durable {
            persister: target.persister,
            thread: target.thread,
            current: OnceLock::new(),
            persisted: None,
            mode: PutMode::Extend,
            step: -2,
            versions: vec![0; fields],
            versions_seen: VersionsSeen::default(),
            dirty: FieldSet::EMPTY,
            updated: FieldSet::EMPTY,
            source: CheckpointSource::Input,
            saved: HashMap::new(),
            skip_before: false,
            extra: BTreeMap::new(),
            run_id: String::new(),
            stored: vec![StoredField::default(); fields],
            replaced: FieldSet::EMPTY,
            lineage: checkpoint.number(),
            checkpoint,
        }
    }

    /// A run's bookkeeping, at the checkpoint it starts from (`None`: a new thread), which it
    /// forks when `forking`. Its checkpoints carry `extra` metadata and `run_id`. The field
    /// versions come once the checkpoint is restored ([`restore_fields`](Self::restore_fields)).
    pub(crate) fn for_run<S: State>(
        target: DurableTarget,
        from: Option<&CheckpointTuple>,
        forking: bool,
        extra: BTreeMap<String, serde_json::Value>,
        run_id: String,
    ) -> Self {
        let id = from.map(|t| t.checkpoint.id.clone());
        let mut durable = Self::at(
            target,
            CheckpointId::parse(id.clone().unwrap_or_default()),
            S::FIELDS.len(),
        );
        durable.persisted = id;
        durable.mode = if forking { PutMode::Fork } else { PutMode::Extend };
        if let Some(t) = from {
            durable.step = t.metadata.step;
            durable.versions_seen = t.checkpoint.versions_seen.clone();
            durable.source = t.metadata.source;
            durable.resume_lineage(&t.metadata.extra);
        }
        durable.extra = extra;
        durable.run_id = run_id;
        durable
    }

    /// The bookkeeping of a state update: a new checkpoint after `parent` (whose field versions
    /// and stored fields are `versions` and `stored`), with the `applied` update's fields
    /// changed. It extends the thread when `parent` is its `head`, else forks it.
    pub(crate) fn for_update(
        target: DurableTarget,
        parent: &CheckpointTuple,
        head: Option<&str>,
        versions: Vec<u64>,
        stored: Vec<StoredField>,
        applied: &Applied,
    ) -> Self {
        let parent_id = parent.checkpoint.id.as_str();
        let checkpoint = CheckpointId::next(head.max(Some(parent_id)));
        let mut durable = Self::at(target, checkpoint, 0);
        durable.persisted = Some(parent_id.to_owned());
        durable.mode = if head == Some(parent_id) {
            PutMode::Extend
        } else {
            PutMode::Fork
        };
        durable.step = parent.metadata.step + 1;
        durable.versions = versions;
        durable.versions_seen = parent.checkpoint.versions_seen.clone();
        durable.dirty = applied.changed;
        durable.updated = applied.changed;
        durable.source = CheckpointSource::Update;
        durable.extra = parent.metadata.extra.clone();
        durable.run_id = crate::ids::uuid_v7().to_string();
        durable.stored = stored;
        durable.replaced = applied.replaced;
        durable.bump_versions(applied.changed);
        durable
    }

    /// Takes the field versions of the restored checkpoint, and what the saver holds of each.
    pub(crate) fn restore_fields(&mut self, versions: Vec<u64>, stored: Vec<StoredField>) {
        self.versions = versions;
        self.stored = stored;
    }

    /// Takes what the restored checkpoint's tasks left, and whether it paused before its nodes.
    pub(crate) fn restore_saved(&mut self, saved: HashMap<String, SavedTask>, paused_before: bool) {
        self.saved = saved;
        self.skip_before = paused_before;
    }

    /// Moves to a new input checkpoint after the persisted one (the step before the first loop
    /// step).
    pub(crate) fn begin_input(&mut self) {
        self.set_checkpoint(CheckpointId::next(self.persisted.as_deref()));
        self.step += 1;
        self.source = CheckpointSource::Input;
    }

    /// Moves to a fork of the persisted checkpoint (same step, a new branch).
    pub(crate) fn begin_fork(&mut self) {
        self.set_checkpoint(CheckpointId::next(self.persisted.as_deref()));
        self.source = CheckpointSource::Fork;
    }

    pub(crate) fn persister(&self) -> &Arc<Persister> {
        &self.persister
    }

    /// The current checkpoint's step.
    pub(crate) fn step(&self) -> i64 {
        self.step
    }

    /// Whether the current checkpoint is in the saver (or queued for it).
    pub(crate) fn is_persisted(&self) -> bool {
        self.persisted.as_deref() == Some(self.checkpoint_id())
    }

    /// Whether to skip a pause before this step's nodes (once: resumed from that very pause).
    pub(crate) fn take_skip_before(&mut self) -> bool {
        std::mem::take(&mut self.skip_before)
    }

    /// What each task left at the current checkpoint before the run stopped, by task id.
    pub(crate) fn saved_tasks(&self) -> &HashMap<String, SavedTask> {
        &self.saved
    }

    /// What task `task_id` left, to add resume values to.
    pub(crate) fn saved_task_mut(&mut self, task_id: &str) -> Option<&mut SavedTask> {
        self.saved.get_mut(task_id)
    }

    /// The current checkpoint's id.
    pub(crate) fn checkpoint_id(&self) -> &str {
        self.checkpoint.as_str()
    }

    /// The number the current checkpoint's task ids derive from.
    pub(crate) fn checkpoint_number(&self) -> u128 {
        self.checkpoint.number()
    }

    /// Moves to `checkpoint`, which starts a lineage of its own (it is durable before any task
    /// of it runs: an input, a fork).
    fn set_checkpoint(&mut self, checkpoint: CheckpointId) {
        self.lineage = checkpoint.number();
        self.checkpoint = checkpoint;
        self.current = OnceLock::new();
    }

    /// What the current superstep's task ids derive from, so that a step's idempotency key is
    /// the same whenever the superstep runs again on the same branch, whichever checkpoint was
    /// the last to reach the saver before a crash.
    ///
    /// A checkpoint that is durable before its tasks run (a run's first checkpoint, a fork)
    /// starts a lineage with its own id; each superstep after it derives the next lineage from
    /// the one before ([`next_lineage`]), not from its checkpoint's id, which async and exit
    /// modes may never save. Every checkpoint records its lineage ([`LINEAGE_KEY`]), and a run
    /// resuming from it picks the lineage up.
    pub(crate) fn lineage(&self) -> u128 {
        self.lineage
    }

    /// Picks up the lineage a stored checkpoint recorded ([`stored_lineage`]).
    fn resume_lineage(&mut self, metadata: &BTreeMap<String, serde_json::Value>) {
        self.lineage = stored_lineage(self.checkpoint.number(), metadata);
    }

    /// The current checkpoint, shared by the tasks of the step.
    pub(crate) fn current(&self) -> Arc<CheckpointRef> {
        self.current
            .get_or_init(|| Arc::new(self.thread.with_checkpoint(self.checkpoint_id())))
            .clone()
    }

    /// The last persisted checkpoint (deferred writes belong to it).
    pub(crate) fn previous_ref(&self) -> CheckpointRef {
        CheckpointRef {
            checkpoint_id: self.persisted.clone(),
            ..self.thread.clone()
        }
    }

    pub(crate) fn codec(&self) -> &dyn Codec {
        &*self.persister.codec
    }

    /// Takes what task `task_id` saved before (journal, resume values, result).
    pub(crate) fn take_saved(&mut self, task_id: crate::ids::TaskId) -> Option<SavedTask> {
        // Most steps have nothing saved: skip formatting the id.
        if self.saved.is_empty() {
            return None;
        }
        self.saved.remove(&task_id.to_string())
    }

    /// Moves to the checkpoint after a step that `applied` its writes: a new id, the next step,
    /// new versions for the changed fields.
    pub(crate) fn advance(&mut self, source: CheckpointSource, applied: &Applied) {
        self.replaced = self.replaced.union(applied.replaced);
        let lineage = next_lineage(self.lineage);
        let next = CheckpointId::after(Some(self.checkpoint.number()));
        self.set_checkpoint(next);
        self.lineage = lineage;
        self.step += 1;
        self.source = source;
        self.updated = applied.changed;
        self.dirty = self.dirty.union(applied.changed);
        self.saved.clear();
        self.skip_before = false;
        if self.persister.durability == Durability::Exit {
            self.persister.clear_exit_writes();
        }
        self.bump_versions(applied.changed);
    }

    /// Gives the `changed` fields a new version, derived from the current checkpoint's id: unique
    /// within the thread, so that the branches of a fork never share a version number for
    /// different values (savers store values by field and version).
    fn bump_versions(&mut self, changed: FieldSet) {
        if changed.is_empty() {
            return;
        }
        // Versions only need to differ between the checkpoints of a thread, and this runs every
        // superstep: 64 bits of hash, not the 128 of the persisted ids.
        let hash = crate::ids::fnv64(&self.checkpoint.number().to_le_bytes());
        // Positive and non-zero (0 means "no version"; PostgreSQL's BIGINT is signed).
        let next = (hash & (i64::MAX as u64)).max(1);
        for i in changed.iter() {
            if let Some(v) = self.versions.get_mut(i) {
                *v = next;
            }
        }
    }

    /// Records that `nodes` saw the current versions (one shared slice for all of them).
    pub(crate) fn record_seen<'a, S: State>(&mut self, nodes: impl Iterator<Item = &'a Arc<str>>) {
        let seen: Arc<[u64]> = Arc::from(self.versions.as_slice());
        for node in nodes {
            self.versions_seen.record(node, S::FIELDS, seen.clone());
        }
    }

    /// What the saver holds of field `index`.
    pub(super) fn stored_field(&self, index: usize) -> StoredField {
        self.stored.get(index).copied().unwrap_or_default()
    }

    /// Whether field `index` was overwritten since the last persisted checkpoint.
    pub(super) fn is_replaced(&self, index: usize) -> bool {
        self.replaced.contains(index)
    }

    /// Every field's current version (0: never written).
    pub(super) fn versions(&self) -> &[u64] {
        &self.versions
    }

    pub(super) fn versions_seen(&self) -> &VersionsSeen {
        &self.versions_seen
    }

    /// Fields written by the step that produced the current checkpoint.
    pub(super) fn updated(&self) -> FieldSet {
        self.updated
    }

    /// Fields written since the last persisted checkpoint (what the next put holds).
    pub(super) fn dirty(&self) -> FieldSet {
        self.dirty
    }

    /// The put of the current checkpoint as `checkpoint`, with `writes` against the last
    /// persisted one.
    pub(super) fn put_op(
        &self,
        checkpoint: Checkpoint,
        new_versions: BTreeMap<String, u64>,
        writes: Vec<PendingWrite>,
    ) -> PutOp {
        let mut extra = self.extra.clone();
        extra.insert(
            LINEAGE_KEY.to_owned(),
            serde_json::Value::String(format!("{:032x}", self.lineage)),
        );
        PutOp {
            writes,
            parent: self.previous_ref(),
            checkpoint,
            metadata: CheckpointMetadata {
                source: self.source,
                step: self.step,
                parents: BTreeMap::new(),
                run_id: self.run_id.clone(),
                extra,
            },
            new_versions,
            mode: self.mode,
        }
    }

    /// Records that the current checkpoint is in the saver (or queued for it): the next put
    /// extends it with the fields written after it.
    pub(super) fn mark_persisted(&mut self) {
        self.persisted = Some(self.checkpoint_id().to_owned());
        self.mode = PutMode::Extend;
        self.dirty = FieldSet::EMPTY;
        self.replaced = FieldSet::EMPTY;
    }

    /// Records that the persisted checkpoint wrote field `index` as `bytes` bytes, a delta or a
    /// full value, the field being `len` items long if it is an append field.
    pub(super) fn record_written(&mut self, index: usize, len: Option<usize>, bytes: usize, delta: bool) {
        let version = self.versions.get(index).copied().unwrap_or(0);
        let Some(stored) = self.stored.get_mut(index) else {
            return;
        };
        stored.version = version;
        stored.len = len;
        if delta {
            stored.delta_bytes += bytes;
            stored.segments += 1;
        } else {
            stored.snapshot_bytes = bytes;
            stored.delta_bytes = 0;
            stored.segments = 1;
        }
    }
}
