//! [`PostgresStore`]: long-term memory in PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentflow_core::store::{
    FilterOp, Item, ListNamespaces, PutOptions, SearchItem, SearchQuery, Store, StoreError, indexed_text,
    validate_embedding, validate_item_address, validate_search,
};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use crate::database::Database;
use crate::error::{PostgresError, is_transient};
use crate::vector::{VectorSupport, push_similarity};

/// Long-term memory ([`Store`]) in PostgreSQL, through a connection pool.
///
/// One table, `{schema}.store` (migration 3, applied by [`migrate`](Self::migrate) together with
/// the checkpoint tables): LangGraph's `store` table plus, on each row, a `tsvector` of the
/// item's indexed text and its embedding (`float8[]`).
///
/// - No lock of its own; every operation is one statement.
/// - Namespaces are stored `.`-joined (labels cannot contain `.`); prefix searches and listings
///   use a `text_pattern_ops` index.
/// - Text queries: `search @@ plainto_tsquery('simple', ...)` (every term must match), ranked by
///   `ts_rank`. A GIN index serves them.
/// - Filters: `jsonb` operators; equality also uses `value @> pattern`, which a GIN
///   (`jsonb_path_ops`) index serves.
/// - Vector queries: cosine similarity over the `float8[]` column, an exact scan of the rows the
///   other conditions select. Where the pgvector extension is installed in the database, its
///   `<=>` operator computes it ([`uses_pgvector`](Self::uses_pgvector)); elsewhere plain SQL
///   does, with the same results. pgvector is not required.
/// - TTL: expired rows are hidden from every read; [`Store::sweep_expired`] deletes them (call it
///   periodically; nothing sweeps in the background).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use agentflow_core::store::{PutOptions, Store, namespace};
/// use agentflow_postgres::PostgresStore;
///
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
/// let store = PostgresStore::new(pool).schema("agentflow")?;
/// store.migrate().await?;
/// store.put(&namespace(["memories", "ada"]), "tea", serde_json::json!({"text": "likes tea"}), PutOptions::new()).await?;
/// // graph.with_store(store)
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStore {
    db: Database,
    sql: Statements,
    vector: VectorSupport,
}

#[derive(Clone, Debug)]
struct Statements {
    put: String,
    get: String,
    delete: String,
    sweep: String,
}

/// The item columns, with times as microseconds since the Unix epoch.
const ITEM_COLUMNS: &str = "prefix, key, value, \
     (extract(epoch FROM created_at) * 1000000)::int8 AS created_us, \
     (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us, \
     (extract(epoch FROM expires_at) * 1000000)::int8 AS expires_us";

/// Rows that have not expired.
const LIVE: &str = "(expires_at IS NULL OR expires_at > now())";

impl Statements {
    fn new(s: &str) -> Self {
        Statements {
            // A row replaced after it expired counts as a new item.
            put: format!(
                "INSERT INTO {s}.store AS t (prefix, key, value, expires_at, search, embedding)
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4), to_tsvector('simple', $5), $6)
                 ON CONFLICT (prefix, key) DO UPDATE SET
                     value = EXCLUDED.value,
                     expires_at = EXCLUDED.expires_at,
                     search = EXCLUDED.search,
                     embedding = EXCLUDED.embedding,
                     updated_at = now(),
                     created_at = CASE WHEN t.expires_at IS NOT NULL AND t.expires_at <= now()
                                       THEN now() ELSE t.created_at END"
            ),
            get: format!("SELECT {ITEM_COLUMNS} FROM {s}.store WHERE prefix = $1 AND key = $2 AND {LIVE}"),
            delete: format!("DELETE FROM {s}.store WHERE prefix = $1 AND key = $2"),
            sweep: format!("DELETE FROM {s}.store WHERE expires_at <= now()"),
        }
    }
}

fn backend(error: sqlx::Error) -> StoreError {
    StoreError::Backend {
        retryable: is_transient(&error),
        source: Box::new(error),
    }
}

/// The stored form of a namespace.
fn join(namespace: &[String]) -> String {
    namespace.join(".")
}

/// `text` with LIKE's wildcards and escape character escaped.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn time(micros: i64) -> SystemTime {
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

fn item(row: &PgRow) -> Result<Item, sqlx::Error> {
    let prefix: String = row.try_get("prefix")?;
    let value: Json<Value> = row.try_get("value")?;
    let expires: Option<i64> = row.try_get("expires_us")?;
    Ok(Item {
        namespace: prefix.split('.').map(str::to_owned).collect(),
        key: row.try_get("key")?,
        value: value.0,
        created_at: time(row.try_get("created_us")?),
        updated_at: time(row.try_get("updated_us")?),
        expires_at: expires.map(time),
    })
}

