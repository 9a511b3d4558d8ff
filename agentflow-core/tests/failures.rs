//! Failure semantics: retries with backoff, timeouts, error handlers, sibling cancellation,
//! panics and cancellation of the run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::{
    CancellationToken, Command, Context, END, ErrorClass, GraphError, NodeError, RetryPolicy, RunConfig,
    START, State, StateGraph, StreamMode,
};
use futures::StreamExt;
use tokio::time::Instant;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Job {
    #[state(append)]
    log: Vec<String>,
    status: String,
}

#[derive(Debug, thiserror::Error)]
#[error("flaky backend")]
struct Flaky;

/// A node that fails `failures` times with [`Flaky`], recording the (tokio) time of every attempt.
fn flaky(
    failures: u32,
    attempts: Arc<Mutex<Vec<(u32, Instant)>>>,
) -> impl Fn(Arc<Job>, Context) -> futures::future::BoxFuture<'static, Result<JobUpdate, NodeError>>
+ std::marker::Send
+ Sync
+ 'static {
    failing(failures, attempts, || Flaky.into())
}

/// A node that fails `failures` times with `error()`, recording the (tokio) time of every
/// attempt.
fn failing(
    failures: u32,
    attempts: Arc<Mutex<Vec<(u32, Instant)>>>,
    error: impl Fn() -> NodeError + std::marker::Send + Sync + 'static,
) -> impl Fn(Arc<Job>, Context) -> futures::future::BoxFuture<'static, Result<JobUpdate, NodeError>>
+ std::marker::Send
+ Sync
+ 'static {
    let error = Arc::new(error);
    move |_, ctx| {
        let attempts = attempts.clone();
        let error = error.clone();
        Box::pin(async move {
            let n = {
                let mut a = attempts.lock().unwrap();
                a.push((ctx.attempt(), Instant::now()));
                a.len() as u32
            };
            if n <= failures {
                Err(error())
            } else {
                Ok(JobUpdate::default().log(vec![format!("ok on attempt {}", ctx.attempt())]))
            }
        })
    }
}

fn single(
    node: impl agentflow_core::Node<Job, ()>,
    policy: Option<RetryPolicy>,
) -> agentflow_core::CompiledGraph<Job> {
    let mut g = StateGraph::<Job>::new();
    let spec = g.add_node_impl("call", node);
    if let Some(policy) = policy {
        spec.retry(policy);
    }
    g.add_edge(START, "call");
    g.compile().unwrap()
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::default()
        .initial_interval(Duration::from_millis(100))
        .backoff_factor(2.0)
        .jitter(false)
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_until_success() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(flaky(2, attempts.clone()), Some(no_jitter()));
    let out = g.invoke(JobUpdate::default(), RunConfig::new()).await.unwrap();
    assert_eq!(
        out.state.log,
        ["ok on attempt 3"],
        "the failed attempts' writes are discarded"
    );
    let a = attempts.lock().unwrap();
    assert_eq!(a.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(a[1].1 - a[0].1, Duration::from_millis(100));
    assert_eq!(a[2].1 - a[1].1, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fail_with_node_step_and_attempts() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(flaky(10, attempts.clone()), Some(no_jitter().max_attempts(4)));
    let err = g
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    match &err {
        GraphError::Node {
            node,
            step,
            attempts,
            class,
            ..
        } => {
            assert_eq!((node.as_str(), *step, *attempts), ("call", 0, 4));
            assert_eq!(*class, ErrorClass::Retryable);
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "node `call` failed at step 0 after 4 attempt(s): flaky backend"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert!(
        source.downcast_ref::<Flaky>().is_some(),
        "the node's own error is the source"
    );
    let a = attempts.lock().unwrap();
    let gaps: Vec<_> = a.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert_eq!(gaps, [100, 200, 400].map(Duration::from_millis));
}

#[tokio::test(start_paused = true)]
async fn the_default_policy_matches_langgraph() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(flaky(10, attempts.clone()), Some(RetryPolicy::default()));
    g.invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    let a = attempts.lock().unwrap();
    assert_eq!(a.len(), 3, "three attempts in all");
    // 0.5 s then 1 s, each plus up to 1 s of jitter.
    let first = a[1].1 - a[0].1;
    let second = a[2].1 - a[1].1;
    assert!(
        first >= Duration::from_millis(500) && first <= Duration::from_millis(1500),
        "{first:?}"
    );
    assert!(
        second >= Duration::from_secs(1) && second <= Duration::from_secs(2),
        "{second:?}"
    );
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff(20), Duration::from_secs(128), "capped at 128 s");
}

#[tokio::test(start_paused = true)]
async fn terminal_errors_and_filtered_errors_are_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let g = single(
        move |_: Arc<Job>, _: Context| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Err::<JobUpdate, _>(NodeError::terminal("bad request")) }
        },
        Some(no_jitter()),
    );
    let err = g
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!err.is_retryable());

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(
        flaky(10, attempts.clone()),
        Some(no_jitter().retry_on(|e| e.downcast_ref::<Flaky>().is_none())),
    );
    g.invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(
        attempts.lock().unwrap().len(),
        1,
        "the predicate refused to retry Flaky"
    );

    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(flaky(10, attempts.clone()), None);
    g.invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(attempts.lock().unwrap().len(), 1, "no policy, no retry");
}

