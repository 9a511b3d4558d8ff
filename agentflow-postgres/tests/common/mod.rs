//! What several test binaries share.

use agentflow_core::{END, Node, START, State, StateGraph};

/// A graph of one node, `tick`, that runs again until `done` holds for the state.
pub fn tick_until<S: State>(
    node: impl Node<S, ()>,
    done: impl Fn(&S) -> bool + Send + Sync + 'static,
) -> StateGraph<S> {
    let mut g = StateGraph::<S>::new();
    g.add_node_impl("tick", node);
    g.add_edge(START, "tick");
    g.add_conditional_edges(
        "tick",
        move |s: &S| if done(s) { END } else { "tick" },
        ["tick", END],
    );
    g
}
