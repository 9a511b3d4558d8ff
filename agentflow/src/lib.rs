//! # agentflow
//!
//! Stateful LLM-agent workflows as typed graphs, with LangGraph's semantics and Rust's types:
//! one dependency for the engine, the persistence backends and the tools.
//!
//! ```toml
//! [dependencies]
//! agentflow = { version = "0.1", features = ["sqlite", "tools", "slack"] }
//! ```
//!
//! The engine ([`agentflow-core`](agentflow_core)) is re-exported at the root: [`StateGraph`],
//! [`State`], [`RunConfig`], [`checkpoint`], [`state`], [`store`], ... The rest are modules, each
//! behind the feature of the same name:
//!
//! | feature | module | what it adds |
//! |---|---|---|
//! | `postgres` | `agentflow::postgres` | `PostgresSaver` and `PostgresStore` |
//! | `sqlite` | `agentflow::sqlite` | `SqliteSaver`, the embedded checkpointer |
//! | `tools` | `agentflow::tools` | tools, tool node, chat models, the ReAct agent |
//! | `slack`, `jira`, `sql`, `fetch` | `tools::slack`, ... | those backends (each implies `tools`) |
//! | `rig` | `tools::rig` | chat models through rig-core (implies `tools`) |
//!
//! `#[derive(State)]` works through this crate alone: in a crate that depends on `agentflow`, the
//! generated code names `::agentflow` (a renamed dependency is not recognised).
//!
//! ```
//! use std::sync::Arc;
//! use agentflow::{Context, NodeError, RunConfig, State, StateGraph, END, START};
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
//! let graph = graph.compile()?.with_checkpointer(agentflow::checkpoint::InMemorySaver::new());
//!
//! let out = graph.invoke(CounterUpdate::default(), RunConfig::new().thread_id("t1")).await?;
//! assert_eq!(out.state.count, 3);
//! assert_eq!(out.state.trail, ["bump@0", "bump@1", "bump@2"]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(missing_docs)]

#[doc(inline)]
pub use agentflow_core::*;

/// PostgreSQL persistence: [`postgres::PostgresSaver`] and [`postgres::PostgresStore`]
/// (the `agentflow-postgres` crate).
#[cfg(feature = "postgres")]
pub use agentflow_postgres as postgres;

/// SQLite persistence: [`sqlite::SqliteSaver`] (the `agentflow-sqlite` crate).
#[cfg(feature = "sqlite")]
pub use agentflow_sqlite as sqlite;

/// Tools, the tool node, chat models and the prebuilt ReAct agent, with the backends the
/// features select (the `agentflow-tools` crate).
#[cfg(feature = "tools")]
pub use agentflow_tools as tools;
