//! Hostile or damaged stored data, and writes kept until they are durable: a stored number out
//! of range is a clear `Corrupt` error (never a panic or an allocation it sizes), the engine
//! never writes a delta chain longer than savers read back, and a failed put loses no writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    Corruption, InMemorySaver, MAX_DELTA_CHAIN, PendingWrite, PutMode, channels,
};
use agentflow_core::testing::wrap::{Wrap, Wrapped};
use agentflow_core::{
    CompiledGraph, Durability, END, GraphError, RunConfig, RunInput, START, State, StateGraph,
};
use async_trait::async_trait;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Counter {
    #[state(add)]
    n: u32,
}

/// `a` then `b`, each adding one; counts how often each ran.
fn two_steps(runs: Arc<[AtomicU32; 2]>) -> StateGraph<Counter> {
    let mut g = StateGraph::<Counter>::new();
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        let runs = runs.clone();
        g.add_node(name, move |_, _| {
            runs[i].fetch_add(1, Ordering::SeqCst);
            async { Ok(CounterUpdate::default().n(1)) }
        });
    }
    g.add_edge(START, "a");
    g.add_edge("a", "b");
    g.add_edge("b", END);
    g
}

fn step_write(task: &str, idx: i64) -> PendingWrite {
    PendingWrite {
        task_id: task.into(),
        task_path: "a".into(),
        channel: format!("{}:charge", channels::STEP),
        idx,
        value: b"1".to_vec(),
    }
}

/// Runs `two_steps` on `thread` up to its pause before `b`, then stores journaled steps of
/// task `task-x` at `idxs` against the paused checkpoint (as a saver's `put_writes` takes them
/// from anyone). Returns the graph, its run counts and the paused checkpoint.
async fn paused_with_steps(
    thread: &str,
    idxs: &[i64],
) -> (CompiledGraph<Counter>, Arc<[AtomicU32; 2]>, CheckpointTuple) {
    let saver = Arc::new(InMemorySaver::new());
    let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let g = two_steps(runs.clone())
        .compile()
        .unwrap()
        .interrupt_before(["b"])
        .unwrap()
        .with_shared_checkpointer(saver.clone());
    g.invoke(CounterUpdate::default(), RunConfig::new().thread_id(thread))
        .await
        .unwrap();
    let latest = saver
        .get_tuple(&CheckpointRef::latest(thread))
        .await
        .unwrap()
        .unwrap();
    let writes: Vec<PendingWrite> = idxs.iter().map(|&i| step_write("task-x", i)).collect();
    saver.put_writes(&latest.config, &writes).await.unwrap();
    (g, runs, latest)
}

/// Journal indexes out of range (huge, negative, the extremes, gaps) are `Corrupt` errors that
/// name the thread, the checkpoint and the index: before, 9e18 panicked (capacity overflow),
/// 1e9 allocated 48 GB and `i64::MIN` overflowed.
#[tokio::test]
async fn hostile_journal_indexes_are_corrupt_errors() {
    let hostile: [&[i64]; 9] = [
        &[9_000_000_000_000_000_000],
        &[1_000_000_000],
        &[i64::MIN],
        &[i64::MAX],
        &[0],
        &[-1],
        &[2],
        &[1, 3],
        &[1, 2, 2_000_000],
    ];
    for (case, idxs) in hostile.into_iter().enumerate() {
        let thread = format!("t{case}");
        let (g, runs, latest) = paused_with_steps(&thread, idxs).await;

        let resumed = g
            .invoke(RunInput::Continue, RunConfig::new().thread_id(thread.as_str()))
            .await;
        let Err(GraphError::Checkpoint(CheckpointError::Corrupt {
            thread_id,
            checkpoint_id,
            problem: Corruption::OutOfRange { what, value, .. },
        })) = resumed
        else {
            panic!("case {idxs:?}: expected a Corrupt error, got {resumed:?}");
        };
        assert_eq!(thread_id, thread);
        assert_eq!(Some(checkpoint_id), latest.config.checkpoint_id);
        assert!(what.contains("task-x") && what.contains("charge"), "{what}");
        assert!(idxs.iter().any(|i| i.to_string() == value), "{idxs:?}: {value}");
        // Reading the state reports it the same way; the node never ran again.
        let state = g.get_state(&CheckpointRef::latest(thread.as_str())).await;
        assert!(
            matches!(
                state,
                Err(GraphError::Checkpoint(CheckpointError::Corrupt { .. }))
            ),
            "{state:?}"
        );
        assert_eq!(runs[1].load(Ordering::SeqCst), 0);
    }
}

/// A journal of consecutive indexes from 1 is read back whole (the check refuses only damage).
#[tokio::test]
async fn a_whole_journal_is_still_accepted() {
    let (g, _, _) = paused_with_steps("t", &[2, 1, 3]).await;
    let out = g
        .invoke(RunInput::Continue, RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.state.n, 2);
}

