//! Compile-time validation and pictures.

use std::sync::Arc;

use agentflow_core::{
    BuildError, Command, Context, END, GraphError, NodeError, RunConfig, START, State, StateGraph,
};

#[derive(State, Clone, Default, serde::Serialize, serde::Deserialize)]
struct S {
    n: u32,
}

async fn noop(_: Arc<S>, _: Context) -> Result<(), NodeError> {
    Ok(())
}

async fn payload(_: u32, _: Context) -> Result<(), NodeError> {
    Ok(())
}

fn err(build: impl FnOnce(&mut StateGraph<S>)) -> BuildError {
    let mut g = StateGraph::<S>::new();
    build(&mut g);
    g.compile().expect_err("compile should fail")
}

/// What `compile` warns about and `compile_strict` refuses.
fn warned(build: impl Fn(&mut StateGraph<S>)) -> BuildError {
    let mut g = StateGraph::<S>::new();
    build(&mut g);
    let warnings = g.compile().expect("compile accepts it").warnings().to_vec();
    let mut g = StateGraph::<S>::new();
    build(&mut g);
    let refused = g.compile_strict().expect_err("compile_strict refuses it");
    assert_eq!(
        warnings,
        std::slice::from_ref(&refused),
        "the warning is what strict mode refuses"
    );
    refused
}

#[test]
fn duplicate_and_reserved_names() {
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_node("a", noop);
        g.add_edge(START, "a");
    });
    assert_eq!(e, BuildError::DuplicateNode("a".into()));
    let e = err(|g| {
        g.add_node(END, noop);
    });
    assert_eq!(e, BuildError::ReservedName(END.into()));
}

#[test]
fn unknown_names_in_edges_routers_and_destinations() {
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_edge(START, "a");
        g.add_edge("a", "b");
    });
    assert_eq!(
        e,
        BuildError::UnknownNode {
            context: "the edge `a` -> `b`".into(),
            name: "b".into()
        }
    );
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_edge(START, "a");
        g.add_conditional_edges("a", |_: &S| END, ["ghost", END]);
    });
    assert!(
        matches!(e, BuildError::UnknownNode { ref name, .. } if name == "ghost"),
        "{e}"
    );
    let e = err(|g| {
        g.add_node("a", noop).destinations(["nowhere"]);
        g.add_edge(START, "a");
    });
    assert!(e.to_string().contains("destinations of `a`"), "{e}");
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_edge(START, "a");
        g.add_edge(["a", "missing"], END);
    });
    assert!(matches!(e, BuildError::UnknownNode { ref name, .. } if name == "missing"));
}

#[test]
fn a_graph_needs_an_entry() {
    let e = err(|g| {
        g.add_node("a", noop);
    });
    assert_eq!(e, BuildError::NoEntry);
}

#[test]
fn unreachable_nodes_are_named() {
    let e = warned(|g| {
        g.add_node("a", noop);
        g.add_node("island", noop);
        g.add_edge(START, "a");
    });
    assert_eq!(e, BuildError::Unreachable(vec!["island".into()]));
}

#[test]
fn loops_without_an_exit_are_refused_in_strict_mode() {
    let e = warned(|g| {
        g.add_node("ping", noop);
        g.add_node("pong", noop);
        g.add_edge(START, "ping");
        g.add_edge("ping", "pong");
        g.add_edge("pong", "ping");
    });
    assert_eq!(e, BuildError::NoPathToEnd(vec!["ping".into(), "pong".into()]));
    let e = warned(|g| {
        g.add_node("tick", noop);
        g.add_edge(START, "tick");
        g.add_conditional_edges("tick", |_: &S| "tick", ["tick"]);
    });
    assert!(matches!(e, BuildError::NoPathToEnd(_)));
    // An exit through the router is enough.
    let mut g = StateGraph::<S>::new();
    g.add_node("tick", noop);
    g.add_edge(START, "tick");
    g.add_conditional_edges("tick", |_: &S| "tick", ["tick", END]);
    let g = g.compile_strict().unwrap();
    assert!(g.warnings().is_empty());
}

#[test]
fn send_only_nodes_cannot_be_edge_targets() {
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_send_node("worker", payload);
        g.add_edge(START, "a");
        g.add_edge("a", "worker");
    });
    assert_eq!(
        e,
        BuildError::SendOnlyTarget {
            node: "worker".into(),
            from: "a".into()
        }
    );
}

#[test]
fn joins_are_limited_to_128_sources() {
    let names: Vec<String> = (0..129).map(|i| format!("n{i}")).collect();
    let e = err(|g| {
        g.add_node("sink", noop);
        for n in &names {
            g.add_node(n.clone(), noop);
            g.add_edge(START, n.as_str());
        }
        g.add_edge(names.clone(), "sink");
    });
    assert_eq!(
        e,
        BuildError::TooManyJoinSources {
            node: "sink".into(),
            sources: 129
        }
    );
}

