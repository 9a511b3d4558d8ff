//! What the saver and the store share: the pool, the schema, and whether statements may be
//! prepared.

use sqlx::PgPool;

use crate::error::PostgresError;
use crate::migrate;

/// A connection pool and the schema this crate's tables live in.
#[derive(Clone, Debug)]
pub(crate) struct Database {
    pub(crate) pool: PgPool,
    pub(crate) schema: String,
    /// Named prepared statements (off behind transaction-pooling proxies).
    pub(crate) persistent: bool,
}

impl Database {
    /// The default schema, `agentflow`.
    pub(crate) fn new(pool: PgPool) -> Self {
        Database {
            pool,
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

    /// Applies the missing migrations of the schema.
    pub(crate) async fn migrate(&self) -> Result<usize, PostgresError> {
        migrate::migrate(&self.pool, &self.schema).await
    }
}