/// `AND (prefix = ns OR prefix LIKE 'ns.%')`: `ns` and the namespaces under it.
fn push_prefix(qb: &mut QueryBuilder<'_, Postgres>, prefix: &[String]) {
    if prefix.is_empty() {
        return;
    }
    let joined = join(prefix);
    let pattern = format!("{}.%", escape_like(&joined));
    qb.push(" AND (prefix = ").push_bind(joined);
    qb.push(" OR prefix LIKE ").push_bind(pattern).push(")");
}

/// `AND (prefix = ns OR prefix LIKE '%.ns')`: namespaces ending with `suffix`.
fn push_suffix(qb: &mut QueryBuilder<'_, Postgres>, suffix: &[String]) {
    if suffix.is_empty() {
        return;
    }
    let joined = join(suffix);
    let pattern = format!("%.{}", escape_like(&joined));
    qb.push(" AND (prefix = ").push_bind(joined);
    qb.push(" OR prefix LIKE ").push_bind(pattern).push(")");
}

impl PostgresStore {
    /// A store over `pool`, in schema `agentflow` (shared with [`PostgresSaver`](crate::PostgresSaver)).
    /// Call [`migrate`](Self::migrate) once before use (every start is fine: it is idempotent and
    /// safe when processes race).
    pub fn new(pool: PgPool) -> Self {
        let db = Database::new(pool);
        PostgresStore {
            sql: Statements::new(&db.schema),
            db,
            vector: VectorSupport::default(),
        }
    }

    /// Uses another schema (created by `migrate` if missing).
    pub fn schema(self, schema: &str) -> Result<Self, PostgresError> {
        let db = self.db.with_schema(schema)?;
        Ok(PostgresStore {
            sql: Statements::new(&db.schema),
            db,
            vector: self.vector,
        })
    }

    /// Uses unnamed statements only (for PgBouncer-style transaction pooling).
    pub fn pgbouncer_compatible(mut self, on: bool) -> Self {
        self.db.persistent = !on;
        self
    }

