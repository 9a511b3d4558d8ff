//! The parser layer of the read-only guarantee: exactly one read-only statement, no
//! side-effecting functions, and the list of tables it reads (checked against the allowlist
//! by the executor, which resolves them in the database).
//!
//! Two independent passes:
//!
//! - a token scan (comments and string literals are tokens of their own, so they cannot hide
//!   or fake anything) refuses every `name(` whose name is on the deny-list, wherever it
//!   appears, and Unicode-escaped identifiers (`U&"..."`), which could spell a denied name
//!   the scan would not recognise;
//! - a walk of the whole syntax tree refuses anything but a query (or `EXPLAIN` of one),
//!   data-modifying statements nested in `WITH` or subqueries, `SELECT ... INTO`, locking
//!   clauses, and syntax of other dialects it does not analyse (refused rather than trusted);
//!   it collects the tables read, telling them apart from CTE names by scope.
//!
//! The walk is written out by hand (sqlparser's `Visitor` needs its `visitor` feature); the
//! matches on expressions and table factors are exhaustive, so a new variant in a sqlparser
//! upgrade is a compile error here, not a blind spot.

use sqlparser::ast::{
    AccessExpr, Distinct, Expr, Fetch, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, GroupByExpr, GroupByWithModifier, Ident, InTarget, JoinConstraint, JoinOperator,
    JsonPath, JsonPathElem, LimitClause, ListAggOnOverflow, ObjectName, ObjectNamePart, OrderBy, OrderByExpr,
    OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Subscript,
    TableFactor, TableSampleKind, TableWithJoins, WildcardAdditionalOptions, WindowFrameBound, WindowSpec,
    WindowType, XmlTableColumnOption,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::config::SqlDialect;
use super::error::SqlError;

/// A statement the guard accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedQuery {
    explain: bool,
    tables: Vec<TableRef>,
}

impl CheckedQuery {
    /// True for `EXPLAIN <query>` (run as is, not through a cursor).
    pub fn is_explain(&self) -> bool {
        self.explain
    }

