//! One namespace of one thread, as the in-memory saver keeps it: plain maps of plain structs.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointMetadata, CheckpointRef, CheckpointTuple, MAX_DELTA_CHAIN,
    PendingWrite, PutMode, Segment, put_field_value,
};

/// A namespace's checkpoints, the values they refer to, and the writes pending on them.
#[derive(Debug, Default, Clone)]
pub(super) struct Namespace {
    /// By checkpoint id; ids sort by creation time, so the last is the latest.
    pub(super) checkpoints: BTreeMap<String, Stored>,
    /// Field -> version -> value. A version is stored once, however many checkpoints hold it.
    pub(super) values: HashMap<String, BTreeMap<u64, Value>>,
    /// Checkpoint id -> (task id, index) -> write.
    pub(super) writes: HashMap<String, BTreeMap<(String, i64), PendingWrite>>,
}

/// A stored checkpoint.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    /// The checkpoint without its values ([`Checkpoint::without_values`]).
    pub(super) checkpoint: Checkpoint,
    pub(super) metadata: CheckpointMetadata,
    pub(super) parent: Option<String>,
    /// Whether a checkpoint extends this one (a line of history is extended once).
    pub(super) extended: bool,
    /// The runs that forked this checkpoint (each may fork it once).
    pub(super) forked_by: Vec<String>,
}

/// One field's value at one version.
#[derive(Debug, Clone)]
pub(super) struct Value {
    /// The version this one extends, if it is a delta.
    pub(super) base: Option<u64>,
    pub(super) bytes: Vec<u8>,
}

impl Namespace {
    /// Whether `checkpoint` may be put as a child of `parent` in `mode`: the fences of the
    /// contract (a first checkpoint only on an empty namespace, one extension per checkpoint, one
    /// fork per run, no id twice).
    pub(super) fn check_put(
        &self,
        parent: &CheckpointRef,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        mode: PutMode,
    ) -> Result<(), CheckpointError> {
        let conflict = || CheckpointError::Conflict {
            thread_id: parent.thread_id.clone(),
            parent: parent.checkpoint_id.clone(),
        };
        let fenced = match &parent.checkpoint_id {
            None => !self.checkpoints.is_empty(),
            Some(parent_id) => {
                let Some(stored) = self.checkpoints.get(parent_id) else {
                    return Err(CheckpointError::NotFound {
                        thread_id: parent.thread_id.clone(),
                        checkpoint_id: parent_id.clone(),
                    });
                };
                match mode {
                    PutMode::Extend => stored.extended,
                    PutMode::Fork => stored.forked_by.contains(&metadata.run_id),
                }
            }
        };
        if fenced || self.checkpoints.contains_key(&checkpoint.id) {
            return Err(conflict());
        }
        Ok(())
    }

    /// Stores a checkpoint [`check_put`](Self::check_put) allowed, with its new values.
    pub(super) fn put(
        &mut self,
        parent: Option<&String>,
        checkpoint: &Checkpoint,
        metadata: &CheckpointMetadata,
        new_versions: &BTreeMap<String, u64>,
        mode: PutMode,
    ) -> Result<(), CheckpointError> {
        // Every value first: a put that fails stores nothing.
        let mut values = Vec::with_capacity(new_versions.len());
        for (field, version) in new_versions {
            let value = Value {
                base: checkpoint.channel_deltas.get(field).copied(),
                bytes: checkpoint.new_value(field)?.to_vec(),
            };
            values.push((field, *version, value));
        }
        for (field, version, value) in values {
            self.values
                .entry(field.clone())
                .or_default()
                .insert(version, value);
        }
        if let Some(stored) = parent.and_then(|p| self.checkpoints.get_mut(p)) {
            match mode {
                PutMode::Extend => stored.extended = true,
                PutMode::Fork => stored.forked_by.push(metadata.run_id.clone()),
            }
        }
        let stored = Stored {
            checkpoint: checkpoint.without_values(),
            metadata: metadata.clone(),
            parent: parent.cloned(),
            extended: false,
            forked_by: Vec::new(),
        };
        self.checkpoints.insert(checkpoint.id.clone(), stored);
        Ok(())
    }

    /// The stored checkpoint with its values, its parent and its pending writes.
    pub(super) fn tuple(
        &self,
        thread_id: &str,
        namespace: &str,
        stored: &Stored,
    ) -> Result<CheckpointTuple, CheckpointError> {
        let mut checkpoint = stored.checkpoint.clone();
        for (field, version) in &stored.checkpoint.channel_versions {
            put_field_value(&mut checkpoint, field, *version, self.chain(field, *version))
                .map_err(|problem| problem.at(thread_id, &checkpoint.id))?;
        }
        let pending_writes = self
            .writes
            .get(&checkpoint.id)
            .map(|writes| writes.values().cloned().collect())
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

    /// The stored segments of a field's value at `version`, newest first: the value, then the
    /// versions it extends, as far as they are stored (at most one more than the longest chain
    /// allowed, so that a damaged chain that loops ends). [`put_field_value`] checks them.
    fn chain(&self, field: &str, version: u64) -> Vec<Segment> {
        let mut segments = Vec::new();
        let mut next = Some(version);
        while let Some(version) = next
            && segments.len() <= MAX_DELTA_CHAIN
            && let Some(value) = self.value(field, version)
        {
            segments.push(Segment {
                version,
                base: value.base,
                bytes: value.bytes.clone(),
            });
            next = value.base;
        }
        segments
    }

    fn value(&self, field: &str, version: u64) -> Option<&Value> {
        self.values.get(field)?.get(&version)
    }

    /// Keeps only the latest checkpoint, the values it needs (delta bases included) and its
    /// pending writes.
    pub(super) fn keep_latest(&mut self) {
        let Some((id, mut latest)) = self.checkpoints.pop_last() else {
            return;
        };
        let needed: HashSet<(&str, u64)> = latest
            .checkpoint
            .channel_versions
            .iter()
            .flat_map(|(field, version)| {
                self.chain(field, *version)
                    .into_iter()
                    .map(move |segment| (field.as_str(), segment.version))
            })
            .collect();
        for (field, versions) in &mut self.values {
            versions.retain(|version, _| needed.contains(&(field.as_str(), *version)));
        }
        self.values.retain(|_, versions| !versions.is_empty());
        self.writes.retain(|checkpoint_id, _| *checkpoint_id == id);
        latest.parent = None;
        latest.extended = false;
        latest.forked_by.clear();
        self.checkpoints = BTreeMap::from([(id, latest)]);
    }

    /// Bytes of stored values and pending writes.
    pub(super) fn stored_bytes(&self) -> usize {
        let values: usize = self
            .values
            .values()
            .flat_map(|v| v.values())
            .map(|v| v.bytes.len())
            .sum();
        let writes: usize = self
            .writes
            .values()
            .flat_map(|w| w.values())
            .map(|w| w.value.len())
            .sum();
        values + writes
    }
}
