//! [`InMemorySaver`]: checkpoints in process memory, for tests, examples and benchmarks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, Checkpointer,
    ListOptions, PendingWrite, PruneStrategy, PutMode,
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
    threads: Mutex<HashMap<String, BTreeMap<String, Namespace>>>,
}

#[derive(Debug, Default, Clone)]
struct Namespace {
    checkpoints: BTreeMap<String, Stored>,
    /// (field, version) -> (the version it extends, if a delta; bytes). Fields of one put with
    /// equal bytes share them.
    blobs: HashMap<BlobKey, Blob>,
    writes: HashMap<String, BTreeMap<(String, i64), PendingWrite>>,
}

/// (field, version).
type BlobKey = (String, u64);
/// (the version it extends, if a delta; bytes).
type Blob = (Option<u64>, Arc<[u8]>);

#[derive(Debug, Clone)]
struct Stored {
    /// The checkpoint without its values, serialized: one allocation, where a clone of its maps
    /// of field names would be a hundred.
    head: Vec<u8>,
    metadata: CheckpointMetadata,
    parent: Option<String>,
    /// Checkpoints that extend this one (forks excluded).
    children: usize,
}

/// A stored checkpoint's head ([`Checkpoint::head`]), serialized.
fn encode_head(c: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    serde_json::to_vec(&c.head()).map_err(damaged)
}

fn decode_head(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    serde_json::from_slice(bytes).map_err(damaged)
}

fn damaged(error: serde_json::Error) -> CheckpointError {
    CheckpointError::Backend {
        retryable: false,
        source: Box::new(error),
    }
}

impl InMemorySaver {
    /// An empty saver.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<String, Namespace>>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than losing the saver, so keep going with the data.
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Total bytes of stored values and writes (for storage-growth measurements); values that
    /// fields share count once.
    pub fn stored_bytes(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.lock()
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

/// The new versions of a put, keyed for `blobs`. Fields with equal bytes (a state often holds one
/// value in several fields) share one copy: memory a long-lived saver would otherwise hold
/// several times over.
fn shared_values(
    checkpoint: &Checkpoint,
    new_versions: &BTreeMap<String, u64>,
) -> Result<Vec<(BlobKey, Blob)>, CheckpointError> {
    let mut distinct: Vec<Arc<[u8]>> = Vec::new();
    new_versions
        .iter()
        .map(|(channel, version)| {
            let bytes = checkpoint.new_value(channel)?;
            // Slices compare lengths first: most pairs cost one comparison.
            let shared = match distinct.iter().find(|d| d[..] == *bytes) {
                Some(d) => d.clone(),
                None => {
                    let d: Arc<[u8]> = Arc::from(bytes);
                    distinct.push(d.clone());
                    d
                }
            };
            let base = checkpoint.channel_deltas.get(channel).copied();
            Ok(((channel.clone(), *version), (base, shared)))
        })
        .collect()
}

/// The segments of a field's value: a full snapshot, then the deltas after it, oldest first.
fn chain(ns: &Namespace, channel: &str, version: u64) -> Option<Vec<Vec<u8>>> {
    let mut segments = Vec::new();
    let mut current = version;
    loop {
        let (base, bytes) = ns.blobs.get(&(channel.to_owned(), current))?;
        segments.push(bytes.to_vec());
        match base {
            Some(base) => current = *base,
            None => break,
        }
    }
    segments.reverse();
    Some(segments)
}

/// Versions a checkpoint needs, bases included.
fn referenced(ns: &Namespace, versions: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (channel, version) in versions {
        let mut current = Some(*version);
        while let Some(v) = current {
            out.push((channel.clone(), v));
            current = ns.blobs.get(&(channel.clone(), v)).and_then(|b| b.0);
        }
    }
    out
}

fn tuple(
    thread_id: &str,
    namespace: &str,
    ns: &Namespace,
    stored: &Stored,
) -> Result<CheckpointTuple, CheckpointError> {
    let mut checkpoint = decode_head(&stored.head)?;
    for (channel, version) in &checkpoint.channel_versions.clone() {
        let Some(mut segments) = chain(ns, channel, *version) else {
            continue;
        };
        let first = segments.remove(0);
        checkpoint.channel_values.insert(channel.clone(), first);
        if !segments.is_empty() {
            checkpoint.channel_appends.insert(channel.clone(), segments);
        }
    }
    let id = &checkpoint.id;
    let config = CheckpointRef {
        thread_id: thread_id.to_owned(),
        namespace: namespace.to_owned(),
        checkpoint_id: Some(id.clone()),
    };
    let parent = stored.parent.as_ref().map(|p| config.with_checkpoint(p.clone()));
    let pending_writes = ns
        .writes
        .get(id)
        .map(|w| w.values().cloned().collect())
        .unwrap_or_default();
    Ok(CheckpointTuple {
        config,
        checkpoint,
        metadata: stored.metadata.clone(),
        parent,
        pending_writes,
    })
}

#[async_trait]
impl Checkpointer for InMemorySaver {
    async fn get_tuple(&self, target: &CheckpointRef) -> Result<Option<CheckpointTuple>, CheckpointError> {
        let threads = self.lock();
        let Some(ns) = threads
            .get(&target.thread_id)
            .and_then(|t| t.get(&target.namespace))
        else {
            return Ok(None);
        };
        let stored = match &target.checkpoint_id {
            Some(id) => ns.checkpoints.get(id),
            None => ns.checkpoints.values().next_back(),
        };
        stored
            .map(|s| tuple(&target.thread_id, &target.namespace, ns, s))
            .transpose()
    }

    async fn list(
        &self,
        thread: Option<&CheckpointRef>,
        options: &ListOptions,
    ) -> Result<Vec<CheckpointTuple>, CheckpointError> {
        let threads = self.lock();
        let mut out = Vec::new();
        for (thread_id, namespaces) in threads.iter() {
            if thread.is_some_and(|t| &t.thread_id != thread_id) {
                continue;
            }
            for (namespace, ns) in namespaces {
                if thread.is_some_and(|t| &t.namespace != namespace) {
                    continue;
                }
                for (id, stored) in &ns.checkpoints {
                    if options.before.as_ref().is_some_and(|b| id >= b)
                        || !stored.metadata.matches(&options.filter)
                    {
                        continue;
                    }
                    out.push(tuple(thread_id, namespace, ns, stored)?);
                }
            }
        }
        out.sort_by(|a, b| b.checkpoint.id.cmp(&a.checkpoint.id));
        if let Some(limit) = options.limit {
            out.truncate(limit);
        }
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
        // Serialized and copied before taking the lock: other threads' puts need not wait.
        let head = encode_head(checkpoint)?;
        let values = shared_values(checkpoint, new_versions)?;
        let mut threads = self.lock();
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
                Some(_) => {}
            },
        }
        if ns.checkpoints.contains_key(&checkpoint.id) {
            return Err(conflict());
        }
        for (key, value) in values {
            ns.blobs.insert(key, value);
        }
        // Only a line of history is fenced; forks may branch off anything.
        if mode == PutMode::Extend
            && let Some(p) = &parent.checkpoint_id
            && let Some(s) = ns.checkpoints.get_mut(p)
        {
            s.children += 1;
        }
        ns.checkpoints.insert(
            checkpoint.id.clone(),
            Stored {
                head,
                metadata: metadata.clone(),
                parent: parent.checkpoint_id.clone(),
                children: 0,
            },
        );
        Ok(parent.with_checkpoint(checkpoint.id.clone()))
    }

