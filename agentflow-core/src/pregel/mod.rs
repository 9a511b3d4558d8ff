//! The superstep (BSP) loop, in three separately testable pieces:
//!
//! 1. [`plan`]: which tasks run in the next superstep (triggered nodes by name, then `Send`s
//!    in order), each with a deterministic id;
//! 2. [`execute`]: run them concurrently against the step's snapshot, with retries, timeouts
//!    and sibling cancellation;
//! 3. [`apply`]: at the barrier, merge their writes in task order (never completion order) and
//!    work out what the next superstep triggers.
//!
//! Persistence and interrupts hook in between these pieces, not inside them.

mod apply;
mod execute;
mod plan;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::compiled::{GraphCore, RunOutput};
use crate::control::Send;
use crate::error::GraphError;
use crate::ids::Namespace;
use crate::state::State;
use crate::stream::{EventSink, RawData, StreamMode};

pub(crate) use execute::TaskOutput;
pub(crate) use plan::Task;

/// Limits that apply to a run and to the subgraphs it runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) recursion_limit: usize,
    pub(crate) max_concurrency: Option<usize>,
}

/// Everything a run shares with its tasks and subgraphs.
pub(crate) struct RunEnv<C> {
    pub(crate) run_id: uuid::Uuid,
    pub(crate) thread_id: Option<Arc<str>>,
    pub(crate) runtime: Arc<C>,
    pub(crate) sink: EventSink,
    pub(crate) cancel: CancellationToken,
    pub(crate) limits: Limits,
}

impl<C> RunEnv<C> {
    pub(crate) fn namespace(&self) -> &Namespace {
        self.sink.namespace()
    }
}

/// What the next superstep will run: nodes triggered by edges, and `Send`s.
#[derive(Default)]
pub(crate) struct Triggers {
    /// Node ids, possibly repeated and unsorted; `plan` dedups and sorts.
    pub(crate) nodes: Vec<usize>,
    /// (target node id, send), in the order they were issued.
    pub(crate) sends: Vec<(usize, Send)>,
}

impl Triggers {
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.sends.is_empty()
    }
}

/// One run of a graph: its state between supersteps.
pub(crate) struct Run<S: State, C> {
    pub(crate) graph: Arc<GraphCore<S, C>>,
    pub(crate) env: RunEnv<C>,
    pub(crate) state: Arc<S>,
    pub(crate) step: usize,
    pub(crate) triggers: Triggers,
    /// Per join: which sources have run since its target last ran.
    pub(crate) join_seen: Vec<u128>,
}

impl<S: State, C: std::marker::Send + Sync + 'static> Run<S, C> {
    /// A run that starts from the default state merged with `input`; START's edges give the
    /// first superstep.
    pub(crate) fn new(
        graph: Arc<GraphCore<S, C>>,
        env: RunEnv<C>,
        input: S::Update,
    ) -> Result<Self, GraphError> {
        let mut state = S::default();
        state
            .apply_updates([(crate::START, input)])
            .map_err(|source| GraphError::InvalidUpdate { step: 0, source })?;
        let state = Arc::new(state);
        let mut triggers = Triggers::default();
        triggers.nodes.extend_from_slice(&graph.start.next);
        for branch in &graph.start.branches {
            let routes = (branch.router)(&state);
            apply::check_routes(crate::START, &branch.targets, &routes, 0)?;
            apply::route_into(&graph, routes, &mut triggers);
        }
        let join_seen = vec![0; graph.joins.len()];
        Ok(Run {
            graph,
            env,
            state,
            step: 0,
            triggers,
            join_seen,
        })
    }

    /// Runs supersteps until no task is left.
    pub(crate) async fn run_to_end(mut self) -> Result<RunOutput<S>, GraphError> {
        while !self.triggers.is_empty() {
            if self.env.cancel.is_cancelled() {
                return Err(GraphError::Cancelled);
            }
            if self.step >= self.env.limits.recursion_limit {
                return Err(GraphError::RecursionLimit {
                    limit: self.env.limits.recursion_limit,
                });
            }
            let tasks = self.plan();
            let outputs = self.execute(&tasks).await?;
            self.apply(&tasks, outputs)?;
            self.step += 1;
        }
        let steps = self.step;
        let run_id = self.env.run_id;
        // Free the graph's hold on the state so that it can be moved out without a copy.
        drop(self.triggers);
        Ok(RunOutput {
            state: Arc::unwrap_or_clone(self.state),
            steps,
            run_id,
        })
    }
}

impl<S: State, C> Run<S, C> {
    pub(crate) fn emit_values(&self) {
        if self.env.sink.wants(StreamMode::Values) {
            self.env.sink.emit(RawData::Values {
                step: self.step,
                state: self.state.clone(),
            });
        }
    }
}
