//! The facade alone is enough: a graph whose state derives `State` through `agentflow`,
//! checkpointed by the SQLite backend and running a tool node, all named through `agentflow::`.

use std::sync::Arc;

use agentflow::checkpoint::ListOptions;
use agentflow::sqlite::SqliteSaver;
use agentflow::{Context, END, NodeError, RunConfig, START, State, StateGraph};

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Notes {
    #[state(append)]
    lines: Vec<String>,
}

async fn write(_: Arc<Notes>, ctx: Context) -> Result<NotesUpdate, NodeError> {
    Ok(NotesUpdate::default().lines(vec![ctx.node().to_owned()]))
}

#[tokio::test]
async fn a_graph_built_through_the_facade_checkpoints_in_sqlite() {
    let mut graph = StateGraph::<Notes>::new();
    graph.add_node("first", write);
    graph.add_node("second", write);
    graph.add_edge(START, "first");
    graph.add_edge("first", "second");
    graph.add_edge("second", END);
    let saver = SqliteSaver::in_memory()
        .await
        .expect("an in-memory SQLite database opens");
    let graph = graph
        .compile()
        .expect("the graph compiles")
        .with_checkpointer(saver);

    let out = graph
        .invoke(NotesUpdate::default(), RunConfig::new().thread_id("facade"))
        .await
        .expect("the run succeeds");
    assert_eq!(out.state.lines, ["first", "second"]);

    let saved = graph
        .get_state("facade")
        .await
        .expect("the state reads back")
        .expect("the thread has a checkpoint");
    assert_eq!(saved.values.lines, ["first", "second"]);
    let checkpoints = graph
        .checkpoints("facade", &ListOptions::default())
        .await
        .expect("the checkpoints list");
    assert!(
        checkpoints.len() >= 3,
        "input, first and second each checkpoint: {}",
        checkpoints.len()
    );
}

#[test]
fn the_backends_are_modules_of_the_facade() {
    // Compile-time checks that each feature's module carries its crate's main types, and that
    // `postgres` re-exports sqlx as `sqlite` does.
    fn named<T>() -> &'static str {
        std::any::type_name::<T>()
    }
    assert!(named::<agentflow::postgres::PostgresSaver>().starts_with("agentflow_postgres::"));
    assert!(named::<agentflow::postgres::sqlx::PgPool>().starts_with("sqlx_"));
    assert!(named::<agentflow::sqlite::sqlx::SqlitePool>().starts_with("sqlx_"));
    assert!(named::<agentflow::tools::ToolRegistry>().starts_with("agentflow_tools::"));
    assert!(named::<agentflow::tools::sql::SqlDatabase>().starts_with("agentflow_tools::"));
    assert!(named::<agentflow::tools::fetch::FetchTool>().starts_with("agentflow_tools::"));
}
