//! Superstep (BSP) semantics, ported from LangGraph's scenarios (`reference/langgraph.md` §1.3).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::{
    Command, Context, END, EventData, GraphError, NodeError, RunConfig, START, Send, State, StateGraph,
    StreamMode, UpdateError,
};
use futures::StreamExt;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Log {
    #[state(append)]
    log: Vec<String>,
    value: String,
    #[state(add)]
    count: u32,
}

/// A node that waits `ms` (on tokio's clock) and appends its name.
fn appender(
    name: &'static str,
    ms: u64,
) -> impl Fn(Arc<Log>, Context) -> futures::future::BoxFuture<'static, Result<LogUpdate, NodeError>>
+ std::marker::Send
+ Sync
+ 'static {
    move |_, _| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(LogUpdate::default().log(vec![name.to_string()]))
        })
    }
}

async fn updates_order(graph: &agentflow_core::CompiledGraph<Log>) -> (Vec<String>, Log) {
    let mut events = graph.stream(LogUpdate::default(), RunConfig::new(), StreamMode::Updates);
    let mut order = Vec::new();
    while let Some(event) = events.next().await {
        if let EventData::Updates { node, .. } = event.unwrap().data {
            order.push(node.to_string());
        }
    }
    (order, events.into_output().unwrap().state)
}

#[tokio::test(start_paused = true)]
async fn merge_order_is_node_name_order_not_completion_order() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("zeta", appender("zeta", 0));
    g.add_node("alpha", appender("alpha", 300));
    g.add_node("mid", appender("mid", 100));
    for n in ["zeta", "alpha", "mid"] {
        g.add_edge(START, n);
    }
    let g = g.compile().unwrap();
    let (completion, state) = updates_order(&g).await;
    assert_eq!(
        completion,
        ["zeta", "mid", "alpha"],
        "updates stream in completion order"
    );
    assert_eq!(
        state.log,
        ["alpha", "mid", "zeta"],
        "the merge is in node-name order"
    );
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Item(usize);

#[tokio::test(start_paused = true)]
async fn send_results_merge_in_send_index_order() {
    let mut g = StateGraph::<Log>::new();
    g.add_send_node("work", |item: Item, _: Context| async move {
        // The first Send finishes last.
        tokio::time::sleep(Duration::from_millis(10 * (5 - item.0 as u64))).await;
        Ok(LogUpdate::default().log(vec![item.0.to_string()]))
    });
    g.add_conditional_edges(
        START,
        |_: &Log| (0..5).map(|i| Send::new("work", Item(i))).collect::<Vec<_>>(),
        ["work"],
    );
    let g = g.compile().unwrap();
    let (completion, state) = updates_order(&g).await;
    assert_eq!(completion.len(), 5);
    assert_eq!(state.log, ["0", "1", "2", "3", "4"]);
}

#[tokio::test]
async fn join_waits_for_every_source() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b1", appender("b1", 0));
    g.add_node("b2", appender("b2", 0));
    g.add_node("c", appender("c", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b1");
    g.add_edge("b1", "b2");
    g.add_edge(["a", "b2"], "c");
    g.add_edge("c", END);
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(
        out.state.log,
        ["a", "b1", "b2", "c"],
        "c runs once, after b2 finished at step 1"
    );
    assert_eq!(out.steps, 3);

    // Without the join, c runs after each source.
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b1", appender("b1", 0));
    g.add_node("b2", appender("b2", 0));
    g.add_node("c", appender("c", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b1");
    g.add_edge("b1", "b2");
    g.add_edge("a", "c");
    g.add_edge("b2", "c");
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.log, ["a", "b1", "b2", "c", "c"]);
}

#[tokio::test]
async fn a_node_triggered_twice_in_one_step_runs_once() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b", appender("b", 0));
    g.add_node("c", appender("c", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b");
    g.add_edge("a", "c");
    g.add_edge("b", "c");
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.log, ["a", "b", "c"]);
    assert_eq!(out.steps, 2);
}

#[tokio::test]
async fn conflicting_last_value_writes_fail_with_field_nodes_and_step() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("first", appender("first", 0));
    for name in ["left", "right"] {
        g.add_node(name, move |_, _| async move {
            Ok(LogUpdate::default().value(name.into()))
        });
        g.add_edge("first", name);
    }
    g.add_edge(START, "first");
    let err = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    match &err {
        GraphError::InvalidUpdate {
            step: 1,
            source:
                UpdateError::ConcurrentLastValue {
                    field: "value",
                    first,
                    second,
                },
        } => assert_eq!((first.as_str(), second.as_str()), ("left", "right")),
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("step 1"));
}

#[tokio::test(start_paused = true)]
async fn tasks_see_the_snapshot_from_the_start_of_their_step() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut g = StateGraph::<Log>::new();
    g.add_node("fast", appender("fast", 0));
    let seen_slow = seen.clone();
    g.add_node("slow", move |s, _| {
        let seen = seen_slow.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            seen.lock().unwrap().push(("slow", s.log.clone()));
            Ok(LogUpdate::default().log(vec!["slow".into()]))
        }
    });
    let seen_next = seen.clone();
    g.add_node("next", move |s, _| {
        let seen = seen_next.clone();
        async move {
            seen.lock().unwrap().push(("next", s.log.clone()));
            Ok(LogUpdate::default())
        }
    });
    g.add_edge(START, "fast");
    g.add_edge(START, "slow");
    g.add_edge(["fast", "slow"], "next");
    g.compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0],
        ("slow", vec![]),
        "the fast sibling's write is invisible within the step"
    );
    assert_eq!(seen[1], ("next", vec!["fast".to_string(), "slow".to_string()]));
}

