//! The guard of the read-only guarantee: the statement the database runs is the statement the
//! guard checked, read by the database's own parser.
//!
//! - PostgreSQL ([`postgres`]): the text is parsed by PostgreSQL's parser (libpg_query, through
//!   the `pg_query` crate) into exactly one statement, whose tree is walked with an allow-list
//!   of node kinds. What the executor sends is the very text that was parsed (for a query, the
//!   `DECLARE ... CURSOR FOR <text>` the guard built and parsed), under the lexer settings
//!   the parse assumed (pinned in the query's transaction). The names the query uses (tables,
//!   functions, operators, types) are then resolved in the database, in the query's
//!   transaction ([`postgres::resolve`], and the executor's table check).
//! - SQLite ([`sqlite`]): SQLite itself compiles the statement (`EXPLAIN`), and the guard reads
//!   the bytecode: the tables it opens (by root page), the functions it calls, and nothing but
//!   read-only opcodes.
//!
//! No check here depends on a third-party reading of the SQL text.

mod functions;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::config::{SqlConfig, SqlDialect};
use super::error::SqlError;

pub(crate) use functions::FunctionAllowlist;

/// The deepest nesting of the statement's syntax tree the guard walks. Deeper trees are refused
/// with [`SqlError::Unsupported`] (they would exhaust the stack of any recursive walk); the
/// PostgreSQL parser's own limits (its stack check, the protobuf decoder's nesting limit) are
/// reported the same way.
pub(crate) const MAX_DEPTH: usize = 200;

/// A statement the guard accepted, with the exact text to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedQuery {
    explain: bool,
    /// The text as given (without what the guard wraps around it).
    source: String,
    statement: String,
    tables: Vec<TableRef>,
    names: postgres::Names,
    /// False only for the tests' statements run past the guard.
    database_checks: bool,
}

impl CheckedQuery {
    /// True for `EXPLAIN <query>` (run as is, not through a cursor).
    pub fn is_explain(&self) -> bool {
        self.explain
    }

    /// The tables and views the statement names (CTE names excluded), each once.
    ///
    /// PostgreSQL: from the parse tree, resolved in the database before the query runs.
    /// SQLite: empty here; the tables are read from SQLite's compiled program on the
    /// connection that runs the query.
    pub fn tables(&self) -> &[TableRef] {
        &self.tables
    }

    /// The exact text the database runs: for a PostgreSQL query, the cursor declaration the
    /// guard parsed; for an EXPLAIN, the text as sent; for SQLite, the one statement of the text.
    pub(crate) fn statement(&self) -> &str {
        &self.statement
    }

    /// The statement as given, before the guard wrapped it (a PostgreSQL query is run through a
    /// cursor declaration around it).
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The functions, operators and types a PostgreSQL query names, resolved in the database
    /// before it runs.
    pub(crate) fn names(&self) -> &postgres::Names {
        &self.names
    }

    /// Whether the executor checks the statement in the database before running it (SQLite's
    /// compiled program; PostgreSQL's names).
    pub(crate) fn database_checks(&self) -> bool {
        self.database_checks
    }

    /// A statement run without the guard (as is, not through a cursor), for the tests that prove
    /// the database layer refuses writes on its own.
    #[cfg(test)]
    pub(crate) fn unchecked(sql: &str) -> Self {
        CheckedQuery {
            explain: true,
            source: sql.to_owned(),
            statement: sql.to_owned(),
            tables: Vec::new(),
            names: postgres::Names::default(),
            database_checks: false,
        }
    }
}

/// A table or view a query names, with the identifiers folded as the database folds them
/// (PostgreSQL: unquoted names in lower case; SQLite: lower case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The schema, when the query qualifies the name.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Checks that `sql` is one read-only query in `dialect`, with the default [`SqlConfig`]'s
/// function allow-list, and lists the tables it reads.
///
/// For PostgreSQL this is the whole syntactic check (the names are then resolved in the
/// database when the query runs). For SQLite it checks that the text is one statement of a
/// read-only kind; SQLite's own compilation of it is checked on the connection that runs it.
///
/// ```
/// use agentflow_tools::sql::{SqlDialect, SqlError, check};
///
/// let ok = check("SELECT name FROM customers WHERE id = 1", SqlDialect::Postgres)?;
/// assert_eq!(ok.tables()[0].name, "customers");
/// assert!(matches!(
///     check("SELECT 1; DROP TABLE customers", SqlDialect::Postgres),
///     Err(SqlError::MultipleStatements(2))
/// ));
/// assert!(matches!(
///     check("SELECT pg_sleep(10)", SqlDialect::Postgres),
///     Err(SqlError::DeniedFunction(_))
/// ));
/// # Ok::<_, SqlError>(())
/// ```
pub fn check(sql: &str, dialect: SqlDialect) -> Result<CheckedQuery, SqlError> {
    check_with(sql, dialect, &SqlConfig::default())
}

/// [`check`] with the function allow-list of `config`.
pub(crate) fn check_with(
    sql: &str,
    dialect: SqlDialect,
    config: &SqlConfig,
) -> Result<CheckedQuery, SqlError> {
    if sql.contains('\0') {
        return Err(SqlError::Parse("the text contains a NUL character".into()));
    }
    match dialect {
        SqlDialect::Postgres => postgres::check(sql, &config.functions),
        SqlDialect::Sqlite => {
            let statement = sqlite::split(sql)?;
            Ok(CheckedQuery {
                explain: statement.explain,
                source: statement.text.to_owned(),
                statement: statement.text.to_owned(),
                tables: Vec::new(),
                names: postgres::Names::default(),
                database_checks: true,
            })
        }
    }
}

fn not_read_only(what: impl Into<String>) -> SqlError {
    SqlError::NotReadOnly(what.into())
}

fn unsupported(what: &str) -> SqlError {
    SqlError::Unsupported(format!(
        "{what} is not supported by this tool; rewrite the query without it"
    ))
}

fn too_deep() -> SqlError {
    SqlError::Unsupported(format!(
        "the query is nested too deeply (more than {MAX_DEPTH} levels of expressions or subqueries); \
         simplify it, for example with IN (...) lists, CASE, or fewer chained operators"
    ))
}

/// The first keyword(s) of a statement's text, to name it in a refusal ("DELETE", "CREATE
/// TABLE"); only for messages.
fn statement_kind(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    let kind = match words.as_slice() {
        [first, second]
            if ["CREATE", "DROP", "ALTER", "START", "GRANT", "REVOKE"]
                .contains(&first.to_ascii_uppercase().as_str()) =>
        {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_owned(),
        [] => "empty".to_owned(),
    };
    kind.trim_end_matches(';').to_ascii_uppercase()
}
