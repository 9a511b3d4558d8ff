//! Apply: the barrier. Merge the superstep's writes in task order and collect what the next
//! superstep triggers.

use std::sync::Arc;

use crate::END;
use crate::checkpoint::channels;
use crate::compiled::GraphCore;
use crate::control::Route;
use crate::error::GraphError;
use crate::state::{Applied, State};

use super::{Run, TaskOutput, Triggers};

impl<S: State, C> Run<S, C> {
    /// Merges `outputs` (one per task of nodes `ran`, in task order, then a resume command's,
    /// if any) into the state, sets the next superstep's triggers and returns the fields that
    /// changed. The caller drops the step's tasks first: they hold the snapshot, and while
    /// anything does, merging has to copy the whole state.
    pub(crate) fn apply(
        &mut self,
        ran: &[usize],
        outputs: Vec<TaskOutput<S>>,
    ) -> Result<Applied, GraphError> {
        let graph = self.graph.clone();
        let mut triggers = Triggers::default();
        let mut writes = Vec::with_capacity(outputs.len() + 1);
        for (&node, output) in ran.iter().zip(outputs) {
            let node = &graph.nodes[node];
            triggers.nodes.extend_from_slice(&node.out.next);
            for &(join, bit) in &node.joins {
                let seen = &mut self.join_seen[join];
                *seen |= bit;
                if *seen == graph.joins[join].all {
                    *seen = 0;
                    triggers.nodes.push(graph.joins[join].target);
                }
            }
            route_into(&graph, output.routes, &mut triggers);
            if !S::is_empty_update(&output.update) {
                writes.push((&*node.name, output.update));
            }
        }
        if let Some(extra) = self.extra.take() {
            route_into(&graph, extra.routes, &mut triggers);
            if !S::is_empty_update(&extra.update) {
                writes.push((channels::COMMAND_WRITER, extra.update));
            }
        }
        let mut applied = Applied::default();
        if !writes.is_empty() {
            applied = Arc::make_mut(&mut self.state)
                .apply_tracked(writes)
                .map_err(|source| GraphError::InvalidUpdate {
                    step: self.step,
                    source,
                })?;
            if !applied.changed.is_empty() {
                self.emit_values();
            }
        }
        self.triggers = triggers;
        Ok(applied)
    }
}

/// Checks that every route of `node` is among `declared`.
pub(crate) fn check_routes(
    node: &str,
    declared: &[Arc<str>],
    routes: &[Route],
    step: usize,
) -> Result<(), GraphError> {
    for route in routes {
        let target = route.target();
        let send_to_end = matches!(route, Route::Send(_)) && target == END;
        if send_to_end || !declared.iter().any(|d| &**d == target) {
            return Err(GraphError::UndeclaredRoute {
                node: node.to_owned(),
                target: target.to_owned(),
                step,
                declared: declared.iter().map(|d| d.to_string()).collect(),
            });
        }
    }
    Ok(())
}

/// Adds checked routes to the next superstep's triggers (`END` ends the branch).
pub(crate) fn route_into<S: State, C>(graph: &GraphCore<S, C>, routes: Vec<Route>, triggers: &mut Triggers) {
    for route in routes {
        match route {
            Route::To(name) => {
                if let Some(&id) = graph.by_name.get(&name) {
                    triggers.nodes.push(id);
                }
            }
            Route::Send(send) => {
                if let Some(&id) = graph.by_name.get(&send.node) {
                    triggers.sends.push((id, send));
                }
            }
        }
    }
}
