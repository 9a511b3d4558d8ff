//! Durable execution: checkpoints per durability mode, resume after failure, interrupts,
//! journaled side effects, time travel, fencing and ordering (`reference/langgraph.md` §1.4-1.5).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::checkpoint::{CheckpointRef, CheckpointSource, Checkpointer, InMemorySaver, ListOptions};
use agentflow_core::{
    Command, CompiledGraph, Context, Durability, END, GraphError, InterruptKind, NodeError, RunConfig,
    RunInput, START, Send, State, StateGraph, StreamMode,
};
use futures::StreamExt;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Log {
    #[state(append)]
    log: Vec<String>,
    note: String,
}

/// Counts how often each node ran.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<HashMap<String, u32>>>);

impl Calls {
    fn hit(&self, node: &str) -> u32 {
        let mut map = self.0.lock().unwrap();
        let n = map.entry(node.to_owned()).or_default();
        *n += 1;
        *n
    }
    fn get(&self, node: &str) -> u32 {
        self.0.lock().unwrap().get(node).copied().unwrap_or(0)
    }
}

fn logger(name: &'static str, calls: &Calls) -> impl agentflow_core::Node<Log, ()> {
    let calls = calls.clone();
    move |_: Arc<Log>, _: Context| {
        calls.hit(name);
        async move { Ok(LogUpdate::default().log(vec![name.into()])) }
    }
}

fn config(thread: &str) -> RunConfig {
    RunConfig::new().thread_id(thread)
}

async fn history(saver: &InMemorySaver, thread: &str) -> Vec<(CheckpointSource, i64)> {
    let list = saver
        .list(Some(&CheckpointRef::latest(thread)), &ListOptions::default())
        .await
        .unwrap();
    list.iter()
        .rev()
        .map(|t| (t.metadata.source, t.metadata.step))
        .collect()
}

fn chain(calls: &Calls, saver: Arc<InMemorySaver>) -> CompiledGraph<Log> {
    let mut g = StateGraph::<Log>::new();
    g.add_node_impl("a", logger("a", calls));
    g.add_node_impl("b", logger("b", calls));
    g.add_sequence([START, "a", "b", END]);
    g.compile().unwrap().with_shared_checkpointer(saver)
}

#[tokio::test]
async fn checkpoints_per_run_in_each_durability_mode() {
    for (mode, expected) in [
        (Durability::Sync, 4),
        (Durability::Async, 4),
        // Exit mode: the run's fence (its first loop checkpoint, in the saver before any node
        // runs) and the end.
        (Durability::Exit, 2),
    ] {
        let saver = Arc::new(InMemorySaver::new());
        let calls = Calls::default();
        let g = chain(&calls, saver.clone());
        let out = g
            .invoke(LogUpdate::default(), config("t").durability(mode))
            .await
            .unwrap();
        assert_eq!(out.state.log, ["a", "b"]);
        let h = history(&saver, "t").await;
        assert_eq!(h.len(), expected, "{mode:?}: {h:?}");
        if mode != Durability::Exit {
            assert_eq!(
                h,
                [
                    (CheckpointSource::Input, -1),
                    (CheckpointSource::Loop, 0),
                    (CheckpointSource::Loop, 1),
                    (CheckpointSource::Loop, 2)
                ]
            );
        } else {
            assert_eq!(h, [(CheckpointSource::Loop, 0), (CheckpointSource::Loop, 2)]);
        }
        // The final checkpoint holds the final state.
        let state = g.get_state("t").await.unwrap().unwrap();
        assert_eq!(state.values.log, ["a", "b"]);
        assert!(state.next.is_empty());
        assert_eq!(
            out.checkpoint.unwrap().checkpoint_id,
            Some(state.config.checkpoint_id.unwrap())
        );
    }
}

