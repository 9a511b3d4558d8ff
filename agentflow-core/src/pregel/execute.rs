//! Execute: run a superstep's tasks concurrently against the step's snapshot.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::compiled::GraphCore;
use crate::context::{Context, TaskInfo};
use crate::control::{Command, Route};
use crate::error::{GraphError, NodeError};
use crate::node::TaskInput;
use crate::state::State;
use crate::stream::{RawData, StreamMode};

use super::{Run, Task, apply::check_routes};

/// What a finished task hands to the barrier.
pub(crate) struct TaskOutput<S: State> {
    pub(crate) update: S::Update,
    pub(crate) routes: Vec<Route>,
}

/// Everything one task needs, owned, so that it can run on another worker thread.
struct TaskRun<S: State, C> {
    graph: Arc<GraphCore<S, C>>,
    node: usize,
    input: TaskInput<S>,
    snapshot: Arc<S>,
    ctx: Context<C>,
}

impl<S: State, C: Send + Sync + 'static> Run<S, C> {
    /// Runs `tasks` and returns their outputs in task order. The first failure cancels the
    /// tasks still running and is returned.
    pub(crate) async fn execute(&self, tasks: &[Task<S>]) -> Result<Vec<TaskOutput<S>>, GraphError> {
        if let [task] = tasks {
            // One task: run it inline, no spawn (the common case of sequential graphs).
            return Ok(vec![self.task_run(task, self.env.cancel.clone()).run().await?]);
        }
        let step_cancel = self.env.cancel.child_token();
        // Cancel the step's token however this function ends (error or the run being dropped);
        // the JoinSet aborts its tasks when dropped.
        let _cancel_on_exit = step_cancel.clone().drop_guard();
        let limit = self.env.limits.max_concurrency.unwrap_or(usize::MAX);
        let mut set = JoinSet::new();
        let mut outputs: Vec<Option<TaskOutput<S>>> = tasks.iter().map(|_| None).collect();
        let mut pending = tasks.iter().enumerate();
        let mut running = 0usize;
        loop {
            while running < limit {
                let Some((index, task)) = pending.next() else {
                    break;
                };
                let run = self.task_run(task, step_cancel.clone());
                set.spawn(async move { (index, run.run().await) });
                running += 1;
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            running -= 1;
            match joined {
                Ok((index, Ok(output))) => outputs[index] = Some(output),
                Ok((_, Err(error))) => return Err(error),
                // Tasks catch their own panics, and only this function aborts them.
                Err(join_error) => {
                    return Err(GraphError::Panicked {
                        node: "<unknown>".into(),
                        step: self.step,
                        message: join_error.to_string(),
                    });
                }
            }
        }
        Ok(outputs.into_iter().flatten().collect())
    }

    fn task_run(&self, task: &Task<S>, cancel: CancellationToken) -> TaskRun<S, C> {
        let node = &self.graph.nodes[task.node];
        let info = TaskInfo {
            node: node.name.clone(),
            step: self.step,
            task_id: task.id,
            run_id: self.env.run_id,
            thread_id: self.env.thread_id.clone(),
            attempt: AtomicU32::new(1),
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
        }
    }
}

impl<S: State, C: Send + Sync + 'static> TaskRun<S, C> {
    async fn run(self) -> Result<TaskOutput<S>, GraphError> {
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

    /// The node with its retries, error handler and routers.
    async fn run_node(&self) -> Result<TaskOutput<S>, GraphError> {
        let node = &self.graph.nodes[self.node];
        let info = &self.ctx.inner;
        let mut attempt = 1u32;
        let command = loop {
            info.attempt.store(attempt, Ordering::Relaxed);
            let error = match self.attempt().await? {
                Ok(command) => break command,
                Err(error) => error,
            };
            if let Some(policy) = node.retry.as_ref().filter(|p| p.should_retry(attempt, &error)) {
                let delay = policy.delay(attempt);
                tracing::debug!(node = %node.name, attempt, ?delay, error = %error, "retrying node");
                tokio::time::sleep(delay).await;
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
        Ok(output)
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
        let Command { update, mut goto } = command;
        check_routes(&node.name, &node.destinations, &goto, step)?;
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
