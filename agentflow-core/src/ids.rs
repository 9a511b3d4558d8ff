//! Deterministic identifiers: task ids and namespaces.
//!
//! Task ids are a stable 128-bit FNV-1a hash of the run (or checkpoint) id, the namespace, the
//! step, the node and what triggered the task. The same inputs give the same id on every
//! platform and Rust release, which is what lets a resumed run recognise tasks it already ran.

use std::fmt;
use std::sync::Arc;

/// The deterministic id of one task (one node execution in one superstep).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u128);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// A stable 128-bit FNV-1a hasher (the algorithm must never change: ids are persisted).
#[derive(Clone, Copy)]
pub(crate) struct StableHasher(u128);

const FNV_OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
const FNV_PRIME: u128 = 0x0000000001000000000000000000013B;

impl StableHasher {
    pub(crate) fn new() -> Self {
        StableHasher(FNV_OFFSET)
    }

    /// Feeds a length-prefixed field, so that ("ab","c") and ("a","bc") differ.
    pub(crate) fn field(mut self, bytes: &[u8]) -> Self {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u128::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
        self
    }

    pub(crate) fn finish(self) -> u128 {
        self.0
    }
}

/// FNV-1a with 64 bits: [`StableHasher`]'s algorithm at half the width, for hashes taken every
/// superstep that need not be persisted ids (a 128-bit multiply per byte costs more there).
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What made a task run: the triggers of a node task, or the index of a `Send`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TaskOrigin {
    /// A node triggered by edges.
    Pull,
    /// The `index`-th `Send` of the step.
    Push(usize),
}

/// The id of a task. `base` is the run id (or, with a checkpointer, the checkpoint id).
pub(crate) fn task_id(base: u128, ns: &Namespace, step: usize, node: &str, origin: TaskOrigin) -> TaskId {
    let h = StableHasher::new()
        .field(&base.to_le_bytes())
        .field(ns.as_str().as_bytes())
        .field(&(step as u64).to_le_bytes())
        .field(node.as_bytes());
    let h = match origin {
        TaskOrigin::Pull => h.field(b"pull"),
        TaskOrigin::Push(i) => h.field(b"push").field(&(i as u64).to_le_bytes()),
    };
    TaskId(h.finish())
}

/// Where an event or task sits in a tree of subgraphs: empty at the top, `node:task_id` for a
/// subgraph, joined with `|` for deeper levels (LangGraph's format).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Namespace(Option<Arc<str>>);

impl Namespace {
    /// The top-level graph.
    pub const ROOT: Namespace = Namespace(None);

    /// True for the top-level graph.
    pub fn is_root(&self) -> bool {
        self.0.is_none()
    }

    /// The namespace as text (empty at the top).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// The namespace of a subgraph run by task `task` of node `node`.
    pub fn child(&self, node: &str, task: TaskId) -> Namespace {
        let segment = format!("{node}:{task}");
        Namespace(Some(match &self.0 {
            None => segment.into(),
            Some(parent) => format!("{parent}|{segment}").into(),
        }))
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.as_deref().into_iter().flat_map(|s| s.split('|'))
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", self.as_str())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A UUIDv7 for checkpoint and run ids, strictly increasing within the process (as
/// `Uuid::now_v7` is): the top 64 bits are the millisecond and a 12-bit counter, the rest
/// random. The random bits come from a per-thread generator seeded once: these ids must be
/// unique and ordered, not secret, and `Uuid::now_v7` makes a `getrandom` system call per id,
/// which costs more than the rest of an in-memory superstep.
pub(crate) fn uuid_v7() -> uuid::Uuid {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    // Millisecond (48 bits), version 7 (4 bits), counter (12 bits).
    let now = (crate::checkpoint::now_ms() << 16) | 0x7000;
    let after = |last: u64| {
        if now > last {
            now
        } else if last & 0x0fff == 0x0fff {
            // Counter full: borrow the next millisecond.
            (((last >> 16) + 1) << 16) | 0x7000
        } else {
            last + 1
        }
    };
    let last = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(after(last)))
        .unwrap_or_else(|last| last);
    let low = (fastrand::u64(..) >> 2) | 0x8000_0000_0000_0000;
    uuid::Uuid::from_u64_pair(after(last), low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_are_valid_and_strictly_increasing() {
        let ids: Vec<uuid::Uuid> = (0..10_000).map(|_| uuid_v7()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids must increase");
        for id in &ids[..10] {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn task_ids_are_stable_and_distinct() {
        let ns = Namespace::ROOT;
        let a = task_id(7, &ns, 3, "node", TaskOrigin::Pull);
        assert_eq!(a, task_id(7, &ns, 3, "node", TaskOrigin::Pull));
        assert_ne!(a, task_id(7, &ns, 4, "node", TaskOrigin::Pull));
        assert_ne!(a, task_id(8, &ns, 3, "node", TaskOrigin::Pull));
        assert_ne!(a, task_id(7, &ns, 3, "node", TaskOrigin::Push(0)));
        assert_ne!(
            task_id(7, &ns, 3, "node", TaskOrigin::Push(0)),
            task_id(7, &ns, 3, "node", TaskOrigin::Push(1))
        );
        // Pinned value (computed independently): ids are persisted and must never change.
        assert_eq!(
            StableHasher::new().field(b"agentflow").finish(),
            0x4651f4ae72917ba023d7531030af58e5
        );
        assert_eq!(a.to_string().len(), 36);
    }

    #[test]
    fn namespaces_nest_like_langgraph() {
        let t = TaskId(1);
        let child = Namespace::ROOT.child("joke", t);
        assert_eq!(child.as_str(), format!("joke:{t}"));
        let grandchild = child.child("inner", t);
        assert_eq!(grandchild.segments().count(), 2);
        assert!(grandchild.as_str().contains('|'));
    }
}
