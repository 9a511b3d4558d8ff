//! The readable tables, their columns and types, for the model to write queries against.
//!
//! PostgreSQL: read from `pg_catalog` (rather than `information_schema`, which omits
//! materialized views and spells types as `USER-DEFINED`/`ARRAY`), with `format_type` for
//! the types, primary keys, foreign keys and comments, restricted to the columns the tool's
//! role may `SELECT` and then to the [`TableAccess`](super::TableAccess) allowlist.
//! SQLite: `sqlite_master` with `pragma_table_info` and `pragma_foreign_key_list`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::config::{SqlConfig, SqlDialect};
use super::error::SqlError;
use super::exec::{PgCall, SqliteCall};

/// The readable tables of a database.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    /// The SQL dialect queries must be written in ("PostgreSQL", "SQLite").
    pub dialect: String,
    /// The tables and views, by schema and name.
    pub tables: Vec<TableInfo>,
}

/// A table or view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// Its schema (SQLite: `main`).
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `table`, `view`, `materialized view`, `partitioned table` or `foreign table`.
    pub kind: String,
    /// The table's comment (`COMMENT ON TABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The columns, in order.
    pub columns: Vec<ColumnSchema>,
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Its name.
    pub name: String,
    /// Its type (`integer`, `character varying(80)`, `numeric(10,2)`, `text[]`; SQLite: the
    /// declared type).
    #[serde(rename = "type")]
    pub type_name: String,
    /// False for `NOT NULL` columns.
    pub nullable: bool,
    /// Part of the primary key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary_key: bool,
    /// The column(s) a foreign key points to, `schema.table(column)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    /// The column's comment (`COMMENT ON COLUMN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One row per column.
type ColumnRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    bool,
    bool,
    Option<String>,
    Option<String>,
);

const PG_SCHEMA: &str = "
SELECT n.nspname::text, c.relname::text,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
       pg_catalog.obj_description(c.oid, 'pg_class'),
       a.attname::text,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)),
       (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I(%I)', fn.nspname, fc.relname, fa.attname), ', ')
          FROM pg_catalog.pg_constraint k
          CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(col, fcol)
          JOIN pg_catalog.pg_class fc ON fc.oid = k.confrelid
          JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
          JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.fcol
         WHERE k.conrelid = c.oid AND k.contype = 'f' AND u.col = a.attnum),
       pg_catalog.col_description(c.oid, a.attnum)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND NOT c.relispartition
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
   AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT')
 ORDER BY 1, 2, a.attnum";

const SQLITE_SCHEMA: &str = "
SELECT 'main', m.name, m.type, NULL, p.name, p.type, NOT p.\"notnull\", p.pk > 0,
       (SELECT group_concat('main.' || f.\"table\" || '(' || coalesce(f.\"to\", '') || ')', ', ')
          FROM pragma_foreign_key_list(m.name) f WHERE f.\"from\" = p.name),
       NULL
  FROM sqlite_master m JOIN pragma_table_info(m.name) p
 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
 ORDER BY m.name, p.cid";

/// Lists the readable tables; with `only`, just the table(s) of that name (`name` or
/// `schema.name`).
pub(crate) async fn list_postgres(
    pool: &PgPool,
    config: &SqlConfig,
    only: Option<&str>,
    timeout: Duration,
) -> Result<SchemaInfo, SqlError> {
    let mut call = PgCall::begin(pool, config, timeout).await?;
    let rows: Result<Vec<ColumnRow>, _> = sqlx::query_as(PG_SCHEMA).fetch_all(&mut *call.conn).await;
    call.finish().await;
    let rows = rows.map_err(|e| SqlError::from_sqlx(e, timeout))?;
    Ok(assemble(SqlDialect::Postgres, config, only, rows))
}

/// [`list_postgres`] for SQLite.
pub(crate) async fn list_sqlite(
    pool: &SqlitePool,
    config: &SqlConfig,
    only: Option<&str>,
    timeout: Duration,
) -> Result<SchemaInfo, SqlError> {
    let mut call = SqliteCall::begin(pool, config, timeout).await?;
    let rows: Result<Vec<ColumnRow>, _> = sqlx::query_as(SQLITE_SCHEMA).fetch_all(&mut *call.conn).await;
    call.finish().await;
    let rows = rows.map_err(|e| SqlError::from_sqlx(e, timeout))?;
    Ok(assemble(SqlDialect::Sqlite, config, only, rows))
}

fn matches_filter(dialect: SqlDialect, only: &str, schema: &str, name: &str) -> bool {
    let same = |a: &str, b: &str| match dialect {
        SqlDialect::Postgres => a == b,
        _ => a.eq_ignore_ascii_case(b),
    };
    match only.split_once('.') {
        Some((s, n)) => same(s, schema) && same(n, name),
        None => same(only, name),
    }
}

fn assemble(dialect: SqlDialect, config: &SqlConfig, only: Option<&str>, rows: Vec<ColumnRow>) -> SchemaInfo {
    let mut tables: Vec<TableInfo> = Vec::new();
    for (
        schema,
        table,
        kind,
        comment,
        column,
        type_name,
        nullable,
        primary_key,
        references,
        column_comment,
    ) in rows
    {
        if !config.access.allows(dialect, &schema, &table)
            || only.is_some_and(|only| !matches_filter(dialect, only, &schema, &table))
        {
            continue;
        }
        let column = ColumnSchema {
            name: column,
            type_name,
            nullable,
            primary_key,
            references: references.filter(|r| !r.is_empty()),
            comment: column_comment,
        };
        match tables.last_mut() {
            Some(last) if last.schema == schema && last.name == table => last.columns.push(column),
            _ => tables.push(TableInfo {
                schema,
                name: table,
                kind,
                comment,
                columns: vec![column],
            }),
        }
    }
    SchemaInfo {
        dialect: dialect.name().to_owned(),
        tables,
    }
}
