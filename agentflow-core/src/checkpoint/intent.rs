//! Step intents: the saver's record that a journaled step ([`Context::step`]) is about to run its
//! side effect, and then what it returned.
//!
//! Before a step's effect runs, the engine *claims* the step's key in the saver. The claim is
//! fenced: of two runners claiming one key, one runs the effect and the other learns it lost
//! before running anything. A claim carries a lease (claimed at + lease duration), so that a
//! claim left by a runner that is gone (killed, or its connection lost) can be told from one
//! whose runner is still working on it. Completing the claim stores the effect's result in the
//! same write, so a completed step is never run again.
//!
//! [`Context::step`]: crate::Context::step

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default lease of a step's claim: how long a runner that claimed a step may take to run
/// its effect before another runner may treat the outcome as ambiguous.
pub const DEFAULT_INTENT_LEASE: Duration = Duration::from_secs(60);

/// Where a step intent lives: its thread and namespace, and the step's idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IntentRef {
    /// The thread.
    pub thread_id: String,
    /// The namespace: empty for the top-level graph.
    pub namespace: String,
    /// The step's idempotency key (what [`Context::step`](crate::Context::step) passes to the
    /// effect).
    pub key: String,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntentClaim {
    /// Nobody claimed the key before: the claimant may run the effect.
    Fresh,
    /// The step completed earlier: its stored result. The effect must not run again.
    Completed(Vec<u8>),
    /// An earlier claim was never completed: its runner is gone (the lease expired, or it gave
    /// the claim up after a failure) or it is the claimant itself (an earlier attempt of the
    /// same run). The effect may or may not have happened. The claim now belongs to the
    /// claimant.
    Ambiguous,
    /// Another runner holds a live claim (its lease has not expired): the claimant must not run
    /// the effect.
    Held,
}

/// The owner and lease of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentLease<'a> {
    /// Who claims: unique to one run of a graph (not shared by two processes).
    pub owner: &'a str,
    /// How long the claim stays live without being completed.
    pub lease: Duration,
}

/// The lease as whole milliseconds, at least one (what the savers store).
pub fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1)
}
