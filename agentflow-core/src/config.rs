//! Per-run configuration.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

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
        }
    }
}

impl<C> RunConfig<C> {
    /// The conversation thread this run belongs to.
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
        }
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
