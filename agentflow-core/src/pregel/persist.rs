//! Persistence: how a run writes checkpoints and pending writes in each durability mode, and how
//! it is rebuilt from a checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointSource,
    CheckpointTuple, Checkpointer, Codec, PendingSend, PendingWrite, PutMode, channels, next_checkpoint_id,
    now_ms,
};
use crate::config::Durability;
use crate::control::{Interrupt, Route, Send};
use crate::error::GraphError;
use crate::state::{FieldSet, State};

use super::{Run, TaskOutput, Triggers};

/// How many operations the async durability queue holds before the run waits for the saver.
const ASYNC_QUEUE: usize = 32;

enum Op {
    Writes(CheckpointRef, Vec<PendingWrite>),
    Put(Box<PutOp>),
}

struct PutOp {
    /// Writes of the step's last task, committed with the checkpoint.
    writes: Vec<PendingWrite>,
    parent: CheckpointRef,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: BTreeMap<String, u64>,
    mode: PutMode,
}

/// The async-durability queue and the worker that drains it into the saver.
type AsyncQueue = (mpsc::Sender<Op>, JoinHandle<Result<(), CheckpointError>>);

/// The run's link to its checkpointer, shared with its tasks.
pub(crate) struct Persister {
    saver: Arc<dyn Checkpointer>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) durability: Durability,
    queue: Mutex<Option<AsyncQueue>>,
    /// Exit mode: the writes made against the current checkpoint, saved only at the end.
    exit_writes: Mutex<Vec<Buffered>>,
}

/// A write kept for the end of an exit-mode run.
enum Buffered {
    Ready(PendingWrite),
    /// Encoded only if the run ends at this checkpoint: most steps' results never are.
    Lazy(LazyWrites),
}

/// Writes encoded on demand.
pub(crate) type LazyWrites =
    Box<dyn FnOnce(&dyn Codec) -> Result<Vec<PendingWrite>, GraphError> + std::marker::Send>;

