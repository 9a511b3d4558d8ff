//! Connections kept out of the pool between statements.
//!
//! sqlx 0.8 pings every connection returned to its pool, in a spawned task: one more round trip
//! and one more wake-up per statement. A superstep is one statement, so on a 2-core machine
//! that ping is a large share of what the server and the client do besides the commit (measured
//! with `benches/pg_interleaved.sh`: 8 concurrent runs went from about 44% to about 56% of
//! pgbench's transaction rate). A connection that just completed a statement is kept for the
//! next one, and given back to the pool (ping and all) once it has sat unused for
//! [`IDLE_RETURN`], so that an idle saver does not hold connections others need.
//!
//! Only connections whose statement completed are kept. One that failed, or that was dropped
//! mid-statement (a cancelled run), is not (see [`Lease`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::share::Lease;

/// How long a kept connection may sit unused before it goes back to the pool.
pub(crate) const IDLE_RETURN: Duration = Duration::from_millis(500);

/// The kept connections, most recently used last.
#[derive(Debug, Default)]
pub(crate) struct Warm {
    idle: Mutex<VecDeque<(Lease, Instant)>>,
    /// Told whenever a connection is kept: a statement waiting for a connection takes it.
    pub(crate) kept: Notify,
    /// Whether the task that returns idle connections runs.
    sweeping: std::sync::atomic::AtomicBool,
}

impl Warm {
    /// A kept connection, if one is free.
    pub(crate) fn take(self: &Arc<Self>) -> Option<Lease> {
        self.start_sweeper();
        let mut idle = self.idle.lock().ok()?;
        idle.pop_back().map(|(lease, _)| lease)
    }

    /// Keeps `lease` (whose statement completed) for the next statement.
    pub(crate) fn keep(&self, lease: Lease) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push_back((lease, Instant::now()));
        }
        self.kept.notify_one();
    }

    /// Takes out the connections unused for [`IDLE_RETURN`].
    fn stale(&self) -> Vec<Lease> {
        let Ok(mut idle) = self.idle.lock() else {
            return Vec::new();
        };
        let fresh_from = idle
            .iter()
            .position(|(_, since)| since.elapsed() < IDLE_RETURN)
            .unwrap_or(idle.len());
        idle.drain(..fresh_from).map(|(lease, _)| lease).collect()
    }

    /// Starts, once, the task that returns idle connections. It holds a weak reference and
    /// stops when every saver and store of the pool is gone.
    fn start_sweeper(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        // A plain load first: this runs on every statement, and the swap only once.
        if self.sweeping.load(Ordering::Relaxed) || self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Relaxed);
            return;
        };
        let weak: Weak<Warm> = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(IDLE_RETURN / 2).await;
                let Some(warm) = weak.upgrade() else { break };
                let stale = warm.stale();
                drop(warm);
                for lease in stale {
                    lease.release().await;
                }
            }
        });
    }
}
