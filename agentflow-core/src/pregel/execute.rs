//! Execute: run a superstep's tasks concurrently against the step's snapshot.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Codec, PendingWrite, channels};
use crate::compiled::GraphCore;
use crate::config::Durability;
use crate::context::{Context, Scratch, TaskInfo};
use crate::control::{Command, Interrupt, Route};
use crate::error::{GraphError, NodeError};
use crate::ids::TaskId;
use crate::node::TaskInput;
use crate::state::State;
use crate::steps::StepBook;
use crate::stream::{RawData, StreamMode};

use super::persist::{decode_output, encode_result};
use super::{JournalSink, Run, SavedTask, Task, apply::check_routes};

/// What a finished task hands to the barrier.
pub(crate) struct TaskOutput<S: State> {
    pub(crate) update: S::Update,
    pub(crate) routes: Vec<Route>,
}

/// How a task ended, short of failing.
pub(crate) enum TaskOutcome<S: State> {
    Done(TaskOutput<S>),
    Interrupted(Interrupt),
}

/// Everything one task needs, owned, so that it can run on another worker thread.
struct TaskRun<S: State, C> {
    graph: Arc<GraphCore<S, C>>,
    node: usize,
    input: TaskInput<S>,
    snapshot: Arc<S>,
    ctx: Context<C>,
    /// Hand the result's writes back instead of saving them (they go with the next checkpoint).
    defer: bool,
}