#[tokio::test]
async fn routers_see_their_own_writes_but_not_their_siblings() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b", appender("b", 0));
    g.add_node("done", appender("done", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b");
    let seen_router = seen.clone();
    g.add_conditional_edges(
        "a",
        move |s: &Log| {
            seen_router.lock().unwrap().push(s.log.clone());
            "done"
        },
        ["done"],
    );
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [vec!["a".to_string()]]);
    assert_eq!(out.state.log, ["a", "b", "done"]);
}

#[tokio::test]
async fn routers_can_fan_out_to_several_nodes_and_end() {
    let mut g = StateGraph::<Log>::new();
    for n in ["a", "b", "c"] {
        g.add_node(n, appender(n, 0));
    }
    g.add_conditional_edges(START, |_: &Log| vec!["c", "b"], ["b", "c"]);
    g.add_conditional_edges("b", |_: &Log| END, ["a", END]);
    g.add_edge("c", END);
    g.add_edge("a", END);
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.log, ["b", "c"]);
    assert_eq!(out.steps, 1);
}

#[tokio::test]
async fn recursion_limit_stops_an_endless_loop_with_a_clear_error() {
    let build = || {
        let mut g = StateGraph::<Log>::new();
        g.add_node("tick", |_, _| async { Ok(LogUpdate::default().count(1)) });
        g.add_edge(START, "tick");
        g.add_conditional_edges(
            "tick",
            |s: &Log| if s.count < 5 { "tick" } else { END },
            ["tick", END],
        );
        g.compile().unwrap()
    };
    let out = build()
        .invoke(LogUpdate::default(), RunConfig::new().recursion_limit(5))
        .await
        .unwrap();
    assert_eq!(
        (out.state.count, out.steps),
        (5, 5),
        "exactly the limit is allowed"
    );
    let err = build()
        .invoke(LogUpdate::default(), RunConfig::new().recursion_limit(4))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::RecursionLimit { limit: 4 }));
    assert!(err.to_string().contains("recursion_limit"));
}

#[tokio::test]
async fn command_updates_and_routes_to_declared_destinations() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("triage", |_, _| async {
        Ok(Command::update(LogUpdate::default().value("urgent".into())).goto("escalate"))
    })
    .destinations(["escalate", "archive"]);
    g.add_node("escalate", appender("escalate", 0));
    g.add_node("archive", appender("archive", 0));
    g.add_edge(START, "triage");
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.value, "urgent");
    assert_eq!(out.state.log, ["escalate"]);

    let mut g = StateGraph::<Log>::new();
    g.add_node("triage", |_, _| async {
        Ok(Command::<Log>::goto_only("archive"))
    })
    .destinations(["escalate"]);
    g.add_node("escalate", appender("escalate", 0));
    g.add_node("archive", appender("archive", 0));
    g.add_edge(START, "triage");
    g.add_edge(START, "archive");
    let err = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::UndeclaredRoute { node, target, step: 0, .. } if node == "triage" && target == "archive"),
        "{err}"
    );
}

#[tokio::test]
async fn an_undeclared_router_target_is_a_runtime_error() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b", appender("b", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b");
    g.add_conditional_edges("a", |_: &Log| "b", [END]);
    let err = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("declared"), "{err}");
    assert_eq!(err.node(), Some("a"));
}