    async fn put_writes(
        &self,
        target: &CheckpointRef,
        writes: &[PendingWrite],
    ) -> Result<(), CheckpointError> {
        let mut threads = self.lock();
        let id = target.checkpoint_id.clone().unwrap_or_default();
        let ns = threads
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
        self.lock().remove(thread_id);
        Ok(())
    }

    async fn prune(&self, thread_ids: &[String], strategy: PruneStrategy) -> Result<(), CheckpointError> {
        let mut threads = self.lock();
        for thread_id in thread_ids {
            match strategy {
                PruneStrategy::Delete => {
                    threads.remove(thread_id);
                }
                PruneStrategy::KeepLatest => {
                    let Some(namespaces) = threads.get_mut(thread_id) else {
                        continue;
                    };
                    for ns in namespaces.values_mut() {
                        let Some((id, mut latest)) = ns.checkpoints.pop_last() else {
                            continue;
                        };
                        latest.parent = None;
                        latest.children = 0;
                        let keep: std::collections::HashSet<(String, u64)> =
                            referenced(ns, &decode_head(&latest.head)?.channel_versions)
                                .into_iter()
                                .collect();
                        ns.blobs.retain(|key, _| keep.contains(key));
                        ns.writes.retain(|cp, _| *cp == id);
                        ns.checkpoints = BTreeMap::from([(id, latest)]);
                    }
                }
            }
        }
        Ok(())
    }

    async fn copy_thread(&self, source: &str, target: &str) -> Result<(), CheckpointError> {
        let mut threads = self.lock();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{CHECKPOINT_VERSION, CheckpointSource, next_checkpoint_id};

    #[tokio::test]
    async fn fields_with_equal_bytes_are_stored_once_and_read_back_whole() {
        let saver = InMemorySaver::new();
        let doc = vec![7u8; 5000];
        let values = BTreeMap::from([
            ("a".to_owned(), doc.clone()),
            ("b".to_owned(), doc.clone()),
            ("c".to_owned(), b"other".to_vec()),
        ]);
        let versions: BTreeMap<String, u64> = values.keys().map(|k| (k.clone(), 1)).collect();
        let checkpoint = Checkpoint {
            v: CHECKPOINT_VERSION,
            id: next_checkpoint_id(None),
            ts_ms: 0,
            channel_values: values.clone(),
            channel_deltas: BTreeMap::new(),
            channel_appends: BTreeMap::new(),
            channel_versions: versions.clone(),
            versions_seen: BTreeMap::new(),
            updated_channels: Vec::new(),
            next: Vec::new(),
            sends: Vec::new(),
            joins: BTreeMap::new(),
            codec: "json".into(),
        };
        let metadata = CheckpointMetadata {
            source: CheckpointSource::Input,
            step: -1,
            parents: BTreeMap::new(),
            run_id: "r".into(),
            extra: BTreeMap::new(),
        };
        let at = CheckpointRef::latest("t");
        saver
            .put(&at, &checkpoint, &metadata, &versions, PutMode::Extend)
            .await
            .unwrap();
        assert_eq!(saver.stored_bytes(), 5000 + 5);
        let back = saver.get_tuple(&at).await.unwrap().unwrap();
        assert_eq!(back.checkpoint.channel_values, values);
    }
}
