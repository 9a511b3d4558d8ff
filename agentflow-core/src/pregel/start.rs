//! How a durable run starts: from new input, by resuming a pause, by continuing, or by forking
//! an earlier checkpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checkpoint::{
    CheckpointError, CheckpointRef, CheckpointSource, Checkpointer, PendingWrite, channels,
};
use crate::compiled::GraphCore;
use crate::config::Durability;
use crate::control::{Command, InterruptKind, Resume, RunInput};
use crate::error::GraphError;
use crate::state::State;

use super::persist::{DurableTarget, Restored, restore};
use super::{Durable, Persister, Run, RunEnv, TaskOutput, Triggers};

/// What a durable run starts from.
pub(crate) struct DurableStart {
    pub(crate) saver: Arc<dyn Checkpointer>,
    pub(crate) durability: Durability,
    pub(crate) checkpoint_id: Option<String>,
    pub(crate) metadata: BTreeMap<String, serde_json::Value>,
    /// The lease of a journaled step's claim.
    pub(crate) intent_lease: std::time::Duration,
}

impl<S: State, C: Send + Sync + 'static> Run<S, C> {
    pub(crate) async fn start_durable(
        graph: Arc<GraphCore<S, C>>,
        env: RunEnv<C>,
        input: RunInput<S>,
        start: DurableStart,
    ) -> Result<Self, GraphError> {
        let thread_id = env.thread_id.clone().ok_or(GraphError::MissingThreadId)?;
        let thread = CheckpointRef::latest(thread_id.to_string());
        let target = CheckpointRef {
            checkpoint_id: start.checkpoint_id.clone(),
            ..thread.clone()
        };
        let tuple = start.saver.get_tuple(&target).await?;
        if let (Some(id), None) = (&start.checkpoint_id, &tuple) {
            return Err(CheckpointError::NotFound {
                thread_id: thread_id.to_string(),
                checkpoint_id: id.clone(),
            }
            .into());
        }
        // Running from an explicit checkpoint that is not the thread's latest forks the thread.
        let forking = match (&start.checkpoint_id, &tuple) {
            (Some(_), Some(t)) => {
                let head = start.saver.get_tuple(&thread).await?;
                head.map(|h| h.checkpoint.id) != Some(t.checkpoint.id.clone())
            }
            _ => false,
        };
        let persister = Arc::new(
            Persister::new(start.saver.clone(), env.codec.clone(), start.durability)
                .with_intents(&thread, start.intent_lease),
        );
        let restored = match &tuple {
            Some(t) => Some(restore(&graph, t, &*env.codec)?),
            None => None,
        };
        let durable = Durable::for_run::<S>(
            DurableTarget { persister, thread },
            tuple.as_ref(),
            forking,
            start.metadata,
            env.run_id.to_string(),
        );
        let mut run = Run {
            join_seen: vec![0; graph.joins.len()],
            graph,
            env,
            state: Arc::new(S::default()),
            step: 0,
            start_step: 0,
            triggers: Triggers::default(),
            durable: Some(durable),
            extra: None,
            deferred: Vec::new(),
        };
        match input {
            RunInput::Update(update) => run.start_with_input(update, restored).await?,
            RunInput::Resume(command) => {
                let restored = restored.ok_or_else(|| GraphError::NothingToResume {
                    thread_id: thread_id.to_string(),
                })?;
                run.start_from_checkpoint(restored, forking).await?;
                run.apply_command(command).await?;
            }
            RunInput::Continue => {
                let restored = restored.ok_or_else(|| GraphError::NothingToResume {
                    thread_id: thread_id.to_string(),
                })?;
                run.start_from_checkpoint(restored, forking).await?;
            }
        }
        Ok(run)
    }

    fn durable_ref(&mut self) -> Result<&mut Durable, GraphError> {
        self.durable
            .as_mut()
            .ok_or_else(|| GraphError::InvalidResume("the run has no checkpointer".into()))
    }

    /// New input on top of the thread's state: an input checkpoint holding the input as a
    /// pending write, then the first loop checkpoint with the input merged. The first loop
    /// checkpoint is the run's fence: it is in the saver (after the input checkpoint) before any
    /// node runs, in every durability mode, so a racing writer is refused before it runs
    /// anything, and a crash at any later point leaves a checkpoint to resume from whose steps
    /// keep their idempotency keys. Exit mode skips the input checkpoint: one put.
    async fn start_with_input(
        &mut self,
        update: S::Update,
        restored: Option<Restored<S>>,
    ) -> Result<(), GraphError> {
        if let Some(r) = restored {
            self.state = Arc::new(r.state);
            self.durable_ref()?.restore_fields(r.versions, r.stored);
        }
        let graph = self.graph.clone();
        let d = self.durable_ref()?;
        d.begin_input();
        let mut input_writes = Vec::new();
        if d.persister().durability != Durability::Exit {
            input_writes.push(PendingWrite {
                task_id: channels::INPUT_TASK.into(),
                task_path: crate::START.into(),
                channel: channels::INPUT.into(),
                idx: 0,
                value: d
                    .codec()
                    .encoding_scope(&graph.encoded, || d.codec().to_bytes(&update))?,
            });
            // Queued in async mode; the fence below waits for it.
            self.put_current().await?;
        }
        self.step = 0;
        let applied = self.apply_input(update)?;
        let d = self.durable_ref()?;
        d.advance(CheckpointSource::Loop, &applied);
        let step = d.step().max(0) as usize;
        self.step = step;
        self.start_step = step;
        self.put_current_now(input_writes).await
    }

    /// Continue from a checkpoint: its state, triggers and the writes its tasks left.
    async fn start_from_checkpoint(
        &mut self,
        restored: Restored<S>,
        forking: bool,
    ) -> Result<(), GraphError> {
        self.state = Arc::new(restored.state);
        self.triggers = restored.triggers;
        self.join_seen = restored.join_seen;
        let d = self.durable_ref()?;
        d.restore_fields(restored.versions, restored.stored);
        if forking {
            // A copy of the old checkpoint starts the new branch; its tasks all run again.
            // The fork is the run's fence (one run forks a checkpoint once) and starts a lineage
            // of its own: in the saver before any task runs, in every durability mode.
            d.begin_fork();
            self.put_current_now(Vec::new()).await?;
        } else {
            d.restore_saved(restored.saved, restored.paused_before);
        }
        let d = self.durable_ref()?;
        let step = d.step().max(0) as usize;
        self.step = step;
        self.start_step = step;
        Ok(())
    }

    /// Resume values go to the interrupted tasks (saved at once as pending writes); the
    /// command's update and goto join this step's barrier.
    async fn apply_command(&mut self, command: Command<S>) -> Result<(), GraphError> {
        let Command { update, goto, resume } = command;
        for route in &goto {
            if route.target() != crate::END && !self.graph.by_name.contains_key(route.target()) {
                return Err(GraphError::InvalidResume(format!(
                    "goto `{}`: no such node",
                    route.target()
                )));
            }
        }
        if !S::is_empty_update(&update) || !goto.is_empty() {
            self.extra = Some(TaskOutput { update, routes: goto });
        }
        let Some(resume) = resume else { return Ok(()) };
        let d = self.durable_ref()?;
        let pending: Vec<(String, String)> = d
            .saved_tasks()
            .iter()
            .filter(|(_, t)| t.result.is_none())
            .flat_map(|(task, t)| {
                t.interrupts
                    .iter()
                    .filter(|i| i.kind == InterruptKind::Dynamic)
                    .map(move |i| (task.clone(), i.id.clone()))
            })
            .collect();
        let mut answered: Vec<String> = Vec::new();
        match resume {
            Resume::Value(value) => {
                let [(task, _)] = pending.as_slice() else {
                    return Err(GraphError::InvalidResume(if pending.is_empty() {
                        "no interrupt is pending on this thread".into()
                    } else {
                        format!(
                            "{} interrupts are pending ({}); resume them by id with Command::resume_by_id",
                            pending.len(),
                            pending
                                .iter()
                                .map(|p| p.1.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }));
                };
                if let Some(saved) = d.saved_task_mut(task) {
                    saved.resume.push(value);
                    answered.push(task.clone());
                }
            }
            Resume::ById(values) => {
                for (id, value) in values {
                    let Some((task, _)) = pending.iter().find(|(_, i)| *i == id) else {
                        return Err(GraphError::InvalidResume(format!(
                            "no pending interrupt has id `{id}`"
                        )));
                    };
                    if let Some(saved) = d.saved_task_mut(task) {
                        saved.resume.push(value);
                        answered.push(task.clone());
                    }
                }
            }
        }
        let mut writes = Vec::new();
        for task in answered {
            let Some(saved) = d.saved_tasks().get(&task) else {
                continue;
            };
            writes.push(PendingWrite {
                task_id: task.clone(),
                task_path: saved
                    .interrupts
                    .first()
                    .map(|i| i.node.clone())
                    .unwrap_or_default(),
                channel: channels::RESUME.into(),
                idx: channels::RESUME_IDX,
                value: d.codec().to_bytes(&saved.resume)?,
            });
        }
        let (persister, target) = (d.persister().clone(), d.current());
        persister.save_writes(&target, writes).await?;
        Ok(())
    }
}