#[tokio::test]
async fn sends_may_carry_the_state_type_or_fail_clearly_on_a_wrong_type() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("echo", |s, _| async move {
        Ok(LogUpdate::default().log(vec![format!("echo {}", s.value)]))
    });
    g.add_conditional_edges(
        START,
        |_: &Log| {
            vec![
                Send::new(
                    "echo",
                    Log {
                        value: "x".into(),
                        ..Default::default()
                    },
                ),
                Send::new(
                    "echo",
                    Log {
                        value: "y".into(),
                        ..Default::default()
                    },
                ),
            ]
        },
        ["echo"],
    );
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.log, ["echo x", "echo y"]);

    let mut g = StateGraph::<Log>::new();
    g.add_send_node("work", |i: Item, _: Context| async move {
        Ok(LogUpdate::default().count(i.0 as u32))
    });
    g.add_conditional_edges(START, |_: &Log| Send::new("work", "not an item"), ["work"]);
    let err = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    match err {
        GraphError::SendPayloadType {
            node,
            expected,
            found,
        } => {
            assert_eq!(node, "work");
            assert!(expected.ends_with("Item"));
            assert_eq!(found, "&str");
        }
        other => panic!("unexpected: {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_bounds_the_tasks_running_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut g = StateGraph::<Log>::new();
    let (r, p) = (running.clone(), peak.clone());
    g.add_send_node("work", move |i: Item, _: Context| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(LogUpdate::default().log(vec![i.0.to_string()]))
        }
    });
    g.add_conditional_edges(
        START,
        |_: &Log| (0..6).map(|i| Send::new("work", Item(i))).collect::<Vec<_>>(),
        ["work"],
    );
    let g = g.compile().unwrap();
    let out = g
        .invoke(LogUpdate::default(), RunConfig::new().max_concurrency(2))
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!(out.state.log, ["0", "1", "2", "3", "4", "5"]);

    peak.store(0, Ordering::SeqCst);
    g.invoke(LogUpdate::default(), RunConfig::new()).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 6, "unbounded by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tasks_run_on_several_worker_threads() {
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let mut g = StateGraph::<Log>::new();
    for name in ["a", "b"] {
        let threads = threads.clone();
        g.add_node(name, move |_, _| {
            let threads = threads.clone();
            async move {
                // Block the worker briefly so the sibling must run on the other one.
                std::thread::sleep(Duration::from_millis(50));
                threads.lock().unwrap().insert(std::thread::current().id());
                Ok(LogUpdate::default())
            }
        });
        g.add_edge(START, name);
    }
    g.compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(threads.lock().unwrap().len(), 2);
}

struct Deps {
    greeting: String,
}

#[tokio::test]
async fn nodes_receive_the_runtime_context_and_their_identity() {
    let mut g = StateGraph::<Log, Deps>::new();
    g.add_node("hello", |_, ctx| async move {
        let line = format!(
            "{} from {} at step {} in thread {:?}",
            ctx.runtime().greeting,
            ctx.node(),
            ctx.superstep(),
            ctx.thread_id()
        );
        Ok(LogUpdate::default().log(vec![line]))
    });
    g.add_edge(START, "hello");
    let config = RunConfig::new().thread_id("t-1").with_context(Deps {
        greeting: "hi".into(),
    });
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), config)
        .await
        .unwrap();
    assert_eq!(
        out.state.log,
        [r#"hi from hello at step 0 in thread Some("t-1")"#]
    );
}

async fn task_ids(graph: &agentflow_core::CompiledGraph<Log>, run: uuid::Uuid) -> Vec<String> {
    let mut events = graph.stream(
        LogUpdate::default(),
        RunConfig::new().run_id(run),
        StreamMode::Tasks,
    );
    let mut ids = Vec::new();
    while let Some(event) = events.next().await {
        if let EventData::TaskStart { task_id, node, step } = event.unwrap().data {
            ids.push(format!("{step}/{node}/{task_id}"));
        }
    }
    ids.sort();
    ids
}

#[tokio::test]
async fn task_ids_are_deterministic_per_run_id() {
    let mut g = StateGraph::<Log>::new();
    g.add_node("a", appender("a", 0));
    g.add_node("b", appender("b", 0));
    g.add_edge(START, "a");
    g.add_edge(START, "b");
    g.add_edge("a", "b");
    let g = g.compile().unwrap();
    let run = uuid::Uuid::from_u128(42);
    let first = task_ids(&g, run).await;
    assert_eq!(first.len(), 3);
    assert_eq!(first, task_ids(&g, run).await);
    assert_ne!(first, task_ids(&g, uuid::Uuid::from_u128(43)).await);
    let distinct: std::collections::HashSet<_> = first.iter().map(|s| s.rsplit('/').next()).collect();
    assert_eq!(distinct.len(), 3, "b at step 0 and b at step 1 differ");
}
