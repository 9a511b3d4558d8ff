//! A loop with a conditional edge: draft, critique, and revise until the critic is satisfied,
//! with a recursion limit as the safety net.
//!
//! Run: `cargo run -p agentflow-examples --bin loop`

use std::sync::Arc;

use agentflow_core::{Context, END, NodeError, RunConfig, START, State, StateGraph};

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Essay {
    draft: String,
    #[state(add)]
    revisions: u32,
    #[state(append)]
    notes: Vec<String>,
}

async fn write(state: Arc<Essay>, _ctx: Context) -> Result<EssayUpdate, NodeError> {
    let draft = format!("{} more", state.draft).trim().to_owned();
    Ok(EssayUpdate::default().draft(draft).revisions(1))
}

async fn critique(state: Arc<Essay>, _ctx: Context) -> Result<EssayUpdate, NodeError> {
    let words = state.draft.split_whitespace().count();
    Ok(EssayUpdate::default().notes(vec![format!("revision {}: {words} words", state.revisions)]))
}

fn good_enough(state: &Essay) -> &'static str {
    if state.draft.split_whitespace().count() >= 4 {
        END
    } else {
        "write"
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = StateGraph::<Essay>::new();
    graph.add_node("write", write);
    graph.add_node("critique", critique);
    graph.add_edge(START, "write");
    graph.add_edge("write", "critique");
    graph.add_conditional_edges("critique", good_enough, ["write", END]);
    let graph = graph.compile()?;

    let out = graph
        .invoke(EssayUpdate::default(), RunConfig::new().recursion_limit(25))
        .await?;
    println!(
        "final draft: {:?} after {} revisions",
        out.state.draft, out.state.revisions
    );
    for note in &out.state.notes {
        println!("  {note}");
    }

    // The same graph with too small a limit fails with a clear error instead of looping on.
    let err = graph
        .invoke(EssayUpdate::default(), RunConfig::new().recursion_limit(3))
        .await
        .err()
        .ok_or("expected the recursion limit to stop the run")?;
    println!("with recursion_limit(3): {err}");
    Ok(())
}
