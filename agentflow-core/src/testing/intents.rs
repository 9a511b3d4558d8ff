//! Conformance clauses for step intents and the fences that keep side effects to one runner:
//! claims and their leases, fork fencing, and, through real graphs, the run's fence and two
//! runners resuming one paused checkpoint. [`run_all`](super::run_all) runs them all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointSource, CheckpointTuple, Checkpointer,
    IntentClaim, IntentLease, IntentRef, PutMode, next_checkpoint_id,
};
use crate::{Durability, END, GraphError, RunConfig, RunInput, START, State, StateGraph};

use super::wrap::{Wrap, Wrapped};
use super::{chain, checkpoint, thread, versions};

fn intent(thread_id: &str, key: &str) -> IntentRef {
    IntentRef {
        thread_id: thread_id.to_owned(),
        namespace: String::new(),
        key: key.to_owned(),
    }
}

fn lease(owner: &str, lease: Duration) -> IntentLease<'_> {
    IntentLease { owner, lease }
}

const LONG: Duration = Duration::from_secs(600);

/// A claim passes once; a completed intent returns its result to every later claimant; only
/// the owner completes it; a claimant's own earlier claim is ambiguous.
pub async fn intent_claims(saver: &dyn Checkpointer) {
    let t = thread();
    let i = intent(&t, "k1");
    let claim = |owner| saver.claim_intent(&i, lease(owner, LONG));
    assert_eq!(
        claim("a").await.unwrap(),
        IntentClaim::Fresh,
        "intent_claims: fresh"
    );
    assert_eq!(
        claim("b").await.unwrap(),
        IntentClaim::Held,
        "intent_claims: another owner's live claim is held"
    );
    assert_eq!(
        claim("a").await.unwrap(),
        IntentClaim::Ambiguous,
        "intent_claims: the owner's own earlier claim is ambiguous"
    );
    assert!(
        !saver.complete_intent(&i, "b", b"no").await.unwrap(),
        "intent_claims: only the owner completes"
    );
    assert!(
        saver.complete_intent(&i, "a", b"receipt").await.unwrap(),
        "intent_claims: the owner completes"
    );
    assert!(
        !saver.complete_intent(&i, "a", b"again").await.unwrap(),
        "intent_claims: a completed intent is not completed twice"
    );
    saver.release_intent(&i, "a").await.unwrap();
    for owner in ["a", "b", "c"] {
        assert_eq!(
            claim(owner).await.unwrap(),
            IntentClaim::Completed(b"receipt".to_vec()),
            "intent_claims: completed for {owner}"
        );
    }
    // Keys and threads are separate.
    assert_eq!(
        saver
            .claim_intent(&intent(&t, "k2"), lease("b", LONG))
            .await
            .unwrap(),
        IntentClaim::Fresh,
        "intent_claims: another key"
    );
    let other = thread();
    assert_eq!(
        saver
            .claim_intent(&intent(&other, "k1"), lease("b", LONG))
            .await
            .unwrap(),
        IntentClaim::Fresh,
        "intent_claims: another thread"
    );
    saver.delete_thread(&t).await.unwrap();
    assert_eq!(
        claim("c").await.unwrap(),
        IntentClaim::Fresh,
        "intent_claims: deleting the thread deletes its intents"
    );
    assert_eq!(
        saver
            .claim_intent(&intent(&other, "k1"), lease("c", LONG))
            .await
            .unwrap(),
        IntentClaim::Held,
        "intent_claims: other threads keep theirs"
    );
}

/// A claim whose lease expired, or that its owner gave up, passes to the next claimant as
/// ambiguous, and the earlier owner can no longer complete it.
pub async fn intent_leases(saver: &dyn Checkpointer) {
    let t = thread();
    let i = intent(&t, "lease");
    let short = Duration::from_millis(200);
    assert_eq!(
        saver.claim_intent(&i, lease("a", short)).await.unwrap(),
        IntentClaim::Fresh
    );
    assert_eq!(
        saver.claim_intent(&i, lease("b", LONG)).await.unwrap(),
        IntentClaim::Held,
        "intent_leases: live within the lease"
    );
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    assert_eq!(
        saver.claim_intent(&i, lease("b", LONG)).await.unwrap(),
        IntentClaim::Ambiguous,
        "intent_leases: expired claims pass"
    );
    assert!(
        !saver.complete_intent(&i, "a", b"late").await.unwrap(),
        "intent_leases: the expired owner lost the claim"
    );
    assert_eq!(
        saver.claim_intent(&i, lease("a", LONG)).await.unwrap(),
        IntentClaim::Held,
        "intent_leases: the new claim is live"
    );
    saver.release_intent(&i, "a").await.unwrap();
    assert_eq!(
        saver.claim_intent(&i, lease("c", LONG)).await.unwrap(),
        IntentClaim::Held,
        "intent_leases: only the owner releases"
    );
    saver.release_intent(&i, "b").await.unwrap();
    assert_eq!(
        saver.claim_intent(&i, lease("c", LONG)).await.unwrap(),
        IntentClaim::Ambiguous,
        "intent_leases: a released claim passes at once"
    );
    assert!(saver.complete_intent(&i, "c", b"done").await.unwrap());
}

