//! A run's durable bookkeeping: the current checkpoint, field versions, what the saver holds
//! of each field, and what tasks left before the run stopped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use crate::checkpoint::{
    CheckpointRef, CheckpointSource, Codec, PutMode, VersionsSeen, checkpoint_number, format_checkpoint_id,
    next_checkpoint_number,
};
use crate::config::Durability;
use crate::control::Interrupt;
use crate::state::{FieldSet, State};

use super::Persister;

/// What a task left at the current checkpoint before the run stopped.
#[derive(Default)]
pub(crate) struct SavedTask {
    pub(crate) result: Option<Vec<u8>>,
    pub(crate) interrupts: Vec<Interrupt>,
    pub(crate) resume: Vec<serde_json::Value>,
    pub(crate) journal: Vec<(String, Vec<u8>)>,
}

/// A run's durable bookkeeping.
pub(crate) struct Durable {
    pub(crate) persister: Arc<Persister>,
    pub(crate) thread: CheckpointRef,
    /// The checkpoint of the current superstep (the one pending writes go to).
    checkpoint: CheckpointId,
    /// `checkpoint` in the thread, made when first asked for (exit mode never asks).
    current: OnceLock<Arc<CheckpointRef>>,
    /// The newest checkpoint known to be in the saver (or queued for it).
    pub(crate) persisted: Option<String>,
    /// How the next put relates to `persisted`.
    pub(crate) mode: PutMode,
    pub(crate) step: i64,
    pub(crate) versions: Vec<u64>,
    /// Per node, the field versions it saw when it last ran (shared: one snapshot per step).
    pub(crate) versions_seen: VersionsSeen,
    /// Fields written since `persisted`.
    pub(crate) dirty: FieldSet,
    /// Fields written by the step that produced the current checkpoint.
    pub(crate) updated: FieldSet,
    pub(crate) source: CheckpointSource,
    pub(crate) saved: HashMap<String, SavedTask>,
    /// Resumed from a pause before this step's nodes: do not pause there again.
    pub(crate) skip_before: bool,
    pub(crate) extra: BTreeMap<String, serde_json::Value>,
    pub(crate) run_id: String,
    /// Per field: what the last persisted checkpoint holds (for delta encoding).
    pub(crate) stored: Vec<StoredField>,
    /// Fields overwritten since the last persisted checkpoint (their next write is a full value).
    pub(crate) replaced: FieldSet,
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

impl Durable {
    /// Starts a run's bookkeeping at `checkpoint`.
    pub(crate) fn new(persister: Arc<Persister>, thread: CheckpointRef, checkpoint: CheckpointId) -> Self {
        Durable {
            persister,
            thread,
            current: OnceLock::new(),
            persisted: None,
            mode: PutMode::Extend,
            step: -2,
            versions: Vec::new(),
            versions_seen: VersionsSeen::default(),
            dirty: FieldSet::EMPTY,
            updated: FieldSet::EMPTY,
            source: CheckpointSource::Input,
            saved: HashMap::new(),
            skip_before: false,
            extra: BTreeMap::new(),
            run_id: String::new(),
            stored: Vec::new(),
            replaced: FieldSet::EMPTY,
            lineage: checkpoint.number(),
            checkpoint,
        }
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
    pub(crate) fn set_checkpoint(&mut self, checkpoint: CheckpointId) {
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
    pub(crate) fn resume_lineage(&mut self, metadata: &BTreeMap<String, serde_json::Value>) {
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

    /// Moves to a new checkpoint id (after a step, an update or a fork).
    pub(crate) fn advance(&mut self, source: CheckpointSource, updated: FieldSet) {
        let lineage = next_lineage(self.lineage);
        let next = CheckpointId::after(Some(self.checkpoint.number()));
        self.set_checkpoint(next);
        self.lineage = lineage;
        self.step += 1;
        self.source = source;
        self.updated = updated;
        self.dirty = self.dirty.union(updated);
        self.saved.clear();
        self.skip_before = false;
        if self.persister.durability == Durability::Exit {
            self.persister.clear_exit_writes();
        }
    }

    /// Gives the `changed` fields a new version, derived from the current checkpoint's id: unique
    /// within the thread, so that the branches of a fork never share a version number for
    /// different values (savers store values by field and version).
    pub(crate) fn bump_versions(&mut self, changed: FieldSet) {
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
}
