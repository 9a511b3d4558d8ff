//! [`InMemorySaver`]: checkpoints in process memory, for tests, examples and benchmarks.

mod intents;
mod pool;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use self::intents::Intents;
use self::pool::Pool;
use super::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    IntentClaim, IntentLease, IntentRef, ListOptions, MAX_DELTA_CHAIN, PendingWrite, PruneStrategy, PutMode,
    Segment, put_field_value,
};

/// Keeps checkpoints in memory. Values arrive encoded (the engine serializes them, as it does for
/// every saver), so benchmarks against it compare like with like. Each field version is stored
/// once, however many checkpoints share it, and equal values once, however many fields,
/// versions and threads hold them.
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
    /// Boxed values keep the maps' nodes small: a node holds room for eleven entries, and most
    /// threads have one namespace.
    threads: HashMap<String, BTreeMap<String, Box<Namespace>>>,
    pool: Pool,
    fields: FieldIds,
    intents: Intents,
}

/// Field names by number, one table for the saver, so that the key of a stored value holds no
/// string: no allocation per field per put, and 16 bytes per key kept.
#[derive(Debug, Default)]
struct FieldIds(HashMap<String, u64>);

impl FieldIds {
    /// The number of `name`, given one if it has none yet.
    fn id(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.0.get(name) {
            return id;
        }
        let id = self.0.len() as u64;
        self.0.insert(name.to_owned(), id);
        id
    }

    /// The number of `name`, if any value of it was ever stored.
    fn get(&self, name: &str) -> Option<u64> {
        self.0.get(name).copied()
    }
}

impl Saved {
    /// Removes a thread, releasing the values only it held.
    fn remove_thread(&mut self, thread_id: &str) {
        self.intents.remove_thread(thread_id);
        if let Some(namespaces) = self.threads.remove(thread_id) {
            let values = namespaces.into_values().flat_map(|ns| ns.blobs.into_values());
            self.pool.release(values.map(|(_, bytes)| bytes));
        }
    }