#[tokio::test]
async fn a_second_run_continues_the_threads_state() {
    let saver = Arc::new(InMemorySaver::new());
    let calls = Calls::default();
    let g = chain(&calls, saver.clone());
    g.invoke(LogUpdate::default().log(vec!["hi".into()]), config("t"))
        .await
        .unwrap();
    let out = g
        .invoke(LogUpdate::default().log(vec!["again".into()]), config("t"))
        .await
        .unwrap();
    assert_eq!(out.state.log, ["hi", "a", "b", "again", "a", "b"]);
    let steps: Vec<i64> = history(&saver, "t").await.into_iter().map(|h| h.1).collect();
    assert_eq!(steps, [-1, 0, 1, 2, 3, 4, 5, 6], "steps continue across runs");
}

/// LangGraph's probe `p1_error_pending.py`: a and b in parallel, b fails once, [a, b] -> c.
#[tokio::test]
async fn after_a_sibling_fails_resume_reruns_only_the_failed_task() {
    for mode in [Durability::Sync, Durability::Async, Durability::Exit] {
        let saver = Arc::new(InMemorySaver::new());
        let calls = Calls::default();
        let mut g = StateGraph::<Log>::new();
        g.add_node_impl("a", logger("a", &calls));
        let c2 = calls.clone();
        g.add_node("b", move |_, _| {
            let n = c2.hit("b");
            async move {
                // Let `a` finish first.
                tokio::time::sleep(Duration::from_millis(20)).await;
                if n == 1 {
                    return Err(NodeError::terminal("boom"));
                }
                Ok(LogUpdate::default().log(vec!["b".into()]))
            }
        });
        g.add_node_impl("c", logger("c", &calls));
        g.add_edge(START, "a");
        g.add_edge(START, "b");
        g.add_edge(["a", "b"], "c");
        let g = g.compile().unwrap().with_shared_checkpointer(saver.clone());
        let err = g
            .invoke(LogUpdate::default(), config("t").durability(mode))
            .await
            .unwrap_err();
        assert_eq!(err.node(), Some("b"));
        let paused = g.get_state("t").await.unwrap().unwrap();
        assert_eq!(paused.next, ["a", "b"], "{mode:?}");
        assert!(
            paused.tasks.iter().any(|t| t.node == "a" && t.finished),
            "{mode:?}: a's result is saved"
        );

        let out = g
            .invoke(RunInput::Continue, config("t").durability(mode))
            .await
            .unwrap();
        assert_eq!(out.state.log, ["a", "b", "c"], "{mode:?}");
        assert_eq!(
            (calls.get("a"), calls.get("b"), calls.get("c")),
            (1, 2, 1),
            "{mode:?}"
        );
    }
}

fn asker(calls: &Calls) -> CompiledGraph<Log> {
    let calls = calls.clone();
    let mut g = StateGraph::<Log>::new();
    g.add_node("ask", move |_, ctx| {
        calls.hit("ask");
        async move {
            let first: String = ctx.interrupt("first question")?;
            let second: String = ctx.interrupt(serde_json::json!({ "q": "second", "after": first }))?;
            Ok(LogUpdate::default().log(vec![first, second]))
        }
    });
    g.add_edge(START, "ask");
    g.compile().unwrap().with_checkpointer(InMemorySaver::new())
}

#[tokio::test]
async fn two_interrupts_in_one_node_are_matched_by_order() {
    let calls = Calls::default();
    let g = asker(&calls);
    let out = g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    assert!(out.is_interrupted());
    assert_eq!(out.interrupts[0].value, "first question");
    assert_eq!(out.interrupts[0].kind, InterruptKind::Dynamic);
    let first_id = out.interrupts[0].id.clone();

    let out = g.invoke(Command::resume("yes"), config("t")).await.unwrap();
    assert_eq!(out.interrupts.len(), 1);
    assert_eq!(
        out.interrupts[0].value,
        serde_json::json!({ "q": "second", "after": "yes" })
    );
    assert_ne!(out.interrupts[0].id, first_id, "each interrupt has its own id");

    let out = g.invoke(Command::resume("no"), config("t")).await.unwrap();
    assert!(!out.is_interrupted());
    assert_eq!(out.state.log, ["yes", "no"]);
    assert_eq!(
        calls.get("ask"),
        3,
        "the node re-runs from its start on each resume"
    );

    let err = g.invoke(Command::resume("extra"), config("t")).await.unwrap_err();
    assert!(matches!(err, GraphError::InvalidResume(_)), "{err}");
}