    /// The tables and views the statement names (CTE names excluded), each once.
    pub fn tables(&self) -> &[TableRef] {
        &self.tables
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

/// Functions no query may call: side effects outside the transaction (signals, advisory
/// locks, notifications, sequences, files, large objects), configuration changes (which could
/// lift the statement timeout), sleeping, and functions that run SQL given as a string or reach
/// other databases or hosts (which would escape this check and the allowlist).
const DENIED: &[&str] = &[
    // PostgreSQL
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_log_backend_memory_contexts",
    "pg_log_standby_snapshot",
    "set_config",
    "pg_stat_file",
    "pg_truncate_visibility_map",
    "pg_stat_statements_reset",
    "pg_nextoid",
    "nextval",
    "setval",
    "pg_notify",
    "ts_stat",
    "ts_rewrite",
    "http",
    // SQLite
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Prefixes of denied function names (families such as `pg_sleep_for`, `lo_import`,
/// `dblink_exec`, `pg_advisory_xact_lock_shared`).
const DENIED_PREFIXES: &[&str] = &[
    "pg_sleep",
    "pg_advisory",
    "pg_try_advisory",
    "lo_",
    "dblink",
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "pg_logical_",
    "pg_replication_",
    "pg_create_",
    "pg_drop_replication",
    "pg_copy_",
    "pg_switch_",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_backup_",
    "pg_stat_reset",
    "pg_wal_replay_",
    "pg_import_",
    "pg_background",
    "binary_upgrade_",
    "txid_current",
    "pg_current_xact_id",
    // pgsql-http / pg_net: outbound HTTP requests.
    "http_",
];

/// Denied anywhere in the name: `query_to_xml`, `table_to_xml`, `cursor_to_xmlschema`… read
/// tables named by a string (bypassing the allowlist) or run a query given as a string.
const DENIED_INFIXES: &[&str] = &["_to_xml"];

/// SQLite table-valued functions a query may use in FROM. Others (`pragma_*`, `dbstat`,
/// `sqlite_dbpage`…) expose the schema or raw pages of tables outside the allowlist.
const SQLITE_TABLE_FUNCTIONS: &[&str] = &[
    "json_each",
    "json_tree",
    "jsonb_each",
    "jsonb_tree",
    "generate_series",
];

/// True when `name` (lower case, unqualified) is on the deny-list.
pub(crate) fn is_denied_function(name: &str) -> bool {
    DENIED.contains(&name)
        || DENIED_PREFIXES.iter().any(|p| name.starts_with(p))
        || DENIED_INFIXES.iter().any(|i| name.contains(i))
}

/// Checks that `sql` is one read-only query in `dialect` and lists the tables it reads.
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
    let postgres = PostgreSqlDialect {};
    let sqlite = SQLiteDialect {};
    let parser_dialect: &dyn sqlparser::dialect::Dialect = match dialect {
        SqlDialect::Postgres => &postgres,
        SqlDialect::Sqlite => &sqlite,
    };
    scan_tokens(sql, parser_dialect)?;
    let statements = Parser::parse_sql(parser_dialect, sql).map_err(|e| SqlError::Parse(e.to_string()))?;
    let statement = match statements.as_slice() {
        [] => return Err(SqlError::Empty),
        [one] => one,
        many => return Err(SqlError::MultipleStatements(many.len())),
    };
    let mut walker = Walker {
        dialect,
        tables: Vec::new(),
        ctes: Vec::new(),
    };
    let explain = walker.top_statement(statement)?;
    Ok(CheckedQuery {
        explain,
        tables: walker.tables,
    })
}

/// The token pass: denied function calls and Unicode-escaped identifiers.
fn scan_tokens(sql: &str, dialect: &dyn sqlparser::dialect::Dialect) -> Result<(), SqlError> {
    let tokens = Tokenizer::new(dialect, sql)
        .tokenize()
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    // Comments are whitespace tokens: `pg_sleep /* */ (1)` is still a call.
    let significant = |from: usize| tokens[from..].iter().find(|t| !matches!(t, Token::Whitespace(_)));
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        if matches!(significant(i + 1), Some(Token::LParen)) {
            let name = word.value.to_ascii_lowercase();
            if is_denied_function(&name) {
                return Err(SqlError::DeniedFunction(name));
            }
        }
        // PostgreSQL's U&"d\0061ta" spells an identifier with escapes this scan cannot see
        // through; U& directly followed by a quoted identifier starts one (no whitespace is
        // allowed in between, so the raw tokens are checked).
        if word.quote_style.is_none()
            && word.value.eq_ignore_ascii_case("u")
            && matches!(tokens.get(i + 1), Some(Token::Ampersand))
            && matches!(tokens.get(i + 2), Some(Token::Word(w)) if w.quote_style == Some('"'))
        {
            return Err(SqlError::Unsupported(
                "Unicode-escaped identifiers (U&\"...\") are not allowed; write the name plainly".into(),
            ));
        }
    }
    Ok(())
}

/// The syntax-tree pass.
struct Walker {
    dialect: SqlDialect,
    tables: Vec<TableRef>,
    /// The CTE names visible at the current point, one frame per `WITH` being walked.
    ctes: Vec<Vec<String>>,
}

type Check = Result<(), SqlError>;

fn not_read_only(what: impl Into<String>) -> SqlError {
    SqlError::NotReadOnly(what.into())
}

fn unsupported(what: &str) -> SqlError {
    SqlError::Unsupported(format!(
        "{what} is not supported by this tool; rewrite the query without it"
    ))
}

/// The first keyword(s) of a statement, to name it in a refusal ("DELETE", "CREATE TABLE").
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
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
    kind.to_ascii_uppercase()
}

impl Walker {
    /// Folds an identifier as the database does.
    fn fold(&self, ident: &Ident) -> String {
        match (self.dialect, ident.quote_style) {
            (SqlDialect::Postgres, Some(_)) => ident.value.clone(),
            _ => ident.value.to_ascii_lowercase(),
        }
    }

