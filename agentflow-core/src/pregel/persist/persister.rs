//! The run's link to its checkpointer: each durability mode's way of making writes and
//! checkpoints durable, in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, Checkpointer, Codec, PendingWrite,
    PutMode,
};
use crate::config::Durability;
use crate::steps::IntentScope;

/// How many operations the async durability queue holds before the run waits for the saver.
const ASYNC_QUEUE: usize = 32;

enum Op {
    Writes(CheckpointRef, Vec<PendingWrite>),
    Put(Box<PutOp>),
    /// Answers once every operation queued before it is in the saver.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

pub(super) struct PutOp {
    /// Writes of the step's last task, committed with the checkpoint.
    pub(super) writes: Vec<PendingWrite>,
    pub(super) parent: CheckpointRef,
    pub(super) checkpoint: Checkpoint,
    pub(super) metadata: CheckpointMetadata,
    pub(super) new_versions: BTreeMap<String, u64>,
    pub(super) mode: PutMode,
}

/// The async-durability queue and the worker that drains it into the saver.
type AsyncQueue = (mpsc::Sender<Op>, JoinHandle<Result<(), CheckpointError>>);

/// The run's link to its checkpointer, shared with its tasks.
pub(crate) struct Persister {
    saver: Arc<dyn Checkpointer>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) durability: Durability,
    queue: Mutex<Option<AsyncQueue>>,
    /// Exit mode: the writes made against the current checkpoint, saved only at the end.
    exit_writes: Mutex<Vec<PendingWrite>>,
    /// Where journaled steps claim their intents (runs of a thread).
    intents: Option<IntentScope>,
}

impl Persister {
    pub(crate) fn new(saver: Arc<dyn Checkpointer>, codec: Arc<dyn Codec>, durability: Durability) -> Self {
        let queue = (durability == Durability::Async).then(|| {
            let (tx, mut rx) = mpsc::channel::<Op>(ASYNC_QUEUE);
            let saver = saver.clone();
            // One worker, one queue: operations reach the saver in the order the run made them,
            // so writes always land before the checkpoint that follows them.
            let worker = tokio::spawn(async move {
                while let Some(op) = rx.recv().await {
                    match op {
                        Op::Writes(target, writes) => saver.put_writes(&target, &writes).await?,
                        Op::Put(put) => {
                            let stored = saver
                                .put_step(
                                    &put.writes,
                                    &put.parent,
                                    &put.checkpoint,
                                    &put.metadata,
                                    &put.new_versions,
                                    put.mode,
                                )
                                .await;
                            if let Err(error) = stored {
                                save_alone(&*saver, &put.parent, &put.writes).await;
                                return Err(error);
                            }
                        }
                        Op::Barrier(reached) => {
                            let _ = reached.send(());
                        }
                    }
                }
                Ok(())
            });
            (tx, worker)
        });
        Persister {
            saver,
            codec,
            durability,
            queue: Mutex::new(queue),
            exit_writes: Mutex::new(Vec::new()),
            intents: None,
        }
    }

    /// Lets the run's journaled steps claim intents on `thread`, with a claim of their own
    /// (fresh for every run) and `lease`.
    pub(crate) fn with_intents(mut self, thread: &CheckpointRef, lease: Duration) -> Self {
        self.intents = Some(IntentScope {
            saver: self.saver.clone(),
            thread_id: thread.thread_id.clone(),
            namespace: thread.namespace.clone(),
            owner: uuid::Uuid::new_v4().to_string(),
            lease,
        });
        self
    }

    pub(crate) fn saver(&self) -> &Arc<dyn Checkpointer> {
        &self.saver
    }

    fn sender(&self) -> Option<mpsc::Sender<Op>> {
        self.queue
            .lock()
            .ok()
            .and_then(|q| q.as_ref().map(|(tx, _)| tx.clone()))
    }

    async fn enqueue(&self, op: Op) -> Result<(), CheckpointError> {
        let Some(tx) = self.sender() else {
            return Err(queue_closed());
        };
        if tx.send(op).await.is_err() {
            // The worker stopped on an error: report it.
            return Err(self.finish().await.err().unwrap_or_else(queue_closed));
        }
        Ok(())
    }

    /// Saves writes against `target` as the durability mode says.
    pub(crate) async fn save_writes(
        &self,
        target: &CheckpointRef,
        writes: Vec<PendingWrite>,
    ) -> Result<(), CheckpointError> {
        match self.durability {
            Durability::Sync => self.saver.put_writes(target, &writes).await,
            Durability::Async => self.enqueue(Op::Writes(target.clone(), writes)).await,
            Durability::Exit => {
                self.keep_for_exit(writes);
                Ok(())
            }
        }
    }

    /// Puts a checkpoint now (sync) or in order in the background (async). If a put made now
    /// fails, its writes come back with the error: they are not durable, and the caller keeps
    /// them for the next attempt.
    pub(super) async fn put(&self, op: PutOp) -> Result<(), PutFailed> {
        match self.durability {
            Durability::Async => self
                .enqueue(Op::Put(Box::new(op)))
                .await
                // A queue that stopped saved the writes of its failed put on their own.
                .map_err(|error| PutFailed {
                    error,
                    writes: Vec::new(),
                }),
            _ => self.put_in_saver(op).await,
        }
    }