/// Steps, and field versions, outside what the engine writes are `Corrupt` errors too (a step
/// of `i64::MAX` overflowed when the run counted on).
#[tokio::test]
async fn hostile_steps_and_versions_are_corrupt_errors() {
    for (step, version) in [(i64::MAX, 1u64), (i64::MIN, 1), (-2, 1), (0, 0), (0, u64::MAX)] {
        let saver = Arc::new(InMemorySaver::new());
        let checkpoint = Checkpoint {
            id: agentflow_core::checkpoint::next_checkpoint_id(None),
            channel_values: BTreeMap::from([("n".to_owned(), b"1".to_vec())]),
            channel_versions: BTreeMap::from([("n".to_owned(), version)]),
            next: vec!["b".into()],
            ..Checkpoint::default()
        };
        let metadata = CheckpointMetadata {
            source: agentflow_core::checkpoint::CheckpointSource::Loop,
            step,
            parents: BTreeMap::new(),
            run_id: "r".into(),
            extra: BTreeMap::new(),
        };
        let new_versions = BTreeMap::from([("n".to_owned(), version)]);
        saver
            .put(
                &CheckpointRef::latest("t"),
                &checkpoint,
                &metadata,
                &new_versions,
                PutMode::Extend,
            )
            .await
            .unwrap();
        let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let g = two_steps(runs.clone())
            .compile()
            .unwrap()
            .with_shared_checkpointer(saver.clone());
        let config = || RunConfig::new().thread_id("t");
        let resumed = g.invoke(RunInput::Continue, config()).await;
        assert!(
            matches!(
                &resumed,
                Err(GraphError::Checkpoint(CheckpointError::Corrupt {
                    problem: Corruption::OutOfRange { .. },
                    ..
                }))
            ),
            "step {step}, version {version}: {resumed:?}"
        );
        let updated = g
            .update_state(&CheckpointRef::latest("t"), CounterUpdate::default().n(1), None)
            .await;
        assert!(updated.is_err(), "step {step}, version {version}: update_state");
        assert_eq!(runs[1].load(Ordering::SeqCst), 0);
    }
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Log {
    #[state(append)]
    log: Vec<String>,
}

/// Small appends to a large list would make deltas for thousands of steps; the engine writes
/// a full value before the chain passes `MAX_DELTA_CHAIN`, so every checkpoint reads back.
#[tokio::test]
async fn the_engine_never_writes_a_chain_longer_than_savers_read() {
    let saver = Arc::new(InMemorySaver::new());
    let steps = MAX_DELTA_CHAIN + 20;
    let mut g = StateGraph::<Log>::new();
    g.add_node("tick", |_, _| async {
        Ok(LogUpdate::default().log(vec!["x".to_owned()]))
    });
    g.add_edge(START, "tick");
    g.add_conditional_edges(
        "tick",
        move |s: &Log| if s.log.len() > steps { END } else { "tick" },
        ["tick", END],
    );
    let g = g.compile().unwrap().with_shared_checkpointer(saver.clone());
    let big = "y".repeat(100_000);
    let out = g
        .invoke(
            LogUpdate::default().log(vec![big]),
            RunConfig::new()
                .thread_id("t")
                .recursion_limit(steps + 10)
                .durability(Durability::Sync),
        )
        .await
        .unwrap();
    assert_eq!(out.state.log.len(), steps + 1);
    let latest = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    let chain = 1 + latest.checkpoint.channel_appends.get("log").map_or(0, Vec::len);
    assert!(chain <= MAX_DELTA_CHAIN, "a chain of {chain} values");
    let state = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(state.values.log.len(), steps + 1);
}

/// Fails the first `put_step` that carries a task's result (a retryable storage error), then
/// works.
struct FailFirstStep {
    inner: InMemorySaver,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Wrap for FailFirstStep {
    fn inner(&self) -> &dyn Checkpointer {
        &self.inner
    }

    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        // The first put that carries a task's result (a run's fence carries only its input).
        let carries_result = writes.iter().any(|w| w.channel == channels::RESULT);
        if carries_result && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(CheckpointError::Backend {
                retryable: true,
                source: "connection lost".into(),
            });
        }
        self.inner
            .put_step(writes, parent, checkpoint, metadata, new_versions, mode)
            .await
    }
}

/// The writes of a step's only task ride with the next checkpoint's put. When that put fails,
/// they are not dropped: they end up stored, and the resumed run re-uses the task's result
/// instead of running it again (before, `a` ran twice).
#[tokio::test]
async fn writes_of_a_failed_put_are_kept_until_durable() {
    for mode in [Durability::Sync, Durability::Async] {
        let saver = Arc::new(Wrapped(FailFirstStep {
            inner: InMemorySaver::new(),
            failed: Default::default(),
        }));
        let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let g = two_steps(runs.clone())
            .compile()
            .unwrap()
            .with_shared_checkpointer(saver.clone());
        let config = || RunConfig::new().thread_id("t").durability(mode);
        let failed = g.invoke(CounterUpdate::default(), config()).await;
        assert!(failed.is_err(), "{mode:?}: the put failed");
        let latest = saver
            .get_tuple(&CheckpointRef::latest("t"))
            .await
            .unwrap()
            .unwrap();
        assert!(
            latest
                .pending_writes
                .iter()
                .any(|w| w.channel == channels::RESULT && w.task_path == "a"),
            "{mode:?}: a's result is stored: {:?}",
            latest.pending_writes
        );
        let out = g.invoke(RunInput::Continue, config()).await.unwrap();
        assert_eq!(out.state.n, 2, "{mode:?}");
        assert_eq!(runs[0].load(Ordering::SeqCst), 1, "{mode:?}: a ran once");
    }
}
