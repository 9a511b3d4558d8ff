//! What a node receives besides its input: who and where it is, the run's cancellation, a stream
//! writer, and the user's typed runtime context (clients, pools, configuration).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{CheckpointError, Codec, IntentClaim, IntentRef, PendingWrite, channels};
use crate::control::{Interrupt, InterruptKind};
use crate::error::NodeError;
use crate::ids::{Namespace, StableHasher, TaskId};
use crate::pregel::{JournalSink, Limits};
use crate::steps::{self, IntentScope, Running, StepBook};
use crate::store::Store;
use crate::stream::{EventSink, StreamWriter};

/// The context of one task.
///
/// `C` is the runtime context given to the run with
/// [`RunConfig::with_context`](crate::RunConfig::with_context): a place for dependencies such as
/// HTTP clients and database pools, shared by every node of the run.
pub struct Context<C = ()> {
    pub(crate) inner: Arc<TaskInfo>,
    pub(crate) runtime: Arc<C>,
    pub(crate) sink: EventSink,
    pub(crate) cancel: CancellationToken,
    pub(crate) limits: Limits,
}

/// Identity of one task; shared, so cloning a [`Context`] is cheap.
pub(crate) struct TaskInfo {
    pub(crate) node: Arc<str>,
    pub(crate) step: usize,
    pub(crate) task_id: TaskId,
    pub(crate) run_id: uuid::Uuid,
    pub(crate) thread_id: Option<Arc<str>>,
    pub(crate) attempt: std::sync::atomic::AtomicU32,
    pub(crate) scratch: Scratch,
    pub(crate) codec: Arc<dyn Codec>,
    /// Where journaled steps are saved (runs with a checkpointer).
    pub(crate) journal_sink: Option<JournalSink>,
    /// The graph's long-term store, if any.
    pub(crate) store: Option<Arc<dyn Store>>,
}

/// What a task remembers across its attempts and resumes: resume values for its interrupts and
/// the results of its journaled steps.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) resume: Vec<serde_json::Value>,
    pub(crate) interrupt_index: AtomicUsize,
    pub(crate) steps: Mutex<StepBook>,
    /// The first interrupt this attempt asked for: the task pauses on it whatever the node
    /// returns, so a node that swallows the interrupt "error" cannot lose the pause.
    pub(crate) requested: Mutex<Option<Interrupt>>,
}

impl Scratch {
    /// A new attempt starts from the top of the node: count interrupts and steps from zero.
    pub(crate) fn restart(&self) {
        self.interrupt_index.store(0, Ordering::Relaxed);
        steps::lock(&self.steps).restart();
        *self.requested.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The interrupt this attempt asked for first, if any.
    pub(crate) fn take_requested(&self) -> Option<Interrupt> {
        self.requested.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The engine error a step met that must fail the task (another runner holds the step).
    pub(crate) fn take_fatal(&self) -> Option<CheckpointError> {
        steps::lock(&self.steps).take_fatal()
    }
}

/// The deterministic id of interrupt number `index` of a task.
pub(crate) fn interrupt_id(task: TaskId, index: usize) -> String {
    let h = StableHasher::new()
        .field(&task.0.to_le_bytes())
        .field(b"interrupt")
        .field(&(index as u64).to_le_bytes())
        .finish();
    format!("{h:032x}")
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Context {
            inner: self.inner.clone(),
            runtime: self.runtime.clone(),
            sink: self.sink.clone(),
            cancel: self.cancel.clone(),
            limits: self.limits,
        }
    }
}

impl<C> Context<C> {
    /// The node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The superstep this task runs in (0 is the first of a thread).
    pub fn superstep(&self) -> usize {
        self.inner.step
    }

    /// The task's deterministic id.
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id
    }

    /// The run's id.
    pub fn run_id(&self) -> uuid::Uuid {
        self.inner.run_id
    }

    /// The thread this run belongs to, if any.
    pub fn thread_id(&self) -> Option<&str> {
        self.inner.thread_id.as_deref()
    }

    /// Where this task sits in a tree of subgraphs.
    pub fn namespace(&self) -> &Namespace {
        self.sink.namespace()
    }

    /// The current attempt, 1 for the first run of the node.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The user's runtime context.
    pub fn runtime(&self) -> &C {
        &self.runtime
    }

    /// The user's runtime context, shared.
    pub fn runtime_arc(&self) -> Arc<C> {
        self.runtime.clone()
    }