/// A node that fails once asking to be retried after `asked`.
fn rate_limited(
    asked: Duration,
    attempts: Arc<Mutex<Vec<(u32, Instant)>>>,
) -> impl Fn(Arc<Job>, Context) -> futures::future::BoxFuture<'static, Result<JobUpdate, NodeError>>
+ std::marker::Send
+ Sync
+ 'static {
    failing(1, attempts, move || {
        NodeError::retryable("429").with_retry_after(asked)
    })
}

#[tokio::test(start_paused = true)]
async fn a_nodes_retry_after_replaces_the_backoff_up_to_the_cap() {
    for (asked, cap, waited) in [
        (
            Duration::from_secs(3),
            Duration::from_secs(60),
            Duration::from_secs(3),
        ),
        (
            Duration::from_secs(86_400),
            Duration::from_secs(60),
            Duration::from_secs(60),
        ),
        (
            Duration::from_secs(86_400),
            Duration::from_secs(5),
            Duration::from_secs(5),
        ),
    ] {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let policy = no_jitter().max_retry_after(cap);
        let g = single(rate_limited(asked, attempts.clone()), Some(policy));
        g.invoke(JobUpdate::default(), RunConfig::new()).await.unwrap();
        let a = attempts.lock().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].1 - a[0].1, waited, "asked {asked:?}, cap {cap:?}");
    }
}

#[tokio::test]
async fn cancelling_the_run_ends_a_node_retry_wait_at_once() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let g = single(
        rate_limited(Duration::from_secs(30), attempts.clone()),
        Some(no_jitter()),
    );
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.cancel();
    });
    let started = std::time::Instant::now();
    let run = g.invoke(JobUpdate::default(), RunConfig::new().cancellation(token));
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run still waits out the 30 s retry after being cancelled")
        .unwrap_err();
    assert!(matches!(err, GraphError::Cancelled), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(attempts.lock().unwrap().len(), 1, "not retried after the cancel");
}

#[tokio::test(start_paused = true)]
async fn timeouts_fail_the_attempt_and_are_retryable() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut g = StateGraph::<Job>::new();
    g.add_node("slow", move |_, _| {
        c.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(JobUpdate::default())
        }
    })
    .timeout(Duration::from_secs(1))
    .retry(no_jitter().max_attempts(2));
    g.add_edge(START, "slow");
    let started = Instant::now();
    let err = g
        .compile()
        .unwrap()
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(Instant::now() - started, Duration::from_millis(2100));
    match &err {
        GraphError::Node {
            node,
            attempts: 2,
            source,
            ..
        } => {
            assert_eq!(node, "slow");
            assert!(source.downcast_ref::<agentflow_core::TimedOut>().is_some());
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("timed out after 1s"), "{err}");
}