    /// Keeps only the latest checkpoint of each of a thread's namespaces (and what it needs).
    fn keep_latest(&mut self, thread_id: &str) -> Result<(), CheckpointError> {
        let Some(namespaces) = self.threads.get_mut(thread_id) else {
            return Ok(());
        };
        for ns in namespaces.values_mut() {
            let Some(latest) = ns.checkpoints.values().next_back() else {
                continue;
            };
            // Read before anything is removed: a damaged head loses nothing.
            let versions = decode_head(&latest.head)?.channel_versions;
            let keep: std::collections::HashSet<BlobKey> =
                referenced(ns, &self.fields, &versions).into_iter().collect();
            let Some((id, mut latest)) = ns.checkpoints.pop_last() else {
                continue;
            };
            latest.parent = None;
            latest.children = 0;
            latest.forked_by.clear();
            let dropped = ns.blobs.extract_if(.., |key, _| !keep.contains(key));
            self.pool.release(dropped.map(|(_, (_, bytes))| bytes));
            ns.writes.retain(|cp, _| *cp == id);
            ns.checkpoints = BTreeMap::from([(id, latest)]);
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
struct Namespace {
    checkpoints: BTreeMap<String, Box<Stored>>,
    /// (field, version) -> (the version it extends, if a delta; bytes from the saver's pool).
    blobs: BTreeMap<BlobKey, Blob>,
    writes: HashMap<String, BTreeMap<(String, i64), PendingWrite>>,
}

/// (field number in [`FieldIds`], version).
type BlobKey = (u64, u64);
/// (the version it extends, if a delta; bytes).
type Blob = (Option<u64>, Arc<[u8]>);

#[derive(Debug, Clone)]
struct Stored {
    /// The checkpoint without its values, serialized: one allocation, where a clone of its maps
    /// of field names would be a hundred.
    head: Box<[u8]>,
    metadata: CheckpointMetadata,
    parent: Option<String>,
    /// Checkpoints that extend this one (forks excluded).
    children: usize,
    /// The runs that forked this checkpoint (each may fork it once).
    forked_by: Vec<String>,
}

/// A stored checkpoint's head ([`Checkpoint::head`]), serialized: in MessagePack where the
/// crate has it (versions as binary integers: about a third smaller than JSON, and faster).
#[cfg(feature = "msgpack")]
fn encode_head(c: &Checkpoint) -> Result<Box<[u8]>, CheckpointError> {
    super::msgpack::to_vec(&c.head())
        .map(Vec::into_boxed_slice)
        .map_err(|e| damaged(e.to_string()))
}

#[cfg(feature = "msgpack")]
fn decode_head(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    rmp_serde::from_slice(bytes).map_err(|e| damaged(e.to_string()))
}

#[cfg(not(feature = "msgpack"))]
fn encode_head(c: &Checkpoint) -> Result<Box<[u8]>, CheckpointError> {
    serde_json::to_vec(&c.head())
        .map(Vec::into_boxed_slice)
        .map_err(|e| damaged(e.to_string()))
}

#[cfg(not(feature = "msgpack"))]
fn decode_head(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    serde_json::from_slice(bytes).map_err(|e| damaged(e.to_string()))
}

fn damaged(error: String) -> CheckpointError {
    CheckpointError::Backend {
        retryable: false,
        source: format!("a stored checkpoint does not decode: {error}").into(),
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

    /// Total bytes of stored values and writes (for storage-growth measurements); values that
    /// fields share count once.
    pub fn stored_bytes(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.lock()
            .threads
            .values()
            .flat_map(|t| t.values())
            .map(|ns| {
                ns.blobs
                    .values()
                    .filter(|b| seen.insert(b.1.as_ptr()))
                    .map(|b| b.1.len())
                    .sum::<usize>()
                    + ns.writes
                        .values()
                        .flat_map(|w| w.values())
                        .map(|w| w.value.len())
                        .sum::<usize>()
            })
            .sum()
    }
}

/// The new versions of a put, keyed for `blobs`, their bytes from `pool`.
fn new_values(
    pool: &mut Pool,
    fields: &mut FieldIds,
    checkpoint: &Checkpoint,
    new_versions: &BTreeMap<String, u64>,
) -> Result<Vec<(BlobKey, Blob)>, CheckpointError> {
    // Every value first: a put that fails leaves nothing in the pool.
    let values = new_versions
        .keys()
        .map(|channel| checkpoint.new_value(channel))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(new_versions
        .iter()
        .zip(values)
        .map(|((channel, version), bytes)| {
            let base = checkpoint.channel_deltas.get(channel).copied();
            ((fields.id(channel), *version), (base, pool.intern(bytes)))
        })
        .collect())
}

/// The stored segments of a field's value at `version`, newest first: the value, then the
/// versions it extends, as far as they are stored (at most one more than the longest chain
/// allowed, so that a loop ends). [`put_field_value`] checks them.
fn chain(ns: &Namespace, fields: &FieldIds, channel: &str, version: u64) -> Vec<Segment> {
    let Some(field) = fields.get(channel) else {
        return Vec::new();
    };
    let mut segments = Vec::new();
    let mut current = Some(version);
    while let Some(v) = current
        && segments.len() <= MAX_DELTA_CHAIN
        && let Some((base, bytes)) = ns.blobs.get(&(field, v))
    {
        segments.push(Segment {
            version: v,
            base: *base,
            bytes: bytes.to_vec(),
        });
        current = *base;
    }
    segments
}

/// Versions a checkpoint needs, bases included.
fn referenced(ns: &Namespace, fields: &FieldIds, versions: &BTreeMap<String, u64>) -> Vec<BlobKey> {
    let mut out = Vec::new();
    for (channel, version) in versions {
        let Some(field) = fields.get(channel) else {
            continue;
        };
        let mut current = Some(*version);
        // Bounded as reads are: a damaged chain that loops ends here too.
        for _ in 0..=MAX_DELTA_CHAIN {
            let Some(v) = current else { break };
            out.push((field, v));
            current = ns.blobs.get(&(field, v)).and_then(|b| b.0);
        }
    }
    out
}

/// Where a stored checkpoint is, and the saver's field numbers to read its values with.
struct At<'a> {
    thread_id: &'a str,
    namespace: &'a str,
    ns: &'a Namespace,
    fields: &'a FieldIds,
}

fn tuple(at: &At<'_>, stored: &Stored) -> Result<CheckpointTuple, CheckpointError> {
    let At {
        thread_id,
        namespace,
        ns,
        fields,
    } = *at;
    let mut checkpoint = decode_head(&stored.head)?;
    for (channel, version) in &checkpoint.channel_versions.clone() {
        let segments = chain(ns, fields, channel, *version);
        put_field_value(&mut checkpoint, channel, *version, segments)
            .map_err(|problem| problem.at(thread_id, &checkpoint.id))?;
    }
    let pending_writes = ns
        .writes
        .get(&checkpoint.id)
        .map(|w| w.values().cloned().collect())
        .unwrap_or_default();
    Ok(CheckpointTuple::stored(
        thread_id.to_owned(),
        namespace.to_owned(),
        checkpoint.id.clone(),
        stored.parent.clone(),
        checkpoint,
        stored.metadata.clone(),
        pending_writes,
    ))
}

#[async_trait]
impl Checkpointer for InMemorySaver {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        let saved = self.lock();
        let Some(ns) = saved
            .threads
            .get(&target.thread_id)
            .and_then(|t| t.get(&target.namespace))
        else {
            return Ok(None);
        };
        let stored = match &target.checkpoint_id {
            Some(id) => ns.checkpoints.get(id),
            None => ns.checkpoints.values().next_back(),
        };
        let at = At {
            thread_id: &target.thread_id,
            namespace: &target.namespace,
            ns,
            fields: &saved.fields,
        };
        stored.map(|s| tuple(&at, s)).transpose()
    }

    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let saved = self.lock();
        let mut out = Vec::new();
        for (thread_id, namespaces) in saved.threads.iter() {
            if thread.is_some_and(|t| &t.thread_id != thread_id) {
                continue;
            }
            for (namespace, ns) in namespaces {
                if thread.is_some_and(|t| &t.namespace != namespace) {
                    continue;
                }
                let at = At {
                    thread_id,
                    namespace,
                    ns,
                    fields: &saved.fields,
                };
                for (id, stored) in &ns.checkpoints {
                    if options.before.as_ref().is_some_and(|b| id >= b)
                        || !stored.metadata.matches(&options.filter)
                    {
                        continue;
                    }
                    out.push(tuple(&at, stored)?);
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
        // Serialized before taking the lock: other threads' puts need not wait.
        let head = encode_head(checkpoint)?;
        let mut saved = self.lock();
        let Saved {
            threads,
            pool,
            fields,
            ..
        } = &mut *saved;
        let ns = threads
            .entry(parent.thread_id.clone())
            .or_default()
            .entry(parent.namespace.clone())
            .or_default();
        let conflict = || CheckpointError::Conflict {
            thread_id: parent.thread_id.clone(),
            parent: parent.checkpoint_id.clone(),
        };
        match (&parent.checkpoint_id, mode) {
            (None, _) if !ns.checkpoints.is_empty() => return Err(conflict()),
            (None, _) => {}
            (Some(p), mode) => match ns.checkpoints.get(p) {
                None => {
                    return Err(CheckpointError::NotFound {
                        thread_id: parent.thread_id.clone(),
                        checkpoint_id: p.clone(),
                    });
                }
                Some(s) if mode == PutMode::Extend && s.children > 0 => return Err(conflict()),
                Some(s) if mode == PutMode::Fork && s.forked_by.contains(&metadata.run_id) => {
                    return Err(conflict());
                }
                Some(_) => {}
            },
        }
        if ns.checkpoints.contains_key(&checkpoint.id) {
            return Err(conflict());
        }
        let values = new_values(pool, fields, checkpoint, new_versions)?;
        let replaced: Vec<Arc<[u8]>> = values
            .into_iter()
            .filter_map(|(key, value)| ns.blobs.insert(key, value))
            .map(|(_, bytes)| bytes)
            .collect();
        pool.release(replaced);
        // A line of history is extended once; a run forks a checkpoint once.
        if let Some(p) = &parent.checkpoint_id
            && let Some(s) = ns.checkpoints.get_mut(p)
        {
            match mode {
                PutMode::Extend => s.children += 1,
                PutMode::Fork => s.forked_by.push(metadata.run_id.clone()),
            }
        }
        ns.checkpoints.insert(
            checkpoint.id.clone(),
            Box::new(Stored {
                head,
                metadata: metadata.clone(),
                parent: parent.checkpoint_id.clone(),
                children: 0,
                forked_by: Vec::new(),
            }),
        );
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
                PruneStrategy::KeepLatest => saved.keep_latest(thread_id)?,
            }
        }
        Ok(())
    }

    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        let mut saved = self.lock();
        let threads = &mut saved.threads;
        if threads
            .get(target)
            .is_some_and(|t| t.values().any(|ns| !ns.checkpoints.is_empty()))
        {
            return Err(CheckpointError::Conflict {
                thread_id: target.to_owned(),
                parent: None,
            });
        }
        let Some(copy) = threads.get(source).cloned() else {
            return Ok(());
        };
        threads.insert(target.to_owned(), copy);
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

/// Raw damage for the conformance kit's corruption checks.
#[cfg(feature = "testing")]
#[async_trait]
impl crate::testing::corrupt::Damage for InMemorySaver {
    async fn remove_value(&self, thread_id: &str, field: &str, version: u64) {
        let mut saved = self.lock();
        let Some(id) = saved.fields.get(field) else { return };
        if let Some(ns) = saved.threads.get_mut(thread_id).and_then(|t| t.get_mut("")) {
            ns.blobs.remove(&(id, version));
        }
    }

    async fn set_base(&self, thread_id: &str, field: &str, version: u64, base: u64) {
        let mut saved = self.lock();
        let Some(id) = saved.fields.get(field) else { return };
        if let Some(blob) = saved
            .threads
            .get_mut(thread_id)
            .and_then(|t| t.get_mut(""))
            .and_then(|ns| ns.blobs.get_mut(&(id, version)))
        {
            blob.0 = Some(base);
        }
    }
}

#[cfg(test)]
mod tests;
