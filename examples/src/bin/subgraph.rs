//! A compiled graph used as a node of another graph, with its own state type: the parent maps
//! its state into the child's input and the child's final state back into an update. Events
//! from inside the subgraph arrive in the parent's stream under the namespace `node:task_id`.
//!
//! Run: `cargo run -p agentflow-examples --bin subgraph`

use std::sync::Arc;

use agentflow_core::{END, EventData, RunConfig, START, State, StateGraph, StreamMode, StreamModes};
use futures::StreamExt;

/// The child: turns a request into a checked plan.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Planning {
    request: String,
    #[state(append)]
    steps: Vec<String>,
}

/// The parent: a ticket that gets a plan.
#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Ticket {
    title: String,
    #[state(append)]
    plan: Vec<String>,
    status: String,
}

fn planner() -> Result<agentflow_core::CompiledGraph<Planning>, agentflow_core::BuildError> {
    let mut g = StateGraph::<Planning>::new();
    g.add_node("outline", |s, _| async move {
        Ok(PlanningUpdate::default().steps(vec![format!("understand: {}", s.request)]))
    });
    g.add_node("detail", |_, _| async {
        Ok(PlanningUpdate::default().steps(vec!["act".into(), "verify".into()]))
    });
    g.add_sequence([START, "outline", "detail", END]);
    g.compile()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let planner = planner()?;
    let mut graph = StateGraph::<Ticket>::new();
    graph.add_node(
        "plan",
        planner.as_node(
            |ticket: Arc<Ticket>| PlanningUpdate::default().request(ticket.title.clone()),
            |planning: Planning| TicketUpdate::default().plan(planning.steps),
        ),
    );
    graph.add_node("close", |_, _| async {
        Ok(TicketUpdate::default().status("planned".into()))
    });
    graph.add_sequence([START, "plan", "close", END]);
    let graph = graph.compile()?;

    let input = TicketUpdate::default().title("rotate the API keys".into());
    let modes = StreamModes::from(StreamMode::Updates).with_subgraphs();
    let mut events = graph.stream(input, RunConfig::new(), modes);
    while let Some(event) = events.next().await {
        let event = event?;
        match event.data {
            EventData::Updates { node, .. } => println!("[root] {node} finished"),
            EventData::SubgraphUpdates { node, .. } => println!("[{}] {node} finished", event.namespace),
            _ => {}
        }
    }
    let out = events.into_output().ok_or("the run produced no output")?;
    println!("plan: {:?}, status: {}", out.state.plan, out.state.status);
    Ok(())
}
