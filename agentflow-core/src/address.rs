//! One address for a thread or a checkpoint, as LangGraph's `config` is: a [`CheckpointRef`].
//!
//! Every call that reads, writes or runs a thread takes one: a thread id alone (`"t"`, its
//! latest checkpoint), or a `CheckpointRef` a run, [`update_state`](crate::CompiledGraph::update_state)
//! or the history returned. A run starts from one through `RunConfig::from`, so `invoke`
//! continues a fork directly.

use crate::checkpoint::CheckpointRef;
use crate::config::RunConfig;

/// A thread's latest checkpoint.
impl From<&str> for CheckpointRef {
    fn from(thread_id: &str) -> Self {
        CheckpointRef::latest(thread_id)
    }
}

/// A thread's latest checkpoint.
impl From<String> for CheckpointRef {
    fn from(thread_id: String) -> Self {
        CheckpointRef::latest(thread_id)
    }
}

impl From<&String> for CheckpointRef {
    fn from(thread_id: &String) -> Self {
        CheckpointRef::latest(thread_id.as_str())
    }
}

impl From<&CheckpointRef> for CheckpointRef {
    fn from(target: &CheckpointRef) -> Self {
        target.clone()
    }
}

/// A run from a checkpoint: the thread's latest, or any other (a fork, one from the history),
/// which forks the thread when it is not the latest. A graph with a runtime context adds it:
/// `RunConfig::from(&fork).with_context(deps)`.
impl From<CheckpointRef> for RunConfig<()> {
    fn from(target: CheckpointRef) -> Self {
        let config = RunConfig::new().thread_id(target.thread_id);
        match target.checkpoint_id {
            Some(id) => config.checkpoint_id(id),
            None => config,
        }
    }
}

impl From<&CheckpointRef> for RunConfig<()> {
    fn from(target: &CheckpointRef) -> Self {
        RunConfig::from(target.clone())
    }
}
