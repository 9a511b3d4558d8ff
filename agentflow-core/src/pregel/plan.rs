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
    /// The base of this step's task ids: the checkpoint's lineage when the run is durable (so
    /// that a resumed run finds the same ids, in every durability mode), else the run id.
    fn id_base(&self) -> u128 {
        self.durable
            .as_ref()
            .map_or(self.env.run_id.as_u128(), |d| d.lineage())
    }

    /// The tasks of the current superstep, in barrier order: triggered nodes by name (node ids
    /// are name-sorted), then `Send`s in the order they were issued. The triggers stay in place
    /// (a checkpoint of this step records them) until the barrier replaces them.
    pub(crate) fn plan(&mut self) -> Vec<Task<S>> {
        let nodes = &mut self.triggers.nodes;
        nodes.sort_unstable();
        nodes.dedup();
        let base = self.id_base();
        let ns = self.env.namespace();
        let mut tasks = Vec::with_capacity(self.triggers.nodes.len() + self.triggers.sends.len());
        for &node in &self.triggers.nodes {
            let name = &self.graph.nodes[node].name;
            tasks.push(Task {
                node,
                input: TaskInput::State(self.state.clone()),
                id: task_id(base, ns, self.step, name, TaskOrigin::Pull),
            });
        }
        for (index, (node, send)) in self.triggers.sends.iter().enumerate() {
            let name = &self.graph.nodes[*node].name;
            tasks.push(Task {
                node: *node,
                input: TaskInput::Payload(send.clone()),
                id: task_id(base, ns, self.step, name, TaskOrigin::Push(index)),
            });
        }
        tasks
    }
}
