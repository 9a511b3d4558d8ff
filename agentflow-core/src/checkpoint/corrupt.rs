//! Damaged stored data: what a saver or the engine found wrong with a checkpoint it read.
//!
//! Storage is outside the process's control (a bug in another release, a hand-edited row, a
//! hostile writer). Whatever a row holds, reading it gives a clear
//! [`CheckpointError::Corrupt`], never a panic, an endless query or an allocation sized by a
//! stored number.

use super::CheckpointError;

/// What is wrong with stored checkpoint data (inside [`CheckpointError::Corrupt`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The checkpoint names a version of a field that has no stored value.
    #[error("field `{field}` has no stored value at version {version}")]
    MissingValue {
        /// The field.
        field: String,
        /// The version the checkpoint names.
        version: u64,
    },
    /// A delta of an append field extends a version that is not stored.
    #[error("field `{field}` at version {version} is a delta on version {base}, which is not stored")]
    MissingDeltaBase {
        /// The field.
        field: String,
        /// The delta's version.
        version: u64,
        /// The version it extends.
        base: u64,
    },
    /// A field's chain of deltas comes back to a version it already passed.
    #[error("the deltas of field `{field}` loop at version {version}")]
    DeltaChainLoops {
        /// The field.
        field: String,
        /// The version met twice.
        version: u64,
    },
    /// A field's chain of deltas is longer than any the engine writes.
    #[error("the deltas of field `{field}` form a chain of more than {limit} values")]
    DeltaChainTooLong {
        /// The field.
        field: String,
        /// [`MAX_DELTA_CHAIN`](super::MAX_DELTA_CHAIN).
        limit: usize,
    },
    /// A stored value or record is not in the form the saver writes.
    #[error("{what} cannot be read: {detail}")]
    Unreadable {
        /// What was read.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A stored number is outside what the engine writes.
    #[error("{what} is {value}, outside {allowed}")]
    OutOfRange {
        /// What the number is.
        what: String,
        /// The stored number.
        value: String,
        /// The range the engine writes.
        allowed: String,
    },
}

impl Corruption {
    /// The error for this problem, found in checkpoint `checkpoint_id` of `thread_id`.
    pub fn at(self, thread_id: &str, checkpoint_id: &str) -> CheckpointError {
        tracing::warn!(
            %thread_id,
            %checkpoint_id,
            problem = %self,
            "agentflow: corrupt checkpoint data"
        );
        CheckpointError::Corrupt {
            thread_id: thread_id.to_owned(),
            checkpoint_id: checkpoint_id.to_owned(),
            problem: self,
        }
    }
}
