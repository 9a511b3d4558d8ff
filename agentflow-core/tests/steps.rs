//! Journaled steps in one process: concurrent calls, ambiguous outcomes and their
//! reconciliation, and claims held by a live runner. (Killed processes and racing processes:
//! the `effects` scenarios of the saver crates.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::checkpoint::InMemorySaver;
use agentflow_core::{
    CompiledGraph, Context, Durability, END, GraphError, NodeError, RetryPolicy, RunConfig, RunInput, START,
    State, StateGraph,
};

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Out {
    #[state(append)]
    got: Vec<String>,
}

fn one_node<N>(node: N) -> StateGraph<Out>
where
    N: agentflow_core::Node<Out, ()>,
{
    let mut g = StateGraph::<Out>::new();
    g.add_node_impl("work", node);
    g.add_edge(START, "work");
    g.add_edge("work", END);
    g
}

#[tokio::test]
async fn two_concurrent_steps_of_one_name_are_refused() {
    let effects = Arc::new(AtomicUsize::new(0));
    let e = effects.clone();
    let g = one_node(move |_: Arc<Out>, ctx: Context| {
        let e = e.clone();
        async move {
            let run = |n: u32| {
                let (ctx, e) = (ctx.clone(), e.clone());
                async move {
                    ctx.step("post", |_key| async move {
                        e.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(n))).await;
                        Ok(format!("post {n}"))
                    })
                    .await
                }
            };
            let (a, b) = futures::join!(run(2), run(1));
            Ok(OutUpdate::default().got(vec![a?, b?]))
        }
    })
    .compile()
    .unwrap()
    .with_checkpointer(InMemorySaver::new());
    let err = g
        .invoke(OutUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("awaited one at a time"),
        "a clear error: {err}"
    );
    assert_eq!(effects.load(Ordering::SeqCst), 1, "the second call ran nothing");
}

/// Steps of distinct names may run at once; on a retry each gets its own saved result, whichever
/// finished first.
#[tokio::test]
async fn concurrent_steps_of_distinct_names_keep_their_results_on_a_retry() {
    for saver in [true, false] {
        let effects = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let (e, a) = (effects.clone(), attempts.clone());
        let mut g = StateGraph::<Out>::new();
        g.add_node("work", move |_, ctx| {
            let (e, a) = (e.clone(), a.clone());
            async move {
                let attempt = a.fetch_add(1, Ordering::SeqCst);
                let run = |name: &'static str, ms: u64| {
                    let (ctx, e) = (ctx.clone(), e.clone());
                    async move {
                        ctx.step(name, |key| async move {
                            // The first call finishes last.
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            e.lock().unwrap().push(name);
                            Ok(format!("{name}:{key}"))
                        })
                        .await
                    }
                };
                let (slow, quick) = futures::join!(run("slow", 60), run("quick", 5));
                let (slow, quick) = (slow?, quick?);
                if attempt == 0 {
                    return Err(NodeError::retryable("flaky after both steps"));
                }
                Ok(OutUpdate::default().got(vec![slow, quick]))
            }
        })
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_interval(Duration::ZERO),
        );
        g.add_edge(START, "work");
        g.add_edge("work", END);
        let mut g = g.compile().unwrap();
        if saver {
            g = g.with_checkpointer(InMemorySaver::new());
        }
        let out = g
            .invoke(OutUpdate::default(), RunConfig::new().thread_id("t"))
            .await
            .unwrap();
        assert!(out.state.got[0].starts_with("slow:"), "{:?}", out.state.got);
        assert!(out.state.got[1].starts_with("quick:"), "{:?}", out.state.got);
        assert_eq!(
            *effects.lock().unwrap(),
            ["quick", "slow"],
            "each effect ran once"
        );
    }
}

/// What the effect of the `post` graph did: (idempotency key, receipt).
type Posted = Arc<Mutex<Vec<(String, String)>>>;

/// How the `post` node looks an earlier post up when its outcome is ambiguous.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lookup {
    /// Plain `ctx.step`.
    None,
    /// `step_reconciled`, finding the post by its key.
    ByKey,
    /// `step_reconciled`, finding nothing.
    NotFound,
}

/// One node that posts in a journaled step; the first post "crashes" (panics) after the
/// vendor accepted it and before its result is recorded.
fn poster(posted: Posted, crash_once: Arc<AtomicUsize>, lookup: Lookup) -> CompiledGraph<Out> {
    one_node(move |_: Arc<Out>, ctx: Context| {
        let (posted, crash_once) = (posted.clone(), crash_once.clone());
        async move {
            let p = posted.clone();
            let effect = move |key: String| async move {
                let receipt = format!("receipt-{}", p.lock().unwrap().len() + 1);
                p.lock().unwrap().push((key, receipt.clone()));
                if crash_once.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("killed between the effect and its result");
                }
                Ok(receipt)
            };
            let receipt: String = match lookup {
                Lookup::None => ctx.step("post", effect).await?,
                Lookup::ByKey | Lookup::NotFound => {
                    let found = posted.clone();
                    ctx.step_reconciled(
                        "post",
                        move |key: String| async move {
                            if lookup == Lookup::NotFound {
                                return Ok(None);
                            }
                            Ok(found
                                .lock()
                                .unwrap()
                                .iter()
                                .find(|(k, _)| *k == key)
                                .map(|(_, receipt)| receipt.clone()))
                        },
                        effect,
                    )
                    .await?
                }
            };
            Ok(OutUpdate::default().got(vec![receipt]))
        }
    })
    .compile()
    .unwrap()
    .with_checkpointer(InMemorySaver::new())
}