/// Of many runners claiming one key at once, exactly one gets the claim.
pub async fn intent_claims_concurrent(saver: Arc<dyn Checkpointer>) {
    let t = thread();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (saver, t) = (saver.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let owner = format!("runner-{n}");
            saver.claim_intent(&intent(&t, "race"), lease(&owner, LONG)).await
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(IntentClaim::Fresh) => fresh += 1,
            Ok(IntentClaim::Held) => {}
            // SQLite may give up waiting for its write lock: the claim did not pass.
            Err(e) if e.is_retryable() => {}
            other => panic!("intent_claims_concurrent: unexpected {other:?}"),
        }
    }
    assert_eq!(fresh, 1, "intent_claims_concurrent: exactly one claim passes");
}

fn fork_metadata(run_id: &str) -> CheckpointMetadata {
    CheckpointMetadata {
        source: CheckpointSource::Fork,
        step: 0,
        parents: BTreeMap::new(),
        run_id: run_id.to_owned(),
        extra: BTreeMap::new(),
    }
}

async fn fork(
    saver: &dyn Checkpointer,
    t: &str,
    parent: &str,
    run_id: &str,
) -> Result<CheckpointRef, CheckpointError> {
    let id = next_checkpoint_id(Some(parent));
    let values = [("a", 77, "\"fork\"")];
    saver
        .put(
            &CheckpointRef::at(t, parent),
            &checkpoint(&id, &values),
            &fork_metadata(run_id),
            &versions(&values),
            PutMode::Fork,
        )
        .await
}

/// A checkpoint may be forked many times, but one run forks it once: a fork attempted twice
/// (two processes handling one request) cannot run its steps on two branches.
pub async fn fork_fencing(saver: Arc<dyn Checkpointer>) {
    let t = thread();
    let ids = chain(&*saver, &t, 2).await;
    fork(&*saver, &t, &ids[0], "run-a")
        .await
        .expect("fork_fencing: a checkpoint with a child may be forked");
    let err = fork(&*saver, &t, &ids[0], "run-a").await.unwrap_err();
    assert!(
        matches!(err, CheckpointError::Conflict { .. }),
        "fork_fencing: the same run forks a checkpoint once: {err}"
    );
    fork(&*saver, &t, &ids[0], "run-b")
        .await
        .expect("fork_fencing: another run forks it again");
    fork(&*saver, &t, &ids[1], "run-a")
        .await
        .expect("fork_fencing: the same run forks another checkpoint");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (saver, t, parent) = (saver.clone(), t.clone(), ids[0].clone());
        tasks.push(tokio::spawn(
            async move { fork(&*saver, &t, &parent, "run-c").await },
        ));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(CheckpointError::Conflict { .. }) => {}
            Err(e) if e.is_retryable() => {}
            Err(other) => panic!("fork_fencing: unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1, "fork_fencing: one of racing identical forks wins");
}

/// The state of the graph clauses.
#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
pub struct Posts {
    /// Receipts of the effect, in merge order.
    #[state(append)]
    pub receipts: Vec<String>,
}

/// A saver whose reads of a thread's latest checkpoint wait until `readers` runs have read it:
/// runs started together then all plan on the same head, as racing processes do.
struct SameHead {
    inner: Arc<dyn Checkpointer>,
    gate: tokio::sync::Barrier,
}

#[async_trait]
impl Wrap for SameHead {
    fn inner(&self) -> &dyn Checkpointer {
        &*self.inner
    }

    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        let tuple = self.inner.get_tuple(target).await;
        if target.checkpoint_id.is_none() {
            self.gate.wait().await;
        }
        tuple
    }
}