    /// Returns whether the statement is an EXPLAIN.
    fn top_statement(&mut self, statement: &Statement) -> Result<bool, SqlError> {
        match statement {
            Statement::Query(query) => self.query(query).map(|()| false),
            Statement::Explain {
                describe_alias,
                analyze,
                statement,
                options,
                estimate,
                ..
            } => {
                if *analyze
                    || options
                        .iter()
                        .flatten()
                        .any(|o| o.name.value.eq_ignore_ascii_case("analyze"))
                {
                    return Err(not_read_only(
                        "EXPLAIN ANALYZE executes the statement; use EXPLAIN without ANALYZE",
                    ));
                }
                if !matches!(describe_alias, sqlparser::ast::DescribeAlias::Explain) || *estimate {
                    return Err(unsupported("this form of EXPLAIN"));
                }
                match statement.as_ref() {
                    Statement::Query(query) => self.query(query).map(|()| true),
                    other => Err(not_read_only(format!(
                        "EXPLAIN is allowed only for queries, not for a {} statement",
                        statement_kind(other)
                    ))),
                }
            }
            other => Err(not_read_only(format!(
                "a {} statement is not a query; send a SELECT",
                statement_kind(other)
            ))),
        }
    }

    fn is_cte(&self, name: &str) -> bool {
        self.ctes.iter().any(|frame| frame.iter().any(|n| n == name))
    }

    fn relation(&mut self, name: &ObjectName) -> Check {
        let mut parts = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            match part {
                ObjectNamePart::Identifier(ident) => parts.push(self.fold(ident)),
                ObjectNamePart::Function(_) => return Err(unsupported("a function call in a table name")),
            }
        }
        let table = match parts.as_slice() {
            [table] if self.is_cte(table) => return Ok(()),
            [table] => TableRef {
                schema: None,
                name: table.clone(),
            },
            [schema, table] => TableRef {
                schema: Some(schema.clone()),
                name: table.clone(),
            },
            _ => {
                return Err(SqlError::Unsupported(format!(
                    "the name {name} has more than two parts; write schema.table (other databases cannot be read)"
                )));
            }
        };
        if !self.tables.contains(&table) {
            self.tables.push(table);
        }
        Ok(())
    }

