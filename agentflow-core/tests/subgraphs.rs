//! Subgraphs: a compiled graph as a node, with input/output mapping and namespaced events.

use std::sync::Arc;

use agentflow_core::{
    CompiledGraph, END, EventData, GraphError, NodeError, RunConfig, START, Send, State, StateGraph,
    StreamMode,
};
use futures::StreamExt;

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Parent {
    subjects: Vec<String>,
    #[state(append)]
    jokes: Vec<String>,
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Joke {
    subject: String,
    jokes: Vec<String>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct JokeInput {
    subject: String,
}

/// The fan-out-to-subgraph shape of BENCHMARKS.md, small: edit, generate, then bump until the
/// joke ends with " a" three times.
fn joke_graph() -> CompiledGraph<Joke> {
    let mut g = StateGraph::<Joke>::new();
    g.add_node("edit", |s, _| async move {
        Ok(JokeUpdate::default().subject(format!("{} - hohoho", s.subject)))
    });
    g.add_node("generate", |s, ctx| async move {
        ctx.writer()
            .custom(serde_json::json!({ "generating": s.subject }));
        Ok(JokeUpdate::default().jokes(vec![format!("Joke about {}", s.subject)]))
    });
    g.add_node("bump", |s, _| async move {
        Ok(JokeUpdate::default().jokes(vec![format!("{} a", s.jokes[0])]))
    });
    g.add_sequence([START, "edit", "generate", "bump"]);
    g.add_conditional_edges(
        "bump",
        |s: &Joke| {
            if s.jokes[0].ends_with(&" a".repeat(3)) {
                END
            } else {
                "bump"
            }
        },
        ["bump", END],
    );
    g.compile().unwrap()
}

fn fanout() -> CompiledGraph<Parent> {
    let mut g = StateGraph::<Parent>::new();
    g.add_send_node(
        "generate_joke",
        joke_graph().as_node(
            |input: JokeInput| JokeUpdate::default().subject(input.subject),
            |joke: Joke| ParentUpdate::default().jokes(joke.jokes),
        ),
    );
    g.add_conditional_edges(
        START,
        |s: &Parent| {
            s.subjects
                .iter()
                .map(|subject| {
                    Send::new(
                        "generate_joke",
                        JokeInput {
                            subject: subject.clone(),
                        },
                    )
                })
                .collect::<Vec<_>>()
        },
        ["generate_joke"],
    );
    g.add_edge("generate_joke", END);
    g.compile().unwrap()
}

#[tokio::test]
async fn fan_out_to_a_subgraph_maps_inputs_and_outputs() {
    let input = ParentUpdate::default().subjects(vec!["cats".into(), "dogs".into(), "owls".into()]);
    let out = fanout().invoke(input, RunConfig::new()).await.unwrap();
    assert_eq!(
        out.state.jokes,
        [
            "Joke about cats - hohoho a a a",
            "Joke about dogs - hohoho a a a",
            "Joke about owls - hohoho a a a"
        ]
    );
    assert_eq!(
        out.steps, 1,
        "the parent sees one superstep of parallel subgraph runs"
    );
}

#[tokio::test]
async fn subgraph_events_carry_their_namespace() {
    let input = ParentUpdate::default().subjects(vec!["cats".into(), "dogs".into()]);
    let modes = (StreamMode::Updates | StreamMode::Custom).with_subgraphs();
    let mut stream = fanout().stream(input.clone(), RunConfig::new(), modes);
    let mut root_updates = 0;
    let mut child_updates = std::collections::HashMap::<String, Vec<String>>::new();
    let mut custom_namespaces = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        match event.data {
            EventData::Updates { node, .. } => {
                assert!(event.namespace.is_root());
                assert_eq!(&*node, "generate_joke");
                root_updates += 1;
            }
            EventData::SubgraphUpdates { node, update, .. } => {
                assert!(
                    update.downcast_ref::<JokeUpdate>().is_some(),
                    "typed as the child's update"
                );
                child_updates
                    .entry(event.namespace.to_string())
                    .or_default()
                    .push(node.to_string());
            }
            EventData::Custom { .. } => custom_namespaces.push(event.namespace.to_string()),
            _ => {}
        }
    }
    assert_eq!(root_updates, 2);
    assert_eq!(child_updates.len(), 2, "one namespace per subgraph task");
    for (ns, nodes) in &child_updates {
        assert!(ns.starts_with("generate_joke:"), "{ns}");
        assert_eq!(nodes, &["edit", "generate", "bump", "bump", "bump"]);
        assert!(
            custom_namespaces.contains(ns),
            "custom events from inside carry the namespace"
        );
    }
}

#[tokio::test]
async fn a_subgraph_as_an_ordinary_node_reads_the_parent_state() {
    let mut g = StateGraph::<Parent>::new();
    g.add_node(
        "joke",
        joke_graph().as_node(
            |p: Arc<Parent>| JokeUpdate::default().subject(p.subjects.join(" and ")),
            |joke: Joke| ParentUpdate::default().jokes(joke.jokes),
        ),
    );
    g.add_edge(START, "joke");
    let out = g
        .compile()
        .unwrap()
        .invoke(
            ParentUpdate::default().subjects(vec!["a".into(), "b".into()]),
            RunConfig::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.state.jokes, ["Joke about a and b - hohoho a a a"]);
}

#[tokio::test]
async fn a_failing_subgraph_fails_the_parent_node_and_keeps_the_error_class() {
    let mut child = StateGraph::<Joke>::new();
    child.add_node("explode", |_, _| async {
        Err::<(), _>(NodeError::terminal("no jokes today"))
    });
    child.add_edge(START, "explode");
    let child = child.compile().unwrap();
    let mut g = StateGraph::<Parent>::new();
    g.add_node(
        "joke",
        child.as_node(
            |_: Arc<Parent>| JokeUpdate::default(),
            |_: Joke| ParentUpdate::default(),
        ),
    );
    g.add_edge(START, "joke");
    let err = g
        .compile()
        .unwrap()
        .invoke(ParentUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert_eq!(err.node(), Some("joke"));
    assert!(!err.is_retryable(), "the child's terminal error stays terminal");
    let inner = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<GraphError>())
        .unwrap();
    assert_eq!(inner.node(), Some("explode"));
    assert!(err.to_string().contains("no jokes today"));
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Review {
    #[state(append)]
    log: Vec<String>,
    #[state(add)]
    passes: u32,
    verdict: String,
}

/// LangGraph adds a compiled graph over the parent's own schema as a node, with no mappings.
#[tokio::test]
async fn a_subgraph_over_the_parents_state_needs_no_mappings() {
    let mut child = StateGraph::<Review>::new();
    child.add_node("check", |s, _| async move {
        Ok(ReviewUpdate::default()
            .log(vec![format!("check after {}", s.log.join("+"))])
            .passes(1)
            .verdict("ok".into()))
    });
    child.add_edge(START, "check");
    let child = child.compile().unwrap();

    let mut parent = StateGraph::<Review>::new();
    parent.add_node("draft", |_, _| async {
        Ok(ReviewUpdate::default().log(vec!["draft".into()]).passes(1))
    });
    parent.add_node("review", child.as_same_state_node());
    parent.add_sequence([START, "draft", "review", END]);
    let parent = parent
        .compile()
        .unwrap()
        .with_checkpointer(agentflow_core::checkpoint::InMemorySaver::new());
    let out = parent
        .invoke(ReviewUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(
        out.state.log,
        ["draft", "check after draft"],
        "the subgraph saw the parent's state; its list is not appended twice"
    );
    assert_eq!(out.state.passes, 2, "a counter is not added twice");
    assert_eq!(out.state.verdict, "ok");
    let saved = parent.get_state("t").await.unwrap().unwrap();
    assert_eq!(saved.values.log, out.state.log);
}
