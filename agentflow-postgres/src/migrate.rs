//! Embedded, versioned migrations, applied under an advisory lock so that several processes
//! starting at once apply each exactly once.

use sqlx::PgPool;

use crate::error::PostgresError;

/// The migrations, in order. `{schema}` is replaced by the (validated) schema name.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "checkpoints",
        include_str!("../migrations/0001_checkpoints.sql"),
    ),
    (
        2,
        "blob deltas",
        include_str!("../migrations/0002_blob_deltas.sql"),
    ),
    (3, "store", include_str!("../migrations/0003_store.sql")),
    (
        4,
        "bytewise keys",
        include_str!("../migrations/0004_bytewise_keys.sql"),
    ),
    (
        5,
        "inline values",
        include_str!("../migrations/0005_inline_values.sql"),
    ),
    (6, "intents", include_str!("../migrations/0006_intents.sql")),
];

/// Checks that `schema` is a plain lowercase identifier (it is interpolated into SQL).
pub(crate) fn validate_schema(schema: &str) -> Result<(), PostgresError> {
    let mut chars = schema.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 48;
    if ok {
        Ok(())
    } else {
        Err(PostgresError::InvalidSchema(schema.to_owned()))
    }
}

/// Applies the missing migrations of `schema`; returns how many it applied.
pub(crate) async fn migrate(pool: &PgPool, schema: &str) -> Result<usize, PostgresError> {
    validate_schema(schema)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    let lock_key = format!("agentflow-migrate:{schema}");
    let create_schema = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    let create_table = format!(
        "CREATE TABLE IF NOT EXISTS {schema}.migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"
    );
    let current_sql = format!("SELECT max(version) FROM {schema}.migrations");
    let record_sql = format!("INSERT INTO {schema}.migrations (version, name) VALUES ($1, $2)");
    let mut tx = pool.begin().await?;
    // One migrator at a time per schema, across processes; released at commit.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(&lock_key)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&create_schema).execute(&mut *tx).await?;
    sqlx::query(&create_table).execute(&mut *tx).await?;
    let current: Option<i64> = sqlx::query_scalar(&current_sql).fetch_one(&mut *tx).await?;
    let current = current.unwrap_or(0);
    if current > known {
        return Err(PostgresError::NewerSchema {
            schema: schema.to_owned(),
            found: current,
            known,
        });
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tracing::info!(schema, version, name, "applying migration");
        let sql = sql.replace("{schema}", schema);
        sqlx::Executor::execute(&mut *tx, sql.as_str()).await?;
        sqlx::query(&record_sql)
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}
