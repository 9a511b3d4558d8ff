//! Limits of a query ([`SqlConfig`]) and the tables it may read ([`TableAccess`]).

use std::collections::BTreeSet;
use std::time::Duration;

use super::guard::FunctionAllowlist;

/// The SQL dialect of a [`SqlDatabase`](super::SqlDatabase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlDialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl SqlDialect {
    /// The dialect's name, for messages ("PostgreSQL", "SQLite").
    pub fn name(self) -> &'static str {
        match self {
            SqlDialect::Postgres => "PostgreSQL",
            SqlDialect::Sqlite => "SQLite",
        }
    }

    /// The schemas that are never "user tables" (catalogs, TOAST, other sessions' temp
    /// schemas). They are readable only when named explicitly in a [`TableAccess`] allowlist.
    pub(crate) fn is_system_schema(self, schema: &str) -> bool {
        match self {
            SqlDialect::Postgres => {
                matches!(schema, "pg_catalog" | "information_schema")
                    || schema.starts_with("pg_toast")
                    || schema.starts_with("pg_temp")
            }
            SqlDialect::Sqlite => false,
        }
    }

    /// SQLite's internal tables (`sqlite_schema`, `sqlite_sequence`, `sqlite_stat1`…) and
    /// pragma virtual tables (`pragma_table_info`…).
    pub(crate) fn is_system_table(self, table: &str) -> bool {
        match self {
            SqlDialect::Postgres => false,
            SqlDialect::Sqlite => {
                let table = table.to_ascii_lowercase();
                table.starts_with("sqlite_") || table.starts_with("pragma_")
            }
        }
    }
}

/// Which tables and views queries may read.
///
/// The default, [`TableAccess::all_user_tables`], allows every table and view outside the
/// system schemas (PostgreSQL: `pg_catalog`, `information_schema`, `pg_toast*`, `pg_temp*`;
/// SQLite: every table of the main database except the internal `sqlite_*` tables). An
/// allowlist ([`TableAccess::only`] plus [`schema`](TableAccess::schema) /
/// [`table`](TableAccess::table)) restricts reads to the schemas and tables it names.
///
/// Names are compared as the catalog stores them: PostgreSQL folds unquoted identifiers to
/// lower case, so `public.orders` matches `SELECT * FROM Orders`; SQLite compares without
/// regard to ASCII case. The check resolves every table the query names in the database (the
/// search path decides which schema an unqualified name means), so `FROM orders` cannot
/// reach a table of another schema the allowlist excludes.
///
/// This is a convenience limit on what the model reads, checked before the query runs. On
/// PostgreSQL it applies to the tables the query names (not those a view or function reads);
/// on SQLite to the tables SQLite's compiled program opens (views followed). The boundary that
/// holds whatever the query does is the database role's privileges (see
/// `docs/backends/sql.md`).
///
/// ```
/// use agentflow_tools::sql::TableAccess;
///
/// let access = TableAccess::only().schema("sales").table("public.customers");
/// assert!(access.is_allowlist());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableAccess {
    allow: Option<Allowlist>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Allowlist {
    schemas: BTreeSet<String>,
    /// `(schema, table)`; no schema matches the table in any non-system schema.
    tables: BTreeSet<(Option<String>, String)>,
}

impl TableAccess {
    /// Every table and view outside the system schemas (the default).
    pub fn all_user_tables() -> Self {
        TableAccess::default()
    }

    /// An empty allowlist: nothing is readable until [`schema`](Self::schema) or
    /// [`table`](Self::table) add to it.
    pub fn only() -> Self {
        TableAccess {
            allow: Some(Allowlist::default()),
        }
    }

