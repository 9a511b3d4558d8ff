//! Plan: turn the triggers left by the previous barrier into this superstep's tasks.

use crate::ids::{TaskId, TaskOrigin, task_id};
use crate::node::TaskInput;
use crate::state::State;

use super::Run;

/// One task of a superstep.
pub(crate) struct Task<S> {
    pub(crate) node: usize,
    pub(crate) input: TaskInput<S>,
    pub(crate) id: TaskId,
}

impl<S: State, C> Run<S, C> {
    /// The tasks of the current superstep, in barrier order: triggered nodes by name (node ids
    /// are name-sorted), then `Send`s in the order they were issued.
    pub(crate) fn plan(&mut self) -> Vec<Task<S>> {
        let mut nodes = std::mem::take(&mut self.triggers.nodes);
        let sends = std::mem::take(&mut self.triggers.sends);
        nodes.sort_unstable();
        nodes.dedup();
        let base = self.env.run_id.as_u128();
        let ns = self.env.namespace();
        let mut tasks = Vec::with_capacity(nodes.len() + sends.len());
        for node in nodes {
            let name = &self.graph.nodes[node].name;
            tasks.push(Task {
                node,
                input: TaskInput::State(self.state.clone()),
                id: task_id(base, ns, self.step, name, TaskOrigin::Pull),
            });
        }
        for (index, (node, send)) in sends.into_iter().enumerate() {
            let name = &self.graph.nodes[node].name;
            tasks.push(Task {
                node,
                input: TaskInput::Payload(send),
                id: task_id(base, ns, self.step, name, TaskOrigin::Push(index)),
            });
        }
        tasks
    }
}
