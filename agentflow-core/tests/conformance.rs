//! The checkpointer conformance kit against the in-memory saver.

use std::sync::Arc;

use agentflow_core::checkpoint::InMemorySaver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_saver_passes_the_conformance_kit() {
    agentflow_core::testing::run_all(Arc::new(InMemorySaver::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_saver_reports_damaged_delta_chains() {
    let saver = InMemorySaver::new();
    agentflow_core::testing::corrupt::run_all(&saver, &saver).await;
}

#[derive(agentflow_core::State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Counter {
    #[state(add)]
    n: u32,
}

/// A graph can share its saver: through an `Arc`, the caller sees what the graph stored.
#[tokio::test]
async fn a_saver_behind_an_arc_is_shared_with_the_caller() {
    use agentflow_core::checkpoint::{CheckpointRef, Checkpointer};
    use agentflow_core::{RunConfig, START, StateGraph};
    let saver = Arc::new(InMemorySaver::new());
    let mut g = StateGraph::<Counter>::new();
    g.add_node("inc", |_, _| async { Ok(CounterUpdate::default().n(1)) });
    g.add_edge(START, "inc");
    let g = g.compile().unwrap().with_shared_checkpointer(saver.clone());
    g.invoke(CounterUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    let latest = saver.get_tuple(&CheckpointRef::latest("t")).await.unwrap();
    assert_eq!(latest.unwrap().checkpoint.channel_values["n"], b"1");
    assert!(saver.stored_bytes() > 0);
}
