//! Stream modes: values, updates, custom, messages, tasks; invoke is stream drained.

use std::time::Duration;

use agentflow_core::{
    EventData, GraphError, MessageChunk, NodeError, RunConfig, START, State, StateGraph, StreamEvent,
    StreamMode,
};
use futures::StreamExt;

#[derive(State, Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Talk {
    #[state(append)]
    lines: Vec<String>,
    #[state(add)]
    tokens: u32,
}

fn graph() -> agentflow_core::CompiledGraph<Talk> {
    let mut g = StateGraph::<Talk>::new();
    g.add_node("model", |_, ctx| async move {
        let writer = ctx.writer();
        for token in ["Hel", "lo"] {
            writer.message(MessageChunk {
                message_id: Some("m1".into()),
                content: token.into(),
                metadata: serde_json::json!({ "model": "scripted" }),
            });
        }
        writer.custom(serde_json::json!({ "progress": 1.0 }));
        Ok(TalkUpdate::default().lines(vec!["Hello".into()]).tokens(2))
    });
    g.add_node("quiet", |_, _| async { Ok(()) });
    g.add_node("log", |s, _| async move {
        Ok(TalkUpdate::default().lines(vec![format!("{} tokens", s.tokens)]))
    });
    g.add_edge(START, "model");
    g.add_edge(START, "quiet");
    g.add_edge(["model", "quiet"], "log");
    g.compile().unwrap()
}

async fn collect(modes: impl Into<agentflow_core::StreamModes>) -> (Vec<StreamEvent<Talk>>, Talk) {
    let mut stream = graph().stream(TalkUpdate::default(), RunConfig::new(), modes);
    let mut events = Vec::new();
    while let Some(e) = stream.next().await {
        events.push(e.unwrap());
    }
    (events, stream.into_output().unwrap().state)
}

#[tokio::test]
async fn values_mode_yields_the_state_after_each_changing_step() {
    let (events, last) = collect(StreamMode::Values).await;
    let states: Vec<(usize, Talk)> = events
        .into_iter()
        .map(|e| match e.data {
            EventData::Values { step, state } => (step, (*state).clone()),
            _ => panic!("only values were asked for"),
        })
        .collect();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].0, 0);
    assert_eq!(states[0].1.lines, ["Hello"]);
    assert_eq!(states[1].1, last);
    let invoked = graph()
        .invoke(TalkUpdate::default(), RunConfig::new())
        .await
        .unwrap()
        .state;
    assert_eq!(invoked, last, "invoke gives what the stream ends with");
    assert_eq!(invoked.lines, ["Hello", "2 tokens"]);
}

#[tokio::test]
async fn updates_mode_yields_one_event_per_node_with_its_update() {
    let (events, _) = collect(StreamMode::Updates).await;
    let mut seen: Vec<(usize, String, bool)> = events
        .iter()
        .map(|e| match &e.data {
            EventData::Updates { step, node, update } => {
                (*step, node.to_string(), Talk::is_empty_update(update))
            }
            _ => panic!("only updates were asked for"),
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, "model".into(), false),
            (0, "quiet".into(), true),
            (1, "log".into(), false)
        ]
    );
    assert!(events.iter().all(|e| e.namespace.is_root()));
}

#[tokio::test]
async fn custom_and_message_events_reach_only_the_modes_that_asked() {
    let (events, _) = collect(StreamMode::Custom | StreamMode::Messages).await;
    let mut tokens = String::new();
    let mut custom = Vec::new();
    for e in events {
        match e.data {
            EventData::Message { node, chunk } => {
                assert_eq!(&*node, "model");
                assert_eq!(chunk.message_id.as_deref(), Some("m1"));
                tokens.push_str(&chunk.content);
            }
            EventData::Custom { value, .. } => custom.push(value),
            _ => panic!("unexpected event"),
        }
    }
    assert_eq!(tokens, "Hello");
    assert_eq!(custom, [serde_json::json!({ "progress": 1.0 })]);

    let (events, _) = collect(StreamMode::Updates).await;
    assert!(events.iter().all(|e| matches!(e.data, EventData::Updates { .. })));
}

