//! The superstep (BSP) loop, in three separately testable pieces:
//!
//! 1. [`plan`]: which tasks run in the next superstep (triggered nodes by name, then `Send`s
//!    in order), each with a deterministic id;
//! 2. [`execute`]: run them concurrently against the step's snapshot, with retries, timeouts
//!    and sibling cancellation;
//! 3. [`apply`]: at the barrier, merge their writes in task order (never completion order) and
//!    work out what the next superstep triggers.
//!
//! Persistence ([`persist`]) and interrupts hook in between these pieces, not inside them.

mod apply;
mod execute;
mod persist;
mod plan;
mod start;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::checkpoint::{CheckpointRef, Codec, channels};
use crate::compiled::{GraphCore, RunOutput};
use crate::control::{self, Interrupt, InterruptKind};
use crate::error::GraphError;
use crate::ids::Namespace;
use crate::state::State;
use crate::stream::{EventSink, RawData, StreamMode};

pub(crate) use apply::{check_routes, route_into};
pub(crate) use execute::{TaskOutcome, TaskOutput};
pub(crate) use persist::{
    CheckpointId, Durable, DurableTarget, JournalSink, Persister, Restored, SavedTask, Snapshot,
    restore as restore_tuple, stored_lineage,
};
pub(crate) use plan::Task;
pub(crate) use start::DurableStart;

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
    pub(crate) codec: Arc<dyn Codec>,
    /// The long-term store nodes reach through `Context::store`.
    pub(crate) store: Option<Arc<dyn crate::store::Store>>,
    pub(crate) interrupt_before: Arc<[Arc<str>]>,
    pub(crate) interrupt_after: Arc<[Arc<str>]>,
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
    pub(crate) sends: Vec<(usize, control::Send)>,
}

impl Triggers {
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.sends.is_empty()
    }
}

/// Why the loop stopped without an error.
enum Stop<S> {
    Done,
    /// Paused; the state to report (with the writes of tasks that finished).
    Paused(Vec<Interrupt>, Option<S>),
}

/// One run of a graph: its state between supersteps.
pub(crate) struct Run<S: State, C> {
    pub(crate) graph: Arc<GraphCore<S, C>>,
    pub(crate) env: RunEnv<C>,
    pub(crate) state: Arc<S>,
    pub(crate) step: usize,
    pub(crate) start_step: usize,
    pub(crate) triggers: Triggers,
    /// Per join: which sources have run since its target last ran.
    pub(crate) join_seen: Vec<u128>,
    pub(crate) durable: Option<Durable>,
    /// Writes merged after the tasks' at the next barrier (a resume command's update and goto).
    pub(crate) extra: Option<TaskOutput<S>>,
    /// The writes of a step's only task, saved with the next checkpoint in one commit.
    pub(crate) deferred: Vec<crate::checkpoint::PendingWrite>,
}

