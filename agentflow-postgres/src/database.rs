//! What the saver and the store share: the pool, the schema, whether statements may be
//! prepared, the statement timeout, and the connections this crate may hold.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use crate::error::PostgresError;
use crate::migrate;
use crate::share::{self, Share};

/// The statement timeout of a saver or store unless set otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection pool and the schema this crate's tables live in.
#[derive(Clone, Debug)]
pub(crate) struct Database {
    pub(crate) pool: PgPool,
    /// The connections every saver and store over this pool may hold (see [`share`]).
    share: Arc<Share>,
    pub(crate) schema: String,
    /// Named prepared statements (off behind transaction-pooling proxies).
    pub(crate) persistent: bool,
    /// How long one statement may run (`None`: the server's setting).
    pub(crate) statement_timeout: Option<Duration>,
}

impl Database {
    /// The default schema, `agentflow`.
    pub(crate) fn new(pool: PgPool) -> Self {
        Database {
            share: share::of(&pool),
            pool,
            schema: "agentflow".to_owned(),
            persistent: true,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }

    /// The same pool, another (validated) schema.
    pub(crate) fn with_schema(mut self, schema: &str) -> Result<Self, PostgresError> {
        migrate::validate_schema(schema)?;
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// Runs one statement (or one transaction) on a connection of this crate's budget: one
    /// kept from the last statement if any is free (see [`crate::warm`]), else one from the
    /// pool. The connection is kept for the next statement if this one completed; on an error
    /// (or if this future is dropped) it goes back to the pool, or is closed if its session
    /// cannot be reset.
    ///
    /// The statement runs under the statement timeout, set on the session. Behind a
    /// transaction-pooling proxy a session setting would reach other clients, so there none is
    /// set (configure `statement_timeout` on the server or role instead).
    pub(crate) async fn run<T>(
        &self,
        statement: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let timeout = self.statement_timeout.filter(|_| self.persistent);
        let mut lease = self.share.lease(&self.pool, timeout).await?;
        let out = statement(lease.conn()?).await;
        self.share.give_back(lease, out.is_ok()).await;
        out
    }

    /// Applies the missing migrations of the schema.
    pub(crate) async fn migrate(&self) -> Result<usize, PostgresError> {
        migrate::migrate(&self.pool, &self.schema).await
    }
}
