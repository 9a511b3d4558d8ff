//! Pictures of a graph: Mermaid (as LangGraph draws it) and Graphviz DOT.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::graph::StateGraph;
use crate::state::State;
use crate::{END, START};

/// The drawable shape of a graph, in declaration order.
pub(crate) struct Drawing {
    nodes: Vec<Arc<str>>,
    edges: Vec<DrawEdge>,
}

struct DrawEdge {
    from: Arc<str>,
    to: Arc<str>,
    conditional: bool,
}

impl Drawing {
    pub(crate) fn from_builder<S: State, C>(graph: &StateGraph<S, C>) -> Self {
        let mut edges = Vec::new();
        let mut push = |from: &Arc<str>, to: &Arc<str>, conditional: bool| {
            let duplicate = edges
                .iter()
                .any(|e: &DrawEdge| e.from == *from && e.to == *to && e.conditional == conditional);
            if !duplicate {
                edges.push(DrawEdge {
                    from: from.clone(),
                    to: to.clone(),
                    conditional,
                });
            }
        };
        for (from, to) in &graph.edges {
            push(from, to, false);
        }
        for (sources, to) in &graph.joins {
            for from in sources {
                push(from, to, false);
            }
        }
        for branch in &graph.branches {
            for to in &branch.targets {
                push(&branch.source, to, true);
            }
        }
        for spec in &graph.nodes {
            for to in &spec.destinations {
                push(&spec.name, to, true);
            }
        }
        // Edges leave START first, then nodes in the order they were added.
        let rank = |name: &str| {
            if name == START {
                0
            } else {
                1 + graph
                    .nodes
                    .iter()
                    .position(|n| &*n.name == name)
                    .unwrap_or(graph.nodes.len())
            }
        };
        edges.sort_by_key(|e| rank(&e.from));
        Drawing {
            nodes: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            edges,
        }
    }

    pub(crate) fn mermaid(&self) -> String {
        // The same front matter and layout as LangGraph's `draw_mermaid`, byte for byte.
        let mut out = String::from("---\nconfig:\n  flowchart:\n    curve: linear\n---\ngraph TD;\n");
        let _ = writeln!(out, "\t{START}([<p>{START}</p>]):::first");
        for node in &self.nodes {
            let _ = writeln!(out, "\t{node}({node})");
        }
        let _ = writeln!(out, "\t{END}([<p>{END}</p>]):::last");
        for edge in &self.edges {
            let arrow = if edge.conditional { "-.->" } else { "-->" };
            let _ = writeln!(out, "\t{} {arrow} {};", edge.from, edge.to);
        }
        out.push_str("\tclassDef default fill:#f2f0ff,line-height:1.2\n");
        out.push_str("\tclassDef first fill-opacity:0\n");
        out.push_str("\tclassDef last fill:#bfb6fc\n");
        out
    }

    pub(crate) fn dot(&self) -> String {
        let mut out = String::from("digraph {\n");
        let _ = writeln!(out, "\t\"{START}\" [shape=oval];");
        for node in &self.nodes {
            let _ = writeln!(out, "\t\"{}\" [shape=box];", escape(node));
        }
        let _ = writeln!(out, "\t\"{END}\" [shape=oval];");
        for edge in &self.edges {
            let style = if edge.conditional { " [style=dashed]" } else { "" };
            let _ = writeln!(
                out,
                "\t\"{}\" -> \"{}\"{style};",
                escape(&edge.from),
                escape(&edge.to)
            );
        }
        out.push_str("}\n");
        out
    }
}

fn escape(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"")
}
