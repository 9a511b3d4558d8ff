//! What the saver and the store share: the pool, the schema, and whether statements may be
//! prepared.

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};

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

    /// Runs one write statement on the connection kept from the last write, if there is one,
    /// else on one from the pool, and keeps the connection for the next write if the statement
    /// completed. On an error (or if this future is dropped) the connection goes back to the
    /// pool, which checks it. At most all but one of the pool's connections are kept, so that
    /// others sharing the pool always find one.
    pub(crate) async fn write<T>(
        &self,
        statement: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut conn = match self.warm.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        let out = statement(&mut conn).await?;
        let cap = (self.pool.options().get_max_connections() as usize)
            .saturating_sub(1)
            .max(1);
        self.warm.keep(conn, cap);
        Ok(out)
    }

    /// Applies the missing migrations of the schema.
    pub(crate) async fn migrate(&self) -> Result<usize, PostgresError> {
        migrate::migrate(&self.pool, &self.schema).await
    }
}
