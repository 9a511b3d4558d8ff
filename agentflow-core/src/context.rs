//! What a node receives besides its input: who and where it is, the run's cancellation, a stream
//! writer, and the user's typed runtime context (clients, pools, configuration).

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ids::{Namespace, TaskId};
use crate::pregel::Limits;
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

    /// The superstep this task runs in (0 is the first).
    pub fn step(&self) -> usize {
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
