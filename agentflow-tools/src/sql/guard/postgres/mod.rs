//! PostgreSQL: parse with PostgreSQL's own parser (libpg_query), walk the tree with an
//! allow-list of node kinds ([`walk`]), resolve the names in the database ([`resolve`]).
//!
pub(crate) mod resolve;
mod walk;

use pg_query::NodeEnum;
use pg_query::protobuf;

use super::{CheckedQuery, FunctionAllowlist, not_read_only, statement_kind, too_deep, unsupported};
use crate::sql::error::SqlError;
use walk::Walker;

/// The cursor each PostgreSQL query is read through (one per transaction).
pub(crate) const CURSOR: &str = "agentflow_sql_cursor";

/// A possibly schema-qualified name, as the catalog stores it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QualifiedName {
    pub(crate) schema: Option<String>,
    pub(crate) name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The functions, operators and types a query names, each once; resolved in the database
/// before the query runs ([`resolve`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) functions: Vec<QualifiedName>,
    pub(crate) operators: Vec<QualifiedName>,
    pub(crate) types: Vec<QualifiedName>,
    /// Field names selected from a row (`t.f`, `(row).f`): PostgreSQL calls the function `f`
    /// on the row when no column has that name (functional notation).
    pub(crate) fields: Vec<String>,
}

/// The text run for a query: the query read through a cursor.
fn declare_cursor(sql: &str) -> String {
    // A newline before the text would not change its reading; a space keeps messages' positions
    // simple. Nothing after the text: a trailing comment cannot swallow anything.
    format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}")
}

/// Cursor options of PostgreSQL's `parsenodes.h`: the declaration must say NO SCROLL, and
/// neither BINARY, SCROLL nor WITH HOLD.
const CURSOR_OPT_BINARY: i32 = 0x0001;
const CURSOR_OPT_SCROLL: i32 = 0x0002;
const CURSOR_OPT_NO_SCROLL: i32 = 0x0004;
const CURSOR_OPT_HOLD: i32 = 0x0020;

/// Parses with libpg_query; its limits (stack depth, the protobuf decoder's nesting limit) become
/// a clear refusal.
fn parse(sql: &str) -> Result<protobuf::ParseResult, SqlError> {
    // pg_query's own walk of the result asserts invariants of its tree; whatever it does, a
    // panic there must not take the process down.
    let parsed = std::panic::catch_unwind(|| pg_query::parse(sql, 0))
        .map_err(|_| SqlError::Parse("the PostgreSQL parser failed on this text".into()))?;
    match parsed {
        Ok(result) => Ok(result.protobuf),
        Err(pg_query::Error::Decode(_)) => Err(too_deep()),
        Err(pg_query::Error::Parse(message)) if message.contains("stack depth limit exceeded") => {
            Err(too_deep())
        }
        Err(pg_query::Error::Parse(message)) => Err(SqlError::Parse(message)),
        Err(other) => Err(SqlError::Parse(other.to_string())),
    }
}

/// The one statement of a parse, or why there is not exactly one.
fn only_statement(parsed: protobuf::ParseResult) -> Result<NodeEnum, SqlError> {
    let mut statements = parsed.stmts;
    match statements.len() {
        0 => Err(SqlError::Empty),
        1 => {
            let raw = statements.remove(0);
            raw.stmt.and_then(|n| n.node).ok_or(SqlError::Empty)
        }
        many => Err(SqlError::MultipleStatements(many)),
    }
}

/// Checks `sql`; the result carries the text to run.
pub(crate) fn check(sql: &str, functions: &FunctionAllowlist) -> Result<CheckedQuery, SqlError> {
    let statement = only_statement(parse(sql)?)?;
    let mut walker = Walker::new(functions);
    match statement {
        NodeEnum::ExplainStmt(explain) => {
            walker.explain(&explain)?;
            Ok(walker.finish(true, sql, sql.to_owned()))
        }
        NodeEnum::SelectStmt(_) => {
            // What runs is the cursor declaration: that text is parsed and walked, not the
            // query on its own.
            let text = declare_cursor(sql);
            let declared = only_statement(parse(&text)?)?;
            let NodeEnum::DeclareCursorStmt(declare) = declared else {
                return Err(unsupported("this query form"));
            };
            let protobuf::DeclareCursorStmt {
                portalname,
                options,
                query,
            } = *declare;
            let refused = CURSOR_OPT_BINARY | CURSOR_OPT_SCROLL | CURSOR_OPT_HOLD;
            if portalname != CURSOR || options & CURSOR_OPT_NO_SCROLL == 0 || options & refused != 0 {
                return Err(unsupported("this query form"));
            }
            match query.and_then(|q| q.node) {
                Some(NodeEnum::SelectStmt(select)) => walker.select(&select, 0)?,
                _ => return Err(unsupported("this query form")),
            }
            Ok(walker.finish(false, sql, text))
        }
        _ => Err(not_read_only(format!(
            "a {} statement is not a query; send a SELECT",
            statement_kind(sql_without_leading_comments(sql))
        ))),
    }
}

/// The text from its first word on, for naming a refused statement.
fn sql_without_leading_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

#[cfg(test)]
mod tests;
