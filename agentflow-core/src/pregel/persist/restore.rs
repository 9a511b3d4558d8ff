//! Rebuilding a run from a checkpoint: the state (snapshot plus deltas), triggers, joins, and
//! the results and journals tasks left.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointTuple, Codec, channels};
use crate::control::{Interrupt, Route, Send};
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
        let decoded: Send =
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
                if let Some(name) = other
                    .strip_prefix(channels::STEP)
                    .and_then(|r| r.strip_prefix(':'))
                {
                    let position = (write.idx - 1).max(0) as usize;
                    if entry.journal.len() <= position {
                        entry.journal.resize(position + 1, (String::new(), Vec::new()));
                    }
                    entry.journal[position] = (name.to_owned(), write.value.clone());
                }
            }
        }
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
