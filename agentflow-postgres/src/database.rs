//! What the saver and the store share: the pool, the schema, and whether statements may be
//! prepared.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::error::PostgresError;
use crate::migrate;
use crate::warm::Warm;

/// A connection pool and the schema this crate's tables live in.
#[derive(Clone, Debug)]
pub(crate) struct Database {
    pub(crate) pool: PgPool,
    /// Connections kept between statements of the write path (see [`Warm`]).
    warm: Arc<Warm>,
    pub(crate) schema: String,
    /// Named prepared statements (off behind transaction-pooling proxies).
    pub(crate) persistent: bool,
}

impl Database {
    /// The default schema, `agentflow`.
    pub(crate) fn new(pool: PgPool) -> Self {
        Database {
            pool,
            warm: Arc::default(),
            schema: "agentflow".to_owned(),
            persistent: true,
        }
    }

    /// The same pool, another (validated) schema.
    pub(crate) fn with_schema(mut self, schema: &str) -> Result<Self, PostgresError> {
        migrate::validate_schema(schema)?;
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// A connection for a write: one kept from the last write if there is one, else the pool's.
    pub(crate) async fn connection(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        match self.warm.take() {
            Some(conn) => Ok(conn),
            None => self.pool.acquire().await,
        }
    }

    /// Keeps a connection whose statement completed for the next write. At most all but one of
    /// the pool's connections are kept, so that others sharing the pool always find one.
    pub(crate) fn keep(&self, conn: PoolConnection<Postgres>) {
        let cap = (self.pool.options().get_max_connections() as usize)
            .saturating_sub(1)
            .max(1);
        self.warm.keep(conn, cap);
    }

    /// Applies the missing migrations of the schema.
    pub(crate) async fn migrate(&self) -> Result<usize, PostgresError> {
        migrate::migrate(&self.pool, &self.schema).await
    }
}