    /// Puts a checkpoint and returns once it is in the saver, in every mode: in async mode,
    /// after everything queued before it (the fence of a run, which must hold before any task
    /// runs).
    pub(super) async fn put_now(&self, op: PutOp) -> Result<(), PutFailed> {
        if self.durability == Durability::Async
            && let Err(error) = self.drain().await
        {
            return Err(PutFailed {
                error,
                writes: op.writes,
            });
        }
        self.put_in_saver(op).await
    }

    /// One put straight to the saver; a failure hands the writes back.
    async fn put_in_saver(&self, op: PutOp) -> Result<(), PutFailed> {
        let saved = self
            .saver
            .put_step(
                &op.writes,
                &op.parent,
                &op.checkpoint,
                &op.metadata,
                &op.new_versions,
                op.mode,
            )
            .await;
        match saved {
            Ok(_) => Ok(()),
            Err(error) => Err(PutFailed {
                error,
                writes: op.writes,
            }),
        }
    }

    /// Waits until everything queued so far is in the saver (async mode), keeping the queue.
    async fn drain(&self) -> Result<(), CheckpointError> {
        let (reached, wait) = tokio::sync::oneshot::channel();
        self.enqueue(Op::Barrier(reached)).await?;
        if wait.await.is_err() {
            // The worker stopped on an error before the barrier: report it.
            return Err(self.finish().await.err().unwrap_or_else(queue_closed));
        }
        Ok(())
    }

    /// Drains the async queue and reports the first failure.
    pub(crate) async fn finish(&self) -> Result<(), CheckpointError> {
        let queue = self.queue.lock().ok().and_then(|mut q| q.take());
        if let Some((tx, worker)) = queue {
            drop(tx);
            return match worker.await {
                Ok(result) => result,
                Err(e) => Err(CheckpointError::Backend {
                    retryable: false,
                    source: Box::new(e),
                }),
            };
        }
        Ok(())
    }

    /// Exit mode: keeps `writes` for the end of the run.
    pub(crate) fn keep_for_exit(&self, writes: Vec<PendingWrite>) {
        if let Ok(mut buffer) = self.exit_writes.lock() {
            buffer.extend(writes);
        }
    }

    pub(super) fn take_exit_writes(&self) -> Vec<PendingWrite> {
        self.exit_writes
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    pub(super) fn clear_exit_writes(&self) {
        if let Ok(mut w) = self.exit_writes.lock() {
            w.clear();
        }
    }
}

/// A put that failed, with the writes it carried (not durable).
pub(super) struct PutFailed {
    pub(super) error: CheckpointError,
    pub(super) writes: Vec<PendingWrite>,
}

/// After a failed put in the background: saves the writes it carried on their own (best
/// effort), so that a resumed run finds the finished task's result instead of running it again.
async fn save_alone(saver: &dyn Checkpointer, parent: &CheckpointRef, writes: &[PendingWrite]) {
    if writes.is_empty() || parent.checkpoint_id.is_none() {
        return;
    }
    if let Err(error) = saver.put_writes(parent, writes).await {
        tracing::warn!(%error, "the writes of a failed checkpoint put could not be saved either");
    }
}

fn queue_closed() -> CheckpointError {
    CheckpointError::Backend {
        retryable: false,
        source: "the checkpoint queue is closed".into(),
    }
}

/// Where a task saves its writes: the run's persister and the checkpoint of the task's step.
#[derive(Clone)]
pub(crate) struct JournalSink {
    pub(crate) persister: Arc<Persister>,
    /// `None` in exit mode, where writes are kept for the end of the run.
    pub(crate) target: Option<Arc<CheckpointRef>>,
    /// The number of the step's checkpoint (its id is made only when an error names it).
    checkpoint: u128,
}

impl JournalSink {
    /// The sink of a step at `current` (asked for only outside exit mode).
    pub(crate) fn new(
        persister: Arc<Persister>,
        current: impl FnOnce() -> Arc<CheckpointRef>,
        checkpoint: u128,
    ) -> Self {
        let target = (persister.durability != Durability::Exit).then(current);
        JournalSink {
            persister,
            target,
            checkpoint,
        }
    }

    /// Where the task's journaled steps claim their intents.
    pub(crate) fn intents(&self) -> Option<&IntentScope> {
        self.persister.intents.as_ref()
    }

    /// The id of the step's checkpoint.
    pub(crate) fn checkpoint_id(&self) -> String {
        match &self.target {
            Some(target) => target.checkpoint_id.clone().unwrap_or_default(),
            None => crate::checkpoint::format_checkpoint_id(self.checkpoint),
        }
    }

    pub(crate) async fn save(&self, writes: Vec<PendingWrite>) -> Result<(), CheckpointError> {
        match &self.target {
            Some(target) => self.persister.save_writes(target, writes).await,
            None => {
                self.persister.keep_for_exit(writes);
                Ok(())
            }
        }
    }

    /// True when writes are kept for the end of the run (exit mode).
    pub(crate) fn is_exit(&self) -> bool {
        self.target.is_none()
    }
}
