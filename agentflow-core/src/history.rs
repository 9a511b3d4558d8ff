//! Time travel: read a thread's state and history, and write to it as if a node had.

use std::sync::Arc;

use crate::checkpoint::{
    CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer, ListOptions, channels,
};
use crate::compiled::CompiledGraph;
use crate::control::{Interrupt, InterruptKind};
use crate::error::GraphError;
use crate::ids::{Namespace, TaskId, TaskOrigin, task_id};
use crate::pregel::{Durable, DurableTarget, Persister, Restored, Snapshot, Triggers};
use crate::state::State;

/// A thread's state at one checkpoint (LangGraph's `StateSnapshot`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateSnapshot<S> {
    /// The state.
    pub values: S,
    /// The nodes the next superstep runs (empty when the thread is done).
    pub next: Vec<String>,
    /// The tasks of the next superstep, with what they left (interrupts, results).
    pub tasks: Vec<TaskSnapshot>,
    /// Interrupts waiting for a resume value.
    pub interrupts: Vec<Interrupt>,
    /// Where this checkpoint is.
    pub config: CheckpointRef,
    /// Its metadata (source, step, run id, user keys).
    pub metadata: CheckpointMetadata,
    /// The checkpoint it extends.
    pub parent: Option<CheckpointRef>,
    /// When it was written, in milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// A task planned at a checkpoint.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// The task's deterministic id.
    pub id: TaskId,
    /// Its node.
    pub node: String,
    /// True when it finished before the run stopped (its result is saved).
    pub finished: bool,
    /// Its pending interrupts.
    pub interrupts: Vec<Interrupt>,
}