#[tokio::test]
async fn tasks_mode_pairs_starts_and_ends_with_timing() {
    let (events, _) = collect([StreamMode::Tasks]).await;
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::TaskStart { task_id, .. } => Some(*task_id),
            _ => None,
        })
        .collect();
    let ends: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::TaskEnd {
                task_id,
                error,
                elapsed,
                ..
            } => {
                assert!(error.is_none());
                assert!(*elapsed < Duration::from_secs(5));
                Some(*task_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 3);
    let mut s = starts.clone();
    let mut e = ends.clone();
    s.sort();
    e.sort();
    assert_eq!(s, e);
    // Debug includes the task events.
    let (debug, _) = collect(StreamMode::Debug).await;
    assert_eq!(debug.len(), 6);
}

#[tokio::test]
async fn a_failed_run_ends_its_stream_with_the_error() {
    let mut g = StateGraph::<Talk>::new();
    g.add_node("ok", |_, _| async { Ok(TalkUpdate::default().tokens(1)) });
    g.add_node("bad", |_, _| async { Err::<(), _>(NodeError::terminal("nope")) });
    g.add_edge(START, "ok");
    g.add_edge("ok", "bad");
    let mut stream = g.compile().unwrap().stream(
        TalkUpdate::default(),
        RunConfig::new(),
        StreamMode::Updates | StreamMode::Tasks,
    );
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    let last = items.pop().unwrap();
    assert!(matches!(last, Err(GraphError::Node { ref node, step: 1, .. }) if node == "bad"));
    let failed_end = items.iter().any(|i| {
        matches!(&i.as_ref().unwrap().data, EventData::TaskEnd { node, error: Some(e), .. } if &**node == "bad" && e.contains("nope"))
    });
    assert!(failed_end, "the failed task's end event carries the error");
    assert!(items.iter().all(Result::is_ok));
    assert!(stream.output().is_none());
}

/// LangGraph's debug mode: task events and one event per checkpoint the run writes.
#[tokio::test]
async fn debug_mode_reports_each_checkpoint_the_run_writes() {
    let g = graph().with_checkpointer(agentflow_core::checkpoint::InMemorySaver::new());
    let config = RunConfig::new()
        .thread_id("t")
        .durability(agentflow_core::Durability::Sync);
    let mut stream = g.stream(TalkUpdate::default(), config, StreamMode::Debug);
    let mut checkpoints = Vec::new();
    let mut tasks = 0;
    while let Some(event) = stream.next().await {
        match event.unwrap().data {
            EventData::Checkpoint {
                checkpoint,
                step,
                next,
            } => {
                let next: Vec<String> = next.iter().map(|n| n.to_string()).collect();
                checkpoints.push((checkpoint, step, next));
            }
            EventData::TaskStart { .. } | EventData::TaskEnd { .. } => tasks += 1,
            _ => panic!("debug streams tasks and checkpoints only"),
        }
    }
    assert_eq!(tasks, 6, "three tasks, started and ended");
    let steps: Vec<i64> = checkpoints.iter().map(|c| c.1).collect();
    assert_eq!(steps, [-1, 0, 1, 2]);
    let next: Vec<&[String]> = checkpoints.iter().map(|c| &c.2[..]).collect();
    assert_eq!(
        next,
        [
            &[][..],
            &["model".to_owned(), "quiet".to_owned()][..],
            &["log".to_owned()][..],
            &[][..]
        ]
    );
    let mut saved: Vec<_> = g
        .checkpoints("t", &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.config)
        .collect();
    saved.reverse();
    let streamed: Vec<_> = checkpoints.into_iter().map(|c| c.0).collect();
    assert_eq!(streamed, saved, "every saved checkpoint, in order, and no other");
}