    /// A function in FROM: its arguments are walked; SQLite allows only a few.
    fn table_function(&mut self, name: &ObjectName, args: &[FunctionArg]) -> Check {
        if self.dialect == SqlDialect::Sqlite {
            let last = match name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => ident.value.to_ascii_lowercase(),
                _ => String::new(),
            };
            if name.0.len() != 1 || !SQLITE_TABLE_FUNCTIONS.contains(&last.as_str()) {
                return Err(SqlError::TableNotAllowed(format!(
                    "the table-valued function {name}"
                )));
            }
        }
        self.function_args(args)
    }

    fn query(&mut self, query: &Query) -> Check {
        if !query.locks.is_empty() {
            return Err(not_read_only(
                "FOR UPDATE / FOR SHARE lock rows; remove the locking clause",
            ));
        }
        if query.for_clause.is_some() {
            return Err(unsupported("FOR XML/JSON/BROWSE"));
        }
        if query.settings.is_some() || query.format_clause.is_some() {
            return Err(unsupported("SETTINGS/FORMAT"));
        }
        if !query.pipe_operators.is_empty() {
            return Err(unsupported("pipe syntax (|>)"));
        }
        let mut pushed = false;
        if let Some(with) = &query.with {
            let names: Vec<String> = with.cte_tables.iter().map(|c| self.fold(&c.alias.name)).collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                if cte.from.is_some() {
                    return Err(unsupported("CTE ... FROM"));
                }
                // Non-recursive WITH: a CTE sees only the CTEs before it; any other name is a
                // table (so a later CTE cannot pass for an excluded table of the same name).
                let visible = if with.recursive {
                    names.clone()
                } else {
                    names[..i].to_vec()
                };
                self.ctes.push(visible);
                let result = self.query(&cte.query);
                self.ctes.pop();
                result?;
            }
            self.ctes.push(names);
            pushed = true;
        }
        let result = self.query_rest(query);
        if pushed {
            self.ctes.pop();
        }
        result
    }

    fn query_rest(&mut self, query: &Query) -> Check {
        self.set_expr(&query.body)?;
        if let Some(order_by) = &query.order_by {
            self.order_by(order_by)?;
        }
        match &query.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                self.opt_expr(limit.as_ref())?;
                if let Some(offset) = offset {
                    self.expr(&offset.value)?;
                }
                self.exprs(limit_by)?;
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.expr(offset)?;
                self.expr(limit)?;
            }
        }
        if let Some(Fetch { quantity, .. }) = &query.fetch {
            self.opt_expr(quantity.as_ref())?;
        }
        Ok(())
    }

    fn set_expr(&mut self, body: &SetExpr) -> Check {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(query) => self.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            SetExpr::Values(values) => {
                for row in &values.rows {
                    self.exprs(&row.content)?;
                }
                Ok(())
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                Err(not_read_only(format!(
                    "{} inside WITH or a subquery modifies data",
                    statement_kind(s)
                )))
            }
            SetExpr::Table(table) => match (&table.schema_name, &table.table_name) {
                (schema, Some(name)) => {
                    let mut parts = Vec::new();
                    parts.extend(schema.iter().cloned().map(ObjectNamePart::Identifier));
                    parts.push(ObjectNamePart::Identifier(name.clone()));
                    self.relation(&ObjectName(parts))
                }
                (_, None) => Err(unsupported("TABLE without a name")),
            },
        }
    }

    fn select(&mut self, select: &Select) -> Check {
        if select.into.is_some() {
            return Err(not_read_only(
                "SELECT ... INTO creates a table; use a plain SELECT",
            ));
        }
        if select.top.is_some() {
            return Err(unsupported("TOP (use LIMIT)"));
        }
        if !select.lateral_views.is_empty()
            || select.prewhere.is_some()
            || !select.connect_by.is_empty()
            || !select.cluster_by.is_empty()
            || !select.distribute_by.is_empty()
            || !select.sort_by.is_empty()
            || select.qualify.is_some()
            || select.value_table_mode.is_some()
            || select.select_modifiers.is_some()
        {
            return Err(unsupported("this SELECT clause (another dialect's syntax)"));
        }
        if let Some(Distinct::On(exprs)) = &select.distinct {
            self.exprs(exprs)?;
        }
        for item in &select.projection {
            self.select_item(item)?;
        }
        for table in &select.from {
            self.table_with_joins(table)?;
        }
        self.opt_expr(select.selection.as_ref())?;
        match &select.group_by {
            GroupByExpr::All(modifiers) => self.group_by_modifiers(modifiers)?,
            GroupByExpr::Expressions(exprs, modifiers) => {
                self.exprs(exprs)?;
                self.group_by_modifiers(modifiers)?;
            }
        }
        self.opt_expr(select.having.as_ref())?;
        for window in &select.named_window {
            if let sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &window.1 {
                self.window_spec(spec)?;
            }
        }
        Ok(())
    }

    fn group_by_modifiers(&mut self, modifiers: &[GroupByWithModifier]) -> Check {
        for modifier in modifiers {
            if let GroupByWithModifier::GroupingSets(expr) = modifier {
                self.expr(expr)?;
            }
        }
        Ok(())
    }

    fn select_item(&mut self, item: &SelectItem) -> Check {
        match item {
            SelectItem::UnnamedExpr(expr)
            | SelectItem::ExprWithAlias { expr, .. }
            | SelectItem::ExprWithAliases { expr, .. } => self.expr(expr),
            SelectItem::QualifiedWildcard(kind, options) => {
                if let SelectItemQualifiedWildcardKind::Expr(expr) = kind {
                    self.expr(expr)?;
                }
                self.wildcard_options(options)
            }
            SelectItem::Wildcard(options) => self.wildcard_options(options),
        }
    }

    fn wildcard_options(&mut self, options: &WildcardAdditionalOptions) -> Check {
        if let Some(replace) = &options.opt_replace {
            for element in &replace.items {
                self.expr(&element.expr)?;
            }
        }
        Ok(())
    }

    fn table_with_joins(&mut self, table: &TableWithJoins) -> Check {
        self.table_factor(&table.relation)?;
        for join in &table.joins {
            self.table_factor(&join.relation)?;
            match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => self.join_constraint(c)?,
                JoinOperator::AsOf {
                    match_condition,
                    constraint,
                } => {
                    self.expr(match_condition)?;
                    self.join_constraint(constraint)?;
                }
                JoinOperator::CrossApply
                | JoinOperator::OuterApply
                | JoinOperator::ArrayJoin
                | JoinOperator::LeftArrayJoin
                | JoinOperator::InnerArrayJoin => {}
            }
        }
        Ok(())
    }

    fn join_constraint(&mut self, constraint: &JoinConstraint) -> Check {
        match constraint {
            JoinConstraint::On(expr) => self.expr(expr),
            JoinConstraint::Using(_)
            | JoinConstraint::UsingAlias(..)
            | JoinConstraint::Natural
            | JoinConstraint::None => Ok(()),
        }
    }

    fn table_factor(&mut self, factor: &TableFactor) -> Check {
        match factor {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                json_path,
                sample,
                ..
            } => {
                if version.is_some() {
                    return Err(unsupported("time travel (FOR SYSTEM_TIME / AT)"));
                }
                self.exprs(with_hints)?;
                if let Some(path) = json_path {
                    self.json_path(path)?;
                }
                if let Some(sample) = sample {
                    self.sample(sample)?;
                }
                match args {
                    Some(args) => self.table_function(name, &args.args),
                    None => self.relation(name),
                }
            }
            TableFactor::Derived { subquery, sample, .. } => {
                if let Some(sample) = sample {
                    self.sample(sample)?;
                }
                self.query(subquery)
            }
            TableFactor::TableFunction { expr, .. } => self.expr(expr),
            TableFactor::Function { name, args, .. } => self.table_function(name, args),
            TableFactor::UNNEST { array_exprs, .. } => self.exprs(array_exprs),
            TableFactor::JsonTable { json_expr, .. } => self.expr(json_expr),
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins),
            TableFactor::XmlTable {
                namespaces,
                row_expression,
                passing,
                columns,
                ..
            } => {
                for namespace in namespaces {
                    self.expr(&namespace.uri)?;
                }
                self.expr(row_expression)?;
                for argument in &passing.arguments {
                    self.expr(&argument.expr)?;
                }
                for column in columns {
                    if let XmlTableColumnOption::NamedInfo { path, default, .. } = &column.option {
                        self.opt_expr(path.as_ref())?;
                        self.opt_expr(default.as_ref())?;
                    }
                }
                Ok(())
            }
            TableFactor::OpenJsonTable { .. } => Err(unsupported("OPENJSON")),
            TableFactor::Pivot { .. } | TableFactor::Unpivot { .. } | TableFactor::UnpivotExpr { .. } => {
                Err(unsupported("PIVOT/UNPIVOT"))
            }
            TableFactor::MatchRecognize { .. } => Err(unsupported("MATCH_RECOGNIZE")),
            TableFactor::SemanticView { .. } => Err(unsupported("SEMANTIC_VIEW")),
        }
    }

    fn sample(&mut self, sample: &TableSampleKind) -> Check {
        let (TableSampleKind::BeforeTableAlias(sample) | TableSampleKind::AfterTableAlias(sample)) = sample;
        if let Some(quantity) = &sample.quantity {
            self.expr(&quantity.value)?;
        }
        if let Some(bucket) = &sample.bucket {
            self.opt_expr(bucket.on.as_ref())?;
        }
        self.opt_expr(sample.offset.as_ref())
    }

    fn order_by(&mut self, order_by: &OrderBy) -> Check {
        if let OrderByKind::Expressions(exprs) = &order_by.kind {
            self.order_by_exprs(exprs)?;
        }
        if let Some(interpolate) = &order_by.interpolate {
            for item in interpolate.exprs.iter().flatten() {
                self.opt_expr(item.expr.as_ref())?;
            }
        }
        Ok(())
    }

    fn order_by_exprs(&mut self, exprs: &[OrderByExpr]) -> Check {
        for item in exprs {
            self.expr(&item.expr)?;
            if let Some(fill) = &item.with_fill {
                self.opt_expr(fill.from.as_ref())?;
                self.opt_expr(fill.to.as_ref())?;
                self.opt_expr(fill.step.as_ref())?;
            }
        }
        Ok(())
    }

    fn window_spec(&mut self, spec: &WindowSpec) -> Check {
        self.exprs(&spec.partition_by)?;
        self.order_by_exprs(&spec.order_by)?;
        if let Some(frame) = &spec.window_frame {
            for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
                if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
                    self.expr(e)?;
                }
            }
        }
        Ok(())
    }

    fn function(&mut self, function: &Function) -> Check {
        self.function_arguments(&function.parameters)?;
        self.function_arguments(&function.args)?;
        self.order_by_exprs(&function.within_group)?;
        if let Some(filter) = &function.filter {
            self.expr(filter)?;
        }
        if let Some(WindowType::WindowSpec(spec)) = &function.over {
            self.window_spec(spec)?;
        }
        Ok(())
    }

    fn function_arguments(&mut self, arguments: &FunctionArguments) -> Check {
        match arguments {
            FunctionArguments::None => Ok(()),
            FunctionArguments::Subquery(query) => self.query(query),
            FunctionArguments::List(list) => {
                self.function_args(&list.args)?;
                for clause in &list.clauses {
                    match clause {
                        FunctionArgumentClause::Where(e) | FunctionArgumentClause::Limit(e) => {
                            self.expr(e)?
                        }
                        FunctionArgumentClause::OrderBy(exprs) => self.order_by_exprs(exprs)?,
                        FunctionArgumentClause::Having(bound) => self.expr(&bound.1)?,
                        FunctionArgumentClause::OnOverflow(ListAggOnOverflow::Truncate {
                            filler, ..
                        }) => {
                            if let Some(filler) = filler {
                                self.expr(filler)?;
                            }
                        }
                        FunctionArgumentClause::OnOverflow(ListAggOnOverflow::Error)
                        | FunctionArgumentClause::IgnoreOrRespectNulls(_)
                        | FunctionArgumentClause::Separator(_)
                        | FunctionArgumentClause::JsonNullClause(_)
                        | FunctionArgumentClause::JsonReturningClause(_) => {}
                    }
                }
                Ok(())
            }
        }
    }

    fn function_args(&mut self, args: &[FunctionArg]) -> Check {
        for arg in args {
            let value = match arg {
                FunctionArg::Named { arg, .. } => arg,
                FunctionArg::ExprNamed { name, arg, .. } => {
                    self.expr(name)?;
                    arg
                }
                FunctionArg::Unnamed(arg) => arg,
            };
            match value {
                FunctionArgExpr::Expr(e) => self.expr(e)?,
                FunctionArgExpr::WildcardWithOptions(options) => self.wildcard_options(options)?,
                FunctionArgExpr::QualifiedWildcard(_) | FunctionArgExpr::Wildcard => {}
            }
        }
        Ok(())
    }

    fn json_path(&mut self, path: &JsonPath) -> Check {
        for element in &path.path {
            match element {
                JsonPathElem::Bracket { key } | JsonPathElem::ColonBracket { key } => self.expr(key)?,
                JsonPathElem::Dot { .. } => {}
            }
        }
        Ok(())
    }

    fn exprs(&mut self, exprs: &[Expr]) -> Check {
        exprs.iter().try_for_each(|e| self.expr(e))
    }

    fn opt_expr(&mut self, expr: Option<&Expr>) -> Check {
        expr.map_or(Ok(()), |e| self.expr(e))
    }

    fn expr(&mut self, expr: &Expr) -> Check {
        match expr {
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::TypedString(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::MatchAgainst { .. } => Ok(()),
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root)?;
                for access in access_chain {
                    match access {
                        AccessExpr::Dot(e) => self.expr(e)?,
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index)?,
                        AccessExpr::Subscript(Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            stride,
                        }) => {
                            self.opt_expr(lower_bound.as_ref())?;
                            self.opt_expr(upper_bound.as_ref())?;
                            self.opt_expr(stride.as_ref())?;
                        }
                    }
                }
                Ok(())
            }
            Expr::JsonAccess { value, path } => {
                self.expr(value)?;
                self.json_path(path)
            }
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::IsJson { expr: e, .. }
            | Expr::IsNormalized { expr: e, .. }
            | Expr::UnaryOp { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::Extract { expr: e, .. }
            | Expr::Ceil { expr: e, .. }
            | Expr::Floor { expr: e, .. }
            | Expr::Collate { expr: e, .. }
            | Expr::Nested(e)
            | Expr::Prefixed { value: e, .. }
            | Expr::Named { expr: e, .. }
            | Expr::OuterJoin(e)
            | Expr::Prior(e) => self.expr(e),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::BinaryOp {
                left: a, right: b, ..
            }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            }
            | Expr::RLike {
                expr: a, pattern: b, ..
            }
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b } => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::MemberOf(member) => {
                self.expr(&member.value)?;
                self.expr(&member.array)
            }
            Expr::In { expr, target, .. } => {
                self.expr(expr)?;
                match target {
                    InTarget::List(list) => self.exprs(list),
                    InTarget::Subquery(query) => self.query(query),
                    InTarget::Unnest(e) => self.expr(e),
                    InTarget::Table { .. } => Err(unsupported("IN <table>")),
                }
            }
            Expr::Between { expr, low, high, .. } => {
                self.expr(expr)?;
                self.expr(low)?;
                self.expr(high)
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr)?;
                self.expr(pattern)?;
                self.opt_expr(escape_char.as_deref())
            }
            Expr::Convert { expr, styles, .. } => {
                self.expr(expr)?;
                self.exprs(styles)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr)?;
                self.opt_expr(substring_from.as_deref())?;
                self.opt_expr(substring_for.as_deref())
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr)?;
                self.opt_expr(trim_what.as_deref())?;
                self.exprs(trim_characters.as_deref().unwrap_or_default())
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr)?;
                self.expr(overlay_what)?;
                self.expr(overlay_from)?;
                self.opt_expr(overlay_for.as_deref())
            }
            Expr::Function(function) => self.function(function),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                self.opt_expr(operand.as_deref())?;
                for when in conditions {
                    self.expr(&when.condition)?;
                    self.expr(&when.result)?;
                }
                self.opt_expr(else_result.as_deref())
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                sets.iter().try_for_each(|set| self.exprs(set))
            }
            Expr::Tuple(exprs) | Expr::Struct { values: exprs, .. } => self.exprs(exprs),
            Expr::Dictionary(fields) => fields.iter().try_for_each(|f| self.expr(&f.value)),
            Expr::Map(map) => map.entries.iter().try_for_each(|entry| {
                self.expr(&entry.key)?;
                self.expr(&entry.value)
            }),
            Expr::Array(array) => self.exprs(&array.elem),
            Expr::Interval(interval) => self.expr(&interval.value),
            Expr::Lambda(lambda) => self.expr(&lambda.body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> Result<CheckedQuery, SqlError> {
        check(sql, SqlDialect::Postgres)
    }

    fn names(sql: &str) -> Vec<String> {
        match pg(sql) {
            Ok(q) => q.tables().iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    #[test]
    fn accepts_queries_and_lists_their_tables() {
        assert_eq!(names("SELECT 1"), Vec::<String>::new());
        assert_eq!(names("VALUES (1), (2)"), Vec::<String>::new());
        assert_eq!(
            names("select * from Orders o join public.\"Items\" i on i.o = o.id"),
            ["orders", "public.Items"]
        );
        assert_eq!(
            names("SELECT * FROM a WHERE x IN (SELECT y FROM b) AND EXISTS (SELECT 1 FROM c)"),
            ["a", "b", "c"]
        );
        assert_eq!(
            names("SELECT (SELECT max(v) FROM d), count(*) FILTER (WHERE v > (SELECT 1 FROM e)) FROM f"),
            ["d", "e", "f"]
        );
        assert_eq!(
            names("SELECT * FROM generate_series(1, 3) g, unnest(ARRAY[1]) u"),
            Vec::<String>::new()
        );
        assert!(pg("EXPLAIN SELECT * FROM t").is_ok_and(|q| q.is_explain()));
        assert!(pg("EXPLAIN (FORMAT JSON) SELECT 1").is_ok());
        assert!(pg("SELECT 1;").is_ok());
    }

    #[test]
    fn cte_names_are_scoped() {
        assert_eq!(names("WITH x AS (SELECT * FROM t) SELECT * FROM x"), ["t"]);
        // `secret` in a's body is the table: the CTE of that name comes later.
        assert_eq!(
            names("WITH a AS (SELECT * FROM secret), secret AS (SELECT 1) SELECT * FROM a, secret"),
            ["secret"]
        );
        assert_eq!(
            names(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"
            ),
            Vec::<String>::new()
        );
        // Outside the subquery that defines it, the CTE name means the table.
        assert_eq!(
            names("SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) q, s"),
            ["s"]
        );
    }

    #[test]
    fn refuses_everything_but_one_query() {
        for (sql, expected) in [
            ("SELECT 1; DROP TABLE t", SqlError::MultipleStatements(2)),
            ("SELECT 1 /* */; DELETE FROM t", SqlError::MultipleStatements(2)),
            ("SELECT 1 -- \n; DROP TABLE t", SqlError::MultipleStatements(2)),
            ("", SqlError::Empty),
            ("-- nothing", SqlError::Empty),
        ] {
            assert_eq!(pg(sql), Err(expected), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "DROP TABLE t",
            "CREATE TABLE x (a int)",
            "COPY t TO STDOUT",
            "SET statement_timeout = 0",
            "BEGIN",
            "CALL p()",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i",
            "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM (SELECT * FROM t FOR SHARE) s",
            "SELECT * INTO new_t FROM t",
            "EXPLAIN ANALYZE DELETE FROM t",
            "EXPLAIN ANALYZE SELECT 1",
            "EXPLAIN (ANALYZE) SELECT 1",
            "EXPLAIN DELETE FROM t",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::NotReadOnly(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
    }

    #[test]
    fn refuses_denied_functions_wherever_they_are() {
        for sql in [
            "SELECT pg_sleep(10)",
            "SELECT PG_SLEEP(1)",
            "SELECT pg_catalog.pg_sleep(1)",
            "SELECT \"pg_sleep\" /* c */ (1)",
            "SELECT * FROM t WHERE a = (SELECT pg_sleep_for('1 s'))",
            "SELECT * FROM pg_sleep(1)",
            "SELECT set_config('statement_timeout', '0', true)",
            "SELECT nextval('s')",
            "SELECT pg_advisory_lock(1)",
            "SELECT lo_import('/etc/passwd')",
            "SELECT * FROM dblink('host=x', 'DELETE FROM t') AS r(a int)",
            "SELECT query_to_xml('DELETE FROM t', true, true, '')",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT pg_terminate_backend(1)",
            "SELECT txid_current()",
            "SELECT pg_notify('c', 'x')",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::DeniedFunction(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
        // Names in strings and comments are not calls.
        assert!(pg("SELECT 'pg_sleep(1)' AS s -- pg_sleep(2)").is_ok());
        assert!(pg("SELECT current_setting('statement_timeout')").is_ok());
    }

    #[test]
    fn refuses_unicode_escaped_identifiers() {
        assert!(matches!(
            pg(r#"SELECT U&"pg_sl\0065ep"(1)"#),
            Err(SqlError::Unsupported(_))
        ));
    }

    #[test]
    fn sqlite_rules() {
        let lite = |sql| check(sql, SqlDialect::Sqlite);
        assert!(lite("SELECT * FROM t").is_ok());
        assert!(lite("SELECT value FROM json_each('[1,2]')").is_ok());
        for sql in ["ATTACH DATABASE 'x.db' AS x", "PRAGMA query_only = 0", "VACUUM"] {
            assert!(
                matches!(lite(sql), Err(SqlError::NotReadOnly(_))),
                "{sql}: {:?}",
                lite(sql)
            );
        }
        // Statements sqlparser cannot read are refused all the same.
        assert!(matches!(lite("DETACH x"), Err(SqlError::Parse(_))));
        assert!(matches!(
            lite("SELECT load_extension('x')"),
            Err(SqlError::DeniedFunction(_))
        ));
        assert!(matches!(
            lite("SELECT * FROM pragma_table_info('secret')"),
            Err(SqlError::TableNotAllowed(_))
        ));
    }
}
