//! Connections kept out of the pool between a run's supersteps.
//!
//! sqlx 0.8 pings every connection returned to its pool, in a spawned task: one more round trip
//! and one more wake-up per statement. A superstep is one statement, so on a 2-core machine
//! that ping is a large share of what the server and the client do besides the commit (measured
//! with `benches/pg_interleaved.sh`: 8 concurrent runs went from about 44% to about 56% of
//! pgbench's transaction rate). The saver keeps a connection that just completed a statement
//! and uses it for the next one, and gives it back to the pool (ping and all) when it has sat
//! unused for [`IDLE_RETURN`], so that an idle saver does not hold connections others need.
//!
//! Only connections whose statement completed are kept. One dropped mid-statement (a cancelled
//! run) or one that failed goes back to the pool, which checks it, as before.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

/// How long a kept connection may sit unused before it goes back to the pool.
pub(crate) const IDLE_RETURN: Duration = Duration::from_millis(500);

/// The kept connections, most recently used last.
#[derive(Debug, Default)]
pub(crate) struct Warm {
    idle: Mutex<VecDeque<(PoolConnection<Postgres>, Instant)>>,
    /// Whether the task that returns idle connections runs.
    sweeping: std::sync::atomic::AtomicBool,
}

impl Warm {
    /// A kept connection, if one is free.
    pub(crate) fn take(self: &Arc<Self>) -> Option<PoolConnection<Postgres>> {
        self.start_sweeper();
        let mut idle = self.idle.lock().ok()?;
        idle.pop_back().map(|(conn, _)| conn)
    }

    /// Keeps `conn` (whose statement completed) for the next statement, up to `cap`
    /// connections; beyond that it goes back to the pool.
    pub(crate) fn keep(&self, conn: PoolConnection<Postgres>, cap: usize) {
        let Ok(mut idle) = self.idle.lock() else { return };
        if idle.len() < cap {
            idle.push_back((conn, Instant::now()));
        }
    }

    /// Gives back the connections unused for [`IDLE_RETURN`].
    fn return_idle(&self) {
        let stale: Vec<_> = match self.idle.lock() {
            Ok(mut idle) => {
                let fresh_from = idle
                    .iter()
                    .position(|(_, since)| since.elapsed() < IDLE_RETURN)
                    .unwrap_or(idle.len());
                idle.drain(..fresh_from).collect()
            }
            Err(_) => return,
        };
        // Dropped outside the lock: each drop hands the connection back to the pool.
        drop(stale);
    }

    /// Starts, once, the task that returns idle connections. It holds a weak reference and
    /// stops when the saver (and every clone of it) is gone.
    fn start_sweeper(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        // A plain load first: this runs on every write, and the swap only once.
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
                warm.return_idle();
            }
        });
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        let Ok(idle) = self.idle.get_mut() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // They go back to the pool as they drop.
            idle.clear();
        } else {
            // Handing a connection back to the pool spawns a task, which needs a runtime: outside
            // one (the last saver dropped after `block_on`), close them instead.
            for (conn, _) in idle.drain(..) {
                drop(conn.detach());
            }
        }
    }
}
