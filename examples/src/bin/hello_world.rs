//! The smallest useful graph: two nodes in a row over a typed state.
//!
//! Run: `cargo run -p agentflow-examples --bin hello_world`

use std::sync::Arc;

use agentflow_core::{Context, END, NodeError, RunConfig, START, State, StateGraph};

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Greeting {
    name: String,
    #[state(append)]
    lines: Vec<String>,
}

async fn greet(state: Arc<Greeting>, _ctx: Context) -> Result<GreetingUpdate, NodeError> {
    Ok(GreetingUpdate::default().lines(vec![format!("Hello, {}!", state.name)]))
}

async fn sign(_state: Arc<Greeting>, ctx: Context) -> Result<GreetingUpdate, NodeError> {
    Ok(GreetingUpdate::default().lines(vec![format!(
        "-- written by `{}` at step {}",
        ctx.node(),
        ctx.superstep()
    )]))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = StateGraph::<Greeting>::new();
    graph.add_node("greet", greet);
    graph.add_node("sign", sign);
    graph.add_sequence([START, "greet", "sign", END]);
    let graph = graph.compile()?;

    let out = graph
        .invoke(GreetingUpdate::default().name("world".into()), RunConfig::new())
        .await?;
    for line in &out.state.lines {
        println!("{line}");
    }
    println!("({} supersteps)", out.steps);
    Ok(())
}