    /// Allows every table and view of `schema` (switches to allowlist mode). For SQLite, the
    /// main database is the schema `main`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.allow
            .get_or_insert_with(Allowlist::default)
            .schemas
            .insert(schema.into());
        self
    }

    /// Allows one table or view, `"schema.table"` or `"table"` (the latter in any non-system
    /// schema); switches to allowlist mode.
    pub fn table(mut self, table: impl AsRef<str>) -> Self {
        let table = table.as_ref();
        let entry = match table.split_once('.') {
            Some((schema, name)) => (Some(schema.to_owned()), name.to_owned()),
            None => (None, table.to_owned()),
        };
        self.allow
            .get_or_insert_with(Allowlist::default)
            .tables
            .insert(entry);
        self
    }

    /// True when an allowlist is in force (not [`all_user_tables`](Self::all_user_tables)).
    pub fn is_allowlist(&self) -> bool {
        self.allow.is_some()
    }

    /// True when `schema.table` may be read.
    pub(crate) fn allows(&self, dialect: SqlDialect, schema: &str, table: &str) -> bool {
        let same = |a: &str, b: &str| match dialect {
            SqlDialect::Postgres => a == b,
            _ => a.eq_ignore_ascii_case(b),
        };
        let system = dialect.is_system_schema(schema) || dialect.is_system_table(table);
        match &self.allow {
            None => !system,
            Some(allow) => {
                allow.schemas.iter().any(|s| same(s, schema))
                    || allow.tables.iter().any(|(s, t)| {
                        same(t, table)
                            && match s {
                                Some(s) => same(s, schema),
                                None => !system,
                            }
                    })
            }
        }
    }
}

/// The limits of the SQL tools: rows, bytes, time, and the readable tables.
///
/// ```
/// use std::time::Duration;
/// use agentflow_tools::sql::{SqlConfig, TableAccess};
///
/// let config = SqlConfig::default()
///     .max_rows(50)
///     .statement_timeout(Duration::from_secs(2))
///     .access(TableAccess::only().schema("public"));
/// assert_eq!(config.default_max_rows(), 50);
/// ```
#[derive(Clone, Debug)]
pub struct SqlConfig {
    pub(crate) max_rows: usize,
    pub(crate) max_rows_limit: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_cell_chars: usize,
    pub(crate) max_row_bytes: usize,
    pub(crate) statement_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) access: TableAccess,
    pub(crate) functions: FunctionAllowlist,
    pub(crate) postgres_explain: bool,
}

/// Rows returned when the call does not ask for a number.
pub const DEFAULT_MAX_ROWS: usize = 100;
/// The most rows a call may ask for.
pub const DEFAULT_MAX_ROWS_LIMIT: usize = 1000;
/// The most bytes of JSON rows a call returns.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
/// Longer text values are shortened to this many characters.
pub const DEFAULT_MAX_CELL_CHARS: usize = 2000;
/// The byte cap of what one call reads into memory (see [`SqlConfig::max_row_bytes`]).
pub const DEFAULT_MAX_ROW_BYTES: usize = 1024 * 1024;
/// How long one statement may run.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a statement waits for a lock (PostgreSQL).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            max_rows: DEFAULT_MAX_ROWS,
            max_rows_limit: DEFAULT_MAX_ROWS_LIMIT,
            max_bytes: DEFAULT_MAX_BYTES,
            max_cell_chars: DEFAULT_MAX_CELL_CHARS,
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            access: TableAccess::default(),
            functions: FunctionAllowlist::default(),
            postgres_explain: false,
        }
    }
}