impl<S: State, C: Send + Sync + 'static> Run<S, C> {
    /// A run without persistence that starts from the default state merged with `input`.
    pub(crate) fn new(
        graph: Arc<GraphCore<S, C>>,
        env: RunEnv<C>,
        input: S::Update,
    ) -> Result<Self, GraphError> {
        let mut run = Run {
            join_seen: vec![0; graph.joins.len()],
            graph,
            env,
            state: Arc::new(S::default()),
            step: 0,
            start_step: 0,
            triggers: Triggers::default(),
            durable: None,
            extra: None,
            deferred: Vec::new(),
        };
        run.apply_input(input)?;
        Ok(run)
    }

    /// Merges a run's input into the state and triggers START's edges.
    pub(crate) fn apply_input(&mut self, input: S::Update) -> Result<crate::state::Applied, GraphError> {
        let applied = Arc::make_mut(&mut self.state)
            .apply_tracked([(crate::START, input)])
            .map_err(|source| GraphError::InvalidUpdate {
                step: self.step,
                source,
            })?;
        self.triggers = Triggers::default();
        self.triggers.nodes.extend_from_slice(&self.graph.start.next);
        for branch in &self.graph.start.branches {
            let routes = (branch.router)(&self.state);
            apply::check_routes(crate::START, &branch.targets, &routes, self.step)?;
            apply::route_into(&self.graph, routes, &mut self.triggers);
        }
        Ok(applied)
    }

    /// Runs supersteps until no task is left or the run pauses, then makes the end durable.
    pub(crate) async fn run_to_end(mut self) -> Result<RunOutput<S>, GraphError> {
        let stopped = self.run_loop().await;
        let flushed = self.flush().await;
        let stop = stopped?;
        flushed?;
        let checkpoint = self
            .durable
            .as_ref()
            .map(|d| crate::checkpoint::CheckpointRef::clone(&d.current()));
        let (interrupts, shown) = match stop {
            Stop::Done => (Vec::new(), None),
            Stop::Paused(interrupts, shown) => (interrupts, shown),
        };
        let steps = self.step - self.start_step;
        let run_id = self.env.run_id;
        let state = match shown {
            Some(state) => state,
            None => {
                drop(self.triggers);
                Arc::unwrap_or_clone(self.state)
            }
        };
        Ok(RunOutput {
            state,
            steps,
            run_id,
            interrupts,
            checkpoint,
        })
    }

    async fn run_loop(&mut self) -> Result<Stop<S>, GraphError> {
        loop {
            if self.triggers.is_empty() && self.extra.is_none() {
                return Ok(Stop::Done);
            }
            if self.env.cancel.is_cancelled() {
                return Err(GraphError::Cancelled);
            }
            if self.step - self.start_step >= self.env.limits.recursion_limit {
                return Err(GraphError::RecursionLimit {
                    limit: self.env.limits.recursion_limit,
                });
            }
            let tasks = self.plan();
            if let Some(paused) = self.pause_before(&tasks).await? {
                return Ok(Stop::Paused(paused, None));
            }
            let outcomes = self.execute(&tasks).await?;
            let mut interrupts = Vec::new();
            let mut outputs = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                match outcome {
                    TaskOutcome::Done(output) => outputs.push(Some(output)),
                    TaskOutcome::Interrupted(interrupt) => {
                        interrupts.push(interrupt);
                        outputs.push(None);
                    }
                }
            }
            if !interrupts.is_empty() {
                // Show the writes of the tasks that finished; the checkpoint keeps them as
                // pending writes, so the resumed step re-uses them.
                let mut shown = S::clone(&self.state);
                let writes = tasks
                    .iter()
                    .zip(outputs)
                    .filter_map(|(t, o)| o.map(|o| (&*self.graph.nodes[t.node].name, o.update)));
                shown
                    .apply_updates(writes)
                    .map_err(|source| GraphError::InvalidUpdate {
                        step: self.step,
                        source,
                    })?;
                return Ok(Stop::Paused(interrupts, Some(shown)));
            }
            let ran: Vec<usize> = tasks.iter().map(|t| t.node).collect();
            drop(tasks);
            let outputs = outputs.into_iter().flatten().collect();
            let applied = self.apply(&ran, outputs)?;
            self.step += 1;
            if self.durable.is_some() {
                self.commit_step(applied, &ran).await?;
                if let Some(paused) = self.pause_after(&ran) {
                    return Ok(Stop::Paused(paused, None));
                }
            }
        }
    }

    /// After a step: a new checkpoint, put now (sync), queued (async) or kept for the end (exit).
    async fn commit_step(&mut self, applied: crate::state::Applied, ran: &[usize]) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(());
        };
        d.record_seen::<S>(ran.iter().map(|&n| &self.graph.nodes[n].name));
        d.advance(crate::checkpoint::CheckpointSource::Loop, &applied);
        if d.persister().durability != crate::config::Durability::Exit {
            self.put_current().await?;
        }
        Ok(())
    }

    /// Static breakpoint before nodes; not again when resuming from that very pause.
    async fn pause_before(&mut self, tasks: &[Task<S>]) -> Result<Option<Vec<Interrupt>>, GraphError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(None);
        };
        if d.take_skip_before() || self.env.interrupt_before.is_empty() {
            return Ok(None);
        }
        let interrupts: Vec<Interrupt> = tasks
            .iter()
            .filter(|t| {
                self.env
                    .interrupt_before
                    .iter()
                    .any(|n| *n == self.graph.nodes[t.node].name)
            })
            .map(|t| static_interrupt(&self.graph.nodes[t.node].name, t, InterruptKind::Before))
            .collect();
        if interrupts.is_empty() {
            return Ok(None);
        }
        let marker = crate::checkpoint::PendingWrite {
            task_id: channels::INTERRUPT_BEFORE_TASK.into(),
            task_path: crate::START.into(),
            channel: channels::INTERRUPT.into(),
            idx: channels::INTERRUPT_IDX,
            value: d.codec().to_bytes(&interrupts)?,
        };
        let (persister, target) = (d.persister().clone(), d.current());
        persister.save_writes(&target, vec![marker]).await?;
        Ok(Some(interrupts))
    }

    /// Static breakpoint after nodes (checked once the step's checkpoint exists).
    fn pause_after(&self, ran: &[usize]) -> Option<Vec<Interrupt>> {
        if self.env.interrupt_after.is_empty() {
            return None;
        }
        let mut names: Vec<&Arc<str>> = ran
            .iter()
            .map(|&n| &self.graph.nodes[n].name)
            .filter(|name| self.env.interrupt_after.contains(name))
            .collect();
        names.dedup();
        if names.is_empty() {
            return None;
        }
        let checkpoint = self
            .durable
            .as_ref()
            .map(|d| d.checkpoint_id().to_owned())
            .unwrap_or_default();
        Some(
            names
                .into_iter()
                .map(|name| Interrupt {
                    id: format!("after:{name}:{checkpoint}"),
                    node: name.to_string(),
                    task_id: String::new(),
                    value: serde_json::Value::Null,
                    kind: InterruptKind::After,
                })
                .collect(),
        )
    }
}

fn static_interrupt<S>(node: &str, task: &Task<S>, kind: InterruptKind) -> Interrupt {
    Interrupt {
        id: crate::context::interrupt_id(task.id, usize::MAX),
        node: node.to_owned(),
        task_id: task.id.to_string(),
        value: serde_json::Value::Null,
        kind,
    }
}

impl<S: State, C> Run<S, C> {
    /// The debug event of the checkpoint just written: where it is, and what runs next from it.
    pub(crate) fn emit_checkpoint(&self) {
        let Some(d) = self.durable.as_ref() else { return };
        if !self.env.sink.wants(StreamMode::Debug) {
            return;
        }
        let mut next: Vec<Arc<str>> = (self.triggers.nodes.iter())
            .chain(self.triggers.sends.iter().map(|(n, _)| n))
            .map(|&n| self.graph.nodes[n].name.clone())
            .collect();
        next.sort_unstable();
        next.dedup();
        self.env.sink.emit(RawData::Checkpoint {
            checkpoint: CheckpointRef::clone(&d.current()),
            step: d.step(),
            next,
        });
    }

    pub(crate) fn emit_values(&self) {
        if self.env.sink.wants(StreamMode::Values) {
            self.env.sink.emit(RawData::Values {
                step: self.step,
                state: self.state.clone(),
            });
        }
    }
}