#[tokio::test]
async fn an_error_handler_can_update_state_and_route_to_a_fallback() {
    let mut g = StateGraph::<Job>::new();
    g.add_node("charge", |_, _| async {
        Err::<JobUpdate, _>(NodeError::terminal("card declined"))
    })
    .destinations(["refund"])
    .on_error(|err, _state| {
        Some(Command::update(JobUpdate::default().status(format!("failed: {err}"))).goto("refund"))
    });
    g.add_node("refund", |_, _| async {
        Ok(JobUpdate::default().log(vec!["refunded".into()]))
    });
    g.add_node("ship", |_, _| async {
        Ok(JobUpdate::default().log(vec!["shipped".into()]))
    });
    g.add_edge(START, "charge");
    g.add_edge("charge", "ship");
    g.add_edge("refund", END);
    let out = g
        .compile()
        .unwrap()
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.status, "failed: card declined");
    // The static edge still fires: the handler's result stands in for the node's result.
    assert_eq!(out.state.log, ["refunded", "shipped"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_cancels_its_running_siblings() {
    let finished = Arc::new(AtomicBool::new(false));
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let mut g = StateGraph::<Job>::new();
    g.add_node("boom", |_, _| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err::<JobUpdate, _>(NodeError::terminal("boom"))
    });
    let (f, s) = (finished.clone(), saw_cancel.clone());
    g.add_node("slow", move |_, ctx| {
        let (finished, saw_cancel) = (f.clone(), s.clone());
        async move {
            let token = ctx.cancellation().clone();
            // Observe the token from outside the task, which is aborted.
            tokio::spawn(async move {
                token.cancelled().await;
                saw_cancel.store(true, Ordering::SeqCst);
            });
            tokio::time::sleep(Duration::from_secs(5)).await;
            finished.store(true, Ordering::SeqCst);
            Ok(JobUpdate::default())
        }
    });
    g.add_edge(START, "boom");
    g.add_edge(START, "slow");
    let started = Instant::now();
    let err = g
        .compile()
        .unwrap()
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(
        Instant::now() - started,
        Duration::from_millis(10),
        "the run did not wait for the sibling"
    );
    assert_eq!(err.node(), Some("boom"));
    assert!(err.to_string().contains("step 0"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!finished.load(Ordering::SeqCst), "the sibling was cancelled");
    assert!(
        saw_cancel.load(Ordering::SeqCst),
        "the sibling's token was cancelled"
    );
}

#[tokio::test]
async fn a_panicking_node_fails_the_run_without_unwinding_into_the_caller() {
    let mut g = StateGraph::<Job>::new();
    g.add_node("oops", |_, _| async {
        if true {
            panic!("index out of range");
        }
        Ok(JobUpdate::default())
    });
    g.add_edge(START, "oops");
    let err = g
        .compile()
        .unwrap()
        .invoke(JobUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    match err {
        GraphError::Panicked { node, step, message } => {
            assert_eq!((node.as_str(), step), ("oops", 0));
            assert_eq!(message, "index out of range");
        }
        other => panic!("unexpected: {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_token_stops_the_run() {
    let token = CancellationToken::new();
    let mut g = StateGraph::<Job>::new();
    g.add_node("tick", |_, _| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(JobUpdate::default().log(vec!["tick".into()]))
    });
    g.add_edge(START, "tick");
    // END is declared but never chosen: the loop only stops through the token.
    g.add_conditional_edges("tick", |_: &Job| "tick", ["tick", END]);
    let g = g.compile().unwrap();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(35)).await;
        t.cancel();
    });
    let err = g
        .invoke(JobUpdate::default(), RunConfig::new().cancellation(token))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_running_tasks() {
    let finished = Arc::new(AtomicU32::new(0));
    let mut g = StateGraph::<Job>::new();
    for name in ["a", "b"] {
        let f = finished.clone();
        g.add_node(name, move |_, _| {
            let f = f.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok(JobUpdate::default())
            }
        });
        g.add_edge(START, name);
    }
    let g = g.compile().unwrap();
    let mut events = g.stream(JobUpdate::default(), RunConfig::new(), StreamMode::Tasks);
    // Both tasks have started once two TaskStart events arrived.
    events.next().await.unwrap().unwrap();
    events.next().await.unwrap().unwrap();
    drop(events);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}
