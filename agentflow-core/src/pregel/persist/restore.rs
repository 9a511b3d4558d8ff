//! Rebuilding a run from a checkpoint: the state (snapshot plus deltas), triggers, joins, and
//! the results and journals tasks left.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointTuple, Codec, Corruption, PendingWrite, channels};
use crate::control::{self, Interrupt, Route};
use crate::error::GraphError;
use crate::state::State;

use super::super::{TaskOutput, Triggers};
use super::{SavedTask, StoredField};

/// A route as stored in a pending write.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredRoute {
    node: String,
    payload: Option<Vec<u8>>,
}

/// A finished task's result, as its one pending write holds it: the update and the routes.
pub(crate) fn encode_result<U: Serialize>(
    update: &U,
    routes: &[Route],
    codec: &dyn Codec,
) -> Result<Vec<u8>, GraphError> {
    let stored = routes
        .iter()
        .map(|r| {
            Ok(match r {
                Route::To(node) => StoredRoute {
                    node: node.to_string(),
                    payload: None,
                },
                Route::Send(send) => StoredRoute {
                    node: send.node().to_owned(),
                    payload: Some(send.encode(codec)?),
                },
            })
        })
        .collect::<Result<Vec<_>, GraphError>>()?;
    Ok(codec.to_bytes(&(update, stored))?)
}

/// Rebuilds the pieces of a run from a checkpoint tuple.
pub(crate) struct Restored<S> {
    pub(crate) state: S,
    pub(crate) versions: Vec<u64>,
    pub(crate) triggers: Triggers,
    pub(crate) join_seen: Vec<u128>,
    pub(crate) saved: HashMap<String, SavedTask>,
    pub(crate) paused_before: bool,
    pub(crate) stored: Vec<StoredField>,
}

pub(crate) fn restore<S: State, C>(
    graph: &crate::compiled::GraphCore<S, C>,
    tuple: &CheckpointTuple,
    codec: &dyn Codec,
) -> Result<Restored<S>, GraphError> {
    let cp = &tuple.checkpoint;
    if cp.codec != codec.name() && !cp.channel_values.is_empty() {
        return Err(GraphError::IncompatibleCheckpoint(format!(
            "checkpoint {} was written with the `{}` codec, but the graph uses `{}`",
            cp.id,
            cp.codec,
            codec.name()
        )));
    }
    let corrupt = |problem: Corruption| GraphError::Checkpoint(problem.at(&tuple.config.thread_id, &cp.id));
    check_numbers(tuple).map_err(corrupt)?;
    let mut state = S::default();
    for (name, bytes) in &cp.channel_values {
        state.decode_field(name, bytes, codec)?;
        for segment in cp.channel_appends.get(name).into_iter().flatten() {
            if !state.decode_append(name, segment, codec)? {
                return Err(GraphError::IncompatibleCheckpoint(format!(
                    "field `{name}` is stored as deltas but is not an append field of this state"
                )));
            }
        }
    }
    let versions: Vec<u64> = S::FIELDS
        .iter()
        .map(|f| cp.channel_versions.get(*f).copied().unwrap_or(0))
        .collect();
    let stored = S::FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| StoredField {
            version: versions[i],
            len: state.append_len(i),
            snapshot_bytes: cp.channel_values.get(*f).map_or(0, Vec::len),
            delta_bytes: cp
                .channel_appends
                .get(*f)
                .map_or(0, |a| a.iter().map(Vec::len).sum()),
            segments: usize::from(cp.channel_values.contains_key(*f))
                + cp.channel_appends.get(*f).map_or(0, Vec::len),
        })
        .collect();
    let node_id = |name: &str| {
        graph.by_name.get(name).copied().ok_or_else(|| {
            GraphError::IncompatibleCheckpoint(format!(
                "checkpoint {} names node `{name}`, which this graph lacks",
                cp.id
            ))
        })
    };
    let mut triggers = Triggers::default();
    for name in &cp.next {
        triggers.nodes.push(node_id(name)?);
    }
    for send in &cp.sends {
        let id = node_id(&send.node)?;
        let decoded: control::Send =
            graph.nodes[id]
                .node
                .decode_send(graph.nodes[id].name.clone(), &send.payload, codec)?;
        triggers.sends.push((id, decoded));
    }
    let mut join_seen = vec![0u128; graph.joins.len()];
    for (key, sources) in &cp.joins {
        let Some(index) = graph.joins.iter().position(|j| &j.key == key) else {
            return Err(GraphError::IncompatibleCheckpoint(format!(
                "unknown join `{key}`"
            )));
        };
        for source in sources {
            if let Some(bit) = graph.joins[index].sources.iter().position(|s| **s == **source) {
                join_seen[index] |= 1u128 << bit;
            }
        }
    }
    let mut saved: HashMap<String, SavedTask> = HashMap::new();
    let mut paused_before = false;
    let mut steps: HashMap<&str, Vec<&PendingWrite>> = HashMap::new();
    for write in &tuple.pending_writes {
        let entry = saved.entry(write.task_id.clone()).or_default();
        match write.channel.as_str() {
            channels::RESULT => entry.result = Some(write.value.clone()),
            channels::INTERRUPT => {
                let interrupts: Vec<Interrupt> = codec.from_bytes(&write.value)?;
                paused_before |= interrupts
                    .iter()
                    .any(|i| i.kind == crate::control::InterruptKind::Before);
                entry.interrupts = interrupts;
            }
            channels::RESUME => entry.resume = codec.from_bytes(&write.value)?,
            other => {
                if step_name(other).is_some() {
                    steps.entry(&write.task_id).or_default().push(write);
                }
            }
        }
    }
    for (task_id, writes) in steps {
        let journal = journal(task_id, writes).map_err(corrupt)?;
        saved.entry(task_id.to_owned()).or_default().journal = journal;
    }
    Ok(Restored {
        state,
        versions,
        triggers,
        join_seen,
        saved,
        paused_before,
        stored,
    })
}