impl Persister {
    pub(crate) fn new(saver: Arc<dyn Checkpointer>, codec: Arc<dyn Codec>, durability: Durability) -> Self {
        let queue = (durability == Durability::Async).then(|| {
            let (tx, mut rx) = mpsc::channel::<Op>(ASYNC_QUEUE);
            let saver = saver.clone();
            // One worker, one queue: operations reach the saver in the order the run made them,
            // so writes always land before the checkpoint that follows them.
            let worker = tokio::spawn(async move {
                while let Some(op) = rx.recv().await {
                    match op {
                        Op::Writes(target, writes) => saver.put_writes(&target, &writes).await?,
                        Op::Put(put) => {
                            saver
                                .put_step(
                                    &put.writes,
                                    &put.parent,
                                    &put.checkpoint,
                                    &put.metadata,
                                    &put.new_versions,
                                    put.mode,
                                )
                                .await?;
                        }
                    }
                }
                Ok(())
            });
            (tx, worker)
        });
        Persister {
            saver,
            codec,
            durability,
            queue: Mutex::new(queue),
            exit_writes: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn saver(&self) -> &Arc<dyn Checkpointer> {
        &self.saver
    }

    fn sender(&self) -> Option<mpsc::Sender<Op>> {
        self.queue
            .lock()
            .ok()
            .and_then(|q| q.as_ref().map(|(tx, _)| tx.clone()))
    }

    async fn enqueue(&self, op: Op) -> Result<(), CheckpointError> {
        let Some(tx) = self.sender() else {
            return Err(queue_closed());
        };
        if tx.send(op).await.is_err() {
            // The worker stopped on an error: report it.
            return Err(self.finish().await.err().unwrap_or_else(queue_closed));
        }
        Ok(())
    }

    /// Saves writes against `target` as the durability mode says.
    pub(crate) async fn save_writes(
        &self,
        target: &CheckpointRef,
        writes: Vec<PendingWrite>,
    ) -> Result<(), CheckpointError> {
        match self.durability {
            Durability::Sync => self.saver.put_writes(target, &writes).await,
            Durability::Async => self.enqueue(Op::Writes(target.clone(), writes)).await,
            Durability::Exit => {
                if let Ok(mut buffer) = self.exit_writes.lock() {
                    buffer.extend(writes.into_iter().map(Buffered::Ready));
                }
                Ok(())
            }
        }
    }

    /// Like [`save_writes`](Self::save_writes), encoding only when the writes must be stored:
    /// in exit mode, only if the run ends at this checkpoint.
    pub(crate) async fn save_lazy(
        &self,
        target: &CheckpointRef,
        writes: LazyWrites,
    ) -> Result<(), GraphError> {
        if self.durability == Durability::Exit {
            if let Ok(mut buffer) = self.exit_writes.lock() {
                buffer.push(Buffered::Lazy(writes));
            }
            return Ok(());
        }
        let writes = writes(&*self.codec)?;
        Ok(self.save_writes(target, writes).await?)
    }

    /// Puts a checkpoint now (sync) or in order in the background (async).
    async fn put(&self, op: PutOp) -> Result<(), CheckpointError> {
        match self.durability {
            Durability::Async => self.enqueue(Op::Put(Box::new(op))).await,
            _ => self
                .saver
                .put_step(
                    &op.writes,
                    &op.parent,
                    &op.checkpoint,
                    &op.metadata,
                    &op.new_versions,
                    op.mode,
                )
                .await
                .map(drop),
        }
    }

    /// Drains the async queue and reports the first failure.
    pub(crate) async fn finish(&self) -> Result<(), CheckpointError> {
        let queue = self.queue.lock().ok().and_then(|mut q| q.take());
        if let Some((tx, worker)) = queue {
            drop(tx);
            return match worker.await {
                Ok(result) => result,
                Err(e) => Err(CheckpointError::Backend {
                    retryable: false,
                    source: Box::new(e),
                }),
            };
        }
        Ok(())
    }

    fn take_exit_writes(&self) -> Result<Vec<PendingWrite>, GraphError> {
        let buffered = self
            .exit_writes
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        let mut writes = Vec::with_capacity(buffered.len());
        for item in buffered {
            match item {
                Buffered::Ready(write) => writes.push(write),
                Buffered::Lazy(encode) => writes.extend(encode(&*self.codec)?),
            }
        }
        Ok(writes)
    }

    fn clear_exit_writes(&self) {
        if let Ok(mut w) = self.exit_writes.lock() {
            w.clear();
        }
    }
}

fn queue_closed() -> CheckpointError {
    CheckpointError::Backend {
        retryable: false,
        source: "the checkpoint queue is closed".into(),
    }
}

/// Where a task saves its writes: the run's persister and the checkpoint of the task's step.
#[derive(Clone)]
pub(crate) struct JournalSink {
    pub(crate) persister: Arc<Persister>,
    pub(crate) target: CheckpointRef,
}

impl JournalSink {
    pub(crate) async fn save(&self, writes: Vec<PendingWrite>) -> Result<(), CheckpointError> {
        self.persister.save_writes(&self.target, writes).await
    }

    pub(crate) async fn save_lazy(&self, writes: LazyWrites) -> Result<(), GraphError> {
        self.persister.save_lazy(&self.target, writes).await
    }
}

/// A route as stored in a pending write.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredRoute {
    node: String,
    payload: Option<Vec<u8>>,
}

/// A finished task's result, as its one pending write holds it: the update and the routes.
pub(crate) fn encode_result<U: Serialize>(
    update: &U,
    routes: &[Route],
    codec: &dyn Codec,
) -> Result<Vec<u8>, GraphError> {
    let stored = routes
        .iter()
        .map(|r| {
            Ok(match r {
                Route::To(node) => StoredRoute {
                    node: node.to_string(),
                    payload: None,
                },
                Route::Send(send) => StoredRoute {
                    node: send.node().to_owned(),
                    payload: Some(send.encode(codec)?),
                },
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    Ok(codec.to_bytes(&(update, stored))?)
}

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
    pub(crate) checkpoint_id: String,
    /// The newest checkpoint known to be in the saver (or queued for it).
    pub(crate) persisted: Option<String>,
    /// How the next put relates to `persisted`.
    pub(crate) mode: PutMode,
    pub(crate) step: i64,
    pub(crate) versions: Vec<u64>,
    /// Per node, the field versions it saw when it last ran (shared: one snapshot per step).
    pub(crate) versions_seen: BTreeMap<Arc<str>, Arc<Vec<u64>>>,
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
}

/// A new full snapshot of an append field is written once its deltas outweigh the last snapshot
/// this many times: total storage stays linear (deltas once, snapshots a geometric series) and a
/// read never replays more than a few times the value's size.
const SNAPSHOT_FACTOR: usize = 4;

/// A checkpoint ready to put: the checkpoint, its new versions, and how each field was written.
type Built = (Checkpoint, BTreeMap<String, u64>, Vec<FieldWrite>);

/// How one field is written in a checkpoint.
struct FieldWrite {
    index: usize,
    bytes: Vec<u8>,
    /// The version this delta extends; `None` for a full value.
    base: Option<u64>,
}

impl Durable {
    pub(crate) fn current(&self) -> CheckpointRef {
        self.thread.with_checkpoint(self.checkpoint_id.clone())
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
        self.checkpoint_id = next_checkpoint_id(Some(&self.checkpoint_id));
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
        let hash = crate::ids::StableHasher::new()
            .field(self.checkpoint_id.as_bytes())
            .finish();
        // Positive and non-zero (0 means "no version"; PostgreSQL's BIGINT is signed).
        let next = ((hash as u64) & (i64::MAX as u64)).max(1);
        for i in changed.iter() {
            if let Some(v) = self.versions.get_mut(i) {
                *v = next;
            }
        }
    }

    /// Records that `nodes` saw the current versions (cheaply: the map is built when a
    /// checkpoint is written).
    pub(crate) fn record_seen(&mut self, nodes: impl Iterator<Item = Arc<str>>) {
        let seen = Arc::new(self.versions.clone());
        for node in nodes {
            self.versions_seen.insert(node, seen.clone());
        }
    }

    /// `versions_seen` in checkpoint form.
    fn seen_by_name<S: State>(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.versions_seen
            .iter()
            .map(|(node, versions)| {
                let fields = S::FIELDS
                    .iter()
                    .zip(versions.iter())
                    .filter(|(_, v)| **v > 0)
                    .map(|(f, v)| ((*f).to_owned(), *v))
                    .collect();
                (node.to_string(), fields)
            })
            .collect()
    }
}

/// `versions_seen` of a checkpoint in the run's form.
pub(crate) fn seen_from<S: State>(
    stored: &BTreeMap<String, BTreeMap<String, u64>>,
) -> BTreeMap<Arc<str>, Arc<Vec<u64>>> {
    stored
        .iter()
        .map(|(node, fields)| {
            let versions = S::FIELDS
                .iter()
                .map(|f| fields.get(*f).copied().unwrap_or(0))
                .collect();
            (Arc::from(node.as_str()), Arc::new(versions))
        })
        .collect()
}

/// The pieces of a run a checkpoint is made of.
pub(crate) struct Snapshot<'a, S: State, C> {
    pub(crate) graph: &'a crate::compiled::GraphCore<S, C>,
    pub(crate) state: &'a S,
    pub(crate) triggers: &'a Triggers,
    pub(crate) join_seen: &'a [u128],
}

impl<S: State, C> Snapshot<'_, S, C> {
    /// How each of `fields` is written: as the items appended since the stored version when it
    /// is an append field that was not overwritten, else whole.
    fn encode(&self, d: &Durable, fields: FieldSet) -> Result<Vec<FieldWrite>, GraphError> {
        let codec = d.codec();
        let mut out = Vec::with_capacity(fields.len());
        for index in fields.iter() {
            let stored = d.stored.get(index).copied().unwrap_or_default();
            let base_len = match (stored.len, self.state.append_len(index)) {
                (Some(base), Some(now)) if base <= now => Some(base),
                _ => None,
            };
            let delta_ok = stored.version > 0
                && !d.replaced.contains(index)
                && stored.delta_bytes < SNAPSHOT_FACTOR * stored.snapshot_bytes.max(1);
            if let (true, Some(from)) = (delta_ok, base_len)
                && let Some(bytes) = self.state.encode_tail(index, from, codec)?
            {
                out.push(FieldWrite {
                    index,
                    bytes,
                    base: Some(stored.version),
                });
                continue;
            }
            let mut only = FieldSet::EMPTY;
            only.insert(index);
            for (_, bytes) in self.state.encode_fields(only, codec)? {
                out.push(FieldWrite {
                    index,
                    bytes,
                    base: None,
                });
            }
        }
        Ok(out)
    }

    /// The current checkpoint, with the values of `fields` encoded.
    fn build(&self, d: &Durable, fields: FieldSet) -> Result<Built, GraphError> {
        let codec = d.codec();
        let writes = self.encode(d, fields)?;
        let mut values = BTreeMap::new();
        let mut deltas = BTreeMap::new();
        for w in &writes {
            let name = S::FIELDS.get(w.index).copied().unwrap_or_default().to_owned();
            if let Some(base) = w.base {
                deltas.insert(name.clone(), base);
            }
            values.insert(name, w.bytes.clone());
        }
        let new_versions = fields
            .iter()
            .filter_map(|i| Some((S::FIELDS.get(i)?.to_string(), *d.versions.get(i)?)))
            .collect();
        let mut next: Vec<String> = self
            .triggers
            .nodes
            .iter()
            .map(|&n| self.graph.nodes[n].name.to_string())
            .collect();
        next.sort();
        next.dedup();
        let sends = self
            .triggers
            .sends
            .iter()
            .map(|(_, send)| {
                Ok(PendingSend {
                    node: send.node().to_owned(),
                    payload: send.encode(codec)?,
                })
            })
            .collect::<Result<Vec<_>, GraphError>>()?;
        let joins = self
            .graph
            .joins
            .iter()
            .zip(self.join_seen)
            .filter(|(_, seen)| **seen != 0)
            .map(|(join, seen)| {
                let sources = join
                    .sources
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| seen & (1u128 << bit) != 0)
                    .map(|(_, name)| name.to_string())
                    .collect();
                (join.key.clone(), sources)
            })
            .collect();
        let checkpoint = Checkpoint {
            v: CHECKPOINT_VERSION,
            id: d.checkpoint_id.clone(),
            ts_ms: now_ms(),
            channel_values: values,
            channel_deltas: deltas,
            channel_appends: BTreeMap::new(),
            channel_versions: S::FIELDS
                .iter()
                .zip(&d.versions)
                .filter(|(_, v)| **v > 0)
                .map(|(f, v)| ((*f).to_owned(), *v))
                .collect(),
            versions_seen: d.seen_by_name::<S>(),
            updated_channels: d.updated.names::<S>().into_iter().map(str::to_owned).collect(),
            next,
            sends,
            joins,
            codec: codec.name().to_owned(),
        };
        Ok((checkpoint, new_versions, writes))
    }

    /// Puts the current checkpoint of `d` (now, or queued in async mode) and marks it persisted;
    /// `writes` (against the previous checkpoint) go in the same commit.
    pub(crate) async fn put(&self, d: &mut Durable, writes: Vec<PendingWrite>) -> Result<(), GraphError> {
        let (checkpoint, new_versions, written) = self.build(d, d.dirty)?;
        let op = PutOp {
            writes,
            parent: CheckpointRef {
                checkpoint_id: d.persisted.clone(),
                ..d.thread.clone()
            },
            checkpoint,
            metadata: CheckpointMetadata {
                source: d.source,
                step: d.step,
                parents: BTreeMap::new(),
                run_id: d.run_id.clone(),
                extra: d.extra.clone(),
            },
            new_versions,
            mode: d.mode,
        };
        d.persister.put(op).await?;
        d.persisted = Some(d.checkpoint_id.clone());
        d.mode = PutMode::Extend;
        d.dirty = FieldSet::EMPTY;
        d.replaced = FieldSet::EMPTY;
        for w in written {
            let Some(stored) = d.stored.get_mut(w.index) else {
                continue;
            };
            stored.version = d.versions.get(w.index).copied().unwrap_or(0);
            stored.len = self.state.append_len(w.index);
            match w.base {
                Some(_) => stored.delta_bytes += w.bytes.len(),
                None => {
                    stored.snapshot_bytes = w.bytes.len();
                    stored.delta_bytes = 0;
                }
            }
        }
        Ok(())
    }
}

impl<S: State, C> Run<S, C> {
    /// Puts the current checkpoint now (sync and async modes do this after every step).
    pub(crate) async fn put_current(&mut self) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(());
        };
        let snapshot = Snapshot {
            graph: &self.graph,
            state: &self.state,
            triggers: &self.triggers,
            join_seen: &self.join_seen,
        };
        snapshot.put(d, std::mem::take(&mut self.deferred)).await
    }

    /// At the end of a run: exit mode puts the current checkpoint and its writes; async mode
    /// drains its queue.
    pub(crate) async fn flush(&mut self) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_ref() else {
            return Ok(());
        };
        let persister = d.persister.clone();
        match persister.durability {
            Durability::Exit => {
                let writes = persister.take_exit_writes()?;
                if d.persisted.as_deref() != Some(d.checkpoint_id.as_str()) {
                    self.put_current().await?;
                }
                if !writes.is_empty()
                    && let Some(d) = self.durable.as_ref()
                {
                    persister.saver().put_writes(&d.current(), &writes).await?;
                }
                Ok(())
            }
            Durability::Async | Durability::Sync => {
                // A finished task whose writes were waiting for the next checkpoint, which never
                // came (the run failed at the barrier): save them on their own.
                if let Some(d) = self.durable.as_ref()
                    && !self.deferred.is_empty()
                {
                    let target = d.previous_ref();
                    persister
                        .save_writes(&target, std::mem::take(&mut self.deferred))
                        .await?;
                }
                Ok(persister.finish().await?)
            }
        }
    }
}