    /// The graph's long-term memory store, if it has one
    /// ([`CompiledGraph::with_store`](crate::CompiledGraph::with_store)). Unlike the state, the
    /// store outlives threads: use it for what an agent should remember across conversations.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.as_ref()
    }

    /// A writer for custom stream events and model token chunks.
    pub fn writer(&self) -> StreamWriter {
        StreamWriter::new(self.sink.clone(), self.inner.node.clone())
    }

    /// Cancelled when the run stops early: a sibling failed, the caller dropped the run, or the
    /// run's token was cancelled. Long blocking work should watch it.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// True once the run has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Pauses the run to ask for a value (human-in-the-loop), or returns the value once given.
    ///
    /// The first time, this returns an interrupt "error": propagate it with `?` (the run pauses
    /// even if the node drops the error and returns something else). The run stops,
    /// reports the [`Interrupt`] (with `value` as its payload) and can be resumed with
    /// [`Command::resume`](crate::Command::resume). The node then runs again from its start, and
    /// this call returns the resume value. Several calls in one node are matched to resume
    /// values by order. Needs a checkpointer; side effects before the call run again on resume
    /// unless wrapped in [`Context::step`].
    pub fn interrupt<T: DeserializeOwned>(&self, value: impl Serialize) -> Result<T, NodeError> {
        let info = &self.inner;
        let index = info.scratch.interrupt_index.fetch_add(1, Ordering::Relaxed);
        if let Some(answer) = info.scratch.resume.get(index) {
            return serde_json::from_value(answer.clone()).map_err(|e| {
                NodeError::terminal(format!(
                    "the resume value for interrupt {index} of `{}` does not fit the expected type: {e}",
                    info.node
                ))
            });
        }
        let value = serde_json::to_value(value).map_err(NodeError::terminal)?;
        let interrupt = Interrupt {
            id: interrupt_id(info.task_id, index),
            node: info.node.to_string(),
            task_id: info.task_id.to_string(),
            value,
            kind: InterruptKind::Dynamic,
        };
        info.scratch
            .requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| interrupt.clone());
        Err(NodeError::interrupt(interrupt))
    }

    /// Runs a side effect once per task, however often the node runs (retries, resumes after an
    /// interrupt, resumes after a crash, and other processes resuming the same thread).
    ///
    /// `effect` runs with a deterministic idempotency key (pass it to external APIs that accept
    /// one). With a checkpointer, the step's key is first claimed in the saver, and the effect's
    /// result is stored with the claim's completion before this returns, in every durability
    /// mode. When the node runs again, the stored result is returned instead. If another runner
    /// holds a live claim on the step, the effect does not run and the run fails with
    /// [`CheckpointError::Conflict`](crate::checkpoint::CheckpointError::Conflict).
    ///
    /// **At-least-once in one case:** when an earlier attempt claimed the step and never
    /// completed it (the process was killed between the effect and its result, or the effect
    /// failed), nobody knows whether the effect happened. `step` then runs it again with the
    /// same key and logs a warning; use [`step_reconciled`](Self::step_reconciled) to look the
    /// earlier outcome up first.
    ///
    /// Steps are known by name and by how many steps of that name ran before in the node, so a
    /// node must call its steps in the same order every time. Calls with distinct names may run
    /// concurrently; a second call of a name while one is running is refused with an error.
    pub async fn step<T, F, Fut>(&self, name: &str, effect: F) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        self.run_step(
            name,
            None::<fn(String) -> std::future::Ready<Result<Option<T>, NodeError>>>,
            effect,
        )
        .await
    }

    /// [`step`](Self::step), with a way to settle an ambiguous outcome instead of running the
    /// effect again blindly.
    ///
    /// `reconcile` is called with the step's idempotency key only when an earlier attempt claimed
    /// the step and never recorded its result (a crash between the effect and its result, a
    /// timeout after the other side accepted the call). It looks the earlier effect up (say, a
    /// message carrying the key in its metadata): `Some(value)` is recorded as the step's result
    /// without running `effect`; `None` runs `effect` with the same key.
    pub async fn step_reconciled<T, R, RFut, F, Fut>(
        &self,
        name: &str,
        reconcile: R,
        effect: F,
    ) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        R: FnOnce(String) -> RFut,
        RFut: Future<Output = Result<Option<T>, NodeError>>,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        self.run_step(name, Some(reconcile), effect).await
    }

    async fn run_step<T, R, RFut, F, Fut>(
        &self,
        name: &str,
        reconcile: Option<R>,
        effect: F,
    ) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        R: FnOnce(String) -> RFut,
        RFut: Future<Output = Result<Option<T>, NodeError>>,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let info = &self.inner;
        let call = Running::start(&info.scratch.steps, name, &info.node)?;
        let key = self.idempotency_key_at(name, call.occurrence);
        let scope = info
            .journal_sink
            .as_ref()
            .and_then(|s| s.intents().map(|i| (s, i)));
        let Some((sink, scope)) = scope else {
            // No checkpointer: the task's memory is the only journal.
            if let Some(known) = call.known() {
                return info.codec.from_bytes(&known.bytes).map_err(NodeError::terminal);
            }
            let value = effect(key).await?;
            let bytes = info.codec.to_bytes(&value).map_err(NodeError::terminal)?;
            call.remember(bytes, true);
            return Ok(value);
        };
        let intent = scope.intent(&key);
        if let Some(known) = call.known() {
            if !known.durable {
                self.complete(&call, sink, scope, &intent, known.bytes.clone())
                    .await?;
            }
            return info.codec.from_bytes(&known.bytes).map_err(NodeError::terminal);
        }
        let claim = match scope.claim(&intent).await {
            Ok(claim) => claim,
            // Nothing ran: trying again is safe.
            Err(e) => return Err(NodeError::retryable(e)),
        };
        let reconciled = match claim {
            IntentClaim::Completed(bytes) => {
                let value = info.codec.from_bytes(&bytes).map_err(NodeError::terminal)?;
                call.remember(bytes, true);
                return Ok(value);
            }
            IntentClaim::Held => return Err(self.lost(&call, sink, scope, &key)),
            IntentClaim::Fresh => None,
            IntentClaim::Ambiguous => self.reconcile(name, &key, reconcile).await?,
        };
        let value = match reconciled {
            Some(value) => value,
            None => self.run_effect(name, effect, key, scope, &intent).await?,
        };
        let bytes = info.codec.to_bytes(&value).map_err(NodeError::terminal)?;
        self.complete(&call, sink, scope, &intent, bytes).await?;
        Ok(value)
    }

    /// An ambiguous outcome: what `reconcile` finds, if there is a hook.
    async fn reconcile<T, R, RFut>(
        &self,
        name: &str,
        key: &str,
        reconcile: Option<R>,
    ) -> Result<Option<T>, NodeError>
    where
        R: FnOnce(String) -> RFut,
        RFut: Future<Output = Result<Option<T>, NodeError>>,
    {
        tracing::warn!(
            node = %self.inner.node,
            step = name,
            key,
            "an earlier attempt of this step never recorded its outcome; {}",
            if reconcile.is_some() {
                "reconciling before running it again with the same key"
            } else {
                "running it again with the same idempotency key (at-least-once)"
            }
        );
        match reconcile {
            Some(reconcile) => reconcile(key.to_owned()).await,
            None => Ok(None),
        }
    }

    /// Runs a claimed step's effect. A failure gives the claim up: the outcome is unknown (a
    /// timeout may follow an accepted call), so whoever runs the step next reconciles at once
    /// instead of waiting for the lease.
    async fn run_effect<T, F, Fut>(
        &self,
        name: &str,
        effect: F,
        key: String,
        scope: &IntentScope,
        intent: &IntentRef,
    ) -> Result<T, NodeError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let error = match effect(key).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if let Err(e) = scope.saver.release_intent(intent, &scope.owner).await {
            tracing::warn!(node = %self.inner.node, step = name, error = %e, "could not release a step's claim");
        }
        Err(error)
    }

    /// Stores a step's result with its claim's completion, then journals it with the task's
    /// writes. The result is kept in memory first: if the saver fails, the next attempt
    /// completes the claim without running the effect again.
    async fn complete(
        &self,
        call: &Running<'_>,
        sink: &JournalSink,
        scope: &IntentScope,
        intent: &IntentRef,
        bytes: Vec<u8>,
    ) -> Result<(), NodeError> {
        let info = &self.inner;
        call.remember(bytes.clone(), false);
        match scope.saver.complete_intent(intent, &scope.owner, &bytes).await {
            Ok(true) => {}
            Ok(false) => return Err(self.lost(call, sink, scope, &intent.key)),
            Err(e) => return Err(NodeError::retryable(e)),
        }
        let position = call.mark_durable();
        let write = PendingWrite {
            task_id: info.task_id.to_string(),
            task_path: info.node.to_string(),
            channel: format!("{}:{}", channels::STEP, call.name),
            idx: 1 + position as i64,
            value: bytes,
        };
        // The claim holds the result durably; this copy lets a resumed task skip the claim.
        sink.save(vec![write]).await.map_err(NodeError::retryable)
    }

    /// Another runner holds (or took over) the step: the task fails with a conflict whatever
    /// the node makes of this error.
    fn lost(&self, call: &Running<'_>, sink: &JournalSink, scope: &IntentScope, key: &str) -> NodeError {
        let conflict = CheckpointError::Conflict {
            thread_id: scope.thread_id.clone(),
            parent: Some(sink.checkpoint_id()),
        };
        tracing::warn!(
            node = %self.inner.node,
            step = %call.name,
            key,
            "another runner holds this step's claim; not running its effect"
        );
        let error = NodeError::terminal(conflict.to_string());
        call.fail_task(conflict);
        error
    }

    /// The idempotency key [`step`](Self::step) would give the next step called `name`.
    pub fn idempotency_key(&self, name: &str) -> String {
        let next = steps::lock(&self.inner.scratch.steps).next_occurrence(name);
        self.idempotency_key_at(name, next)
    }

    fn idempotency_key_at(&self, name: &str, occurrence: usize) -> String {
        let info = &self.inner;
        let scope = match &info.thread_id {
            Some(thread) => thread.to_string(),
            None => info.run_id.to_string(),
        };
        let h = StableHasher::new()
            .field(scope.as_bytes())
            .field(&info.task_id.0.to_le_bytes())
            .field(name.as_bytes())
            .field(&(occurrence as u64).to_le_bytes())
            .finish();
        format!("{h:032x}")
    }
}

impl<C> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("node", &self.inner.node)
            .field("step", &self.inner.step)
            .field("task_id", &self.inner.task_id)
            .field("run_id", &self.inner.run_id)
            .field("thread_id", &self.inner.thread_id)
            .field("namespace", self.namespace())
            .finish_non_exhaustive()
    }
}