#[tokio::test]
async fn parallel_interrupts_are_resumed_by_id() {
    let mut g = StateGraph::<Log>::new();
    for name in ["left", "right"] {
        g.add_node(name, move |_, ctx| async move {
            let answer: String = ctx.interrupt(format!("approve {name}?"))?;
            Ok(LogUpdate::default().log(vec![format!("{name}: {answer}")]))
        });
        g.add_edge(START, name);
    }
    let g = g.compile().unwrap().with_checkpointer(InMemorySaver::new());
    let out = g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    assert_eq!(out.interrupts.len(), 2);
    let snapshot = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(snapshot.interrupts.len(), 2);

    let err = g.invoke(Command::resume("ok"), config("t")).await.unwrap_err();
    assert!(err.to_string().contains("resume them by id"), "{err}");

    let by_node: HashMap<String, String> = out
        .interrupts
        .iter()
        .map(|i| (i.node.clone(), i.id.clone()))
        .collect();
    // Answer only one: the other stays pending.
    let out = g
        .invoke(
            Command::resume_by_id([(by_node["right"].clone(), "no")]),
            config("t"),
        )
        .await
        .unwrap();
    assert_eq!(out.interrupts.len(), 1);
    assert_eq!(out.interrupts[0].node, "left");
    assert_eq!(
        out.state.log,
        ["right: no"],
        "the finished sibling's write is shown"
    );
    let out = g
        .invoke(
            Command::resume_by_id([(by_node["left"].clone(), "yes")]),
            config("t"),
        )
        .await
        .unwrap();
    assert!(!out.is_interrupted());
    assert_eq!(out.state.log, ["left: yes", "right: no"], "merged in node order");
}

fn notifier(posted: Arc<AtomicU32>, keys: Arc<Mutex<Vec<String>>>) -> CompiledGraph<Log> {
    let mut g = StateGraph::<Log>::new();
    g.add_node("notify", move |_, ctx| {
        let (posted, keys) = (posted.clone(), keys.clone());
        async move {
            let ts: String = ctx
                .step("post-to-slack", |key| async move {
                    keys.lock().unwrap().push(key);
                    let n = posted.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok(format!("1700000000.{n:06}"))
                })
                .await?;
            let approved: bool = ctx.interrupt(format!("posted {ts}; approve?"))?;
            Ok(LogUpdate::default().log(vec![format!("{ts} approved={approved}")]))
        }
    });
    g.add_edge(START, "notify");
    g.compile().unwrap().with_checkpointer(InMemorySaver::new())
}

#[tokio::test]
async fn a_journaled_side_effect_runs_once_across_interrupt_and_resume() {
    for mode in [Durability::Sync, Durability::Async, Durability::Exit] {
        let posted = Arc::new(AtomicU32::new(0));
        let keys = Arc::new(Mutex::new(Vec::new()));
        let g = notifier(posted.clone(), keys.clone());
        let out = g
            .invoke(LogUpdate::default(), config("t").durability(mode))
            .await
            .unwrap();
        assert!(out.is_interrupted());
        assert_eq!(out.interrupts[0].value, "posted 1700000000.000001; approve?");
        let out = g
            .invoke(Command::resume(true), config("t").durability(mode))
            .await
            .unwrap();
        assert_eq!(out.state.log, ["1700000000.000001 approved=true"], "{mode:?}");
        assert_eq!(posted.load(Ordering::SeqCst), 1, "{mode:?}: posted exactly once");
        let keys = keys.lock().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].len(), 32, "a deterministic idempotency key");
    }
}

