//! Housekeeping a durable saver offers besides the [`Checkpointer`] contract, in one shape for
//! every saver.

use std::time::Duration;

use async_trait::async_trait;

use super::{CheckpointError, Checkpointer};

/// A saver's housekeeping: a TTL sweep and a storage measurement.
#[async_trait]
pub trait SaverMaintenance: Checkpointer {
    /// Deletes the threads whose latest checkpoint is older than `max_age`; returns how many
    /// threads went.
    async fn sweep_idle(&self, max_age: Duration) -> Result<u64, CheckpointError>;

    /// Bytes stored for `thread_id`: field values, pending writes and the checkpoints
    /// themselves, for storage-growth measurements; 0 for a thread with nothing stored.
    async fn stored_bytes(&self, thread_id: &str) -> Result<u64, CheckpointError>;
}