impl<S: State, C: Send + Sync + 'static> Run<S, C> {
    /// Runs `tasks` and returns their outcomes in task order. Tasks that finished before a
    /// pause or crash (their result is a pending write of this step's checkpoint) are not run
    /// again. The first failure cancels the tasks still running and is returned.
    pub(crate) async fn execute(&mut self, tasks: &[Task<S>]) -> Result<Vec<TaskOutcome<S>>, GraphError> {
        let mut outcomes: Vec<Option<TaskOutcome<S>>> = tasks.iter().map(|_| None).collect();
        let mut runs = Vec::with_capacity(tasks.len());
        for (index, task) in tasks.iter().enumerate() {
            let saved = self.durable.as_mut().and_then(|d| d.take_saved(task.id));
            if let (Some(saved), Some(d)) = (&saved, &self.durable)
                && let Some(output) = decode_output(&self.graph, saved, d.codec())?
            {
                outcomes[index] = Some(TaskOutcome::Done(output));
                continue;
            }
            runs.push((index, task, saved.unwrap_or_default()));
        }
        if let [(index, _, _)] = runs.as_slice() {
            // One task: run it inline, no spawn (the common case of sequential graphs).
            let index = *index;
            let saved = runs.pop().map(|r| r.2).unwrap_or_default();
            let mut run = self.task_run(task_of(tasks, index), saved, self.env.cancel.clone());
            // The step's only task: its writes can commit with the step's checkpoint.
            run.defer = self
                .durable
                .as_ref()
                .is_some_and(|d| d.persister().durability != Durability::Exit);
            let (outcome, deferred) = run.run().await?;
            self.deferred = deferred;
            outcomes[index] = Some(outcome);
            self.keep_for_exit(tasks, &outcomes, &[index], false)?;
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let ran_now: Vec<usize> = runs.iter().map(|r| r.0).collect();
        let step_cancel = self.env.cancel.child_token();
        // Cancel the step's token however this function ends (error or the run being dropped);
        // the JoinSet aborts its tasks when dropped.
        let _cancel_on_exit = step_cancel.clone().drop_guard();
        let limit = self.env.limits.max_concurrency.unwrap_or(usize::MAX);
        let mut set = JoinSet::new();
        let mut pending = runs.into_iter();
        let mut running = 0usize;
        loop {
            while running < limit {
                let Some((index, task, saved)) = pending.next() else {
                    break;
                };
                let run = self.task_run(task, saved, step_cancel.clone());
                set.spawn(async move { (index, run.run().await.map(|(outcome, _)| outcome)) });
                running += 1;
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            running -= 1;
            match joined {
                Ok((index, Ok(outcome))) => outcomes[index] = Some(outcome),
                Ok((_, Err(error))) => {
                    self.keep_for_exit(tasks, &outcomes, &ran_now, true)?;
                    return Err(error);
                }
                // Tasks catch their own panics, and only this function aborts them.
                Err(join_error) => {
                    self.keep_for_exit(tasks, &outcomes, &ran_now, true)?;
                    return Err(GraphError::Panicked {
                        node: "<unknown>".into(),
                        step: self.step,
                        message: join_error.to_string(),
                    });
                }
            }
        }
        self.keep_for_exit(tasks, &outcomes, &ran_now, false)?;
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Exit mode saves nothing per task. A step that does not complete (a task failed, or was
    /// interrupted) keeps the writes of the tasks that finished in this run of it, for the end
    /// of the run, so that resuming the step does not run them again.
    fn keep_for_exit(
        &self,
        tasks: &[Task<S>],
        outcomes: &[Option<TaskOutcome<S>>],
        ran_now: &[usize],
        failed: bool,
    ) -> Result<(), GraphError> {
        let Some(d) = self
            .durable
            .as_ref()
            .filter(|d| d.persister().durability == Durability::Exit)
        else {
            return Ok(());
        };
        let interrupted = || {
            outcomes
                .iter()
                .any(|o| matches!(o, Some(TaskOutcome::Interrupted(_))))
        };
        if !failed && !interrupted() {
            return Ok(());
        }
        let mut writes = Vec::new();
        for &index in ran_now {
            if let Some(outcome) = &outcomes[index] {
                let task = &tasks[index];
                let node = &self.graph.nodes[task.node].name;
                writes.extend(outcome_writes(task.id, node, outcome, d.codec())?);
            }
        }
        d.persister().keep_for_exit(writes);
        Ok(())
    }

    fn task_run(&self, task: &Task<S>, saved: SavedTask, cancel: CancellationToken) -> TaskRun<S, C> {
        let node = &self.graph.nodes[task.node];
        let journal_sink = self
            .durable
            .as_ref()
            .map(|d| JournalSink::new(d.persister().clone(), || d.current(), d.checkpoint_number()));
        let info = TaskInfo {
            node: node.name.clone(),
            step: self.step,
            task_id: task.id,
            run_id: self.env.run_id,
            thread_id: self.env.thread_id.clone(),
            attempt: AtomicU32::new(1),
            scratch: Scratch {
                resume: saved.resume,
                steps: Mutex::new(StepBook::from_journal(saved.journal)),
                ..Scratch::default()
            },
            codec: self.env.codec.clone(),
            journal_sink,
            store: self.env.store.clone(),
        };
        TaskRun {
            graph: self.graph.clone(),
            node: task.node,
            input: task.input.clone(),
            snapshot: self.state.clone(),
            ctx: Context {
                inner: Arc::new(info),
                runtime: self.env.runtime.clone(),
                sink: self.env.sink.clone(),
                cancel,
                limits: self.env.limits,
            },
            defer: false,
        }
    }
}

fn task_of<S>(tasks: &[Task<S>], index: usize) -> &Task<S> {
    &tasks[index]
}

/// The pending writes that record a task's outcome: its result (update and routes), or its
/// interrupt.
fn outcome_writes<S: State>(
    task_id: TaskId,
    node: &str,
    outcome: &TaskOutcome<S>,
    codec: &dyn Codec,
) -> Result<Vec<PendingWrite>, GraphError> {
    let (channel, idx, value) = match outcome {
        TaskOutcome::Done(output) => (
            channels::RESULT,
            0,
            encode_result(&output.update, &output.routes, codec)?,
        ),
        TaskOutcome::Interrupted(interrupt) => (
            channels::INTERRUPT,
            channels::INTERRUPT_IDX,
            codec.to_bytes(&std::slice::from_ref(interrupt))?,
        ),
    };
    Ok(vec![PendingWrite {
        task_id: task_id.to_string(),
        task_path: node.to_owned(),
        channel: channel.to_owned(),
        idx,
        value,
    }])
}

impl<S: State, C: Send + Sync + 'static> TaskRun<S, C> {
    /// Runs the task; returns its outcome and, when deferring, the writes to save with the next
    /// checkpoint.
    async fn run(self) -> Result<(TaskOutcome<S>, Vec<PendingWrite>), GraphError> {
        let sink = &self.ctx.sink;
        let info = &self.ctx.inner;
        let timing = sink.wants(StreamMode::Tasks).then(|| {
            sink.emit(RawData::TaskStart {
                step: info.step,
                node: info.node.clone(),
                task_id: info.task_id,
            });
            Instant::now()
        });
        let result = self.run_node().await;
        let result = match result {
            Ok(outcome) => self.save(outcome).await,
            Err(error) => {
                self.save_error(&error).await;
                Err(error)
            }
        };
        if let Some(started) = timing {
            sink.emit(RawData::TaskEnd {
                step: info.step,
                node: info.node.clone(),
                task_id: info.task_id,
                elapsed: started.elapsed(),
                error: result.as_ref().err().map(ToString::to_string),
            });
        }
        result
    }

    /// Saves the task's result (or its interrupt) as pending writes of the step's checkpoint, or
    /// hands a result's writes back when deferring. In exit mode nothing is saved here: the run
    /// keeps the writes of a step only if it ends there (see [`Run::keep_for_exit`]).
    async fn save(&self, outcome: TaskOutcome<S>) -> Result<(TaskOutcome<S>, Vec<PendingWrite>), GraphError> {
        let info = &self.ctx.inner;
        let Some(sink) = info.journal_sink.as_ref().filter(|s| !s.is_exit()) else {
            return Ok((outcome, Vec::new()));
        };
        // With the opt-in codec, large shared values in the update are likely in the graph's
        // cache already.
        let writes = info.codec.encoding_scope(&self.graph.encoded, || {
            outcome_writes(info.task_id, &info.node, &outcome, &*info.codec)
        })?;
        if self.defer && matches!(outcome, TaskOutcome::Done(_)) {
            return Ok((outcome, writes));
        }
        sink.save(writes).await?;
        Ok((outcome, Vec::new()))
    }

    /// Records a failure against the step's checkpoint (best effort: the run fails anyway).
    async fn save_error(&self, error: &GraphError) {
        let info = &self.ctx.inner;
        let Some(sink) = &info.journal_sink else { return };
        let Ok(value) = info.codec.to_bytes(&error.to_string()) else {
            return;
        };
        let write = PendingWrite {
            task_id: info.task_id.to_string(),
            task_path: info.node.to_string(),
            channel: channels::ERROR.to_owned(),
            idx: channels::ERROR_IDX,
            value,
        };
        if let Err(e) = sink.save(vec![write]).await {
            tracing::warn!(node = %info.node, error = %e, "could not record a task failure");
        }
    }

    /// The node with its retries, error handler and routers.
    async fn run_node(&self) -> Result<TaskOutcome<S>, GraphError> {
        let node = &self.graph.nodes[self.node];
        let info = &self.ctx.inner;
        let mut attempt = 1u32;
        let command = loop {
            info.attempt.store(attempt, Ordering::Relaxed);
            info.scratch.restart();
            let attempt_result = self.attempt().await?;
            // A step of this attempt lost its claim to another runner: the task fails with the
            // conflict, whatever the node made of it.
            if let Some(conflict) = info.scratch.take_fatal() {
                return Err(conflict.into());
            }
            // An interrupt the node asked for pauses the task, whatever the node returned.
            let requested = info.scratch.take_requested();
            let interrupt = match &attempt_result {
                Err(error) => error.as_interrupt().cloned().or(requested),
                Ok(_) => requested,
            };
            if let Some(interrupt) = interrupt {
                if info.journal_sink.is_none() {
                    return Err(GraphError::InterruptWithoutCheckpointer {
                        node: node.name.to_string(),
                    });
                }
                return Ok(TaskOutcome::Interrupted(interrupt));
            }
            let error = match attempt_result {
                Ok(command) => break command,
                Err(error) => error,
            };
            if let Some(policy) = node.retry.as_ref().filter(|p| p.should_retry(attempt, &error)) {
                tracing::debug!(node = %node.name, attempt, error = %error, "retrying node");
                if !policy.wait(attempt, &error, &self.ctx.cancel).await {
                    return Err(GraphError::Cancelled);
                }
                attempt += 1;
                continue;
            }
            if let Some(command) = node.on_error.as_ref().and_then(|h| h(&error, &self.snapshot)) {
                tracing::debug!(node = %node.name, error = %error, "node failed; error handler took over");
                break command;
            }
            let (class, source) = error.into_parts();
            return Err(GraphError::Node {
                node: node.name.to_string(),
                step: info.step,
                attempts: attempt,
                class,
                source,
            });
        };
        let output = self.route(command)?;
        if self.ctx.sink.wants(StreamMode::Updates) {
            self.ctx.sink.emit(RawData::Updates {
                step: info.step,
                node: info.node.clone(),
                update: Arc::new(output.update.clone()),
            });
        }
        Ok(TaskOutcome::Done(output))
    }

    /// One attempt: the node's own error is `Ok(Err(..))`; engine errors are `Err`.
    async fn attempt(&self) -> Result<Result<Command<S>, NodeError>, GraphError> {
        let node = &self.graph.nodes[self.node];
        let future = node.node.start(self.input.clone(), self.ctx.clone())?;
        let guarded = AssertUnwindSafe(future).catch_unwind();
        let outcome = match node.timeout {
            Some(limit) => match tokio::time::timeout(limit, guarded).await {
                Ok(outcome) => outcome,
                Err(_) => return Ok(Err(NodeError::timeout(limit))),
            },
            None => guarded.await,
        };
        outcome.map_err(|panic| GraphError::Panicked {
            node: node.name.to_string(),
            step: self.ctx.inner.step,
            message: panic_message(&*panic),
        })
    }

    /// The task's routes: its `Command`'s `goto`, then its conditional edges, each checked
    /// against what the node declared. Routers see the snapshot with this task's own writes.
    fn route(&self, command: Command<S>) -> Result<TaskOutput<S>, GraphError> {
        let node = &self.graph.nodes[self.node];
        let step = self.ctx.inner.step;
        let Command { update, mut goto, .. } = command;
        // Without declared destinations, a goto may name any node, as in LangGraph.
        let declared = if node.destinations.is_empty() {
            &self.graph.goto_targets
        } else {
            &node.destinations
        };
        check_routes(&node.name, declared, &goto, step)?;
        if !node.out.branches.is_empty() {
            let view = if S::is_empty_update(&update) {
                self.snapshot.clone()
            } else {
                let mut own = S::clone(&self.snapshot);
                own.apply_updates([(&*node.name, update.clone())])
                    .map_err(|source| GraphError::InvalidUpdate { step, source })?;
                Arc::new(own)
            };
            for branch in &node.out.branches {
                let routes = (branch.router)(&view);
                check_routes(&node.name, &branch.targets, &routes, step)?;
                goto.extend(routes);
            }
        }
        Ok(TaskOutput { update, routes: goto })
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
