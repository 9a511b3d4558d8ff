//! [`InMemorySaver`]: checkpoints in process memory, for tests, examples and benchmarks, and the
//! reference implementation of the [`Checkpointer`] contract: plain maps of plain structs.

mod intents;
mod namespace;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use self::intents::Intents;
use self::namespace::Namespace;
use super::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    IntentClaim, IntentLease, IntentRef, ListOptions, PendingWrite, PruneStrategy, PutMode,
};

/// Keeps checkpoints in memory. Values arrive encoded (the engine serializes them, as it does for
/// every saver), so benchmarks against it compare like with like. Each field version is stored
/// once, however many checkpoints share it.
///
/// ```
/// use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, InMemorySaver};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let saver = InMemorySaver::new();
/// assert!(saver.get_tuple(&CheckpointRef::latest("t1")).await.unwrap().is_none());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemorySaver {
    saved: Mutex<Saved>,
}

#[derive(Debug, Default)]
struct Saved {
    /// Thread id -> namespace -> what it holds.
    threads: HashMap<String, BTreeMap<String, Namespace>>,
    intents: Intents,
}

impl Saved {
    fn namespace(&self, at: &CheckpointRef) -> Option<&Namespace> {
        self.threads.get(&at.thread_id)?.get(&at.namespace)
    }

    fn remove_thread(&mut self, thread_id: &str) {
        self.threads.remove(thread_id);
        self.intents.remove_thread(thread_id);
    }
}

impl InMemorySaver {
    /// An empty saver.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Saved> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than losing the saver, so keep going with the data.
        self.saved.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Total bytes of stored values and pending writes (for storage-growth measurements).
    pub fn stored_bytes(&self) -> usize {
        self.lock()
            .threads
            .values()
            .flat_map(BTreeMap::values)
            .map(Namespace::stored_bytes)
            .sum()
    }
}

#[async_trait]
impl Checkpointer for InMemorySaver {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        let saved = self.lock();
        let Some(ns) = saved.namespace(target) else {
            return Ok(None);
        };
        let stored = match &target.checkpoint_id {
            Some(id) => ns.checkpoints.get(id),
            None => ns.checkpoints.values().next_back(),
        };
        stored
            .map(|stored| ns.tuple(&target.thread_id, &target.namespace, stored))
            .transpose()
    }

    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let saved = self.lock();
        let mut out = Vec::new();
        for (thread_id, namespaces) in &saved.threads {
            for (namespace, ns) in namespaces {
                if thread.is_some_and(|t| &t.thread_id != thread_id || &t.namespace != namespace) {
                    continue;
                }
                for (id, stored) in &ns.checkpoints {
                    let too_new = options.before.as_ref().is_some_and(|before| id >= before);
                    if too_new || !stored.metadata.matches(&options.filter) {
                        continue;
                    }
                    out.push(ns.tuple(thread_id, namespace, stored)?);
                }
            }
        }
        out.sort_by(|a, b| b.checkpoint.id.cmp(&a.checkpoint.id));
        out.truncate(options.limit_or_default());
        Ok(out)
    }

    async fn put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<CheckpointRef, CheckpointError> {
        let mut saved = self.lock();
        let ns = saved
            .threads
            .entry(parent.thread_id.clone())
            .or_default()
            .entry(parent.namespace.clone())
            .or_default();
        ns.check_put(parent, checkpoint, metadata, mode)?;
        ns.put(
            parent.checkpoint_id.as_ref(),
            checkpoint,
            metadata,
            new_versions,
            mode,
        )?;
        Ok(parent.with_checkpoint(checkpoint.id.clone()))
    }

    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        let mut saved = self.lock();
        let id = target.checkpoint_id.clone().unwrap_or_default();
        let ns = saved
            .threads
            .get_mut(&target.thread_id)
            .and_then(|t| t.get_mut(&target.namespace))
            .filter(|ns| ns.checkpoints.contains_key(&id))
            .ok_or_else(|| CheckpointError::NotFound {
                thread_id: target.thread_id.clone(),
                checkpoint_id: id.clone(),
            })?;
        let slot = ns.writes.entry(id).or_default();
        for write in writes {
            slot.insert((write.task_id.clone(), write.idx), write.clone());
        }
        Ok(())
    }

    async fn delete_thread(&self, thread_id: &str) -> Result<(), CheckpointError> {
        self.lock().remove_thread(thread_id);
        Ok(())
    }

    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError> {
        let mut saved = self.lock();
        for thread_id in thread_ids {
            match strategy {
                PruneStrategy::Delete => saved.remove_thread(thread_id),
                PruneStrategy::KeepLatest => {
                    for ns in saved
                        .threads
                        .get_mut(thread_id)
                        .into_iter()
                        .flat_map(BTreeMap::values_mut)
                    {
                        ns.keep_latest();
                    }
                }
            }
        }
        Ok(())
    }

    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        let mut saved = self.lock();
        let target_has_checkpoints = saved
            .threads
            .get(target)
            .is_some_and(|t| t.values().any(|ns| !ns.checkpoints.is_empty()));
        if target_has_checkpoints {
            return Err(CheckpointError::Conflict {
                thread_id: target.to_owned(),
                parent: None,
            });
        }
        if let Some(copy) = saved.threads.get(source).cloned() {
            saved.threads.insert(target.to_owned(), copy);
        }
        Ok(())
    }

    async fn claim_intent(
        &self,
        intent: &IntentRef,
        lease: IntentLease<'_>,
    ) -> Result<IntentClaim, CheckpointError> {
        Ok(self.lock().intents.claim(intent, lease))
    }

    async fn complete_intent(
        &self,
        intent: &IntentRef,
        owner: &str,
        result: &[u8],
    ) -> Result<bool, CheckpointError> {
        Ok(self.lock().intents.complete(intent, owner, result))
    }

    async fn release_intent(&self, intent: &IntentRef, owner: &str) -> Result<(), CheckpointError> {
        self.lock().intents.release(intent, owner);
        Ok(())
    }
}

/// Raw damage for the conformance kit's corruption checks (the root namespace only).
#[cfg(feature = "testing")]
#[async_trait]
impl crate::testing::corrupt::Damage for InMemorySaver {
    async fn remove_value(&self, thread_id: &str, field: &str, version: u64) {
        if let Some(versions) = self.lock().value_versions(thread_id, field) {
            versions.remove(&version);
        }
    }

    async fn set_base(&self, thread_id: &str, field: &str, version: u64, base: u64) {
        if let Some(value) = self
            .lock()
            .value_versions(thread_id, field)
            .and_then(|versions| versions.get_mut(&version))
        {
            value.base = Some(base);
        }
    }
}

#[cfg(feature = "testing")]
impl Saved {
    /// The stored versions of `field` in `thread_id`'s root namespace.
    fn value_versions(
        &mut self,
        thread_id: &str,
        field: &str,
    ) -> Option<&mut BTreeMap<u64, namespace::Value>> {
        self.threads
            .get_mut(thread_id)?
            .get_mut("")?
            .values
            .get_mut(field)
    }
}

#[cfg(test)]
mod tests;