/// A graph of one node, `post`, that counts the times its body runs (`ran`) and its journaled
/// effect runs (`effects`); the effect takes `effect_time`.
fn poster(ran: Arc<AtomicUsize>, effects: Arc<AtomicUsize>, effect_time: Duration) -> StateGraph<Posts> {
    let mut g = StateGraph::<Posts>::new();
    g.add_node("post", move |_, ctx| {
        let (ran, effects) = (ran.clone(), effects.clone());
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            let receipt: String = ctx
                .step("post", |key| async move {
                    effects.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(effect_time).await;
                    Ok(format!("posted {key}"))
                })
                .await?;
            Ok(PostsUpdate::default().receipts(vec![receipt]))
        }
    });
    g.add_edge(START, "post");
    g.add_edge("post", END);
    g
}

const MODES: [Durability; 3] = [Durability::Sync, Durability::Async, Durability::Exit];

/// Two runs giving one thread new input at once, planning on the same head: in every
/// durability mode, the loser learns it lost at its fence, before any node of it runs.
pub async fn fence_before_first_superstep(saver: Arc<dyn Checkpointer>) {
    for mode in MODES {
        let t = thread();
        let (ran, effects) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let racing: Arc<dyn Checkpointer> = Arc::new(Wrapped(SameHead {
            inner: saver.clone(),
            gate: tokio::sync::Barrier::new(2),
        }));
        let graph = poster(ran.clone(), effects.clone(), Duration::ZERO)
            .compile()
            .unwrap()
            .with_shared_checkpointer(racing)
            .with_durability(mode);
        let runs = (0..2).map(|_| {
            let graph = graph.clone();
            let t = t.clone();
            tokio::spawn(async move {
                graph
                    .invoke(PostsUpdate::default(), RunConfig::new().thread_id(t))
                    .await
            })
        });
        let mut won = 0;
        for run in runs.collect::<Vec<_>>() {
            match run.await.unwrap() {
                Ok(_) => won += 1,
                Err(e) if e.is_conflict() => {}
                Err(e) => panic!("fence_before_first_superstep: {mode:?}: {e}"),
            }
        }
        assert_eq!(won, 1, "fence_before_first_superstep: {mode:?}: one run wins");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "fence_before_first_superstep: {mode:?}: the loser ran no node"
        );
        assert_eq!(effects.load(Ordering::SeqCst), 1);
    }
}

/// Two runs resuming one paused checkpoint at once, in every durability mode: the step's effect
/// runs once, and a run that finds the step claimed fails with a conflict without running it.
pub async fn racing_resumers_run_an_effect_once(saver: Arc<dyn Checkpointer>) {
    for mode in MODES {
        let t = thread();
        let (ran, effects) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let graph = poster(ran.clone(), effects.clone(), Duration::from_millis(300))
            .compile()
            .unwrap()
            .with_shared_checkpointer(saver.clone())
            .with_durability(mode);
        let config = || RunConfig::new().thread_id(t.clone());
        let paused = graph
            .invoke(PostsUpdate::default(), config().interrupt_before(["post"]))
            .await
            .unwrap();
        assert!(paused.is_interrupted());
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (graph, config) = (graph.clone(), config());
                tokio::spawn(async move { graph.invoke(RunInput::Continue, config).await })
            })
            .collect();
        let mut finished = Vec::new();
        for run in runs {
            match run.await.unwrap() {
                Ok(out) => finished.push(out.state.receipts),
                Err(e @ GraphError::Checkpoint(CheckpointError::Conflict { .. })) => {
                    let _ = e;
                }
                Err(e) => panic!("racing_resumers_run_an_effect_once: {mode:?}: {e}"),
            }
        }
        assert_eq!(
            effects.load(Ordering::SeqCst),
            1,
            "racing_resumers_run_an_effect_once: {mode:?}: the effect ran once"
        );
        assert_eq!(
            finished.len(),
            1,
            "racing_resumers_run_an_effect_once: {mode:?}: one run finished"
        );
        let state = graph
            .get_state(&CheckpointRef::latest(t.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.values.receipts, finished[0]);
    }
}

/// Every clause of this module.
pub async fn run_all(saver: Arc<dyn Checkpointer>) {
    intent_claims(&*saver).await;
    intent_leases(&*saver).await;
    intent_claims_concurrent(saver.clone()).await;
    fork_fencing(saver.clone()).await;
    fence_before_first_superstep(saver.clone()).await;
    racing_resumers_run_an_effect_once(saver).await;
}
