//! `concurrent_10k`: 10,000 invocations of START -> a -> b -> c -> END started at once on one
//! runtime (one `tokio::spawn` each) and awaited together. Each node appends its own name to
//! `trail`; every invocation must end with `[a, b, c]`, checked from its stream and its final
//! state.

use std::sync::Arc;

use agentflow_core::{CompiledGraph, Context, EventData, NodeError, State, StateGraph, state::Write};

use crate::{BenchError, StreamMode, drain, run_config};

/// How many invocations `concurrent_10k` starts.
pub const INVOCATIONS: usize = 10_000;

/// The trail every invocation must end with.
pub const TRAIL: [&str; 3] = ["a", "b", "c"];

/// The state: `{id: int, trail: list[str] (append)}`.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct Trail {
    /// The invocation's index.
    pub id: i64,
    /// The names of the nodes that ran, in order.
    #[state(append)]
    pub trail: Vec<String>,
}

/// A node that appends `name` to the trail.
fn append(
    name: &'static str,
) -> impl Fn(Arc<Trail>, Context) -> std::future::Ready<Result<TrailUpdate, NodeError>> + Send + Sync + 'static
{
    move |_state: Arc<Trail>, _ctx: Context| {
        std::future::ready(Ok(TrailUpdate::default().trail(vec![name.into()])))
    }
}

/// Builds and compiles START -> a -> b -> c -> END.
pub fn build() -> Result<CompiledGraph<Trail>, BenchError> {
    let mut graph = StateGraph::<Trail>::new();
    for name in TRAIL {
        graph.add_node(name, append(name));
    }
    graph.add_sequence([agentflow_core::START, "a", "b", "c", agentflow_core::END]);
    Ok(graph.compile()?)
}

/// One invocation with input `id`: streams it in updates mode with a fresh thread id and returns
/// the trail collected from its update events, after checking its final state.
pub async fn invoke_one(graph: &CompiledGraph<Trail>, id: i64) -> Result<Vec<String>, BenchError> {
    let mut streamed = Vec::with_capacity(TRAIL.len());
    let events = graph.stream(TrailUpdate::default().id(id), run_config(), StreamMode::Updates);
    let out = drain(events, |event| {
        if let EventData::Updates { update, .. } = event.data
            && let Some(Write::Value(items) | Write::Overwrite(items)) = &update.trail
        {
            streamed.extend(items.iter().cloned());
        }
    })
    .await?;
    if out.state.id != id || out.state.trail != TRAIL {
        return Err(BenchError::Count(format!(
            "invocation {id}: final state id {} trail {:?}, expected id {id} trail {TRAIL:?}",
            out.state.id, out.state.trail
        )));
    }
    Ok(streamed)
}

/// What one run of many invocations produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Invocations that finished.
    pub invocations: usize,
    /// Invocations whose streamed trail (and final state) was `[a, b, c]`.
    pub correct_trails: usize,
}

/// One timed run: starts `count` invocations at once (one `tokio::spawn` each, so it needs a
/// tokio runtime), awaits them all, and checks every trail. Fails on the first wrong trail.
pub async fn run(graph: &CompiledGraph<Trail>, count: usize) -> Result<Counts, BenchError> {
    let handles: Vec<_> = (0..count)
        .map(|i| {
            let graph = graph.clone();
            tokio::spawn(async move { invoke_one(&graph, i as i64).await })
        })
        .collect();
    let mut correct_trails = 0;
    for (i, handle) in handles.into_iter().enumerate() {
        let trail = handle.await.map_err(|e| BenchError::Join(e.to_string()))??;
        if trail != TRAIL {
            return Err(BenchError::Count(format!(
                "invocation {i}: streamed trail {trail:?}, expected {TRAIL:?}"
            )));
        }
        correct_trails += 1;
    }
    Ok(Counts {
        invocations: count,
        correct_trails,
    })
}

/// Runs once and checks every trail; returns a description.
pub async fn verify(graph: &CompiledGraph<Trail>, count: usize) -> Result<String, BenchError> {
    let counts = run(graph, count).await?;
    crate::expect_eq("invocations with trail [a, b, c]", counts.correct_trails, count)?;
    Ok(format!(
        "{} invocations, every streamed and final trail == ['a','b','c']",
        counts.invocations
    ))
}