#[tokio::test]
async fn an_ambiguous_step_is_reconciled_or_run_again_with_the_same_key() {
    for mode in [Durability::Sync, Durability::Async, Durability::Exit] {
        for lookup in [Lookup::ByKey, Lookup::NotFound, Lookup::None] {
            let posted: Posted = Arc::default();
            let g = poster(posted.clone(), Arc::default(), lookup).with_durability(mode);
            // Longer than printing the panic takes.
            let lease = Duration::from_millis(1000);
            let config = || RunConfig::new().thread_id("t").intent_lease(lease);
            let err = g.invoke(OutUpdate::default(), config()).await.unwrap_err();
            assert!(matches!(err, GraphError::Panicked { .. }), "{err}");
            assert_eq!(posted.lock().unwrap().len(), 1);

            // Within the lease the crashed runner's claim is live: another run does not post.
            let err = g.invoke(RunInput::Continue, config()).await.unwrap_err();
            assert!(err.is_conflict(), "{mode:?} {lookup:?}: {err}");
            assert_eq!(posted.lock().unwrap().len(), 1, "a live claim is not run again");

            tokio::time::sleep(lease + Duration::from_millis(50)).await;
            let out = g.invoke(RunInput::Continue, config()).await.unwrap();
            let posts = posted.lock().unwrap().clone();
            match lookup {
                Lookup::ByKey => {
                    assert_eq!(posts.len(), 1, "{mode:?}: reconciled, not posted again");
                    assert_eq!(out.state.got, ["receipt-1"]);
                }
                Lookup::NotFound | Lookup::None => {
                    assert_eq!(posts.len(), 2, "{mode:?} {lookup:?}: posted again");
                    assert_eq!(posts[0].0, posts[1].0, "{mode:?} {lookup:?}: with the same key");
                    assert_eq!(out.state.got, ["receipt-2"]);
                }
            }
            // Completed now: never again.
            let snapshot = g
                .get_state(&agentflow_core::checkpoint::CheckpointRef::latest("t"))
                .await
                .unwrap()
                .unwrap();
            assert!(snapshot.next.is_empty());
        }
    }
}

/// A failed effect gives its claim up: a retry reconciles at once instead of waiting for the
/// lease, and the node's retries pass the same key.
#[tokio::test]
async fn a_failed_effect_is_reconciled_by_the_nodes_retry_with_the_same_key() {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let reconciled = Arc::new(AtomicUsize::new(0));
    let (k, r) = (keys.clone(), reconciled.clone());
    let mut g = StateGraph::<Out>::new();
    g.add_node("work", move |_, ctx| {
        let (k, r) = (k.clone(), r.clone());
        async move {
            let got: String = ctx
                .step_reconciled(
                    "post",
                    |key: String| async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        // The vendor accepted the first call before it timed out.
                        Ok(Some(format!("found {key}")))
                    },
                    |key: String| async move {
                        k.lock().unwrap().push(key);
                        Err::<String, _>(NodeError::retryable("timed out after the vendor accepted"))
                    },
                )
                .await?;
            Ok(OutUpdate::default().got(vec![got]))
        }
    })
    .retry(
        RetryPolicy::default()
            .max_attempts(3)
            .initial_interval(Duration::ZERO),
    );
    g.add_edge(START, "work");
    g.add_edge("work", END);
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(InMemorySaver::new())
        .with_intent_lease(Duration::from_secs(600));
    let out = g
        .invoke(OutUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 1, "the effect was sent once");
    assert_eq!(reconciled.load(Ordering::SeqCst), 1);
    assert_eq!(out.state.got, [format!("found {}", keys[0])]);
}

/// Forks of one checkpoint run their steps with keys of their own (each an intended re-run),
/// while resuming a branch keeps its keys; one run cannot fork a checkpoint twice.
#[tokio::test]
async fn forks_get_keys_of_their_own_and_one_run_forks_a_checkpoint_once() {
    for mode in [Durability::Sync, Durability::Async, Durability::Exit] {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let k = keys.clone();
        let g = one_node(move |_: Arc<Out>, ctx: Context| {
            let k = k.clone();
            async move {
                let key: String = ctx
                    .step("post", |key: String| async move {
                        k.lock().unwrap().push(key.clone());
                        Ok(key)
                    })
                    .await?;
                Ok(OutUpdate::default().got(vec![key]))
            }
        })
        .compile()
        .unwrap()
        .with_checkpointer(InMemorySaver::new())
        .with_durability(mode);
        let config = || RunConfig::new().thread_id("t");
        g.invoke(OutUpdate::default(), config()).await.unwrap();
        let history = g
            .get_state_history("t", &agentflow_core::checkpoint::ListOptions::default())
            .await
            .unwrap();
        // The checkpoint before `post` ran.
        let before = history
            .iter()
            .find(|s| s.next == ["work"])
            .expect("a checkpoint before the node")
            .config
            .checkpoint_id
            .clone()
            .unwrap();
        let fork_run = uuid::Uuid::now_v7();
        let fork = |run: uuid::Uuid| {
            g.invoke(
                RunInput::Continue,
                config().checkpoint_id(before.clone()).run_id(run),
            )
        };
        fork(fork_run).await.unwrap();
        fork(uuid::Uuid::now_v7()).await.unwrap();
        let ran = keys.lock().unwrap().clone();
        assert_eq!(ran.len(), 3, "{mode:?}: each fork re-ran the step");
        assert!(
            ran[0] != ran[1] && ran[1] != ran[2] && ran[0] != ran[2],
            "{mode:?}: forks never share keys: {ran:?}"
        );
        let err = fork(fork_run).await.unwrap_err();
        assert!(err.is_conflict(), "{mode:?}: the same run forks once: {err}");
        assert_eq!(
            keys.lock().unwrap().len(),
            3,
            "{mode:?}: the refused fork ran nothing"
        );
    }
}
