//! Errors: what a node returns ([`NodeError`]), what a run returns ([`GraphError`]) and what
//! `compile` returns ([`BuildError`]).

use std::fmt;
use std::time::Duration;

use crate::checkpoint::{CheckpointError, CodecError};
use crate::control::Interrupt;
use crate::failure::{ErrorClass, Failure};
use crate::state::UpdateError;

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error a node returns.
///
/// Any `std::error::Error + Send + Sync` converts into it with `?` and counts as
/// [retryable](ErrorClass::Retryable) (a retry policy decides whether to actually retry, and
/// nodes without one never retry). Mark errors that retrying cannot fix with
/// [`NodeError::terminal`], and keep the class of an error that has one with
/// [`NodeError::from_failure`].
///
/// Like `anyhow::Error`, `NodeError` does not itself implement `std::error::Error`; that is what
/// lets `?` convert any error into it.
pub struct NodeError {
    class: ErrorClass,
    retry_after: Option<Duration>,
    source: BoxError,
}

impl NodeError {
    /// A transient failure.
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        NodeError::with_class(ErrorClass::Retryable, error)
    }

    /// A permanent failure: retry policies never retry it.
    pub fn terminal(error: impl Into<BoxError>) -> Self {
        NodeError::with_class(ErrorClass::Terminal, error)
    }

    /// A transient failure after which the work may have taken effect (see
    /// [`ErrorClass::Ambiguous`]); retry policies retry it like a retryable one.
    pub fn ambiguous(error: impl Into<BoxError>) -> Self {
        NodeError::with_class(ErrorClass::Ambiguous, error)
    }

    /// An error that knows its class (a tool or model error): its class and the delay it asks
    /// for are kept, where `?` would make every error retryable.
    pub fn from_failure<E: Failure + Into<BoxError>>(error: E) -> Self {
        let (class, retry_after) = (error.class(), error.retry_after());
        NodeError {
            class,
            retry_after,
            source: error.into(),
        }
    }

    fn with_class(class: ErrorClass, error: impl Into<BoxError>) -> Self {
        NodeError {
            class,
            retry_after: None,
            source: error.into(),
        }
    }

    /// The same error, asking to be retried no sooner than `delay` (a backend's
    /// `Retry-After`); a [`RetryPolicy`](crate::RetryPolicy) honours it up to its cap.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// The node ran longer than its timeout (retryable).
    pub fn timeout(after: Duration) -> Self {
        NodeError::retryable(TimedOut(after))
    }

    /// Retryable, ambiguous or terminal.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// True when retrying may help (retryable or ambiguous).
    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable()
    }

    /// A node asking to pause (returned by [`Context::interrupt`](crate::Context::interrupt)
    /// until a resume value exists). Propagate it with `?`; it is never retried.
    pub(crate) fn interrupt(interrupt: Interrupt) -> Self {
        NodeError::with_class(ErrorClass::Terminal, InterruptSignal(interrupt))
    }

    /// True when this "error" is a node asking to pause for a resume value.
    pub fn is_interrupt(&self) -> bool {
        self.source.is::<InterruptSignal>()
    }

    /// The interrupt, if this is one.
    pub(crate) fn as_interrupt(&self) -> Option<&Interrupt> {
        self.source.downcast_ref::<InterruptSignal>().map(|s| &s.0)
    }

    /// True when this error is a node timeout.
    pub fn is_timeout(&self) -> bool {
        self.source.is::<TimedOut>()
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The underlying error, if it has type `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref()
    }

    pub(crate) fn into_parts(self) -> (ErrorClass, BoxError) {
        (self.class, self.source)
    }
}

impl<E: Into<BoxError>> From<E> for NodeError {
    fn from(error: E) -> Self {
        let source = error.into();
        // A failed subgraph keeps the class of the failure inside it.
        let class = match source.downcast_ref::<GraphError>() {
            Some(inner) if !inner.is_retryable() => ErrorClass::Terminal,
            _ => ErrorClass::Retryable,
        };
        NodeError {
            class,
            retry_after: None,
            source,
        }
    }
}

impl Failure for NodeError {
    fn class(&self) -> ErrorClass {
        self.class
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    fn error(&self) -> &(dyn std::error::Error + 'static) {
        &*self.source
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeError")
            .field("class", &self.class)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .finish()
    }
}

/// The pause request carried by [`NodeError::is_interrupt`] errors.
#[derive(Debug, Clone, thiserror::Error)]
#[error("node paused at interrupt {}", .0.id)]
pub(crate) struct InterruptSignal(pub(crate) Interrupt);

/// A node exceeded its timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("node timed out after {0:?}")]
pub struct TimedOut(pub Duration);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A node failed (after its retries, if it has a retry policy).
    #[error("node `{node}` failed at step {step} after {attempts} attempt(s): {source}")]
    Node {
        /// The node's name.
        node: String,
        /// The superstep.
        step: usize,
        /// How many times the node ran.
        attempts: u32,
        /// Whether the failure was retryable, ambiguous or terminal.
        class: ErrorClass,
        /// The node's error.
        #[source]
        source: BoxError,
    },
    /// A node panicked.
    #[error("node `{node}` panicked at step {step}: {message}")]
    Panicked {
        /// The node's name.
        node: String,
        /// The superstep.
        step: usize,
        /// The panic message.
        message: String,
    },
    /// The writes of a superstep could not be merged.
    #[error("invalid update at step {step}: {source}")]
    InvalidUpdate {
        /// The superstep.
        step: usize,
        /// What conflicted.
        #[source]
        source: UpdateError,
    },
    /// A router or `Command` went somewhere it did not declare.
    #[error(
        "node `{node}` routed to `{target}` at step {step}, which is not among its declared \
         destinations {declared:?}; declare it in add_conditional_edges or NodeSpec::destinations"
    )]
    UndeclaredRoute {
        /// The routing node.
        node: String,
        /// The undeclared target.
        target: String,
        /// The superstep.
        step: usize,
        /// What the node declared.
        declared: Vec<String>,
    },
    /// A `Send` carried a payload of a type its target node does not accept.
    #[error(
        "Send to node `{node}` carried a `{found}`, but that node takes `{expected}`; \
         send the node's input type"
    )]
    SendPayloadType {
        /// The target node.
        node: String,
        /// The type the node accepts.
        expected: &'static str,
        /// The type that was sent.
        found: &'static str,
    },
    /// The run took more supersteps than its recursion limit.
    #[error(
        "recursion limit of {limit} supersteps reached without hitting a stop condition; \
         raise RunConfig::recursion_limit if the graph is meant to run this long"
    )]
    RecursionLimit {
        /// The limit.
        limit: usize,
    },
    /// The run was cancelled through its cancellation token.
    #[error("run cancelled")]
    Cancelled,
    /// A node called `interrupt` but the graph has no checkpointer to hold the pause.
    #[error(
        "node `{node}` called interrupt(), which needs a checkpointer and a thread id; compile \
         the graph with `with_checkpointer` and set `RunConfig::thread_id`"
    )]
    InterruptWithoutCheckpointer {
        /// The node.
        node: String,
    },
    /// A graph with a checkpointer was run without a thread id.
    #[error("this graph has a checkpointer, so each run needs `RunConfig::thread_id`")]
    MissingThreadId,
    /// A resume or continue found nothing to resume.
    #[error("thread `{thread_id}` has no checkpoint to resume from")]
    NothingToResume {
        /// The thread.
        thread_id: String,
    },
    /// A resume command does not fit the pending interrupts.
    #[error("invalid resume: {0}")]
    InvalidResume(String),
    /// A checkpoint does not fit this graph (a node it names no longer exists, another codec...).
    #[error("checkpoint does not fit this graph: {0}")]
    IncompatibleCheckpoint(String),
    /// The checkpointer failed (a `Conflict` means another writer extended the thread first).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A value could not be encoded for, or decoded from, a checkpoint.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl GraphError {
    /// True when running again may succeed (a retryable node failure or storage failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Node { class, .. } => class.is_retryable(),
            GraphError::Checkpoint(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// True when another writer extended the thread first (writer fencing).
    pub fn is_conflict(&self) -> bool {
        matches!(self, GraphError::Checkpoint(CheckpointError::Conflict { .. }))
    }

    /// The failing node, if the error concerns one.
    pub fn node(&self) -> Option<&str> {
        match self {
            GraphError::Node { node, .. }
            | GraphError::Panicked { node, .. }
            | GraphError::UndeclaredRoute { node, .. }
            | GraphError::SendPayloadType { node, .. }
            | GraphError::InterruptWithoutCheckpointer { node } => Some(node),
            _ => None,
        }
    }
}

/// The graph is not well formed; returned by [`StateGraph::compile`](crate::StateGraph::compile).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two nodes share a name.
    #[error("node `{0}` is added twice; node names must be unique")]
    DuplicateNode(String),
    /// A node uses a reserved name.
    #[error("`{0}` is reserved (START and END); choose another node name")]
    ReservedName(String),
    /// An edge, router or destination names a node that does not exist.
    #[error("{context} names `{name}`, which is not a node of this graph")]
    UnknownNode {
        /// Where the name appears.
        context: String,
        /// The unknown name.
        name: String,
    },
    /// Nothing leaves START.
    #[error("the graph has no entry point: add an edge from START")]
    NoEntry,
    /// Some nodes are reached by no declared edge from START (a warning of
    /// [`compile`](crate::StateGraph::compile), refused by
    /// [`compile_strict`](crate::StateGraph::compile_strict)).
    #[error("nodes {0:?} are unreachable from START")]
    Unreachable(Vec<String>),
    /// Some nodes have no declared way to END (a warning of
    /// [`compile`](crate::StateGraph::compile), refused by
    /// [`compile_strict`](crate::StateGraph::compile_strict)).
    #[error(
        "nodes {0:?} can never reach END: every path from them loops forever; add an exit \
         (a conditional edge or an edge to END)"
    )]
    NoPathToEnd(Vec<String>),
    /// A node that takes a `Send` payload is the target of a static edge.
    #[error(
        "node `{node}` takes a Send payload, not the graph state, so `{from}` cannot reach it \
         through a static edge; route to it with Send"
    )]
    SendOnlyTarget {
        /// The send-only node.
        node: String,
        /// The source of the static edge.
        from: String,
    },
    /// An edge leaves END or enters START.
    #[error("invalid edge `{from}` -> `{to}`: edges cannot leave END or enter START")]
    InvalidEdge {
        /// Source.
        from: String,
        /// Target.
        to: String,
    },
    /// A join waits for more sources than a join supports.
    #[error("the join into `{node}` waits for {sources} nodes; a join supports at most 128")]
    TooManyJoinSources {
        /// The join's target.
        node: String,
        /// How many sources it names.
        sources: usize,
    },
    /// A conditional edge declares no targets.
    #[error("the conditional edge from `{0}` declares no targets")]
    NoRouterTargets(String),
}