#[test]
fn edges_cannot_leave_end_or_enter_start() {
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_edge(START, "a");
        g.add_edge("a", START);
    });
    assert!(matches!(e, BuildError::InvalidEdge { .. }));
    let e = err(|g| {
        g.add_node("a", noop);
        g.add_edge(START, "a");
        g.add_conditional_edges("a", |_: &S| END, Vec::<&str>::new());
    });
    assert_eq!(e, BuildError::NoRouterTargets("a".into()));
}

/// LangGraph's probe graph (`reference/langgraph.md` §1.1): START→a, START→b, [a,b]→c, c→END.
#[test]
fn mermaid_matches_langgraph_for_the_probe_graph() {
    let mut g = StateGraph::<S>::new();
    g.add_node("a", noop);
    g.add_node("b", noop);
    g.add_node("c", noop);
    g.add_edge(START, "a");
    g.add_edge(START, "b");
    g.add_edge(["a", "b"], "c");
    g.add_edge("c", END);
    let g = g.compile().unwrap();
    // Printed by langgraph 1.2.22's draw_mermaid() for the same graph.
    let expected = "---
config:
  flowchart:
    curve: linear
---
graph TD;
\t__start__([<p>__start__</p>]):::first
\ta(a)
\tb(b)
\tc(c)
\t__end__([<p>__end__</p>]):::last
\t__start__ --> a;
\t__start__ --> b;
\ta --> c;
\tb --> c;
\tc --> __end__;
\tclassDef default fill:#f2f0ff,line-height:1.2
\tclassDef first fill-opacity:0
\tclassDef last fill:#bfb6fc
";
    assert_eq!(g.to_mermaid(), expected);
}

#[test]
fn conditional_edges_are_dotted_in_mermaid_and_dashed_in_dot() {
    let mut g = StateGraph::<S>::new();
    g.add_node("agent", noop);
    g.add_node("tools", noop);
    g.add_edge(START, "agent");
    g.add_conditional_edges("agent", |_: &S| END, ["tools", END]);
    g.add_edge("tools", "agent");
    let g = g.compile().unwrap();
    let mermaid = g.to_mermaid();
    assert!(
        mermaid.contains("\tagent -.-> tools;\n\tagent -.-> __end__;\n\ttools --> agent;\n"),
        "{mermaid}"
    );
    let dot = g.to_dot();
    assert!(dot.starts_with("digraph {\n"));
    assert!(dot.contains("\"agent\" -> \"tools\" [style=dashed];"), "{dot}");
    assert!(dot.contains("\"tools\" -> \"agent\";"), "{dot}");
    assert!(dot.contains("\"__start__\" -> \"agent\";"));
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Hops {
    #[state(append)]
    log: Vec<String>,
}

/// LangGraph's `Command(goto=...)` without declared destinations: the target has no edge in.
#[tokio::test]
async fn a_node_reached_only_through_goto_compiles_with_a_warning_and_runs() {
    let mut g = StateGraph::<Hops>::new();
    g.add_node("route", |_, _| async { Ok(Command::<Hops>::goto_only("hidden")) });
    g.add_node("hidden", |_, _| async {
        Ok(HopsUpdate::default().log(vec!["hidden".into()]))
    });
    g.add_edge(START, "route");
    let g = g.compile().unwrap();
    assert_eq!(g.warnings(), [BuildError::Unreachable(vec!["hidden".into()])]);
    let out = g.invoke(HopsUpdate::default(), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.log, ["hidden"]);

    // A goto to a node the graph does not have is still refused.
    let mut g = StateGraph::<Hops>::new();
    g.add_node("route", |_, _| async { Ok(Command::<Hops>::goto_only("ghost")) });
    g.add_edge(START, "route");
    let err = g
        .compile()
        .unwrap()
        .invoke(HopsUpdate::default(), RunConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::UndeclaredRoute { target, .. } if target == "ghost"),
        "{err}"
    );
}

/// LangGraph runs a loop whose router never returns END until the recursion limit stops it.
#[tokio::test]
async fn a_loop_with_no_exit_compiles_with_a_warning_and_stops_at_the_recursion_limit() {
    let mut g = StateGraph::<Hops>::new();
    g.add_node("tick", |_, _| async {
        Ok(HopsUpdate::default().log(vec!["tick".into()]))
    });
    g.add_edge(START, "tick");
    g.add_conditional_edges("tick", |_| "tick", ["tick"]);
    let g = g.compile().unwrap();
    assert_eq!(g.warnings(), [BuildError::NoPathToEnd(vec!["tick".into()])]);
    let err = g
        .invoke(HopsUpdate::default(), RunConfig::new().recursion_limit(5))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::RecursionLimit { limit: 5 }), "{err}");
}
