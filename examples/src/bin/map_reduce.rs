//! Map-reduce with `Send`: one task per document runs in parallel in one superstep, and the
//! results are merged at the barrier in Send order, whatever order the tasks finish in.
//!
//! Run: `cargo run -p agentflow-examples --bin map_reduce`

use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{
    Context, END, EventData, NodeError, RunConfig, START, Send, State, StateGraph, StreamMode,
};
use futures::StreamExt;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Review {
    documents: Vec<String>,
    #[state(append)]
    summaries: Vec<String>,
    #[state(add)]
    total_words: usize,
    verdict: String,
}

/// The payload each worker receives: not the graph state, just one document.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Doc {
    index: usize,
    text: String,
}

async fn summarize(doc: Doc, ctx: Context) -> Result<ReviewUpdate, NodeError> {
    // Later documents finish first: the merge order must not care.
    tokio::time::sleep(Duration::from_millis(40 - 10 * doc.index as u64)).await;
    let words = doc.text.split_whitespace().count();
    ctx.writer().custom(serde_json::json!({ "finished": doc.index }));
    Ok(ReviewUpdate::default()
        .summaries(vec![format!("doc {}: {words} words", doc.index)])
        .total_words(words))
}

async fn decide(state: Arc<Review>, _ctx: Context) -> Result<ReviewUpdate, NodeError> {
    let verdict = if state.total_words > 10 {
        "long read"
    } else {
        "quick read"
    };
    Ok(ReviewUpdate::default().verdict(verdict.into()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = StateGraph::<Review>::new();
    graph.add_send_node("summarize", summarize);
    graph.add_node("decide", decide);
    graph.add_conditional_edges(
        START,
        |s: &Review| {
            s.documents
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    Send::new(
                        "summarize",
                        Doc {
                            index,
                            text: text.clone(),
                        },
                    )
                })
                .collect::<Vec<_>>()
        },
        ["summarize"],
    );
    graph.add_edge("summarize", "decide");
    graph.add_edge("decide", END);
    let graph = graph.compile()?;
    println!("{}", graph.to_mermaid());

    let input = ReviewUpdate::default().documents(vec![
        "the quick brown fox".into(),
        "jumps over".into(),
        "the lazy dog and keeps running far away".into(),
    ]);
    let mut events = graph.stream(input, RunConfig::new(), StreamMode::Updates | StreamMode::Custom);
    while let Some(event) = events.next().await {
        match event?.data {
            EventData::Updates { step, node, update } => println!("step {step}: {node} wrote {update:?}"),
            EventData::Custom { node, value } => println!("{node} says {value}"),
            _ => {}
        }
    }
    let out = events.into_output().ok_or("the run produced no output")?;
    println!("summaries (in Send order): {:?}", out.state.summaries);
    println!("verdict: {} ({} words)", out.state.verdict, out.state.total_words);
    Ok(())
}
