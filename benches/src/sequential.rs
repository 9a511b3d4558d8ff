//! `sequential_10`, `sequential_1000`: a chain START -> node_0 -> ... -> node_{N-1} -> END of
//! no-op nodes over a message list. N supersteps; measures pure per-step framework overhead.

use std::sync::Arc;

use agentflow_core::{CompiledGraph, Context, END, EventData, NodeError, START, State, StateGraph};

use crate::{BenchError, StreamMode, drain, expect_eq, run_config};

/// The state: a message list (LangGraph's bench uses `MessagesState`).
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct Messages {
    /// The messages (appended).
    #[state(append)]
    pub messages: Vec<String>,
}

/// What one run produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Update events in the stream (one per node execution).
    pub update_events: usize,
    /// Supersteps (`RunOutput::steps`).
    pub steps: usize,
    /// Final length of `messages`.
    pub messages: usize,
}

impl Counts {
    /// What BENCHMARKS.md expects of a chain of `n` nodes: `n` supersteps and `n` update events.
    pub fn expected(n: usize) -> Counts {
        Counts {
            update_events: n,
            steps: n,
            messages: 0,
        }
    }
}

/// A node that writes nothing.
async fn noop(_state: Arc<Messages>, _ctx: Context) -> Result<MessagesUpdate, NodeError> {
    Ok(MessagesUpdate::default())
}

/// Builds and compiles the chain of `n` no-op nodes.
pub fn build(n: usize) -> Result<CompiledGraph<Messages>, BenchError> {
    let mut graph = StateGraph::<Messages>::new();
    let mut prev: Arc<str> = START.into();
    for i in 0..n {
        let name: Arc<str> = format!("node_{i}").into();
        graph.add_node(name.clone(), noop);
        graph.add_edge(&*prev, name.clone());
        prev = name;
    }
    graph.add_edge(&*prev, END);
    Ok(graph.compile()?)
}

/// The input, `{"messages": []}`.
pub fn input() -> MessagesUpdate {
    MessagesUpdate::default().messages(Vec::new())
}

/// One timed run: stream in updates mode with a fresh thread id and drain every event.
pub async fn run(graph: &CompiledGraph<Messages>) -> Result<Counts, BenchError> {
    let mut update_events = 0;
    let events = graph.stream(input(), run_config(), StreamMode::Updates);
    let out = drain(events, |event| {
        if let EventData::Updates { .. } = event.data {
            update_events += 1;
        }
    })
    .await?;
    Ok(Counts {
        update_events,
        steps: out.steps,
        messages: out.state.messages.len(),
    })
}

/// Runs once and checks the counts against BENCHMARKS.md; returns a description of them.
pub async fn verify(graph: &CompiledGraph<Messages>, n: usize) -> Result<String, BenchError> {
    let counts = run(graph).await?;
    expect_eq(&format!("sequential_{n} counts"), counts, Counts::expected(n))?;
    Ok(format!(
        "{} update events, {} supersteps",
        counts.update_events, counts.steps
    ))
}
