//! How the store ranks by embedding: with pgvector's `<=>` (cosine distance, computed in C) where
//! the extension is installed, else with the same cosine similarity in plain SQL.
//!
//! Embeddings stay a `float8[]` column either way, so a database can gain or lose pgvector
//! without a migration; with it, each row's array is cast to `vector` in the query.

use std::sync::{Arc, OnceLock};

use sqlx::{Postgres, QueryBuilder};

use crate::database::Database;

/// Whether pgvector serves this database, asked once per store (and its clones).
#[derive(Clone, Debug, Default)]
pub(crate) struct VectorSupport {
    installed: Arc<OnceLock<bool>>,
}

impl VectorSupport {
    /// True when the `vector` type and its `<=>` operator are visible to this store's
    /// connections (the extension is installed in the database, on the search path).
    pub(crate) async fn installed(&self, db: &Database) -> Result<bool, sqlx::Error> {
        if let Some(known) = self.installed.get() {
            return Ok(*known);
        }
        let query = sqlx::query_scalar(
            "SELECT to_regtype('vector') IS NOT NULL
                AND EXISTS (SELECT 1 FROM pg_operator WHERE oprname = '<=>')",
        )
        .persistent(db.persistent);
        let found: bool = db.run(async |conn| query.fetch_one(conn).await).await?;
        Ok(*self.installed.get_or_init(|| found))
    }
}

/// Pushes the cosine similarity of each row's `embedding` and `query`: NULL when the lengths
/// differ or either vector is zero, on both paths.
pub(crate) fn push_similarity(qb: &mut QueryBuilder<'_, Postgres>, query: Vec<f64>, pgvector: bool) {
    let len = query.len();
    if pgvector {
        // The length check comes first: `<=>` fails on vectors of different dimensions. A zero
        // vector gives NaN there.
        qb.push(format!(
            "CASE WHEN cardinality(embedding) = {len} THEN nullif(1 - (embedding::vector <=> "
        ))
        .push_bind(query)
        .push("::float8[]::vector), 'NaN'::float8) END");
    } else {
        qb.push(
            "(SELECT sum(a * b) / NULLIF(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0) FROM unnest(embedding, ",
        )
        .push_bind(query)
        .push(format!(
            "::float8[]) AS v(a, b) WHERE cardinality(embedding) = {len})"
        ));
    }
}
