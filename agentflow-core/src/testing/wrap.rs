//! Savers that wrap another saver to fail, record or hold back some of its calls: the test
//! doubles of the kit and of the engine's tests.
//!
//! Implement [`Wrap`] with the inner saver and override only the calls the test cares about;
//! every other call goes to the inner saver unchanged. [`Wrapped`] makes it a [`Checkpointer`].

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    IntentClaim, IntentLease, IntentRef, ListOptions, PendingWrite, PruneStrategy, PutMode,
};

/// A saver wrapper: each method defaults to the inner saver's.
#[async_trait]
#[allow(missing_docs)]
pub trait Wrap: Send + Sync {
    /// The saver calls go to unless overridden.
    fn inner(&self) -> &dyn Checkpointer;

    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        self.inner().get_tuple(target).await
    }
    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        self.inner().list(thread, options).await
    }
    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.inner()
            .put(parent, checkpoint, metadata, new_versions, mode)
            .await
    }
    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.inner()
            .put_step(writes, parent, checkpoint, metadata, new_versions, mode)
            .await
    }
    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        self.inner().put_writes(target, writes).await
    }
}

/// A [`Wrap`] as a [`Checkpointer`]. Thread deletion, pruning, copying and step intents always
/// go to the inner saver.
pub struct Wrapped<W>(pub W);

impl<W> std::ops::Deref for Wrapped<W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.0
    }
}

#[async_trait]
impl<W: Wrap + 'static> Checkpointer for Wrapped<W> {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        self.0.get_tuple(target).await
    }
    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        self.0.list(thread, options).await
    }
    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.0.put(parent, checkpoint, metadata, new_versions, mode).await
    }
    async fn put_step(
        &self,
        writes: &[PendingWrite],
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        self.0
            .put_step(writes, parent, checkpoint, metadata, new_versions, mode)
            .await
    }
    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        self.0.put_writes(target, writes).await
    }
    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        self.0.inner().delete_thread(thread_id).await
    }
    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError> {
        self.0.inner().prune(thread_ids, strategy).await
    }
    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        self.0.inner().copy_thread(source, target).await
    }
    async fn claim_intent(
        &self,
        intent: &IntentRef,
        lease: IntentLease<'_>,
    ) -> Result<IntentClaim, CheckpointError> {
        self.0.inner().claim_intent(intent, lease).await
    }
    async fn complete_intent(
        &self,
        intent: &IntentRef,
        owner: &str,
        result: &[u8],
    ) -> Result<bool, CheckpointError> {
        self.0.inner().complete_intent(intent, owner, result).await
    }
    async fn release_intent(&self, intent: &IntentRef, owner: &str) -> Result<(), CheckpointError> {
        self.0.inner().release_intent(intent, owner).await
    }
}