/// The highest step number a checkpoint may carry: far beyond any real thread (a step a
/// microsecond for centuries), far enough below `i64::MAX` that counting on never overflows.
const MAX_STEP: i64 = 1 << 53;

/// Checks the numbers of a checkpoint that the engine computes with: its step and its field
/// versions.
fn check_numbers(tuple: &CheckpointTuple) -> Result<(), Corruption> {
    let step = tuple.metadata.step;
    if !(-1..=MAX_STEP).contains(&step) {
        return Err(Corruption::OutOfRange {
            what: "the checkpoint's step".into(),
            value: step.to_string(),
            allowed: format!("-1..={MAX_STEP}"),
        });
    }
    for (field, version) in &tuple.checkpoint.channel_versions {
        // The engine makes versions positive and within PostgreSQL's BIGINT.
        if *version == 0 || *version > i64::MAX as u64 {
            return Err(Corruption::OutOfRange {
                what: format!("the version of field `{field}`"),
                value: version.to_string(),
                allowed: format!("1..={}", i64::MAX),
            });
        }
    }
    Ok(())
}

/// The name of a journaled step's write channel (`__step__:{name}`).
fn step_name(channel: &str) -> Option<&str> {
    channel.strip_prefix(channels::STEP)?.strip_prefix(':')
}

/// A task's journal from its step writes: the step at position `i` has `idx` `i + 1`, and a
/// task that ran `n` steps has exactly the indexes `1..=n` (steps run and are saved one at a
/// time, in order). Other indexes are damage; nothing is sized by a stored index.
fn journal(task_id: &str, mut writes: Vec<&PendingWrite>) -> Result<Vec<(String, Vec<u8>)>, Corruption> {
    writes.sort_by_key(|w| w.idx);
    let count = writes.len();
    writes
        .into_iter()
        .enumerate()
        .map(|(position, write)| {
            let name = step_name(&write.channel).unwrap_or_default();
            if i64::try_from(position).ok().and_then(|p| p.checked_add(1)) != Some(write.idx) {
                return Err(Corruption::OutOfRange {
                    what: format!("the index of journaled step `{name}` of task `{task_id}`"),
                    value: write.idx.to_string(),
                    allowed: format!("1..={count}, each once (the task's {count} stored steps)"),
                });
            }
            Ok((name.to_owned(), write.value.clone()))
        })
        .collect()
}

/// Decodes a saved task result into the output it stands for.
pub(crate) fn decode_output<S: State, C>(
    graph: &crate::compiled::GraphCore<S, C>,
    saved: &SavedTask,
    codec: &dyn Codec,
) -> Result<Option<TaskOutput<S>>, GraphError> {
    let Some(result) = &saved.result else {
        return Ok(None);
    };
    let (update, stored): (S::Update, Vec<StoredRoute>) = codec.from_bytes(result)?;
    let mut routes = Vec::with_capacity(stored.len());
    for route in stored {
        let Some(&id) = graph.by_name.get(route.node.as_str()) else {
            if route.node == crate::END {
                routes.push(Route::To(route.node.into()));
                continue;
            }
            return Err(GraphError::IncompatibleCheckpoint(format!(
                "a saved route names `{}`",
                route.node
            )));
        };
        routes.push(match route.payload {
            None => Route::To(graph.nodes[id].name.clone()),
            Some(payload) => Route::Send(graph.nodes[id].node.decode_send(
                graph.nodes[id].name.clone(),
                &payload,
                codec,
            )?),
        });
    }
    Ok(Some(TaskOutput { update, routes }))
}