impl<S: State, C: Send + Sync + 'static> CompiledGraph<S, C> {
    fn saver(&self) -> Result<&Arc<dyn Checkpointer>, GraphError> {
        self.settings.checkpointer.as_ref().ok_or_else(|| {
            GraphError::InvalidResume("time travel needs a checkpointer (with_checkpointer)".into())
        })
    }

    /// The state of a thread at its latest checkpoint, or at `target.checkpoint_id`.
    ///
    /// `target`, here and in the other time-travel calls, is a thread id (`"t"`: its latest
    /// checkpoint) or a [`CheckpointRef`] a run, [`update_state`](Self::update_state) or the
    /// history returned: the address [`invoke`](Self::invoke) also runs from.
    pub async fn get_state(
        &self,
        target: impl Into<CheckpointRef>,
    ) -> Result<Option<StateSnapshot<S>>, GraphError> {
        match self.saver()?.get_tuple(&target.into()).await? {
            Some(tuple) => Ok(Some(self.snapshot(&tuple)?)),
            None => Ok(None),
        }
    }

    /// The states of a thread, newest first, from its latest checkpoint or from
    /// `target.checkpoint_id` back (filter, `before` and `limit` in `options`).
    pub async fn get_state_history(
        &self,
        target: impl Into<CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<StateSnapshot<S>>, GraphError> {
        let tuples = self.checkpoints(target, options).await?;
        tuples.iter().map(|t| self.snapshot(t)).collect()
    }

    /// The checkpoints of a thread as the saver stores them, newest first, from its latest
    /// checkpoint or from `target.checkpoint_id` back (filter, `before` and `limit` in
    /// `options`; a saver may cap an unset limit, as PostgreSQL's does).
    pub async fn checkpoints(
        &self,
        target: impl Into<CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, GraphError> {
        let target = target.into();
        let thread = CheckpointRef {
            checkpoint_id: None,
            ..target.clone()
        };
        let Some(newest) = &target.checkpoint_id else {
            return Ok(self.saver()?.list(Some(&thread), options).await?);
        };
        // Checkpoint ids sort in the order they were written: keep `newest` and older ones,
        // reading past the saver's default limit so that the newer ones do not crowd them out.
        let mut options = options.clone();
        let limit = options.limit.replace(usize::MAX);
        let mut tuples = self.saver()?.list(Some(&thread), &options).await?;
        tuples.retain(|t| t.checkpoint.id <= *newest);
        if let Some(limit) = limit {
            tuples.truncate(limit);
        }
        Ok(tuples)
    }

    /// How many checkpoints a thread has, from its latest checkpoint or from
    /// `target.checkpoint_id` back (every one, whatever the saver's default list limit).
    pub async fn checkpoint_count(&self, target: impl Into<CheckpointRef>) -> Result<usize, GraphError> {
        let every = ListOptions {
            limit: Some(usize::MAX),
            ..ListOptions::default()
        };
        Ok(self.checkpoints(target, &every).await?.len())
    }

    fn snapshot(&self, tuple: &CheckpointTuple) -> Result<StateSnapshot<S>, GraphError> {
        let restored = crate::pregel::restore_tuple(&self.core, tuple, &*self.settings.codec)?;
        // The task ids the run planned at this checkpoint derive from its lineage.
        let id = crate::pregel::CheckpointId::parse(tuple.checkpoint.id.clone());
        let base = crate::pregel::stored_lineage(id.number(), &tuple.metadata.extra);
        let step = tuple.metadata.step.max(0) as usize;
        let mut nodes = restored.triggers.nodes.clone();
        nodes.sort_unstable();
        nodes.dedup();
        let mut planned: Vec<(TaskId, String)> = nodes
            .iter()
            .map(|&n| {
                let name = &self.core.nodes[n].name;
                (
                    task_id(base, &Namespace::ROOT, step, name, TaskOrigin::Pull),
                    name.to_string(),
                )
            })
            .collect();
        for (i, (n, _)) in restored.triggers.sends.iter().enumerate() {
            let name = &self.core.nodes[*n].name;
            planned.push((
                task_id(base, &Namespace::ROOT, step, name, TaskOrigin::Push(i)),
                name.to_string(),
            ));
        }
        let mut interrupts = Vec::new();
        let tasks = planned
            .into_iter()
            .map(|(id, node)| {
                let saved = restored.saved.get(&id.to_string());
                let finished = saved.is_some_and(|s| s.result.is_some());
                let pending: Vec<Interrupt> = saved
                    .filter(|s| !finished && s.resume.len() < s.interrupts.len() + s.resume.len())
                    .map(|s| s.interrupts.clone())
                    .unwrap_or_default();
                interrupts.extend(pending.iter().cloned());
                TaskSnapshot {
                    id,
                    node,
                    finished,
                    interrupts: pending,
                }
            })
            .collect::<Vec<_>>();
        if let Some(before) = restored.saved.get(channels::INTERRUPT_BEFORE_TASK) {
            interrupts.extend(
                before
                    .interrupts
                    .iter()
                    .filter(|i| i.kind == InterruptKind::Before)
                    .cloned(),
            );
        }
        let mut next: Vec<String> = tasks.iter().map(|t| t.node.clone()).collect();
        next.dedup();
        Ok(StateSnapshot {
            values: restored.state,
            next,
            tasks,
            interrupts,
            config: tuple.config.clone(),
            metadata: tuple.metadata.clone(),
            parent: tuple.parent.clone(),
            created_ms: tuple.checkpoint.ts_ms,
        })
    }

    /// Writes `update` to a thread as if node `as_node` had returned it (a new checkpoint with
    /// source "update"): the node's merge rules apply, and with `as_node` the next superstep
    /// runs what follows that node. Without `as_node`, the thread's pending tasks stay as they
    /// were. Updating an earlier checkpoint forks the thread. Returns the new checkpoint.
    pub async fn update_state(
        &self,
        target: impl Into<CheckpointRef>,
        update: S::Update,
        as_node: Option<&str>,
    ) -> Result<CheckpointRef, GraphError> {
        let target = &target.into();
        let saver = self.saver()?.clone();
        let thread = CheckpointRef::latest(target.thread_id.clone());
        let tuple = saver
            .get_tuple(target)
            .await?
            .ok_or_else(|| GraphError::NothingToResume {
                thread_id: target.thread_id.clone(),
            })?;
        let head = saver.get_tuple(&thread).await?.map(|h| h.checkpoint.id);
        let node = match as_node {
            Some(name) => Some(*self.core.by_name.get(name).ok_or_else(|| {
                GraphError::InvalidResume(format!("update_state as `{name}`: no such node"))
            })?),
            None => None,
        };
        let codec = self.settings.codec.clone();
        let Restored {
            mut state,
            versions,
            mut triggers,
            join_seen,
            paused_before,
            stored,
            ..
        } = crate::pregel::restore_tuple(&self.core, &tuple, &*codec)?;
        // Editing the state at a breakpoint does not re-arm it (as in LangGraph).
        let marker = if paused_before {
            tuple
                .pending_writes
                .iter()
                .find(|w| w.task_id == channels::INTERRUPT_BEFORE_TASK)
                .cloned()
        } else {
            None
        };
        let step = tuple.metadata.step.max(0) as usize;
        let writer = node.map_or(Arc::from(channels::UPDATE_WRITER), |n| {
            self.core.nodes[n].name.clone()
        });
        let applied = state
            .apply_tracked([(&*writer, update)])
            .map_err(|source| GraphError::InvalidUpdate { step, source })?;
        if let Some(n) = node {
            // As if the node had just run: what follows it runs next.
            let spec = &self.core.nodes[n];
            triggers = Triggers::default();
            triggers.nodes.extend_from_slice(&spec.out.next);
            for branch in &spec.out.branches {
                let routes = (branch.router)(&state);
                crate::pregel::check_routes(&spec.name, &branch.targets, &routes, step)?;
                crate::pregel::route_into(&self.core, routes, &mut triggers);
            }
        }
        let persister = Arc::new(Persister::new(saver, codec, crate::config::Durability::Sync));
        let target = DurableTarget { persister, thread };
        let mut durable = Durable::for_update(target, &tuple, head.as_deref(), versions, stored, &applied);
        let snapshot = Snapshot {
            graph: &self.core,
            state: &state,
            triggers: &triggers,
            join_seen: &join_seen,
        };
        snapshot.put(&mut durable, &mut Vec::new()).await?;
        if let Some(marker) = marker {
            durable
                .persister()
                .save_writes(&durable.current(), vec![marker])
                .await?;
        }
        Ok(CheckpointRef::clone(&durable.current()))
    }
}
