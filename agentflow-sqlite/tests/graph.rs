//! Graphs on SqliteSaver: racing runs from two savers, time travel, long append fields.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use agentflow_core::checkpoint::{CheckpointSource, Checkpointer, ListOptions};
use agentflow_core::{CompiledGraph, Durability, END, RunConfig, RunInput, START, State, StateGraph};
use agentflow_sqlite::SqliteSaver;
use common::TempDb;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Log {
    #[state(append)]
    log: Vec<String>,
    note: String,
}

fn config(thread: &str) -> RunConfig {
    RunConfig::new().thread_id(thread)
}

fn slow_then_after(saver: Arc<dyn Checkpointer>) -> CompiledGraph<Log> {
    let mut g = StateGraph::<Log>::new();
    g.add_node("slow", |_, _| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(LogUpdate::default().log(vec!["slow".into()]))
    });
    g.add_node("after", |_, _| async {
        Ok(LogUpdate::default().log(vec!["after".into()]))
    });
    g.add_sequence([START, "slow", "after", END]);
    g.compile()
        .unwrap()
        .with_shared_checkpointer(saver)
        .with_durability(Durability::Sync)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_through_two_savers_on_one_file_exactly_one_wins() {
    let db = TempDb::new("graph-race");
    let one = slow_then_after(Arc::new(SqliteSaver::open(db.path()).await.unwrap()));
    let two = slow_then_after(Arc::new(SqliteSaver::open(db.path()).await.unwrap()));
    for round in 0..5 {
        let thread = format!("shared-{round}");
        one.invoke(LogUpdate::default(), config(&thread)).await.unwrap();
        let (g1, g2, t1, t2) = (one.clone(), two.clone(), thread.clone(), thread.clone());
        let first = tokio::spawn(async move { g1.invoke(LogUpdate::default(), config(&t1)).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = tokio::spawn(async move { g2.invoke(LogUpdate::default(), config(&t2)).await });
        let results = [first.await.unwrap(), second.await.unwrap()];
        let conflicts = results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| e.is_conflict()))
            .count();
        let successes = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            (conflicts, successes),
            (1, 1),
            "{:?}",
            results
                .iter()
                .map(|r| r.as_ref().err().map(|e| e.to_string()))
                .collect::<Vec<_>>()
        );
        let state = two.get_state(&thread).await.unwrap().unwrap();
        assert_eq!(
            state.values.log,
            ["slow", "after", "slow", "after"],
            "one run's work"
        );
    }
}

/// Runs a one-node graph whose node writes a different note each time, then runs it again from
/// the checkpoint before the node (a fork). Returns (the old branch's final note, the new
/// branch's final note).
pub async fn fork_notes(saver: Arc<dyn Checkpointer>) -> (String, String) {
    let runs = Arc::new(AtomicU32::new(0));
    let mut g = StateGraph::<Log>::new();
    g.add_node("write", move |_, _| {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(LogUpdate::default().note(format!("run {n}"))) }
    });
    g.add_sequence([START, "write", END]);
    let g = g.compile().unwrap().with_shared_checkpointer(saver);
    let first = g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    let old_head = first.checkpoint.unwrap();
    let history = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    let before = history
        .iter()
        .find(|s| s.next == ["write"] && s.metadata.source == CheckpointSource::Loop)
        .expect("the checkpoint before `write`");
    let forked = g
        .invoke(
            RunInput::Continue,
            config("t").checkpoint_id(before.config.checkpoint_id.clone().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(forked.state.note, "run 2");
    let old = g.get_state(&old_head).await.unwrap().unwrap();
    let new = g.get_state("t").await.unwrap().unwrap();
    (old.values.note, new.values.note)
}

#[tokio::test]
async fn a_fork_leaves_the_old_branch_intact() {
    let db = TempDb::new("fork");
    let saver = Arc::new(SqliteSaver::open(db.path()).await.unwrap());
    let (old, new) = fork_notes(saver).await;
    assert_eq!(old, "run 1", "the old branch keeps its value");
    assert_eq!(new, "run 2", "the new branch reads its own value");
}

#[tokio::test]
async fn a_long_append_field_survives_reopening_and_forking() {
    const STEPS: usize = 40;
    let db = TempDb::new("append");
    let build = |saver: SqliteSaver| {
        let mut g = StateGraph::<Log>::new();
        g.add_node("grow", |state, _| async move {
            let n = state.log.len();
            Ok(LogUpdate::default().log(vec![format!("item {n}")]))
        });
        g.add_edge(START, "grow");
        g.add_conditional_edges(
            "grow",
            |s: &Log| if s.log.len() < STEPS { "grow" } else { END },
            ["grow", END],
        );
        g.compile()
            .unwrap()
            .with_checkpointer(saver)
            .with_durability(Durability::Sync)
    };
    let expected: Vec<String> = (0..STEPS).map(|i| format!("item {i}")).collect();
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    let g = build(saver.clone());
    let out = g
        .invoke(LogUpdate::default(), config("t").recursion_limit(STEPS + 5))
        .await
        .unwrap();
    assert_eq!(out.state.log, expected);
    let blob_bytes: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM blobs")
        .fetch_one(saver.pool())
        .await
        .unwrap();
    let full: usize = serde_json::to_vec(&expected).unwrap().len();
    assert!(
        (blob_bytes as usize) < 10 * full,
        "stored {blob_bytes} bytes for a {full}-byte list: growth must be linear"
    );
    saver.close().await;

    // A new saver on the file (a new process) reads the same state...
    let g = build(SqliteSaver::open(db.path()).await.unwrap());
    let state = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(state.values.log, expected);
    // ...and any earlier checkpoint, from which a fork continues.
    let history = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    let middle = history
        .iter()
        .find(|s| s.values.log.len() == STEPS / 2 && s.next == ["grow"])
        .expect("a checkpoint half-way");
    let forked = g
        .invoke(
            RunInput::Continue,
            config("t")
                .checkpoint_id(middle.config.checkpoint_id.clone().unwrap())
                .recursion_limit(STEPS + 5),
        )
        .await
        .unwrap();
    assert_eq!(forked.state.log, expected);
    let old_head = history[0].config.clone();
    assert_eq!(
        g.get_state(&old_head).await.unwrap().unwrap().values.log,
        expected,
        "the first branch reads the same"
    );
}