    /// How long one statement may run before the server cancels it; `None` leaves the
    /// server's `statement_timeout`. Default: [`DEFAULT_STATEMENT_TIMEOUT`](crate::DEFAULT_STATEMENT_TIMEOUT).
    /// Set on the session of each connection the store uses and reset before the connection
    /// goes back to the pool; not set with [`pgbouncer_compatible`](Self::pgbouncer_compatible)
    /// (configure it on the server or role there).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.db.statement_timeout = timeout;
        self
    }

    /// Creates or upgrades the tables (the checkpoint tables too: one migration history per
    /// schema); returns how many migrations it applied.
    pub async fn migrate(&self) -> Result<usize, PostgresError> {
        self.db.migrate().await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// The schema name.
    pub fn schema_name(&self) -> &str {
        &self.db.schema
    }

    /// Whether vector queries use pgvector: true when its `vector` type and `<=>` operator are
    /// installed in the database and on the search path (`CREATE EXTENSION vector`). Asked once
    /// per store, on the first vector query.
    pub async fn uses_pgvector(&self) -> Result<bool, StoreError> {
        self.vector.installed(&self.db).await.map_err(backend)
    }

    /// Whether the server offers the pgvector extension (`pg_available_extensions`), installed
    /// in this database or not.
    pub async fn pgvector_available(&self) -> Result<bool, StoreError> {
        let query =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
                .persistent(self.db.persistent);
        self.db
            .run(async |conn| query.fetch_one(conn).await)
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn put(
        &self,
        namespace: &[String],
        key: &str,
        value: Value,
        options: PutOptions,
    ) -> Result<(), StoreError> {
        validate_item_address(namespace, key)?;
        if let Some(e) = &options.embedding {
            validate_embedding(e)?;
        }
        let text = indexed_text(&value, options.index.as_deref());
        let embedding: Option<Vec<f64>> = options.embedding.map(|e| e.into_iter().map(f64::from).collect());
        let query = sqlx::query(&self.sql.put)
            .bind(join(namespace))
            .bind(key)
            .bind(Json(value))
            .bind(options.ttl.map(|t| t.as_secs_f64()))
            .bind(text)
            .bind(embedding)
            .persistent(self.db.persistent);
        self.db
            .run(async |conn| query.execute(conn).await)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, namespace: &[String], key: &str) -> Result<Option<Item>, StoreError> {
        validate_item_address(namespace, key)?;
        let query = sqlx::query(&self.sql.get)
            .bind(join(namespace))
            .bind(key)
            .persistent(self.db.persistent);
        let row = self
            .db
            .run(async |conn| query.fetch_optional(conn).await)
            .await
            .map_err(backend)?;
        row.as_ref().map(item).transpose().map_err(backend)
    }

    async fn delete(&self, namespace: &[String], key: &str) -> Result<(), StoreError> {
        validate_item_address(namespace, key)?;
        let query = sqlx::query(&self.sql.delete)
            .bind(join(namespace))
            .bind(key)
            .persistent(self.db.persistent);
        self.db
            .run(async |conn| query.execute(conn).await)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn search(&self, query: SearchQuery) -> Result<Vec<SearchItem>, StoreError> {
        let conditions = validate_search(&query)?;
        // The query's terms as this crate splits them, so both stores agree on what a term is.
        let terms = query.query_terms().map(|t| t.join(" "));
        let pgvector = query.embedding.is_some() && self.uses_pgvector().await?;
        let s = &self.db.schema;
        let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS}, "));
        match (&query.embedding, &terms) {
            (Some(embedding), _) => {
                let embedding: Vec<f64> = embedding.iter().copied().map(f64::from).collect();
                push_similarity(&mut qb, embedding, pgvector);
            }
            (None, Some(terms)) => {
                qb.push("ts_rank(search, plainto_tsquery('simple', ")
                    .push_bind(terms.clone())
                    .push("))::float8");
            }
            (None, None) => {
                qb.push("NULL::float8");
            }
        }
        qb.push(format!(" AS score FROM {s}.store WHERE {LIVE}"));
        push_prefix(&mut qb, &query.namespace_prefix);
        if let Some(terms) = terms {
            qb.push(" AND search @@ plainto_tsquery('simple', ")
                .push_bind(terms)
                .push(")");
        }
        let mut pattern = serde_json::Map::new();
        for c in conditions {
            let field = c.field;
            match c.op {
                FilterOp::Eq => {
                    pattern.insert(field.clone(), c.operand.clone());
                    qb.push(" AND value -> ")
                        .push_bind(field)
                        .push(" = ")
                        .push_bind(Json(c.operand))
                        .push("::jsonb");
                }
                FilterOp::Ne => {
                    qb.push(" AND (value -> ")
                        .push_bind(field)
                        .push(") IS DISTINCT FROM ")
                        .push_bind(Json(c.operand))
                        .push("::jsonb");
                }
                op => match c.operand {
                    Value::String(text) => {
                        qb.push(" AND jsonb_typeof(value -> ")
                            .push_bind(field.clone())
                            .push(") = 'string' AND (value ->> ")
                            .push_bind(field)
                            .push(format!(") COLLATE \"C\" {} ", op.sql()))
                            .push_bind(text)
                            .push("::text");
                    }
                    // `validate_search` admits numbers and strings only.
                    number => {
                        qb.push(" AND jsonb_typeof(value -> ")
                            .push_bind(field.clone())
                            .push(") = 'number' AND (value -> ")
                            .push_bind(field)
                            .push(format!(") {} ", op.sql()))
                            .push_bind(Json(number))
                            .push("::jsonb");
                    }
                },
            }
        }
        if !pattern.is_empty() {
            qb.push(" AND value @> ")
                .push_bind(Json(Value::Object(pattern)))
                .push("::jsonb");
        }
        qb.push(
            " ORDER BY score DESC NULLS LAST, updated_at DESC, \
             string_to_array(prefix, '.') COLLATE \"C\", key COLLATE \"C\" LIMIT ",
        )
        .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .push(" OFFSET ")
        .push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let query = qb.build().persistent(self.db.persistent);
        let rows = self
            .db
            .run(async |conn| query.fetch_all(conn).await)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(SearchItem {
                    item: item(row)?,
                    score: row.try_get("score")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn list_namespaces(&self, options: ListNamespaces) -> Result<Vec<Vec<String>>, StoreError> {
        options.validate()?;
        let s = &self.db.schema;
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ns FROM (SELECT DISTINCT ");
        match options.max_depth {
            Some(depth) => {
                qb.push("array_to_string((string_to_array(prefix, '.'))[1:")
                    .push_bind(i32::try_from(depth).unwrap_or(i32::MAX))
                    .push("], '.')");
            }
            None => {
                qb.push("prefix");
            }
        }
        qb.push(format!(" AS ns FROM {s}.store WHERE {LIVE}"));
        push_prefix(&mut qb, &options.prefix);
        push_suffix(&mut qb, &options.suffix);
        qb.push(") n ORDER BY string_to_array(ns, '.') COLLATE \"C\" LIMIT ")
            .push_bind(i64::try_from(options.limit).unwrap_or(i64::MAX))
            .push(" OFFSET ")
            .push_bind(i64::try_from(options.offset).unwrap_or(i64::MAX));
        let query = qb.build_query_scalar().persistent(self.db.persistent);
        let names: Vec<String> = self
            .db
            .run(async |conn| query.fetch_all(conn).await)
            .await
            .map_err(backend)?;
        Ok(names
            .into_iter()
            .map(|n| n.split('.').map(str::to_owned).collect())
            .collect())
    }

    async fn sweep_expired(&self) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.sql.sweep).persistent(self.db.persistent);
        let done = self
            .db
            .run(async |conn| query.execute(conn).await)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like(r"a%b_c\d"), r"a\%b\_c\\d");
        assert_eq!(time(1_500_000), UNIX_EPOCH + Duration::from_millis(1500));
    }
}