/// Rebuilds the pieces of a run from a checkpoint tuple.
pub(crate) struct Restored<S> {
    pub(crate) state: S,
    pub(crate) versions: Vec<u64>,
    pub(crate) triggers: Triggers,
    pub(crate) join_seen: Vec<u128>,
    pub(crate) saved: HashMap<String, SavedTask>,
    pub(crate) paused_before: bool,
    pub(crate) stored: Vec<StoredField>,
}

pub(crate) fn restore<S: State, C>(
    graph: &crate::compiled::GraphCore<S, C>,
    tuple: &CheckpointTuple,
    codec: &dyn Codec,
) -> Result<Restored<S>, GraphError> {
    let cp = &tuple.checkpoint;
    if cp.codec != codec.name() && !cp.channel_values.is_empty() {
        return Err(GraphError::IncompatibleCheckpoint(format!(
            "checkpoint {} was written with the `{}` codec, but the graph uses `{}`",
            cp.id,
            cp.codec,
            codec.name()
        )));
    }
    let mut state = S::default();
    for (name, bytes) in &cp.channel_values {
        state.decode_field(name, bytes, codec)?;
        for segment in cp.channel_appends.get(name).into_iter().flatten() {
            if !state.decode_append(name, segment, codec)? {
                return Err(GraphError::IncompatibleCheckpoint(format!(
                    "field `{name}` is stored as deltas but is not an append field of this state"
                )));
            }
        }
    }
    let versions: Vec<u64> = S::FIELDS
        .iter()
        .map(|f| cp.channel_versions.get(*f).copied().unwrap_or(0))
        .collect();
    let stored = S::FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| StoredField {
            version: versions[i],
            len: state.append_len(i),
            snapshot_bytes: cp.channel_values.get(*f).map_or(0, Vec::len),
            delta_bytes: cp
                .channel_appends
                .get(*f)
                .map_or(0, |a| a.iter().map(Vec::len).sum()),
        })
        .collect();
    let node_id = |name: &str| {
        graph.by_name.get(name).copied().ok_or_else(|| {
            GraphError::IncompatibleCheckpoint(format!(
                "checkpoint {} names node `{name}`, which this graph lacks",
                cp.id
            ))
        })
    };
    let mut triggers = Triggers::default();
    for name in &cp.next {
        triggers.nodes.push(node_id(name)?);
    }
    for send in &cp.sends {
        let id = node_id(&send.node)?;
        let decoded: Send =
            graph.nodes[id]
                .node
                .decode_send(graph.nodes[id].name.clone(), &send.payload, codec)?;
        triggers.sends.push((id, decoded));
    }
    let mut join_seen = vec![0u128; graph.joins.len()];
    for (key, sources) in &cp.joins {
        let Some(index) = graph.joins.iter().position(|j| &j.key == key) else {
            return Err(GraphError::IncompatibleCheckpoint(format!(
                "unknown join `{key}`"
            )));
        };
        for source in sources {
            if let Some(bit) = graph.joins[index].sources.iter().position(|s| **s == **source) {
                join_seen[index] |= 1u128 << bit;
            }
        }
    }
    let mut saved: HashMap<String, SavedTask> = HashMap::new();
    let mut paused_before = false;
    for write in &tuple.pending_writes {
        let entry = saved.entry(write.task_id.clone()).or_default();
        match write.channel.as_str() {
            channels::RESULT => entry.result = Some(write.value.clone()),
            channels::INTERRUPT => {
                let interrupts: Vec<Interrupt> = codec.from_bytes(&write.value)?;
                paused_before |= interrupts
                    .iter()
                    .any(|i| i.kind == crate::control::InterruptKind::Before);
                entry.interrupts = interrupts;
            }
            channels::RESUME => entry.resume = codec.from_bytes(&write.value)?,
            other => {
                if let Some(name) = other
                    .strip_prefix(channels::STEP)
                    .and_then(|r| r.strip_prefix(':'))
                {
                    let position = (write.idx - 1).max(0) as usize;
                    if entry.journal.len() <= position {
                        entry.journal.resize(position + 1, (String::new(), Vec::new()));
                    }
                    entry.journal[position] = (name.to_owned(), write.value.clone());
                }
            }
        }
    }
    Ok(Restored {
        state,
        versions,
        triggers,
        join_seen,
        saved,
        paused_before,
        stored,
    })
}

/// Decodes a saved task result into the output it stands for.
pub(crate) fn decode_output<S: State, C>(
    graph: &crate::compiled::GraphCore<S, C>,
    saved: &SavedTask,
    codec: &dyn Codec,
) -> Result<Option<TaskOutput<S>>, GraphError> {
    let Some(result) = &saved.result else {
        return Ok(None);
    };
    let (update, stored): (S::Update, Vec<StoredRoute>) = codec.from_bytes(result)?;
    let mut routes = Vec::with_capacity(stored.len());
    for route in stored {
        let Some(&id) = graph.by_name.get(route.node.as_str()) else {
            if route.node == crate::END {
                routes.push(Route::To(route.node.into()));
                continue;
            }
            return Err(GraphError::IncompatibleCheckpoint(format!(
                "a saved route names `{}`",
                route.node
            )));
        };
        routes.push(match route.payload {
            None => Route::To(graph.nodes[id].name.clone()),
            Some(payload) => Route::Send(graph.nodes[id].node.decode_send(
                graph.nodes[id].name.clone(),
                &payload,
                codec,
            )?),
        });
    }
    Ok(Some(TaskOutput { update, routes }))
}