impl SqlConfig {
    /// Rows returned when a call does not ask for a number (at least 1).
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.max_rows = rows.max(1);
        self
    }

    /// The most rows a call may ask for (at least 1); larger requests are lowered to it.
    pub fn max_rows_limit(mut self, rows: usize) -> Self {
        self.max_rows_limit = rows.max(1);
        self
    }

    /// The most bytes of JSON rows a call returns; the rows that do not fit are left out and
    /// the result is marked truncated.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Text values longer than this many characters are shortened (the result says so).
    pub fn max_cell_chars(mut self, chars: usize) -> Self {
        self.max_cell_chars = chars.max(1);
        self
    }

    /// The byte cap of one result row as the database hands it over, and so of what one call
    /// holds in memory (at least 1024; default 1 MiB). Checked before a value reaches this
    /// process, whatever the query computes:
    ///
    /// - PostgreSQL: a value whose text form is longer than its share of the cap (the cap
    ///   divided by the number of columns) is not sent; its first characters come instead,
    ///   marked `… [shortened, N bytes in all]`.
    /// - SQLite: no string or blob may grow longer than the cap, or than its column's share of
    ///   16 times the cap for a result of more than 16 columns (`SQLITE_LIMIT_LENGTH`: the
    ///   query fails with "string or blob too big"; this also means a stored row longer than
    ///   that cannot be read), and a statement whose memory grows by more than 32 times the
    ///   cap is interrupted.
    pub fn max_row_bytes(mut self, bytes: usize) -> Self {
        self.max_row_bytes = bytes.max(1024);
        self
    }

    /// How long one statement may run before the database cancels it (PostgreSQL
    /// `statement_timeout`; SQLite: interrupted by a progress handler).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a PostgreSQL statement waits for a lock (`lock_timeout`).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The tables queries may read.
    pub fn access(mut self, access: TableAccess) -> Self {
        self.access = access;
        self
    }

    /// Allows queries to call one more function, beyond the built-in allow-list of functions
    /// that only compute a value from their arguments (aggregates, window, string, math,
    /// date/time, JSON and array functions).
    ///
    /// `"schema.name"` allows PostgreSQL's function `name` of `schema` only (called qualified, or
    /// unqualified when the search path finds it there); `"name"` or `"pg_catalog.name"` allows
    /// a built-in function (SQLite: the function of that name). Names are compared as the
    /// catalog stores them (lower case unless created quoted). Allow only functions without
    /// effects outside the query: the read-only transaction stops writes, not advisory locks,
    /// session settings or requests to other systems.
    ///
    /// ```
    /// use agentflow_tools::sql::SqlConfig;
    ///
    /// let config = SqlConfig::default().allow_function("reports.fiscal_year");
    /// # let _ = config;
    /// ```
    pub fn allow_function(mut self, function: impl AsRef<str>) -> Self {
        self.functions.add(function.as_ref());
        self
    }

    /// Lets calls run `EXPLAIN` on PostgreSQL (off by default).
    ///
    /// PostgreSQL prints in full the constants it computes while planning, so the output of
    /// `EXPLAIN ... WHERE a = repeat('x', 100000000)` is a 100 MB line, and an `EXPLAIN` cannot
    /// be wrapped or read through a cursor as queries are: its output is not bounded by
    /// [`max_row_bytes`](Self::max_row_bytes) before it reaches this process. Turn it on only
    /// where the callers are trusted not to do that. (SQLite's `EXPLAIN QUERY PLAN` is always
    /// allowed: it lists the plan, never values computed while planning.)
    pub fn allow_postgres_explain(mut self) -> Self {
        self.postgres_explain = true;
        self
    }

    /// Rows returned when a call does not ask for a number.
    pub fn default_max_rows(&self) -> usize {
        self.max_rows.min(self.max_rows_limit)
    }

    /// The row limit of a call that asks for `requested` rows.
    pub(crate) fn rows_for(&self, requested: Option<usize>) -> usize {
        requested.unwrap_or(self.max_rows).clamp(1, self.max_rows_limit)
    }

    /// The statement timeout.
    pub fn timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// The table access rule.
    pub fn table_access(&self) -> &TableAccess {
        &self.access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_access_excludes_system_schemas() {
        let all = TableAccess::all_user_tables();
        assert!(all.allows(SqlDialect::Postgres, "public", "orders"));
        assert!(!all.allows(SqlDialect::Postgres, "pg_catalog", "pg_authid"));
        assert!(!all.allows(SqlDialect::Postgres, "information_schema", "tables"));
        assert!(!all.allows(SqlDialect::Postgres, "pg_temp_3", "x"));
        assert!(all.allows(SqlDialect::Sqlite, "main", "orders"));
        assert!(!all.allows(SqlDialect::Sqlite, "main", "sqlite_schema"));
    }

    #[test]
    fn allowlists_match_schemas_and_tables() {
        let access = TableAccess::only()
            .schema("sales")
            .table("public.customers")
            .table("notes");
        let pg = SqlDialect::Postgres;
        assert!(access.allows(pg, "sales", "orders"));
        assert!(access.allows(pg, "public", "customers"));
        assert!(!access.allows(pg, "public", "Customers"));
        assert!(!access.allows(pg, "public", "orders"));
        assert!(access.allows(pg, "other", "notes"));
        assert!(!access.allows(pg, "pg_catalog", "notes"));
        assert!(!TableAccess::only().allows(pg, "public", "x"));
        assert!(
            TableAccess::only()
                .table("Orders")
                .allows(SqlDialect::Sqlite, "main", "orders")
        );
    }

    #[test]
    fn row_limits_are_clamped() {
        let c = SqlConfig::default().max_rows(10).max_rows_limit(20);
        assert_eq!(c.rows_for(None), 10);
        assert_eq!(c.rows_for(Some(0)), 1);
        assert_eq!(c.rows_for(Some(500)), 20);
    }
}
