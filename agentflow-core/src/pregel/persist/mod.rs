//! Persistence: how a run writes checkpoints and pending writes in each durability mode, and how
//! it is rebuilt from a checkpoint.

mod durable;
mod persister;
mod restore;
mod snapshot;

pub(crate) use durable::{CheckpointId, Durable, DurableTarget, SavedTask, StoredField, stored_lineage};
pub(crate) use persister::{JournalSink, Persister};
pub(crate) use restore::{Restored, decode_output, encode_result, restore};
pub(crate) use snapshot::Snapshot;