#[tokio::test(start_paused = true)]
async fn a_journaled_step_is_not_repeated_by_a_retry() {
    let posted = Arc::new(AtomicU32::new(0));
    let attempts = Arc::new(AtomicU32::new(0));
    let (p, a) = (posted.clone(), attempts.clone());
    let mut g = StateGraph::<Log>::new();
    g.add_node("create_issue", move |_, ctx| {
        let (posted, attempts) = (p.clone(), a.clone());
        async move {
            let key: String = ctx
                .step("jira-create", |_| async move {
                    posted.fetch_add(1, Ordering::SeqCst);
                    Ok("OPS-1".to_string())
                })
                .await?;
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(NodeError::retryable("comment API timed out"));
            }
            Ok(LogUpdate::default().log(vec![key]))
        }
    })
    .retry(agentflow_core::RetryPolicy::default().jitter(false));
    g.add_edge(START, "create_issue");
    // Without a checkpointer too: the journal lives with the task across its attempts.
    let out = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.log, ["OPS-1"]);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(posted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn interrupt_needs_a_checkpointer_and_a_checkpointer_needs_a_thread() {
    let calls = Calls::default();
    let mut g = StateGraph::<Log>::new();
    g.add_node("ask", |_, ctx| async move {
        let _: String = ctx.interrupt("?")?;
        Ok(())
    });
    g.add_edge(START, "ask");
    let err = g
        .compile()
        .unwrap()
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::InterruptWithoutCheckpointer { ref node } if node == "ask"),
        "{err}"
    );
    assert!(err.to_string().contains("with_checkpointer"));

    let g = asker(&calls);
    let err = g
        .invoke(LogUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::MissingThreadId));
    let err = g
        .invoke(RunInput::Continue, config("never-used"))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::NothingToResume { .. }));
}

fn reviewed(calls: &Calls) -> CompiledGraph<Log> {
    let mut g = StateGraph::<Log>::new();
    g.add_node_impl("draft", logger("draft", calls));
    let c = calls.clone();
    g.add_node("send", move |s, _| {
        c.hit("send");
        let note = s.note.clone();
        async move { Ok(LogUpdate::default().log(vec![format!("sent ({note})")])) }
    });
    g.add_sequence([START, "draft", "send", END]);
    g.compile()
        .unwrap()
        .with_checkpointer(InMemorySaver::new())
        .interrupt_before(["send"])
        .unwrap()
}

#[tokio::test]
async fn interrupt_before_then_update_state_then_continue() {
    let calls = Calls::default();
    let g = reviewed(&calls);
    let out = g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    assert_eq!(out.interrupts.len(), 1);
    assert_eq!(out.interrupts[0].kind, InterruptKind::Before);
    assert_eq!(out.interrupts[0].node, "send");
    assert_eq!(calls.get("send"), 0);

    let snapshot = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(snapshot.next, ["send"]);
    assert_eq!(snapshot.values.log, ["draft"]);

    let updated = g
        .update_state(
            &CheckpointRef::latest("t"),
            LogUpdate::default().note("edited by a human".into()),
            None,
        )
        .await
        .unwrap();
    let after = g.get_state(&updated).await.unwrap().unwrap();
    assert_eq!(after.metadata.source, CheckpointSource::Update);
    assert_eq!(after.next, ["send"], "without as_node the pending tasks stay");

    let out = g.invoke(RunInput::Continue, config("t")).await.unwrap();
    assert!(!out.is_interrupted(), "no second pause at the same breakpoint");
    assert_eq!(out.state.log, ["draft", "sent (edited by a human)"]);
    assert_eq!(calls.get("draft"), 1);
}

