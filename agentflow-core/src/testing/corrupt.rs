//! Conformance checks for damaged storage: every saver reports a delta chain with a missing
//! base, or one that loops, as the same [`CheckpointError::Corrupt`], never by leaving the
//! field out, reading a delta as a full value, or querying forever.
//!
//! The kit cannot damage a saver's storage through the [`Checkpointer`] trait, so the saver's
//! own test supplies a [`Damage`] that does it by raw access (SQL, internals):
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use agentflow_core::checkpoint::InMemorySaver;
//!
//! let saver = InMemorySaver::new();
//! agentflow_core::testing::corrupt::run_all(&saver, &saver).await;
//! # });
//! ```

use std::time::Duration;

use async_trait::async_trait;

use super::{checkpoint, metadata, thread, versions};
use crate::checkpoint::{
    CheckpointError, CheckpointRef, CheckpointSource, Checkpointer, Corruption, ListOptions, PutMode,
    next_checkpoint_id,
};

/// Damages a saver's storage by raw access, for the checks of this module. Both act on the
/// root namespace of `thread_id`.
#[async_trait]
pub trait Damage: Send + Sync {
    /// Deletes the stored value of `field` at `version` (wherever the saver keeps it).
    async fn remove_value(&self, thread_id: &str, field: &str, version: u64);

    /// Makes the stored value of `field` at `version` a delta on version `base` of the same
    /// field (to make a chain loop).
    async fn set_base(&self, thread_id: &str, field: &str, version: u64, base: u64);
}

/// A read of damaged data must end well within this.
const READ_LIMIT: Duration = Duration::from_secs(30);

/// Puts field `log` as a full value at version 1 (`[1,2]`) and deltas at versions 2 (`[3]`) and
/// 3 (`[4,5]`), one checkpoint each; returns the checkpoint ids, oldest first.
pub(super) async fn delta_chain(saver: &dyn Checkpointer, t: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (version, bytes, base) in [
        (1u64, "[1,2]", None),
        (2, "[3]", Some(1u64)),
        (3, "[4,5]", Some(2)),
    ] {
        let id = next_checkpoint_id(ids.last().map(String::as_str));
        let values = [("log", version, bytes)];
        let mut cp = checkpoint(&id, &values);
        if let Some(base) = base {
            cp.channel_deltas.insert("log".into(), base);
        }
        let parent = CheckpointRef {
            thread_id: t.to_owned(),
            namespace: String::new(),
            checkpoint_id: ids.last().cloned(),
        };
        saver
            .put(
                &parent,
                &cp,
                &metadata(CheckpointSource::Loop, version as i64),
                &versions(&values),
                PutMode::Extend,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Reads checkpoint `id` of `t` (bounded in time) and checks it fails as `want` says.
async fn assert_corrupt(saver: &dyn Checkpointer, t: &str, id: &str, want: Corruption, clause: &str) {
    let read = tokio::time::timeout(READ_LIMIT, saver.get_tuple(&CheckpointRef::at(t, id)))
        .await
        .unwrap_or_else(|_| panic!("{clause}: reading damaged data did not end"));
    match read {
        Err(CheckpointError::Corrupt {
            thread_id,
            checkpoint_id,
            problem,
        }) => {
            assert_eq!(thread_id, t, "{clause}: the error names the thread");
            assert_eq!(checkpoint_id, id, "{clause}: the error names the checkpoint");
            assert_eq!(problem, want, "{clause}: the error says what is wrong");
        }
        other => panic!("{clause}: expected Corrupt({want:?}), got {other:?}"),
    }
    let thread = CheckpointRef::latest(t);
    let listed = tokio::time::timeout(READ_LIMIT, saver.list(Some(&thread), &ListOptions::default()))
        .await
        .unwrap_or_else(|_| panic!("{clause}: listing damaged data did not end"));
    assert!(
        matches!(listed, Err(CheckpointError::Corrupt { .. })),
        "{clause}: list reports the damage too, got {listed:?}"
    );
}

/// A delta whose base is gone is [`Corruption::MissingDeltaBase`] (not a field left out, nor
/// the deepest delta read as the full value); a version with no value at all is
/// [`Corruption::MissingValue`].
pub async fn missing_delta_base(saver: &dyn Checkpointer, damage: &dyn Damage) {
    let t = thread();
    let ids = delta_chain(saver, &t).await;
    damage.remove_value(&t, "log", 1).await;
    let clause = "missing_delta_base";
    let base_gone = |version, base| Corruption::MissingDeltaBase {
        field: "log".into(),
        version,
        base,
    };
    assert_corrupt(saver, &t, &ids[2], base_gone(2, 1), clause).await;
    assert_corrupt(saver, &t, &ids[1], base_gone(2, 1), clause).await;
    let none = Corruption::MissingValue {
        field: "log".into(),
        version: 1,
    };
    assert_corrupt(saver, &t, &ids[0], none, clause).await;

    // A base missing in the middle of the chain.
    let t = thread();
    let ids = delta_chain(saver, &t).await;
    damage.remove_value(&t, "log", 2).await;
    assert_corrupt(saver, &t, &ids[2], base_gone(3, 2), "missing_delta_base (middle)").await;
}

/// A chain that loops is [`Corruption::DeltaChainLoops`], found in bounded time.
pub async fn delta_chain_loops(saver: &dyn Checkpointer, damage: &dyn Damage) {
    let t = thread();
    let ids = delta_chain(saver, &t).await;
    // 3 -> 2 -> 1 -> 3 -> ...
    damage.set_base(&t, "log", 1, 3).await;
    let loops = Corruption::DeltaChainLoops {
        field: "log".into(),
        version: 3,
    };
    assert_corrupt(saver, &t, &ids[2], loops, "delta_chain_loops").await;
}

/// Runs every check of this module.
pub async fn run_all(saver: &dyn Checkpointer, damage: &dyn Damage) {
    missing_delta_base(saver, damage).await;
    delta_chain_loops(saver, damage).await;
}
