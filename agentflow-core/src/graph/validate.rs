//! Compile-time validation of a [`StateGraph`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use super::StateGraph;
use crate::control::is_reserved;
use crate::error::BuildError;
use crate::state::State;
use crate::{END, START};

/// Checks the graph: malformed graphs are refused; what LangGraph accepts but is likely a
/// mistake (a node no edge reaches, a loop with no way to END) is returned as warnings.
pub(super) fn validate<S: State, C>(graph: &StateGraph<S, C>) -> Result<Vec<BuildError>, BuildError> {
    let mut seen = HashSet::new();
    for spec in &graph.nodes {
        if is_reserved(&spec.name) {
            return Err(BuildError::ReservedName(spec.name.to_string()));
        }
        if !seen.insert(spec.name.clone()) {
            return Err(BuildError::DuplicateNode(spec.name.to_string()));
        }
    }
    let takes_state: HashMap<&str, bool> = graph
        .nodes
        .iter()
        .map(|n| (&*n.name, n.node.takes_state()))
        .collect();
    let known = |context: &dyn Fn() -> String, name: &str, allow: &str| {
        if name == allow || takes_state.contains_key(name) {
            Ok(())
        } else {
            Err(BuildError::UnknownNode {
                context: context(),
                name: name.to_owned(),
            })
        }
    };
    let state_target = |from: &str, to: &str| match takes_state.get(to) {
        Some(false) => Err(BuildError::SendOnlyTarget {
            node: to.to_owned(),
            from: from.to_owned(),
        }),
        _ => Ok(()),
    };

    for (from, to) in &graph.edges {
        if &**from == END || &**to == START {
            return Err(BuildError::InvalidEdge {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let ctx = || format!("the edge `{from}` -> `{to}`");
        known(&ctx, from, START)?;
        known(&ctx, to, END)?;
        state_target(from, to)?;
    }
    for (sources, to) in &graph.joins {
        if sources.len() > 128 {
            return Err(BuildError::TooManyJoinSources {
                node: to.to_string(),
                sources: sources.len(),
            });
        }
        let ctx = || format!("the join {sources:?} -> `{to}`");
        for from in sources {
            if is_reserved(from) {
                return Err(BuildError::InvalidEdge {
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
            known(&ctx, from, "")?;
            state_target(from, to)?;
        }
        if &**to == START {
            return Err(BuildError::InvalidEdge {
                from: sources.join("+"),
                to: to.to_string(),
            });
        }
        known(&ctx, to, END)?;
    }
    for branch in &graph.branches {
        if branch.targets.is_empty() {
            return Err(BuildError::NoRouterTargets(branch.source.to_string()));
        }
        let ctx = || format!("the conditional edge from `{}`", branch.source);
        known(&ctx, &branch.source, START)?;
        for target in &branch.targets {
            known(&ctx, target, END)?;
        }
    }
    for spec in &graph.nodes {
        let ctx = || format!("the destinations of `{}`", spec.name);
        for target in &spec.destinations {
            known(&ctx, target, END)?;
        }
    }

    check_reachability(graph)
}

/// Unreachable nodes and nodes with no way to END, on the graph of every declared edge: the
/// warnings. A graph with no entry edge is refused.
fn check_reachability<S: State, C>(graph: &StateGraph<S, C>) -> Result<Vec<BuildError>, BuildError> {
    let mut g: DiGraph<Arc<str>, ()> = DiGraph::new();
    let mut index: HashMap<Arc<str>, NodeIndex> = HashMap::new();
    for name in [START, END]
        .into_iter()
        .map(Arc::<str>::from)
        .chain(graph.nodes.iter().map(|n| n.name.clone()))
    {
        index.insert(name.clone(), g.add_node(name));
    }
    let link = |g: &mut DiGraph<Arc<str>, ()>, from: &Arc<str>, to: &Arc<str>| {
        if let (Some(a), Some(b)) = (index.get(from), index.get(to)) {
            g.add_edge(*a, *b, ());
        }
    };
    for (from, to) in &graph.edges {
        link(&mut g, from, to);
    }
    for (sources, to) in &graph.joins {
        for from in sources {
            link(&mut g, from, to);
        }
    }
    for branch in &graph.branches {
        for to in &branch.targets {
            link(&mut g, &branch.source, to);
        }
    }
    for spec in &graph.nodes {
        for to in &spec.destinations {
            link(&mut g, &spec.name, to);
        }
    }
    // A node with no way out ends its branch: the run ends when no task is left.
    let end: Arc<str> = END.into();
    let leaves: Vec<Arc<str>> = graph
        .nodes
        .iter()
        .filter(|n| {
            let i = index[&n.name];
            g.neighbors(i).next().is_none()
        })
        .map(|n| n.name.clone())
        .collect();
    for leaf in &leaves {
        link(&mut g, leaf, &end);
    }

    let start = index[START];
    if g.neighbors(start).next().is_none() {
        return Err(BuildError::NoEntry);
    }
    let mut reachable = HashSet::new();
    let mut dfs = Dfs::new(&g, start);
    while let Some(i) = dfs.next(&g) {
        reachable.insert(i);
    }
    let unreachable: Vec<String> = graph
        .nodes
        .iter()
        .filter(|n| !reachable.contains(&index[&n.name]))
        .map(|n| n.name.to_string())
        .collect();
    let mut warnings = Vec::new();
    if !unreachable.is_empty() {
        warnings.push(BuildError::Unreachable(unreachable));
    }

    let reversed = Reversed(&g);
    let mut reaches_end = HashSet::new();
    let mut dfs = Dfs::new(reversed, index[END]);
    while let Some(i) = dfs.next(reversed) {
        reaches_end.insert(i);
    }
    let stuck: Vec<String> = graph
        .nodes
        .iter()
        .filter(|n| reachable.contains(&index[&n.name]) && !reaches_end.contains(&index[&n.name]))
        .map(|n| n.name.to_string())
        .collect();
    if !stuck.is_empty() {
        warnings.push(BuildError::NoPathToEnd(stuck));
    }
    Ok(warnings)
}
