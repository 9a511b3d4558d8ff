//! Building a checkpoint from a run and putting it: delta encoding of append fields, and the end
//! of a run in each durability mode.

use std::collections::BTreeMap;

use crate::checkpoint::{CHECKPOINT_VERSION, Checkpoint, MAX_DELTA_CHAIN, PendingSend, PendingWrite, now_ms};
use crate::config::Durability;
use crate::error::GraphError;
use crate::state::{FieldSet, State};

use super::super::{Run, Triggers};
use super::Durable;

/// A new full snapshot of an append field is written once its deltas outweigh the last snapshot
/// this many times: total storage stays linear (deltas once, snapshots a geometric series) and a
/// read never replays more than a few times the value's size.
const SNAPSHOT_FACTOR: usize = 4;

/// A checkpoint ready to put: the checkpoint, its new versions, and how each field was written.
type Built = (Checkpoint, BTreeMap<String, u64>, Vec<Written>);

/// What a put wrote of one field, for the bookkeeping of deltas and snapshots.
struct Written {
    index: usize,
    len: usize,
    /// As in [`FieldWrite`].
    base: Option<u64>,
}

/// How one field is written in a checkpoint.
struct FieldWrite {
    index: usize,
    bytes: Vec<u8>,
    /// The version this delta extends; `None` for a full value.
    base: Option<u64>,
}

/// The pieces of a run a checkpoint is made of.
pub(crate) struct Snapshot<'a, S: State, C> {
    pub(crate) graph: &'a crate::compiled::GraphCore<S, C>,
    pub(crate) state: &'a S,
    pub(crate) triggers: &'a Triggers,
    pub(crate) join_seen: &'a [u128],
}

impl<S: State, C> Snapshot<'_, S, C> {
    /// How each of `fields` is written: as the items appended since the stored version when it
    /// is an append field that was not overwritten, else whole.
    fn encode(&self, d: &Durable, fields: FieldSet) -> Result<Vec<FieldWrite>, GraphError> {
        // With the opt-in codec, one memo for all fields: a value they share is encoded once
        // (and a large one, once while it lives).
        d.codec()
            .encoding_scope(&self.graph.encoded, || self.encode_each(d, fields))
    }

    fn encode_each(&self, d: &Durable, fields: FieldSet) -> Result<Vec<FieldWrite>, GraphError> {
        let codec = d.codec();
        let mut out = Vec::with_capacity(fields.len());
        for index in fields.iter() {
            let stored = d.stored_field(index);
            let base_len = match (stored.len, self.state.append_len(index)) {
                (Some(base), Some(now)) if base <= now => Some(base),
                _ => None,
            };
            // A delta only while the chain stays within what savers read back.
            let delta_ok = stored.version > 0
                && !d.is_replaced(index)
                && stored.delta_bytes < SNAPSHOT_FACTOR * stored.snapshot_bytes.max(1)
                && stored.segments < MAX_DELTA_CHAIN;
            if let (true, Some(from)) = (delta_ok, base_len)
                && let Some(bytes) = self.state.encode_tail(index, from, codec)?
            {
                out.push(FieldWrite {
                    index,
                    bytes,
                    base: Some(stored.version),
                });
                continue;
            }
            let mut only = FieldSet::EMPTY;
            only.insert(index);
            for (_, bytes) in self.state.encode_fields(only, codec)? {
                out.push(FieldWrite {
                    index,
                    bytes,
                    base: None,
                });
            }
        }
        Ok(out)
    }

    /// The current checkpoint, with the values of `fields` encoded.
    fn build(&self, d: &Durable, fields: FieldSet) -> Result<Built, GraphError> {
        let codec = d.codec();
        let writes = self.encode(d, fields)?;
        let mut values = BTreeMap::new();
        let mut deltas = BTreeMap::new();
        let mut written = Vec::with_capacity(writes.len());
        for w in writes {
            let name = S::FIELDS.get(w.index).copied().unwrap_or_default().to_owned();
            if let Some(base) = w.base {
                deltas.insert(name.clone(), base);
            }
            written.push(Written {
                index: w.index,
                len: w.bytes.len(),
                base: w.base,
            });
            values.insert(name, w.bytes);
        }
        let new_versions = fields
            .iter()
            .filter_map(|i| Some((S::FIELDS.get(i)?.to_string(), *d.versions().get(i)?)))
            .collect();
        let mut next: Vec<String> = self
            .triggers
            .nodes
            .iter()
            .map(|&n| self.graph.nodes[n].name.to_string())
            .collect();
        next.sort();
        next.dedup();
        let sends = self
            .triggers
            .sends
            .iter()
            .map(|(_, send)| {
                Ok(PendingSend {
                    node: send.node().to_owned(),
                    payload: send.encode(codec)?,
                })
            })
            .collect::<Result<Vec<_>, GraphError>>()?;
        let joins = self
            .graph
            .joins
            .iter()
            .zip(self.join_seen)
            .filter(|(_, seen)| **seen != 0)
            .map(|(join, seen)| {
                let sources = join
                    .sources
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| seen & (1u128 << bit) != 0)
                    .map(|(_, name)| name.to_string())
                    .collect();
                (join.key.clone(), sources)
            })
            .collect();
        let checkpoint = Checkpoint {
            v: CHECKPOINT_VERSION,
            id: d.checkpoint_id().to_owned(),
            ts_ms: now_ms(),
            channel_values: values,
            channel_deltas: deltas,
            channel_appends: BTreeMap::new(),
            channel_versions: S::FIELDS
                .iter()
                .zip(d.versions())
                .filter(|(_, v)| **v > 0)
                .map(|(f, v)| ((*f).to_owned(), *v))
                .collect(),
            versions_seen: d.versions_seen().clone(),
            updated_channels: d.updated().names::<S>().into_iter().map(str::to_owned).collect(),
            next,
            sends,
            joins,
            codec: codec.name().to_owned(),
        };
        Ok((checkpoint, new_versions, written))
    }

    /// Puts the current checkpoint of `d` (now, or queued in async mode) and marks it persisted;
    /// `writes` (against the previous checkpoint) go in the same commit. They are taken only
    /// when the put succeeds (or is queued): after a failure they are still in `writes`, for
    /// the next put or for the end of the run to save.
    pub(crate) async fn put(
        &self,
        d: &mut Durable,
        writes: &mut Vec<PendingWrite>,
    ) -> Result<(), GraphError> {
        self.put_as(d, writes, false).await
    }

    /// [`put`](Self::put), returning only once the checkpoint is in the saver, in every
    /// durability mode: for a fence, which a run must win before any of its tasks runs.
    pub(crate) async fn put_now(
        &self,
        d: &mut Durable,
        writes: &mut Vec<PendingWrite>,
    ) -> Result<(), GraphError> {
        self.put_as(d, writes, true).await
    }

    async fn put_as(
        &self,
        d: &mut Durable,
        writes: &mut Vec<PendingWrite>,
        now: bool,
    ) -> Result<(), GraphError> {
        let (checkpoint, new_versions, written) = self.build(d, d.dirty())?;
        let op = d.put_op(checkpoint, new_versions, std::mem::take(writes));
        let put = if now {
            d.persister().put_now(op).await
        } else {
            d.persister().put(op).await
        };
        if let Err(failed) = put {
            *writes = failed.writes;
            return Err(failed.error.into());
        }
        d.mark_persisted();
        for w in written {
            d.record_written(w.index, self.state.append_len(w.index), w.len, w.base.is_some());
        }
        Ok(())
    }
}

