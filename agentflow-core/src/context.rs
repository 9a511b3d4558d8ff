//! What a node receives besides its input: who and where it is, the run's cancellation, a stream
//! writer, and the user's typed runtime context (clients, pools, configuration).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Codec, PendingWrite, channels};
use crate::control::{Interrupt, InterruptKind};
use crate::error::NodeError;
use crate::ids::{Namespace, StableHasher, TaskId};
use crate::pregel::{JournalSink, Limits};
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
    pub(crate) journal: Mutex<Vec<(String, Vec<u8>)>>,
    pub(crate) step_index: AtomicUsize,
}

impl Scratch {
    /// A new attempt starts from the top of the node: count interrupts and steps from zero.
    pub(crate) fn restart(&self) {
        self.interrupt_index.store(0, Ordering::Relaxed);
        self.step_index.store(0, Ordering::Relaxed);
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
    /// The first time, this returns an interrupt "error": propagate it with `?`. The run stops,
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
        Err(NodeError::interrupt(Interrupt {
            id: interrupt_id(info.task_id, index),
            node: info.node.to_string(),
            task_id: info.task_id.to_string(),
            value,
            kind: InterruptKind::Dynamic,
        }))
    }

    /// Runs a side effect at most once per task, however often the node runs (retries, resumes
    /// after an interrupt, resumes after a crash).
    ///
    /// The first time, `effect` runs with a deterministic idempotency key (pass it to external
    /// APIs that accept one) and its result is saved as a pending write the moment it completes.
    /// When the node runs again, the saved result is returned instead. Steps are matched by
    /// position and name, so a node must call its steps in the same order every time, one at a
    /// time.
    pub async fn step<T, F, Fut>(&self, name: &str, effect: F) -> Result<T, NodeError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let info = &self.inner;
        let index = info.scratch.step_index.fetch_add(1, Ordering::Relaxed);
        let saved = info
            .scratch
            .journal
            .lock()
            .ok()
            .and_then(|j| j.get(index).cloned());
        if let Some((saved_name, bytes)) = saved {
            if saved_name != name {
                return Err(NodeError::terminal(format!(
                    "journaled step {index} of `{}` was `{saved_name}` but is now `{name}`; a node must \
                     run its steps in the same order every time",
                    info.node
                )));
            }
            return info.codec.from_bytes(&bytes).map_err(NodeError::terminal);
        }
        let value = effect(self.idempotency_key_at(name, index)).await?;
        let bytes = info.codec.to_bytes(&value).map_err(NodeError::terminal)?;
        if let Ok(mut journal) = info.scratch.journal.lock() {
            journal.push((name.to_owned(), bytes.clone()));
        }
        if let Some(sink) = &info.journal_sink {
            let write = PendingWrite {
                task_id: info.task_id.to_string(),
                task_path: info.node.to_string(),
                channel: format!("{}:{name}", channels::STEP),
                idx: 1 + index as i64,
                value: bytes,
            };
            // The effect happened: if saving fails, a retry of this attempt still finds the
            // result in memory; only a crash before the save could repeat it.
            sink.save(vec![write]).await.map_err(NodeError::retryable)?;
        }
        Ok(value)
    }

    /// The idempotency key [`step`](Self::step) would give the next step called `name`.
    pub fn idempotency_key(&self, name: &str) -> String {
        self.idempotency_key_at(name, self.inner.scratch.step_index.load(Ordering::Relaxed))
    }

    fn idempotency_key_at(&self, name: &str, index: usize) -> String {
        let info = &self.inner;
        let scope = match &info.thread_id {
            Some(thread) => thread.to_string(),
            None => info.run_id.to_string(),
        };
        let h = StableHasher::new()
            .field(scope.as_bytes())
            .field(&info.task_id.0.to_le_bytes())
            .field(name.as_bytes())
            .field(&(index as u64).to_le_bytes())
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
