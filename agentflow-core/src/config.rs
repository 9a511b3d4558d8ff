//! Per-run configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::checkpoint::CheckpointRef;

/// When a run with a checkpointer makes its progress durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each task's writes and each step's checkpoint are durable before the next step starts.
    /// Slowest; after a crash, nothing that finished is lost.
    Sync,
    /// Writes and checkpoints go to the saver in the background, in order, through a bounded
    /// queue (the run waits when the saver falls behind, so memory stays bounded). The run's end
    /// waits for the queue to drain. The default, as in LangGraph.
    #[default]
    Async,
    /// Only at the end of the run (completed, interrupted or failed). Fastest; a crash loses the
    /// run's progress.
    Exit,
}

/// The default recursion limit: the most supersteps one run may take (LangGraph's default).
pub const DEFAULT_RECURSION_LIMIT: usize = 10_007;

/// How one run is executed: thread, limits, cancellation, and the runtime context `C` its nodes
/// receive.
///
/// ```
/// use agentflow_core::RunConfig;
///
/// struct Deps {
///     api_base: String,
/// }
///
/// let config = RunConfig::new()
///     .thread_id("ticket-42")
///     .recursion_limit(50)
///     .max_concurrency(4)
///     .with_context(Deps { api_base: "http://localhost".into() });
/// assert_eq!(config.context().api_base, "http://localhost");
/// ```
pub struct RunConfig<C = ()> {
    pub(crate) thread_id: Option<Arc<str>>,
    pub(crate) run_id: Option<uuid::Uuid>,
    pub(crate) recursion_limit: usize,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) context: Arc<C>,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) durability: Option<Durability>,
    pub(crate) checkpoint_id: Option<String>,
    pub(crate) interrupt_before: Option<Vec<Arc<str>>>,
    pub(crate) interrupt_after: Option<Vec<Arc<str>>>,
    pub(crate) metadata: BTreeMap<String, serde_json::Value>,
    pub(crate) intent_lease: Option<std::time::Duration>,
}

impl RunConfig<()> {
    /// A configuration with no context, no thread and the default limits.
    pub fn new() -> Self {
        RunConfig::default()
    }
}

impl<C: Default> Default for RunConfig<C> {
    fn default() -> Self {
        RunConfig {
            thread_id: None,
            run_id: None,
            recursion_limit: DEFAULT_RECURSION_LIMIT,
            max_concurrency: None,
            context: Arc::new(C::default()),
            cancel: None,
            durability: None,
            checkpoint_id: None,
            interrupt_before: None,
            interrupt_after: None,
            metadata: BTreeMap::new(),
            intent_lease: None,
        }
    }
}

impl<C> Clone for RunConfig<C> {
    fn clone(&self) -> Self {
        RunConfig {
            thread_id: self.thread_id.clone(),
            run_id: self.run_id,
            recursion_limit: self.recursion_limit,
            max_concurrency: self.max_concurrency,
            context: self.context.clone(),
            cancel: self.cancel.clone(),
            durability: self.durability,
            checkpoint_id: self.checkpoint_id.clone(),
            interrupt_before: self.interrupt_before.clone(),
            interrupt_after: self.interrupt_after.clone(),
            metadata: self.metadata.clone(),
            intent_lease: self.intent_lease,
        }
    }
}

impl<C> RunConfig<C> {
    /// The conversation thread this run belongs to (LangGraph's `thread_id`): the run continues
    /// from its latest checkpoint. `RunConfig::from(checkpoint_ref)` sets it and
    /// [`checkpoint_id`](Self::checkpoint_id) together.
    pub fn thread_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.thread_id = Some(id.into());
        self
    }

    /// Fixes the run id (otherwise a fresh UUIDv7). Task ids derive from it, so two runs with
    /// the same id and input have the same task ids.
    pub fn run_id(mut self, id: uuid::Uuid) -> Self {
        self.run_id = Some(id);
        self
    }

    /// The most supersteps the run may take before failing with
    /// [`GraphError::RecursionLimit`](crate::GraphError::RecursionLimit).
    pub fn recursion_limit(mut self, limit: usize) -> Self {
        self.recursion_limit = limit;
        self
    }

    /// The most tasks that run at once within a superstep (at least 1).
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit.max(1));
        self
    }

    /// A token that cancels the run when cancelled; the run then fails with
    /// [`GraphError::Cancelled`](crate::GraphError::Cancelled).
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Overrides the graph's durability for this run.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Runs from this checkpoint of the thread instead of its latest (LangGraph's
    /// `checkpoint_id`). Running from an earlier checkpoint forks the thread: the old branch
    /// stays as it was.
    pub fn checkpoint_id(mut self, id: impl Into<String>) -> Self {
        self.checkpoint_id = Some(id.into());
        self
    }

    /// Pauses before these nodes run (overrides the graph's `interrupt_before`).
    pub fn interrupt_before<I, N>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        self.interrupt_before = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Pauses after these nodes ran (overrides the graph's `interrupt_after`).
    pub fn interrupt_after<I, N>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Arc<str>>,
    {
        self.interrupt_after = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a key to the metadata of the checkpoints this run writes (filterable in `list`).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Overrides the graph's lease of journaled steps' claims for this run
    /// ([`CompiledGraph::with_intent_lease`](crate::CompiledGraph::with_intent_lease)).
    pub fn intent_lease(mut self, lease: std::time::Duration) -> Self {
        self.intent_lease = Some(lease);
        self
    }

    /// Sets the runtime context nodes receive through [`Context::runtime`](crate::Context::runtime).
    pub fn with_context<D>(self, context: D) -> RunConfig<D> {
        self.with_shared_context(Arc::new(context))
    }

    /// Like [`with_context`](Self::with_context), with a context that is already shared.
    pub fn with_shared_context<D>(self, context: Arc<D>) -> RunConfig<D> {
        RunConfig {
            thread_id: self.thread_id,
            run_id: self.run_id,
            recursion_limit: self.recursion_limit,
            max_concurrency: self.max_concurrency,
            context,
            cancel: self.cancel,
            durability: self.durability,
            checkpoint_id: self.checkpoint_id,
            interrupt_before: self.interrupt_before,
            interrupt_after: self.interrupt_after,
            metadata: self.metadata,
            intent_lease: self.intent_lease,
        }
    }

    /// The checkpoint this run starts from, if it names a thread: where
    /// [`get_state`](crate::CompiledGraph::get_state) reads the same thread.
    pub fn checkpoint(&self) -> Option<CheckpointRef> {
        let thread = self.thread_id.as_deref()?;
        Some(match &self.checkpoint_id {
            Some(id) => CheckpointRef::at(thread, id.clone()),
            None => CheckpointRef::latest(thread),
        })
    }

    /// The runtime context.
    pub fn context(&self) -> &C {
        &self.context
    }
}

impl<C> fmt::Debug for RunConfig<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunConfig")
            .field("thread_id", &self.thread_id)
            .field("run_id", &self.run_id)
            .field("recursion_limit", &self.recursion_limit)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}
