//! The API a LangGraph user meets: one address for a thread or checkpoint everywhere (runs,
//! state, updates, history), a fork run directly, checkpoints listed and counted by the graph,
//! and interrupts honoured whatever the node returns (`reference/langgraph.md` §1.4-1.5).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentflow_core::checkpoint::{CheckpointRef, CheckpointSource, InMemorySaver, ListOptions};
use agentflow_core::{
    Command, CompiledGraph, END, GraphError, NodeError, RunConfig, RunInput, START, State, StateGraph,
};

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Trip {
    #[state(append)]
    log: Vec<String>,
    city: String,
}

/// `pick` then `book`, both logging what they saw: LangGraph's time-travel tutorial shape.
fn trip() -> CompiledGraph<Trip> {
    let mut g = StateGraph::<Trip>::new();
    g.add_node("pick", |s, _| async move {
        let city = if s.city.is_empty() {
            "Paris".to_owned()
        } else {
            s.city.clone()
        };
        Ok(TripUpdate::default()
            .city(city.clone())
            .log(vec![format!("pick {city}")]))
    });
    g.add_node("book", |s, _| async move {
        Ok(TripUpdate::default().log(vec![format!("book {}", s.city)]))
    });
    g.add_sequence([START, "pick", "book", END]);
    g.compile().unwrap().with_checkpointer(InMemorySaver::new())
}

#[tokio::test]
async fn invoke_continues_the_fork_update_state_returns() {
    let g = trip();
    g.invoke(TripUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();

    // LangGraph: pick a checkpoint from the history, update it, invoke(None, fork_config).
    let history = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    let before_book = history.iter().find(|s| s.next == ["book"]).unwrap();
    let fork = g
        .update_state(
            &before_book.config,
            TripUpdate::default().city("Rome".into()),
            None,
        )
        .await
        .unwrap();
    let out = g.invoke(RunInput::Continue, &fork).await.unwrap();
    assert_eq!(
        out.state.log,
        ["pick Paris", "book Rome"],
        "the fork's edit reached `book`"
    );

    // The same address reads every branch: the new head and the untouched old one.
    let head = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(head.values.city, "Rome");
    assert_eq!(out.checkpoint.as_ref(), Some(&head.config));
    let old_head = g.get_state(&history[0].config).await.unwrap().unwrap();
    assert_eq!(old_head.values.log, ["pick Paris", "book Paris"]);
}

#[tokio::test]
async fn a_run_config_names_the_checkpoint_it_runs_from() {
    let at = CheckpointRef::at("t", "some-id");
    let config = RunConfig::from(&at);
    assert_eq!(config.checkpoint(), Some(at));
    assert_eq!(
        RunConfig::new().thread_id("t").checkpoint(),
        Some(CheckpointRef::latest("t"))
    );
    assert_eq!(RunConfig::new().checkpoint(), None);
}

#[tokio::test]
async fn the_graph_lists_and_counts_a_threads_checkpoints() {
    let g = trip();
    g.invoke(TripUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    g.invoke(TripUpdate::default(), RunConfig::new().thread_id("other"))
        .await
        .unwrap();

    // input, pick's step, book's step, the end: 4 checkpoints per run.
    assert_eq!(g.checkpoint_count("t").await.unwrap(), 4);
    let listed = g.checkpoints("t", &ListOptions::default()).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|c| c.config.thread_id == "t"),
        "one thread only"
    );
    assert_eq!(listed[3].metadata.source, CheckpointSource::Input, "newest first");

    // From a checkpoint back: it and the older ones.
    let second = &listed[1].config;
    let from_second = g.checkpoints(second, &ListOptions::default()).await.unwrap();
    let ids: Vec<_> = from_second.iter().map(|c| &c.config).collect();
    assert_eq!(ids, [&listed[1].config, &listed[2].config, &listed[3].config]);
    assert_eq!(g.checkpoint_count(second).await.unwrap(), 3);
    let limited = g
        .get_state_history(
            second,
            &ListOptions {
                limit: Some(1),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(&limited[0].config, second);

    assert_eq!(g.checkpoint_count("nobody").await.unwrap(), 0);
}

/// A node that asks for approval and drops the interrupt "error" (or wraps it) instead of
/// propagating it with `?`.
fn swallowing(wrap: bool, runs: Arc<AtomicU32>) -> StateGraph<Trip> {
    let mut g = StateGraph::<Trip>::new();
    g.add_node("approve", move |_, ctx| {
        runs.fetch_add(1, Ordering::SeqCst);
        async move {
            let answer = match ctx.interrupt::<String>("approve?") {
                Ok(answer) => answer,
                Err(e) if wrap => return Err(NodeError::terminal(format!("approval failed: {e}"))),
                Err(_) => "no answer".to_owned(),
            };
            Ok(TripUpdate::default().log(vec![answer]))
        }
    });
    g.add_edge(START, "approve");
    g
}

#[tokio::test]
async fn an_interrupt_the_node_swallowed_still_pauses_the_run() {
    for wrap in [false, true] {
        let runs = Arc::new(AtomicU32::new(0));
        let g = swallowing(wrap, runs.clone())
            .compile()
            .unwrap()
            .with_checkpointer(InMemorySaver::new());
        let out = g
            .invoke(TripUpdate::default(), RunConfig::new().thread_id("t"))
            .await
            .unwrap();
        assert!(out.is_interrupted(), "wrap={wrap}: the requested pause holds");
        assert_eq!(out.interrupts[0].value, "approve?");
        assert!(
            out.state.log.is_empty(),
            "wrap={wrap}: the node's output is not applied"
        );

        let out = g
            .invoke(Command::resume("yes"), RunConfig::new().thread_id("t"))
            .await
            .unwrap();
        assert!(!out.is_interrupted());
        assert_eq!(out.state.log, ["yes"], "wrap={wrap}");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_swallowed_interrupt_without_a_checkpointer_fails_the_run() {
    let g = swallowing(false, Arc::default()).compile().unwrap();
    let err = g
        .invoke(TripUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::InterruptWithoutCheckpointer { ref node } if node == "approve"),
        "{err}"
    );
}
