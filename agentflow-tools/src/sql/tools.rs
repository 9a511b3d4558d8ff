//! The tools for a model: `sql_query` ([`QueryTool`]) and `sql_schema` ([`SchemaTool`]).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::config::SqlDialect;
use super::database::SqlDatabase;
use super::exec::QueryResult;
use super::schema::SchemaInfo;
use crate::tool::{DynTool, Tool, ToolContext, ToolError, ToolRegistry, erase};

/// The arguments of `sql_query`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// One read-only SQL query: SELECT, WITH ... SELECT, VALUES, or EXPLAIN (without ANALYZE)
    /// of one. A single statement, no `;` between statements.
    pub sql: String,
    /// The most rows to return (the tool has a default and a maximum).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// The arguments of `sql_schema`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct SchemaArgs {
    /// Only this table (`name` or `schema.name`); every readable table when omitted.
    #[serde(default)]
    pub table: Option<String>,
}

/// `sql_query`: runs one read-only query and returns its columns and (bounded) rows.
///
/// Refusals and query errors come back as [`ToolError::InvalidArguments`] with a message that
/// says what to change; a statement timeout is [`ToolError::Terminal`] (the same query would
/// time out again); an unavailable database is [`ToolError::Retryable`].
#[derive(Clone, Debug)]
pub struct QueryTool {
    db: SqlDatabase,
    description: String,
}

impl QueryTool {
    /// The tool over `db`.
    pub fn new(db: SqlDatabase) -> Self {
        let config = db.config();
        let description = format!(
            "Runs one read-only SQL query ({dialect} dialect) and returns the columns and rows as JSON. \
             Only SELECT / WITH ... SELECT / VALUES{explain} are accepted; anything that writes, locks \
             or changes settings is refused. At most {rows} rows by default (max_rows up to {limit}), \
             {bytes} bytes of results and {ms} ms per statement: aggregate and filter in SQL rather than \
             reading raw rows. `truncated: true` means there were more rows. Call sql_schema first to see \
             the tables and columns.",
            dialect = db.dialect().name(),
            rows = config.default_max_rows(),
            limit = config.max_rows_limit,
            bytes = config.max_bytes,
            ms = config.statement_timeout.as_millis(),
            explain = match db.dialect() {
                SqlDialect::Postgres if !config.postgres_explain => "",
                SqlDialect::Postgres => " / EXPLAIN",
                SqlDialect::Sqlite => " / EXPLAIN QUERY PLAN",
            },
        );
        QueryTool { db, description }
    }
}

impl Tool for QueryTool {
    type Args = QueryArgs;
    type Output = QueryResult;

    fn name(&self) -> &str {
        "sql_query"
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn backend(&self) -> &str {
        "sql"
    }

    async fn call(&self, args: QueryArgs, ctx: ToolContext) -> Result<QueryResult, ToolError> {
        let max_rows = args.max_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(self
            .db
            .query_within(&args.sql, max_rows, ctx.deadline, Some(&ctx.cancellation))
            .await?)
    }
}

/// `sql_schema`: lists the tables and views the model may query, with their columns, types,
/// keys and comments.
#[derive(Clone, Debug)]
pub struct SchemaTool {
    db: SqlDatabase,
    description: String,
}

impl SchemaTool {
    /// The tool over `db`.
    pub fn new(db: SqlDatabase) -> Self {
        let description = format!(
            "Lists the tables and views you may query with sql_query ({} dialect), with each column's \
             name, type, nullability, primary and foreign keys, and comments. Pass `table` to see one table.",
            db.dialect().name()
        );
        SchemaTool { db, description }
    }
}

impl Tool for SchemaTool {
    type Args = SchemaArgs;
    type Output = SchemaInfo;

    fn name(&self) -> &str {
        "sql_schema"
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn backend(&self) -> &str {
        "sql"
    }

    async fn call(&self, args: SchemaArgs, ctx: ToolContext) -> Result<SchemaInfo, ToolError> {
        let table = args.table.as_deref().map(str::trim).filter(|t| !t.is_empty());
        Ok(self
            .db
            .schema_within(table, ctx.deadline, Some(&ctx.cancellation))
            .await?)
    }
}

/// The two SQL tools over `db`: `sql_query` and `sql_schema`.
pub fn tools(db: SqlDatabase) -> Vec<Arc<dyn DynTool>> {
    vec![erase(QueryTool::new(db.clone())), erase(SchemaTool::new(db))]
}

/// Adds `sql_query` and `sql_schema` over `db` to `registry`.
pub fn register(registry: &mut ToolRegistry, db: SqlDatabase) -> &mut ToolRegistry {
    for tool in tools(db) {
        registry.add_dyn(tool);
    }
    registry
}