#[tokio::test]
async fn update_state_as_a_node_runs_what_follows_it() {
    let calls = Calls::default();
    let saver = Arc::new(InMemorySaver::new());
    let g = chain(&calls, saver);
    g.invoke(LogUpdate::default(), config("t").interrupt_before(["a"]))
        .await
        .unwrap();
    // Pretend `a` ran: its successor `b` is next.
    let cp = g
        .update_state(
            &CheckpointRef::latest("t"),
            LogUpdate::default().log(vec!["a (manual)".into()]),
            Some("a"),
        )
        .await
        .unwrap();
    assert_eq!(g.get_state(&cp).await.unwrap().unwrap().next, ["b"]);
    let out = g.invoke(RunInput::Continue, config("t")).await.unwrap();
    assert_eq!(out.state.log, ["a (manual)", "b"]);
    assert_eq!(calls.get("a"), 0);
    let err = g
        .update_state(&CheckpointRef::latest("t"), LogUpdate::default(), Some("zzz"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("zzz"));
}

#[tokio::test]
async fn interrupt_after_pauses_once_the_step_is_saved() {
    let calls = Calls::default();
    let saver = Arc::new(InMemorySaver::new());
    let g = chain(&calls, saver);
    let out = g
        .invoke(LogUpdate::default(), config("t").interrupt_after(["a"]))
        .await
        .unwrap();
    assert_eq!(out.interrupts[0].kind, InterruptKind::After);
    assert_eq!(out.state.log, ["a"]);
    let out = g.invoke(RunInput::Continue, config("t")).await.unwrap();
    assert_eq!(out.state.log, ["a", "b"]);
    assert_eq!((calls.get("a"), calls.get("b")), (1, 1));
}

#[tokio::test]
async fn running_from_an_old_checkpoint_forks_and_keeps_the_old_branch() {
    let calls = Calls::default();
    let saver = Arc::new(InMemorySaver::new());
    let g = chain(&calls, saver.clone());
    g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    let history = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    assert_eq!(history.len(), 4);
    // The checkpoint after `a`, before `b`.
    let before_b = history.iter().find(|s| s.next == ["b"]).unwrap();
    let old_id = before_b.config.checkpoint_id.clone().unwrap();

    let out = g
        .invoke(RunInput::Continue, config("t").checkpoint_id(old_id.clone()))
        .await
        .unwrap();
    assert_eq!(out.state.log, ["a", "b"]);
    assert_eq!(
        (calls.get("a"), calls.get("b")),
        (1, 2),
        "b ran again on the new branch"
    );

    let all = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    assert_eq!(
        all.len(),
        6,
        "the fork and its step were added; nothing was removed"
    );
    let fork = all
        .iter()
        .find(|s| s.metadata.source == CheckpointSource::Fork)
        .unwrap();
    assert_eq!(
        fork.parent.as_ref().unwrap().checkpoint_id.as_deref(),
        Some(old_id.as_str())
    );
    let latest = g.get_state("t").await.unwrap().unwrap();
    assert_eq!(latest.parent.unwrap().checkpoint_id, fork.config.checkpoint_id);
    // The old branch's head is still readable.
    let old_head = &history[0];
    let again = g.get_state(&old_head.config).await.unwrap().unwrap();
    assert_eq!(again.values.log, ["a", "b"]);

    let limited = g
        .get_state_history(
            "t",
            &ListOptions {
                limit: Some(2),
                filter: [("source".to_string(), serde_json::json!("loop"))].into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    assert!(
        limited
            .iter()
            .all(|s| s.metadata.source == CheckpointSource::Loop)
    );
    assert!(
        limited[0].config.checkpoint_id > limited[1].config.checkpoint_id,
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_racing_on_one_thread_exactly_one_wins() {
    for _ in 0..20 {
        let saver = Arc::new(InMemorySaver::new());
        let mut g = StateGraph::<Log>::new();
        g.add_node("slow", |_, _| async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(LogUpdate::default().log(vec!["slow".into()]))
        });
        g.add_node("after", |_, _| async {
            Ok(LogUpdate::default().log(vec!["after".into()]))
        });
        g.add_sequence([START, "slow", "after", END]);
        let g = g
            .compile()
            .unwrap()
            .with_shared_checkpointer(saver)
            .with_durability(Durability::Sync);
        g.invoke(LogUpdate::default(), config("shared")).await.unwrap();
        let (g1, g2) = (g.clone(), g.clone());
        let one = tokio::spawn(async move { g1.invoke(LogUpdate::default(), config("shared")).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let two = tokio::spawn(async move { g2.invoke(LogUpdate::default(), config("shared")).await });
        let results = [one.await.unwrap(), two.await.unwrap()];
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
        let state = g.get_state("shared").await.unwrap().unwrap();
        assert_eq!(state.values.log.len(), 4, "one run's work, not a mix");
    }
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Job(u32);

#[tokio::test]
async fn pending_sends_and_their_results_survive_a_pause() {
    let calls = Calls::default();
    let c = calls.clone();
    let mut g = StateGraph::<Log>::new();
    g.add_send_node("work", move |job: Job, ctx: Context| {
        c.hit(&format!("work{}", job.0));
        async move {
            if job.0 == 1 {
                let ok: bool = ctx.interrupt("job 1 needs approval")?;
                if !ok {
                    return Ok(LogUpdate::default().log(vec!["1 rejected".into()]));
                }
            }
            Ok(LogUpdate::default().log(vec![format!("{} done", job.0)]))
        }
    });
    g.add_conditional_edges(
        START,
        |_: &Log| (0..3).map(|i| Send::new("work", Job(i))).collect::<Vec<_>>(),
        ["work"],
    );
    let g = g.compile().unwrap().with_checkpointer(InMemorySaver::new());
    for mode in [Durability::Sync, Durability::Exit] {
        let thread = format!("t-{mode:?}");
        let out = g
            .invoke(LogUpdate::default(), config(&thread).durability(mode))
            .await
            .unwrap();
        assert_eq!(out.interrupts.len(), 1);
        let out = g
            .invoke(Command::resume(false), config(&thread).durability(mode))
            .await
            .unwrap();
        assert_eq!(
            out.state.log,
            ["0 done", "1 rejected", "2 done"],
            "{mode:?}: Send order"
        );
    }
    assert_eq!(
        (calls.get("work0"), calls.get("work1"), calls.get("work2")),
        (2, 4, 2),
        "only job 1 ran again"
    );
}

#[tokio::test]
async fn a_resume_command_can_carry_an_update_and_a_goto() {
    let calls = Calls::default();
    let mut g = StateGraph::<Log>::new();
    g.add_node("ask", |_, ctx| async move {
        let answer: String = ctx.interrupt("?")?;
        Ok(LogUpdate::default().log(vec![answer]))
    })
    .destinations(["audit"]);
    g.add_node_impl("audit", logger("audit", &calls));
    g.add_edge(START, "ask");
    g.add_edge("audit", END);
    let g = g.compile().unwrap().with_checkpointer(InMemorySaver::new());
    g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    let out = g
        .invoke(
            Command::resume("fine")
                .with_update(LogUpdate::default().note("resumed by ops".into()))
                .goto("audit"),
            config("t"),
        )
        .await
        .unwrap();
    assert_eq!(out.state.log, ["fine", "audit"]);
    assert_eq!(out.state.note, "resumed by ops");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_run_leaves_the_thread_resumable() {
    let calls = Calls::default();
    let mut g = StateGraph::<Log>::new();
    g.add_node_impl("a", logger("a", &calls));
    let c = calls.clone();
    g.add_node("slow", move |_, _| {
        c.hit("slow");
        async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(LogUpdate::default().log(vec!["slow".into()]))
        }
    });
    g.add_sequence([START, "a", "slow", END]);
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(InMemorySaver::new())
        .with_durability(Durability::Sync);
    let mut stream = g.stream(LogUpdate::default(), config("t"), StreamMode::Updates);
    // `a` finished; `slow` is running when the caller goes away.
    stream.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(stream);
    let out = g.invoke(RunInput::Continue, config("t")).await.unwrap();
    assert_eq!(out.state.log, ["a", "slow"]);
    assert_eq!((calls.get("a"), calls.get("slow")), (1, 2));
}

#[tokio::test]
async fn append_fields_are_stored_as_deltas_and_read_back_whole() {
    let saver = Arc::new(InMemorySaver::new());
    let mut g = StateGraph::<Log>::new();
    g.add_node("reply", |s, _| {
        let n = s.log.len();
        async move { Ok(LogUpdate::default().log(vec![format!("reply {n:04}")])) }
    });
    g.add_edge(START, "reply");
    let g = g
        .compile()
        .unwrap()
        .with_shared_checkpointer(saver.clone())
        .with_durability(Durability::Exit);
    let mut expected = Vec::new();
    let mut sizes = Vec::new();
    for turn in 0..90 {
        let message = format!("message {turn:04} {}", "x".repeat(100));
        expected.push(message.clone());
        expected.push(format!("reply {:04}", expected.len()));
        g.invoke(LogUpdate::default().log(vec![message]), config("chat"))
            .await
            .unwrap();
        if turn == 29 || turn == 89 {
            sizes.push(saver.stored_bytes());
        }
    }
    let state = g.get_state("chat").await.unwrap().unwrap();
    assert_eq!(
        state.values.log, expected,
        "snapshot plus deltas rebuild the whole list"
    );
    // Linear: 3x the turns, about 3x the bytes (a full rewrite each turn would be about 9x).
    let growth = sizes[1] as f64 / sizes[0] as f64;
    assert!(
        growth < 4.5,
        "storage grew {growth:.1}x for 3x the turns: {sizes:?}"
    );

    // An overwrite starts a new snapshot; what follows is a delta of it again.
    g.invoke(
        LogUpdate::default().overwrite_log(vec!["reset".into()]),
        config("chat"),
    )
    .await
    .unwrap();
    g.invoke(LogUpdate::default().log(vec!["after".into()]), config("chat"))
        .await
        .unwrap();
    let state = g.get_state("chat").await.unwrap().unwrap();
    assert_eq!(state.values.log, ["reset", "reply 0001", "after", "reply 0003"]);
}

/// Found by the SQLite saver's tests: both branches of a fork wrote the same version numbers, so
/// a saver keyed by (field, version) mixed their values up.
#[tokio::test]
async fn a_fork_does_not_change_the_old_branchs_values() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let mut g = StateGraph::<Log>::new();
    g.add_node("write", move |_, _| {
        let n = r.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(LogUpdate::default().note(format!("run {n}"))) }
    });
    g.add_edge(START, "write");
    let g = g.compile().unwrap().with_checkpointer(InMemorySaver::new());
    let first = g.invoke(LogUpdate::default(), config("t")).await.unwrap();
    let first_end = first.checkpoint.unwrap();
    let history = g.get_state_history("t", &ListOptions::default()).await.unwrap();
    let before_write = history.iter().find(|s| s.next == ["write"]).unwrap();
    let second = g
        .invoke(
            RunInput::Continue,
            config("t").checkpoint_id(before_write.config.checkpoint_id.clone().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(second.state.note, "run 2");
    let old = g.get_state(&first_end).await.unwrap().unwrap();
    assert_eq!(old.values.note, "run 1", "the old branch keeps its own value");
    let new = g.get_state(&second.checkpoint.unwrap()).await.unwrap().unwrap();
    assert_eq!(new.values.note, "run 2");
}

/// Stored data never chooses a type: a value that does not fit its field is a clear error.
#[tokio::test]
async fn a_tampered_checkpoint_is_refused_with_a_clear_error() {
    use agentflow_core::checkpoint::{Checkpointer, PutMode, next_checkpoint_id};
    let saver = Arc::new(InMemorySaver::new());
    let calls = Calls::default();
    let g = chain(&calls, saver.clone());
    g.invoke(LogUpdate::default(), config("t").interrupt_before(["b"]))
        .await
        .unwrap();
    let head = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    // Someone with database access rewrites `log` (a list of strings) as an object.
    let mut forged = head.checkpoint.clone();
    forged.id = next_checkpoint_id(Some(&head.checkpoint.id));
    forged.channel_versions.insert("log".into(), 999);
    forged.channel_values = [(
        "log".to_string(),
        br#"{"__class__":"os.system","args":["rm -rf /"]}"#.to_vec(),
    )]
    .into();
    let versions = [("log".to_string(), 999u64)].into();
    saver
        .put(&head.config, &forged, &head.metadata, &versions, PutMode::Extend)
        .await
        .unwrap();
    let err = g.invoke(RunInput::Continue, config("t")).await.unwrap_err();
    assert!(matches!(err, GraphError::Codec(_)), "{err}");
    assert!(err.to_string().contains("json"), "{err}");
    assert_eq!(calls.get("b"), 0, "nothing ran on forged data");
}
