//! The benchmark shapes of `benches/SHAPES.md`, built on agentflow exactly as LangGraph's own
//! bench suite (`libs/langgraph/bench`) builds them, so that both sides do the same work.
//!
//! Each shape family is a module with:
//! - a `build` function that builds and compiles the graph (once, outside the timing);
//! - an input builder (also outside the timing; inputs are cheap to clone and shared like
//!   Python's reused input object);
//! - a `run` function that does one timed run: stream the graph in [`StreamMode::Updates`] with a
//!   fresh thread id (see [`run_config`]), drain every event, and return the counts that the
//!   tests check against BENCHMARKS.md.
//!
//! [`registry`] names the shapes for the `shapes` binary.
#![warn(missing_docs)]

use std::fmt;

use agentflow_core::{
    BuildError, CompiledGraph, EventStream, GraphError, RunConfig, RunOutput, State, StreamEvent,
};
use futures::StreamExt;

pub mod concurrent;
pub mod fanout;
pub mod pg;
pub mod react;
pub mod registry;
pub mod sequential;
pub mod wide_state;

pub use agentflow_core::StreamMode;

/// The recursion limit every run uses, as LangGraph's bench (`"recursion_limit": 1_000_000_000`).
pub const RECURSION_LIMIT: usize = 1_000_000_000;

/// The configuration of one timed run: a fresh thread id (a random UUID, as LangGraph's bench)
/// and [`RECURSION_LIMIT`].
pub fn run_config() -> RunConfig {
    RunConfig::new()
        .thread_id(uuid::Uuid::new_v4().to_string())
        .recursion_limit(RECURSION_LIMIT)
}

/// The `_checkpoint` variant of a shape: LangGraph's bench compiles with `InMemorySaver()` and
/// runs with durability "exit" (LangGraph writes one checkpoint per run; agentflow writes two:
/// the run's fence, durable before any node runs, and the end); the saver stores encoded
/// values, as LangGraph's serializes every blob. The codec is plain `MsgPackCodec`; set
/// [`FAST_CODEC_ENV`] to `1` to compare with the opt-in `FastMsgPackCodec`.
pub fn checkpointed<S: State>(graph: CompiledGraph<S>) -> CompiledGraph<S> {
    let graph = graph
        .with_checkpointer(agentflow_core::checkpoint::InMemorySaver::new())
        .with_durability(agentflow_core::Durability::Exit);
    if fast_codec() {
        graph.with_codec(agentflow_core::checkpoint::FastMsgPackCodec)
    } else {
        graph.with_codec(agentflow_core::checkpoint::MsgPackCodec)
    }
}

/// The environment variable that makes [`checkpointed`] use the opt-in `FastMsgPackCodec`.
pub const FAST_CODEC_ENV: &str = "AGENTFLOW_BENCH_FAST_CODEC";

/// Whether [`FAST_CODEC_ENV`] asks for the opt-in codec.
fn fast_codec() -> bool {
    std::env::var(FAST_CODEC_ENV).is_ok_and(|v| v == "1")
}

/// Drains `events`, handing every event to `on_event`, and returns the run's output.
pub async fn drain<S: State>(
    mut events: EventStream<S>,
    mut on_event: impl FnMut(StreamEvent<S>),
) -> Result<RunOutput<S>, BenchError> {
    while let Some(event) = events.next().await {
        on_event(event?);
    }
    events.into_output().ok_or(BenchError::NoOutput)
}

/// Why a benchmark shape could not be built, run or verified.
#[derive(Debug)]
#[non_exhaustive]
pub enum BenchError {
    /// The graph did not compile.
    Build(BuildError),
    /// The run failed.
    Graph(GraphError),
    /// The event stream ended without an error but without the run's output.
    NoOutput,
    /// A spawned invocation could not be joined (it panicked or was cancelled).
    Join(String),
    /// The run finished, but its counts differ from what BENCHMARKS.md expects.
    Count(String),
    /// Setting up a persistence shape failed (database URL, migrations, queries).
    Setup(String),
}

impl BenchError {
    /// A setup failure.
    pub fn new(message: impl Into<String>) -> Self {
        BenchError::Setup(message.into())
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Build(e) => write!(f, "graph did not compile: {e}"),
            BenchError::Graph(e) => write!(f, "run failed: {e}"),
            BenchError::NoOutput => f.write_str("the event stream ended without the run's output"),
            BenchError::Join(e) => write!(f, "a spawned invocation failed: {e}"),
            BenchError::Count(e) => write!(f, "count mismatch: {e}"),
            BenchError::Setup(e) => write!(f, "setup failed: {e}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Build(e) => Some(e),
            BenchError::Graph(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for BenchError {
    fn from(e: BuildError) -> Self {
        BenchError::Build(e)
    }
}

impl From<GraphError> for BenchError {
    fn from(e: GraphError) -> Self {
        BenchError::Graph(e)
    }
}

/// Fails with [`BenchError::Count`] unless `actual == expected`.
pub fn expect_eq<T: PartialEq + fmt::Debug>(what: &str, actual: T, expected: T) -> Result<(), BenchError> {
    if actual == expected {
        Ok(())
    } else {
        Err(BenchError::Count(format!(
            "{what}: got {actual:?}, expected {expected:?}"
        )))
    }
}