impl<S: State, C> Run<S, C> {
    /// Puts the current checkpoint now (sync and async modes do this after every step).
    pub(crate) async fn put_current(&mut self) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(());
        };
        let snapshot = Snapshot {
            graph: &self.graph,
            state: &self.state,
            triggers: &self.triggers,
            join_seen: &self.join_seen,
        };
        snapshot.put(d, &mut self.deferred).await?;
        self.emit_checkpoint();
        Ok(())
    }

    /// Puts the current checkpoint with `writes` (against the previous one) and returns once
    /// both are in the saver, in every durability mode (a run's fence).
    pub(crate) async fn put_current_now(&mut self, mut writes: Vec<PendingWrite>) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(());
        };
        let snapshot = Snapshot {
            graph: &self.graph,
            state: &self.state,
            triggers: &self.triggers,
            join_seen: &self.join_seen,
        };
        snapshot.put_now(d, &mut writes).await?;
        self.emit_checkpoint();
        Ok(())
    }

    /// At the end of a run: exit mode puts the current checkpoint and its writes; async mode
    /// drains its queue.
    pub(crate) async fn flush(&mut self) -> Result<(), GraphError> {
        let Some(d) = self.durable.as_ref() else {
            return Ok(());
        };
        let persister = d.persister().clone();
        match persister.durability {
            Durability::Exit => {
                let writes = persister.take_exit_writes();
                if !d.is_persisted() {
                    self.put_current().await?;
                }
                if !writes.is_empty()
                    && let Some(d) = self.durable.as_ref()
                {
                    persister.saver().put_writes(&d.current(), &writes).await?;
                }
                Ok(())
            }
            Durability::Async | Durability::Sync => {
                // A finished task whose writes were waiting for the next checkpoint, which never
                // came (the run failed at the barrier): save them on their own.
                if let Some(d) = self.durable.as_ref()
                    && !self.deferred.is_empty()
                {
                    let target = d.previous_ref();
                    persister
                        .save_writes(&target, std::mem::take(&mut self.deferred))
                        .await?;
                }
                Ok(persister.finish().await?)
            }
        }
    }
}
