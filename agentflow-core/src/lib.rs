//! # agentflow-core
//!
//! The typed StateGraph engine of agentflow: stateful LLM-agent workflows as graphs, with
//! LangGraph's semantics and Rust's types.
//!
//! - **State** is a plain struct; `#[derive(State)]` generates its partial-update type and the
//!   per-field merge rules ([`state`]).
//! - **Nodes** are async functions that read a snapshot and return an update or a [`Command`].
//! - **Edges**: static, joins (`add_edge(["a", "b"], "c")`), conditional (routers with declared
//!   targets), and dynamic fan-out with [`Send`].
//! - **Supersteps**: every triggered task of a step runs concurrently on tokio; writes are merged
//!   at the barrier in a deterministic order (node name, then `Send` index), never in completion
//!   order.
//! - **Reliability**: per-node [`RetryPolicy`], timeouts and error handlers; a failing task
//!   cancels its siblings and the error names the node and the step.
//! - **Streaming** of values, updates, custom events, model tokens and task timings
//!   ([`StreamMode`]); subgraphs with namespaced events.
//!
//! ```
//! use std::sync::Arc;
//! use agentflow_core::{Context, NodeError, RunConfig, State, StateGraph, END, START};
//!
//! #[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
//! struct Counter {
//!     #[state(add)]
//!     count: u32,
//!     #[state(append)]
//!     trail: Vec<String>,
//! }
//!
//! async fn bump(state: Arc<Counter>, ctx: Context) -> Result<CounterUpdate, NodeError> {
//!     Ok(CounterUpdate::default().count(1).trail(vec![format!("{}@{}", ctx.node(), state.count)]))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mut graph = StateGraph::<Counter>::new();
//! graph.add_node("bump", bump);
//! graph.add_edge(START, "bump");
//! graph.add_conditional_edges("bump", |s| if s.count < 3 { "bump" } else { END }, ["bump", END]);
//! let graph = graph.compile()?;
//!
//! let out = graph.invoke(CounterUpdate::default(), RunConfig::new()).await?;
//! assert_eq!(out.state.count, 3);
//! assert_eq!(out.state.trail, ["bump@0", "bump@1", "bump@2"]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

extern crate self as agentflow_core;

mod address;
pub mod checkpoint;
mod compiled;
mod config;
mod context;
mod control;
mod error;
mod failure;
mod graph;
mod history;
mod ids;
mod node;
mod pregel;
mod render;
mod retry;
pub mod state;
mod steps;
pub mod store;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use agentflow_macros::State;
pub use compiled::{CompiledGraph, RunOutput};
pub use config::{DEFAULT_RECURSION_LIMIT, Durability, RunConfig};
pub use context::Context;
pub use control::{Command, Interrupt, InterruptKind, IntoRoutes, Resume, Route, RunInput, Send};
pub use error::{BoxError, BuildError, GraphError, NodeError, TimedOut};
pub use failure::{ErrorClass, Failure};
pub use graph::{EdgeSources, NodeSpec, StateGraph};
pub use history::{StateSnapshot, TaskSnapshot};
pub use ids::{Namespace, TaskId};
pub use node::{Node, NodeFuture};
pub use retry::{DEFAULT_MAX_RETRY_AFTER, RetryPolicy};
pub use state::{State, UpdateError};
pub use store::{InMemoryStore, Store};
pub use stream::{EventData, EventStream, MessageChunk, StreamEvent, StreamMode, StreamModes, StreamWriter};
pub use tokio_util::sync::CancellationToken;

/// What the code `#[derive(State)]` generates names: not public API, and not covered by semver.
#[doc(hidden)]
pub mod __private {
    pub use crate::state::Write;
    pub use crate::state::derive_support::{FieldGuard, Tail, apply_field, apply_field_with, seq_len};
    pub use serde;
}

/// The virtual node every run starts from: `add_edge(START, "first")`.
pub const START: &str = "__start__";
/// The virtual node that ends a branch: `add_edge("last", END)`.
pub const END: &str = "__end__";
