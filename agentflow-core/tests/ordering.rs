//! Durability guarantees that need a saver that misbehaves or records: writes land before the
//! checkpoint that follows them, and async durability applies backpressure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, Checkpointer, InMemorySaver,
    PendingWrite, PutMode,
};
use agentflow_core::testing::wrap::{Wrap, Wrapped};
use agentflow_core::{Durability, END, RunConfig, START, State, StateGraph};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Writes(String),
    Put { id: String, parent: Option<String> },
}

/// Delegates to an in-memory saver; records the order of operations; can be slowed or held.
struct Recording {
    inner: InMemorySaver,
    log: Mutex<Vec<Op>>,
    delay: Duration,
    gate: tokio::sync::Semaphore,
}

impl Recording {
    fn new(delay: Duration, open: bool) -> Wrapped<Self> {
        Wrapped(Recording {
            inner: InMemorySaver::new(),
            log: Mutex::new(Vec::new()),
            delay,
            gate: tokio::sync::Semaphore::new(if open {
                tokio::sync::Semaphore::MAX_PERMITS
            } else {
                0
            }),
        })
    }

    async fn pass(&self) {
        // Each operation uses up a permit: the test doles them out.
        self.gate.acquire().await.unwrap().forget();
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// Every write reached the saver before any checkpoint that extends its checkpoint.
    fn assert_ordered(&self) {
        let log = self.log.lock().unwrap();
        for (i, op) in log.iter().enumerate() {
            if let Op::Writes(target) = op {
                let child = log
                    .iter()
                    .position(|o| matches!(o, Op::Put { parent: Some(p), .. } if p == target));
                if let Some(j) = child {
                    assert!(
                        j > i,
                        "writes for {target} at {i} arrived after its child checkpoint at {j}"
                    );
                }
                let own = log
                    .iter()
                    .position(|o| matches!(o, Op::Put { id, .. } if id == target));
                assert!(
                    own.is_some_and(|k| k < i),
                    "writes for {target} before the checkpoint itself"
                );
            }
        }
    }
}

#[async_trait]
impl Wrap for Recording {
    fn inner(&self) -> &dyn Checkpointer {
        &self.inner
    }

    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.pass().await;
        let out = self
            .inner
            .put(parent, checkpoint, metadata, new_versions, mode)
            .await?;
        self.log.lock().unwrap().push(Op::Put {
            id: checkpoint.id.clone(),
            parent: parent.checkpoint_id.clone(),
        });
        Ok(out)
    }
    /// Writes, then the checkpoint, each recorded (the trait's own order for a step).
    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        if !writes.is_empty() {
            Wrap::put_writes(self, parent, writes).await?;
        }
        Wrap::put(self, parent, checkpoint, metadata, new_versions, mode).await
    }
    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        self.pass().await;
        self.inner.put_writes(target, writes).await?;
        self.log
            .lock()
            .unwrap()
            .push(Op::Writes(target.checkpoint_id.clone().unwrap_or_default()));
        Ok(())
    }
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Counter {
    #[state(add)]
    n: u32,
    #[state(append)]
    seen: Vec<u32>,
}

fn looping(
    limit: u32,
    ran: Arc<AtomicU32>,
    saver: Arc<Wrapped<Recording>>,
) -> agentflow_core::CompiledGraph<Counter> {
    let mut g = StateGraph::<Counter>::new();
    for name in ["left", "right"] {
        let ran = ran.clone();
        g.add_node(name, move |s, _| {
            ran.fetch_add(1, Ordering::SeqCst);
            let n = s.n;
            async move { Ok(CounterUpdate::default().n(1).seen(vec![n])) }
        });
    }
    g.add_node("next", |_, _| async { Ok(()) });
    g.add_edge(START, "left");
    g.add_edge(START, "right");
    g.add_edge(["left", "right"], "next");
    g.add_conditional_edges(
        "next",
        move |s: &Counter| {
            if s.n >= limit {
                vec![END]
            } else {
                vec!["left", "right"]
            }
        },
        ["left", "right", END],
    );
    g.compile().unwrap().with_shared_checkpointer(saver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_the_saver_before_the_checkpoint_that_follows_them() {
    for mode in [Durability::Sync, Durability::Async] {
        let saver = Arc::new(Recording::new(Duration::from_micros(200), true));
        let ran = Arc::new(AtomicU32::new(0));
        let g = looping(20, ran, saver.clone());
        let out = g
            .invoke(
                CounterUpdate::default(),
                RunConfig::new().thread_id("t").durability(mode),
            )
            .await
            .unwrap();
        assert_eq!(out.state.n, 20);
        saver.assert_ordered();
        let log = saver.log.lock().unwrap();
        let puts = log.iter().filter(|o| matches!(o, Op::Put { .. })).count();
        // input + 1 + 2 steps per loop (10 loops): every checkpoint made it, in order.
        assert_eq!(puts, 2 + 20, "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_durability_waits_for_a_stalled_saver_instead_of_buffering_without_bound() {
    let saver = Arc::new(Recording::new(Duration::ZERO, false));
    let ran = Arc::new(AtomicU32::new(0));
    let g = looping(1_000, ran.clone(), saver.clone());
    // The input checkpoint is written synchronously; let it through.
    saver.gate.add_permits(2);
    let run = tokio::spawn(async move {
        g.invoke(
            CounterUpdate::default(),
            RunConfig::new().thread_id("t").durability(Durability::Async),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled_at = ran.load(Ordering::SeqCst);
    assert!(
        stalled_at < 200,
        "the run kept going with the saver stalled: {stalled_at} node runs"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        stalled_at,
        "the run is waiting, not buffering"
    );
    saver.gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    let out = run.await.unwrap().unwrap();
    assert_eq!(out.state.n, 1_000);
    saver.assert_ordered();
}
