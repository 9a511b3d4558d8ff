//! The connections of one pool that this crate holds, counted together for every saver and
//! store over that pool, and the session setting its statements run under.
//!
//! A pool is often shared with the rest of an application. Each saver and store used to take
//! connections on its own: together they could hold all of them, and the application's own
//! queries then waited for the pool's acquire timeout. Now every saver and store over one pool
//! draws from one budget ([`budget`]), which leaves part of the pool to other users.
//!
//! Each connection this crate takes from the pool gets the statement timeout of the saver or
//! store using it (`SET statement_timeout`), and has it reset (`RESET statement_timeout`)
//! before it goes back, so that no setting of ours reaches other users of the pool. A
//! connection that cannot be reset (dropped mid-statement, or outside a runtime) is closed
//! instead of returned.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Executor, PgConnection, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::warm::Warm;

/// How many of a pool of `max_connections` this crate's savers and stores may hold at once,
/// all together: all but a quarter of it (at least one connection) is left to other users.
/// A pool of one connection cannot leave any: it is shared as is.
pub(crate) fn budget(max_connections: u32) -> usize {
    let reserve = (max_connections / 4).max(1);
    max_connections.saturating_sub(reserve).max(1) as usize
}

/// What every saver and store over one pool shares.
#[derive(Debug)]
pub(crate) struct Share {
    /// One per connection this crate may hold ([`budget`]).
    permits: Arc<Semaphore>,
    /// Connections kept between statements (each with its permit).
    warm: Arc<Warm>,
}

/// The shares of the live pools, by the address of their options (stable while the pool
/// lives; every `Database` over a pool holds the pool, so a live entry's address is not
/// reused).
static SHARES: Mutex<Vec<(usize, Weak<Share>)>> = Mutex::new(Vec::new());

/// The share of `pool`, made on first use.
pub(crate) fn of(pool: &PgPool) -> Arc<Share> {
    let key = std::ptr::from_ref(pool.options()) as usize;
    let make = || {
        Arc::new(Share {
            permits: Arc::new(Semaphore::new(budget(pool.options().get_max_connections()))),
            warm: Arc::default(),
        })
    };
    let Ok(mut shares) = SHARES.lock() else {
        // A panic elsewhere while registering: this pool gets a budget of its own.
        return make();
    };
    shares.retain(|(_, share)| share.strong_count() > 0);
    if let Some(share) = shares
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, share)| share.upgrade())
    {
        return share;
    }
    let share = make();
    shares.push((key, Arc::downgrade(&share)));
    share
}

/// A connection this crate holds, with the permit it counts against.
#[derive(Debug)]
pub(crate) struct Lease {
    /// Always present until the lease is dropped.
    conn: Option<PoolConnection<Postgres>>,
    _permit: OwnedSemaphorePermit,
    /// The statement timeout this crate set on the session, if any: it must be reset before the
    /// connection goes back to the pool.
    timeout: Option<Duration>,
}

impl Lease {
    pub(crate) fn conn(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        self.conn.as_deref_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// Puts the session's statement timeout at `timeout` (`None`: the server's own).
    async fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), sqlx::Error> {
        if self.timeout == timeout {
            return Ok(());
        }
        let sql = match timeout {
            // PostgreSQL takes milliseconds up to i32::MAX; 0 would mean "none".
            Some(t) => format!(
                "SET statement_timeout = {}",
                t.as_millis().clamp(1, i32::MAX as u128)
            ),
            None => "RESET statement_timeout".to_owned(),
        };
        // Until it is known to have worked, the session's setting is unknown: treat it as ours.
        self.timeout = Some(timeout.unwrap_or_default());
        self.conn()?.execute(sql.as_str()).await?;
        self.timeout = timeout;
        Ok(())
    }

    /// Gives the connection back to the pool with the session as the pool gave it, or closes
    /// it if it cannot be reset.
    pub(crate) async fn release(mut self) {
        if let Err(error) = self.set_timeout(None).await {
            tracing::debug!(%error, "agentflow-postgres: a connection could not be reset; closing it");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            // Returning or closing through the pool spawns a task, which needs a runtime:
            // outside one, drop the connection itself (its socket closes).
            drop(conn.detach());
        } else if self.timeout.is_some() {
            // A setting of ours is on the session: never hand it to the pool's other users.
            conn.close_on_drop();
        }
    }
}

impl Share {
    /// A connection for one statement (or transaction) under `timeout`: a kept one if any is
    /// free, else a new one from the pool once the budget allows.
    pub(crate) async fn lease(&self, pool: &PgPool, timeout: Option<Duration>) -> Result<Lease, sqlx::Error> {
        let mut lease = loop {
            let kept = self.warm.kept.notified();
            tokio::pin!(kept);
            // Registered before looking, so that a connection kept meanwhile wakes this wait.
            kept.as_mut().enable();
            if let Some(lease) = self.warm.take() {
                break lease;
            }
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    let permit = permit.map_err(|_| sqlx::Error::PoolClosed)?;
                    let conn = pool.acquire().await?;
                    break Lease { conn: Some(conn), _permit: permit, timeout: None };
                }
                () = &mut kept => continue,
            }
        };
        lease.set_timeout(timeout).await?;
        Ok(lease)
    }

    /// After a statement: keeps the connection for the next one if it completed, else gives
    /// it back to the pool.
    pub(crate) async fn give_back(&self, lease: Lease, completed: bool) {
        if completed {
            self.warm.keep(lease);
        } else {
            lease.release().await;
        }
    }
}
