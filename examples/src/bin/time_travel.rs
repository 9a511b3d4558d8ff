//! Time travel: list a thread's checkpoints, edit the state at an earlier one, and run again
//! from there. The old branch stays as it was.
//!
//! Run: `cargo run -p agentflow-examples --bin time_travel`

use std::sync::Arc;

use agentflow_core::checkpoint::{InMemorySaver, ListOptions};
use agentflow_core::{Context, END, NodeError, RunConfig, RunInput, START, State, StateGraph};
use serde::{Deserialize, Serialize};

#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
struct Trip {
    city: String,
    #[state(append)]
    plan: Vec<String>,
}

async fn pick_hotel(state: Arc<Trip>, _: Context) -> Result<TripUpdate, NodeError> {
    Ok(TripUpdate::default().plan(vec![format!("hotel in {}", state.city)]))
}

async fn book_dinner(state: Arc<Trip>, _: Context) -> Result<TripUpdate, NodeError> {
    Ok(TripUpdate::default().plan(vec![format!("dinner in {}", state.city)]))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = StateGraph::<Trip>::new();
    graph.add_node("pick_hotel", pick_hotel);
    graph.add_node("book_dinner", book_dinner);
    graph.add_sequence([START, "pick_hotel", "book_dinner", END]);
    let graph = graph.compile()?.with_checkpointer(InMemorySaver::new());
    let out = graph
        .invoke(
            TripUpdate::default().city("Lisbon".into()),
            RunConfig::new().thread_id("trip"),
        )
        .await?;
    println!("first run: {:?}", out.state.plan);

    println!("history (newest first):");
    let history = graph.get_state_history("trip", &ListOptions::default()).await?;
    for snapshot in &history {
        println!(
            "  step {:>2} {:<6} next={:?} plan={:?}",
            snapshot.metadata.step,
            format!("{:?}", snapshot.metadata.source),
            snapshot.next,
            snapshot.values.plan
        );
    }

    // Go back to just after the hotel was picked, change the city, and run on from there.
    let before_dinner = history
        .iter()
        .find(|s| s.next == ["book_dinner"])
        .ok_or("no such checkpoint")?;
    let edited = graph
        .update_state(
            &before_dinner.config,
            TripUpdate::default().city("Porto".into()),
            None,
        )
        .await?;
    // The fork's address is all `invoke` needs (LangGraph's `invoke(None, fork_config)`).
    let out = graph.invoke(RunInput::Continue, &edited).await?;
    println!("forked run: {:?}", out.state.plan);

    let latest = graph.get_state("trip").await?.ok_or("no state")?;
    println!("the thread now ends with: {:?}", latest.values.plan);
    let old_head = graph.get_state(&history[0].config).await?.ok_or("gone")?;
    println!("the old branch still ends with: {:?}", old_head.values.plan);
    println!(
        "checkpoints on the thread: {}",
        graph.checkpoint_count("trip").await?
    );
    Ok(())
}
