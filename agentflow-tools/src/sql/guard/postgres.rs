//! PostgreSQL: parse with PostgreSQL's own parser (libpg_query), walk the tree with an
//! allow-list of node kinds.
//!
//! Any node kind not matched below is refused, so syntax this walk does not know (or that a
//! newer parser adds) is refused rather than trusted. Structs are destructured field by field
//! (no `..`), so a field added by a `pg_query` upgrade is a compile error here, not a subtree
//! the walk silently skips.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    self, AExpr, AExprKind, ColumnDef, CommonTableExpr, FuncCall, Node, RangeFunction, RangeVar, SelectStmt,
    SortBy, TypeName, WindowDef, WithClause,
};

use super::{
    CheckedQuery, FunctionAllowlist, MAX_DEPTH, TableRef, not_read_only, statement_kind, too_deep,
    unsupported,
};
use crate::sql::config::SqlDialect;
use crate::sql::error::SqlError;

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
/// before the query runs ([`super::postgres_db`]).
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
fn only_statement(parsed: protobuf::ParseResult) -> Result<(NodeEnum, String), SqlError> {
    let mut statements = parsed.stmts;
    match statements.len() {
        0 => Err(SqlError::Empty),
        1 => {
            let raw = statements.remove(0);
            let node = raw.stmt.and_then(|n| n.node).ok_or(SqlError::Empty)?;
            Ok((node, String::new()))
        }
        many => Err(SqlError::MultipleStatements(many)),
    }
}

/// Checks `sql`; the result carries the text to run.
pub(crate) fn check(sql: &str, functions: &FunctionAllowlist) -> Result<CheckedQuery, SqlError> {
    let (statement, _) = only_statement(parse(sql)?)?;
    let mut walker = Walker::new(functions);
    match statement {
        NodeEnum::ExplainStmt(explain) => {
            walker.explain(&explain)?;
            Ok(walker.finish(true, sql.to_owned()))
        }
        NodeEnum::SelectStmt(_) => {
            // What runs is the cursor declaration: that text is parsed and walked, not the
            // query on its own.
            let text = declare_cursor(sql);
            let (declared, _) = only_statement(parse(&text)?)?;
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
            Ok(walker.finish(false, text))
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

/// EXPLAIN options that only change what the plan shows; every other one is refused (ANALYZE
/// executes the statement; the others need ANALYZE or parameters).
const EXPLAIN_OPTIONS: &[&str] = &[
    "verbose", "costs", "settings", "format", "summary", "memory", "buffers",
];

type Check = Result<(), SqlError>;

/// The tree walk: collects tables (CTE names excluded by scope), functions, operators, types.
struct Walker<'a> {
    allow: &'a FunctionAllowlist,
    tables: Vec<TableRef>,
    names: Names,
    /// The CTE names visible at the current point, one frame per `WITH` being walked.
    ctes: Vec<Vec<String>>,
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The strings of a name list (`funcname`, operator names, type names).
fn name_parts(nodes: &[Node]) -> Result<Vec<&str>, SqlError> {
    nodes
        .iter()
        .map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Ok(s.sval.as_str()),
            _ => Err(unsupported("this kind of name")),
        })
        .collect()
}

/// A one- or two-part name; three parts name another database.
fn qualified(parts: &[&str], what: &str) -> Result<QualifiedName, SqlError> {
    match parts {
        [name] => Ok(QualifiedName {
            schema: None,
            name: (*name).to_owned(),
        }),
        [schema, name] => Ok(QualifiedName {
            schema: Some((*schema).to_owned()),
            name: (*name).to_owned(),
        }),
        _ => Err(SqlError::Unsupported(format!(
            "the {what} name {} has more than two parts; write schema.name",
            parts.join(".")
        ))),
    }
}

impl<'a> Walker<'a> {
    fn new(allow: &'a FunctionAllowlist) -> Self {
        Walker {
            allow,
            tables: Vec::new(),
            names: Names::default(),
            ctes: Vec::new(),
        }
    }

    fn finish(self, explain: bool, statement: String) -> CheckedQuery {
        CheckedQuery {
            explain,
            statement,
            tables: self.tables,
            names: self.names,
            database_checks: true,
        }
    }

    fn explain(&mut self, explain: &protobuf::ExplainStmt) -> Check {
        let protobuf::ExplainStmt { query, options } = explain;
        for option in options {
            let Some(NodeEnum::DefElem(def)) = &option.node else {
                return Err(unsupported("this EXPLAIN option"));
            };
            // The parser spells ANALYZE and ANALYSE (bare or in parentheses) "analyze".
            if def.defname.eq_ignore_ascii_case("analyze") || def.defname.eq_ignore_ascii_case("analyse") {
                return Err(not_read_only(
                    "EXPLAIN ANALYZE executes the statement; use EXPLAIN without ANALYZE",
                ));
            }
            if !EXPLAIN_OPTIONS.contains(&def.defname.as_str()) || !def.defnamespace.is_empty() {
                return Err(SqlError::Unsupported(format!(
                    "the EXPLAIN option {} is not allowed; use only {}",
                    def.defname,
                    EXPLAIN_OPTIONS.join(", ")
                )));
            }
            // Option values are words or numbers; anything else is refused.
            match def.arg.as_deref().and_then(|a| a.node.as_ref()) {
                None
                | Some(NodeEnum::String(_))
                | Some(NodeEnum::Integer(_))
                | Some(NodeEnum::Float(_))
                | Some(NodeEnum::Boolean(_)) => {}
                Some(_) => return Err(unsupported("this EXPLAIN option value")),
            }
        }
        match query.as_deref().and_then(|q| q.node.as_ref()) {
            Some(NodeEnum::SelectStmt(select)) => self.select(select, 0),
            _ => Err(not_read_only(
                "EXPLAIN is allowed only for queries (SELECT, WITH, VALUES)",
            )),
        }
    }

    fn is_cte(&self, name: &str) -> bool {
        self.ctes.iter().any(|frame| frame.iter().any(|n| n == name))
    }

    fn with(&mut self, with: &WithClause, depth: usize) -> Result<Vec<String>, SqlError> {
        let WithClause {
            ctes,
            recursive,
            location: _,
        } = with;
        let mut parsed = Vec::with_capacity(ctes.len());
        for cte in ctes {
            match &cte.node {
                Some(NodeEnum::CommonTableExpr(cte)) => parsed.push(cte),
                _ => return Err(unsupported("this WITH item")),
            }
        }
        let names: Vec<String> = parsed.iter().map(|c| c.ctename.clone()).collect();
        for (i, cte) in parsed.iter().enumerate() {
            // Non-recursive WITH: a CTE sees only the CTEs before it; any other name is a table
            // (so a later CTE cannot pass for an excluded table of the same name).
            let visible = if *recursive {
                names.clone()
            } else {
                names[..i].to_vec()
            };
            self.ctes.push(visible);
            let result = self.cte(cte, depth);
            self.ctes.pop();
            result?;
        }
        Ok(names)
    }

    fn cte(&mut self, cte: &CommonTableExpr, depth: usize) -> Check {
        let CommonTableExpr {
            ctename: _,
            aliascolnames: _,
            ctematerialized: _,
            ctequery,
            search_clause: _,
            cycle_clause,
            location: _,
            cterecursive: _,
            cterefcount: _,
            ctecolnames: _,
            ctecoltypes: _,
            ctecoltypmods: _,
            ctecolcollations: _,
        } = cte;
        if let Some(cycle) = cycle_clause {
            self.opt_expr(cycle.cycle_mark_value.as_deref(), depth)?;
            self.opt_expr(cycle.cycle_mark_default.as_deref(), depth)?;
        }
        let kind = match ctequery.as_deref().and_then(|q| q.node.as_ref()) {
            Some(NodeEnum::SelectStmt(select)) => return self.select(select, depth + 1),
            Some(NodeEnum::InsertStmt(_)) => "INSERT",
            Some(NodeEnum::UpdateStmt(_)) => "UPDATE",
            Some(NodeEnum::DeleteStmt(_)) => "DELETE",
            Some(NodeEnum::MergeStmt(_)) => "MERGE",
            _ => "a statement other than SELECT",
        };
        Err(not_read_only(format!(
            "{kind} inside WITH writes; use only SELECT in WITH"
        )))
    }

    fn select(&mut self, select: &SelectStmt, depth: usize) -> Check {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let SelectStmt {
            distinct_clause,
            into_clause,
            target_list,
            from_clause,
            where_clause,
            group_clause,
            group_distinct: _,
            having_clause,
            window_clause,
            values_lists,
            sort_clause,
            limit_offset,
            limit_count,
            limit_option: _,
            locking_clause,
            with_clause,
            op: _,
            all: _,
            larg,
            rarg,
        } = select;
        if into_clause.is_some() {
            return Err(not_read_only("SELECT ... INTO creates a table; remove INTO"));
        }
        if !locking_clause.is_empty() {
            return Err(not_read_only(
                "FOR UPDATE / FOR SHARE lock rows; remove the locking clause",
            ));
        }
        let pushed = match with_clause {
            Some(with) => {
                let names = self.with(with, depth)?;
                self.ctes.push(names);
                true
            }
            None => false,
        };
        let result = (|| {
            for side in [larg, rarg].into_iter().flatten() {
                self.select(side, depth + 1)?;
            }
            for from in from_clause {
                self.range_item(from, depth + 1)?;
            }
            self.exprs(distinct_clause, depth)?;
            self.exprs(target_list, depth)?;
            self.opt_expr(where_clause.as_deref(), depth)?;
            self.exprs(group_clause, depth)?;
            self.opt_expr(having_clause.as_deref(), depth)?;
            self.exprs(window_clause, depth)?;
            self.exprs(values_lists, depth)?;
            self.exprs(sort_clause, depth)?;
            self.opt_expr(limit_offset.as_deref(), depth)?;
            self.opt_expr(limit_count.as_deref(), depth)
        })();
        if pushed {
            self.ctes.pop();
        }
        result
    }

    fn relation(&mut self, range: &RangeVar) -> Check {
        let RangeVar {
            catalogname,
            schemaname,
            relname,
            inh: _,
            relpersistence: _,
            alias: _,
            location: _,
        } = range;
        if !catalogname.is_empty() {
            return Err(SqlError::Unsupported(format!(
                "the name {catalogname}.{schemaname}.{relname} has three parts; write schema.table (other databases cannot be read)"
            )));
        }
        if schemaname.is_empty() && self.is_cte(relname) {
            return Ok(());
        }
        let table = TableRef {
            schema: (!schemaname.is_empty()).then(|| schemaname.clone()),
            name: relname.clone(),
        };
        push_unique(&mut self.tables, table);
        Ok(())
    }

    fn range_item(&mut self, node: &Node, depth: usize) -> Check {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        match &node.node {
            Some(NodeEnum::RangeVar(range)) => self.relation(range),
            Some(NodeEnum::RangeSubselect(sub)) => {
                let protobuf::RangeSubselect {
                    lateral: _,
                    subquery,
                    alias: _,
                } = sub.as_ref();
                match subquery.as_deref().and_then(|q| q.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(select)) => self.select(select, depth + 1),
                    _ => Err(unsupported("this subquery in FROM")),
                }
            }
            Some(NodeEnum::RangeFunction(function)) => self.range_function(function, depth),
            Some(NodeEnum::JoinExpr(join)) => {
                let protobuf::JoinExpr {
                    jointype: _,
                    is_natural: _,
                    larg,
                    rarg,
                    using_clause: _,
                    join_using_alias: _,
                    quals,
                    alias: _,
                    rtindex: _,
                } = join.as_ref();
                for side in [larg, rarg].into_iter().flatten() {
                    self.range_item(side, depth + 1)?;
                }
                self.opt_expr(quals.as_deref(), depth + 1)
            }
            Some(other) => Err(unsupported(&format!("{} in FROM", node_kind(other)))),
            None => Err(unsupported("an empty FROM item")),
        }
    }

    fn range_function(&mut self, function: &RangeFunction, depth: usize) -> Check {
        let RangeFunction {
            lateral: _,
            ordinality: _,
            is_rowsfrom: _,
            functions,
            alias: _,
            coldeflist,
        } = function;
        // Each item is a two-element list: the call and its column definitions (or nothing).
        for item in functions {
            let Some(NodeEnum::List(list)) = &item.node else {
                return Err(unsupported("this function in FROM"));
            };
            for part in &list.items {
                match &part.node {
                    Some(NodeEnum::List(defs)) => self.column_defs(&defs.items, depth)?,
                    None => {}
                    Some(_) => self.expr(part, depth + 1)?,
                }
            }
        }
        self.column_defs(coldeflist, depth)
    }

    /// `AS r(a int, b text)` after a function returning records: only names and types.
    fn column_defs(&mut self, defs: &[Node], depth: usize) -> Check {
        for def in defs {
            let Some(NodeEnum::ColumnDef(def)) = &def.node else {
                return Err(unsupported("this column definition"));
            };
            let ColumnDef {
                colname: _,
                type_name,
                compression,
                inhcount: _,
                is_local: _,
                is_not_null,
                is_from_type: _,
                storage,
                storage_name,
                raw_default,
                cooked_default,
                identity,
                identity_sequence,
                generated,
                coll_clause,
                coll_oid: _,
                constraints,
                fdwoptions,
                location: _,
            } = def.as_ref();
            if !compression.is_empty()
                || *is_not_null
                || !storage.is_empty()
                || !storage_name.is_empty()
                || raw_default.is_some()
                || cooked_default.is_some()
                || !identity.is_empty()
                || identity_sequence.is_some()
                || !generated.is_empty()
                || coll_clause.is_some()
                || !constraints.is_empty()
                || !fdwoptions.is_empty()
            {
                return Err(unsupported("a column definition with options"));
            }
            if let Some(type_name) = type_name {
                self.type_name(type_name, depth)?;
            }
        }
        Ok(())
    }

    fn function(&mut self, call: &FuncCall, depth: usize) -> Check {
        let FuncCall {
            funcname,
            args,
            agg_order,
            agg_filter,
            over,
            agg_within_group: _,
            agg_star: _,
            agg_distinct: _,
            func_variadic: _,
            funcformat: _,
            location: _,
        } = call;
        let parts = name_parts(funcname)?;
        let name = qualified(&parts, "function")?;
        let allowed = match &name.schema {
            None => self.allow.allows_somewhere(&name.name),
            Some(schema) => self.allow.allows(SqlDialect::Postgres, Some(schema), &name.name),
        };
        if !allowed {
            return Err(SqlError::DeniedFunction(name.to_string()));
        }
        push_unique(&mut self.names.functions, name);
        self.exprs(args, depth + 1)?;
        self.exprs(agg_order, depth + 1)?;
        self.opt_expr(agg_filter.as_deref(), depth + 1)?;
        if let Some(window) = over {
            self.window(window, depth + 1)?;
        }
        Ok(())
    }

    fn operator(&mut self, name: &[Node]) -> Check {
        let parts = name_parts(name)?;
        let name = qualified(&parts, "operator")?;
        if name.schema.as_deref().is_some_and(|s| s != "pg_catalog") {
            return Err(SqlError::DeniedFunction(format!("OPERATOR({name})")));
        }
        push_unique(&mut self.names.operators, name);
        Ok(())
    }

    fn type_name(&mut self, type_name: &TypeName, depth: usize) -> Check {
        let TypeName {
            names,
            type_oid: _,
            setof,
            pct_type,
            typmods,
            typemod: _,
            array_bounds: _,
            location: _,
        } = type_name;
        if *setof || *pct_type {
            return Err(unsupported("SETOF or %TYPE"));
        }
        let parts = name_parts(names)?;
        push_unique(&mut self.names.types, qualified(&parts, "type")?);
        self.exprs(typmods, depth + 1)
    }

    fn window(&mut self, window: &WindowDef, depth: usize) -> Check {
        let WindowDef {
            name: _,
            refname: _,
            partition_clause,
            order_clause,
            frame_options: _,
            start_offset,
            end_offset,
            location: _,
        } = window;
        self.exprs(partition_clause, depth + 1)?;
        self.exprs(order_clause, depth + 1)?;
        self.opt_expr(start_offset.as_deref(), depth + 1)?;
        self.opt_expr(end_offset.as_deref(), depth + 1)
    }

    fn sort_by(&mut self, sort: &SortBy, depth: usize) -> Check {
        let SortBy {
            node,
            sortby_dir: _,
            sortby_nulls: _,
            use_op,
            location: _,
        } = sort;
        if !use_op.is_empty() {
            self.operator(use_op)?;
        }
        self.opt_expr(node.as_deref(), depth + 1)
    }

    fn a_expr(&mut self, expr: &AExpr, depth: usize) -> Check {
        let AExpr {
            kind,
            name,
            lexpr,
            rexpr,
            rexpr_list_start: _,
            rexpr_list_end: _,
            location: _,
        } = expr;
        match AExprKind::try_from(*kind) {
            // BETWEEN is spelled with its keyword; it compares with >= and <=.
            Ok(
                AExprKind::AexprBetween
                | AExprKind::AexprNotBetween
                | AExprKind::AexprBetweenSym
                | AExprKind::AexprNotBetweenSym,
            ) => {
                for op in [">=", "<="] {
                    push_unique(
                        &mut self.names.operators,
                        QualifiedName {
                            schema: None,
                            name: op.to_owned(),
                        },
                    );
                }
            }
            Ok(
                AExprKind::AexprOp
                | AExprKind::AexprOpAny
                | AExprKind::AexprOpAll
                | AExprKind::AexprDistinct
                | AExprKind::AexprNotDistinct
                | AExprKind::AexprNullif
                | AExprKind::AexprIn
                | AExprKind::AexprLike
                | AExprKind::AexprIlike
                | AExprKind::AexprSimilar,
            ) => self.operator(name)?,
            Ok(AExprKind::Undefined) | Err(_) => return Err(unsupported("this operator")),
        }
        self.opt_expr(lexpr.as_deref(), depth + 1)?;
        self.opt_expr(rexpr.as_deref(), depth + 1)
    }

    fn exprs(&mut self, nodes: &[Node], depth: usize) -> Check {
        nodes.iter().try_for_each(|n| self.expr(n, depth))
    }

    fn opt_expr(&mut self, node: Option<&Node>, depth: usize) -> Check {
        node.map_or(Ok(()), |n| self.expr(n, depth))
    }

    fn opt_boxed(&mut self, node: &Option<Box<Node>>, depth: usize) -> Check {
        self.opt_expr(node.as_deref(), depth)
    }

    /// An expression (or an item of an expression list).
    fn expr(&mut self, node: &Node, depth: usize) -> Check {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let next = depth + 1;
        let Some(node) = &node.node else {
            // An empty element: `DISTINCT` without ON is a list of one.
            return Ok(());
        };
        match node {
            NodeEnum::ColumnRef(column) => {
                for field in &column.fields {
                    match &field.node {
                        Some(NodeEnum::String(_) | NodeEnum::AStar(_)) => {}
                        _ => return Err(unsupported("this column reference")),
                    }
                }
                // `a.f` (not a bare `f`) may be the function `f` called on the row `a`.
                if let [_, .., last] = column.fields.as_slice()
                    && let Some(NodeEnum::String(name)) = &last.node
                {
                    push_unique(&mut self.names.fields, name.sval.clone());
                }
                Ok(())
            }
            NodeEnum::AConst(_) | NodeEnum::String(_) | NodeEnum::Integer(_) | NodeEnum::Float(_) => Ok(()),
            NodeEnum::Boolean(_) | NodeEnum::BitString(_) | NodeEnum::AStar(_) => Ok(()),
            NodeEnum::ParamRef(_) => Err(unsupported("a $n parameter (no parameters are sent)")),
            NodeEnum::AExpr(expr) => self.a_expr(expr, depth),
            NodeEnum::BoolExpr(expr) => {
                let protobuf::BoolExpr {
                    xpr,
                    boolop: _,
                    args,
                    location: _,
                } = expr.as_ref();
                self.opt_boxed(xpr, next)?;
                self.exprs(args, next)
            }
            NodeEnum::SubLink(link) => {
                let protobuf::SubLink {
                    xpr,
                    sub_link_type: _,
                    sub_link_id: _,
                    testexpr,
                    oper_name,
                    subselect,
                    location: _,
                } = link.as_ref();
                self.opt_boxed(xpr, next)?;
                if !oper_name.is_empty() {
                    self.operator(oper_name)?;
                }
                self.opt_boxed(testexpr, next)?;
                match subselect.as_deref().and_then(|s| s.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(select)) => self.select(select, next),
                    _ => Err(unsupported("this subquery")),
                }
            }
            NodeEnum::TypeCast(cast) => {
                let protobuf::TypeCast {
                    arg,
                    type_name,
                    location: _,
                } = cast.as_ref();
                if let Some(type_name) = type_name {
                    self.type_name(type_name, next)?;
                }
                self.opt_boxed(arg, next)
            }
            NodeEnum::FuncCall(call) => self.function(call, depth),
            NodeEnum::ResTarget(target) => {
                let protobuf::ResTarget {
                    name: _,
                    indirection,
                    val,
                    location: _,
                } = target.as_ref();
                if !indirection.is_empty() {
                    return Err(unsupported("indirection in a target"));
                }
                self.opt_boxed(val, next)
            }
            NodeEnum::SortBy(sort) => self.sort_by(sort, depth),
            NodeEnum::WindowDef(window) => self.window(window, depth),
            NodeEnum::CaseExpr(case) => {
                let protobuf::CaseExpr {
                    xpr,
                    casetype: _,
                    casecollid: _,
                    arg,
                    args,
                    defresult,
                    location: _,
                } = case.as_ref();
                self.opt_boxed(xpr, next)?;
                self.opt_boxed(arg, next)?;
                self.exprs(args, next)?;
                self.opt_boxed(defresult, next)
            }
            NodeEnum::CaseWhen(when) => {
                let protobuf::CaseWhen {
                    xpr,
                    expr,
                    result,
                    location: _,
                } = when.as_ref();
                self.opt_boxed(xpr, next)?;
                self.opt_boxed(expr, next)?;
                self.opt_boxed(result, next)
            }
            NodeEnum::CoalesceExpr(coalesce) => {
                let protobuf::CoalesceExpr {
                    xpr,
                    coalescetype: _,
                    coalescecollid: _,
                    args,
                    location: _,
                } = coalesce.as_ref();
                self.opt_boxed(xpr, next)?;
                self.exprs(args, next)
            }
            NodeEnum::MinMaxExpr(minmax) => {
                let protobuf::MinMaxExpr {
                    xpr,
                    minmaxtype: _,
                    minmaxcollid: _,
                    inputcollid: _,
                    op: _,
                    args,
                    location: _,
                } = minmax.as_ref();
                self.opt_boxed(xpr, next)?;
                self.exprs(args, next)
            }
            NodeEnum::NullTest(test) => {
                let protobuf::NullTest {
                    xpr,
                    arg,
                    nulltesttype: _,
                    argisrow: _,
                    location: _,
                } = test.as_ref();
                self.opt_boxed(xpr, next)?;
                self.opt_boxed(arg, next)
            }
            NodeEnum::BooleanTest(test) => {
                let protobuf::BooleanTest {
                    xpr,
                    arg,
                    booltesttype: _,
                    location: _,
                } = test.as_ref();
                self.opt_boxed(xpr, next)?;
                self.opt_boxed(arg, next)
            }
            NodeEnum::AArrayExpr(array) => self.exprs(&array.elements, next),
            NodeEnum::AIndirection(indirection) => {
                let protobuf::AIndirection { arg, indirection } = indirection.as_ref();
                for step in indirection {
                    if let Some(NodeEnum::String(name)) = &step.node {
                        push_unique(&mut self.names.fields, name.sval.clone());
                    }
                }
                self.opt_boxed(arg, next)?;
                self.exprs(indirection, next)
            }
            NodeEnum::AIndices(indices) => {
                let protobuf::AIndices {
                    is_slice: _,
                    lidx,
                    uidx,
                } = indices.as_ref();
                self.opt_boxed(lidx, next)?;
                self.opt_boxed(uidx, next)
            }
            NodeEnum::RowExpr(row) => {
                let protobuf::RowExpr {
                    xpr,
                    args,
                    row_typeid: _,
                    row_format: _,
                    colnames: _,
                    location: _,
                } = row.as_ref();
                self.opt_boxed(xpr, next)?;
                self.exprs(args, next)
            }
            NodeEnum::SqlvalueFunction(value) => {
                let protobuf::SqlValueFunction {
                    xpr,
                    op: _,
                    r#type: _,
                    typmod: _,
                    location: _,
                } = value.as_ref();
                self.opt_boxed(xpr, next)
            }
            NodeEnum::CollateClause(collate) => {
                let protobuf::CollateClause {
                    arg,
                    collname: _,
                    location: _,
                } = collate.as_ref();
                self.opt_boxed(arg, next)
            }
            NodeEnum::GroupingSet(set) => self.exprs(&set.content, next),
            NodeEnum::GroupingFunc(grouping) => {
                let protobuf::GroupingFunc {
                    xpr,
                    args,
                    refs: _,
                    agglevelsup: _,
                    location: _,
                } = grouping.as_ref();
                self.opt_boxed(xpr, next)?;
                self.exprs(args, next)
            }
            NodeEnum::NamedArgExpr(named) => {
                let protobuf::NamedArgExpr {
                    xpr,
                    arg,
                    name: _,
                    argnumber: _,
                    location: _,
                } = named.as_ref();
                self.opt_boxed(xpr, next)?;
                self.opt_boxed(arg, next)
            }
            NodeEnum::List(list) => self.exprs(&list.items, next),
            other => Err(unsupported(node_kind(other))),
        }
    }
}

/// The parser's name of a node kind ("XmlExpr", "JsonTable"), for messages.
fn node_kind(node: &NodeEnum) -> &'static str {
    match node {
        NodeEnum::XmlExpr(_) | NodeEnum::XmlSerialize(_) => "XML syntax",
        NodeEnum::RangeTableSample(_) => "TABLESAMPLE",
        NodeEnum::RangeTableFunc(_) => "XMLTABLE",
        NodeEnum::JsonTable(_) => "JSON_TABLE",
        NodeEnum::MultiAssignRef(_) | NodeEnum::SetToDefault(_) => "this expression",
        NodeEnum::CurrentOfExpr(_) => "WHERE CURRENT OF",
        _ => "this syntax",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> Result<CheckedQuery, SqlError> {
        check(sql, &FunctionAllowlist::default())
    }

    fn tables(sql: &str) -> Vec<String> {
        match pg(sql) {
            Ok(q) => q.tables().iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    #[test]
    fn accepts_queries_and_lists_their_tables() {
        assert_eq!(tables("SELECT 1"), Vec::<String>::new());
        assert_eq!(tables("VALUES (1), (2)"), Vec::<String>::new());
        assert_eq!(
            tables("select * from Orders o join public.\"Items\" i on i.o = o.id"),
            ["orders", "public.Items"]
        );
        assert_eq!(
            tables("SELECT * FROM a WHERE x IN (SELECT y FROM b) AND EXISTS (SELECT 1 FROM c)"),
            ["a", "b", "c"]
        );
        assert_eq!(
            tables("SELECT (SELECT max(v) FROM d), count(*) FILTER (WHERE v > (SELECT 1 FROM e)) FROM f"),
            ["f", "d", "e"]
        );
        assert_eq!(
            tables("SELECT * FROM generate_series(1, 3) g, unnest(ARRAY[1]) u"),
            Vec::<String>::new()
        );
        assert!(pg("EXPLAIN SELECT * FROM t").is_ok_and(|q| q.is_explain()));
        assert!(pg("EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF) SELECT 1").is_ok());
        assert!(pg("SELECT 1;").is_ok());
        // The query runs through the very cursor declaration that was parsed.
        assert_eq!(
            pg("SELECT 1").unwrap().statement(),
            "DECLARE agentflow_sql_cursor NO SCROLL CURSOR FOR SELECT 1"
        );
        assert_eq!(pg("EXPLAIN SELECT 1").unwrap().statement(), "EXPLAIN SELECT 1");
    }

    #[test]
    fn cte_names_are_scoped() {
        assert_eq!(tables("WITH x AS (SELECT * FROM t) SELECT * FROM x"), ["t"]);
        // `secret` in a's body is the table: the CTE of that name comes later.
        assert_eq!(
            tables("WITH a AS (SELECT * FROM secret), secret AS (SELECT 1) SELECT * FROM a, secret"),
            ["secret"]
        );
        assert_eq!(
            tables(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"
            ),
            Vec::<String>::new()
        );
        // Outside the subquery that defines it, the CTE name means the table.
        assert_eq!(
            tables("SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) q, s"),
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
            "DO $$ BEGIN END $$",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i",
            "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t FOR KEY SHARE",
            "SELECT * FROM (SELECT * FROM t FOR SHARE) s",
            "SELECT * INTO new_t FROM t",
            "EXPLAIN ANALYZE DELETE FROM t",
            "EXPLAIN ANALYZE SELECT 1",
            "EXPLAIN (ANALYZE) SELECT 1",
            "EXPLAIN DELETE FROM t",
            "EXPLAIN CREATE TABLE x AS SELECT 1",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::NotReadOnly(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
    }

    /// Regression: `EXPLAIN (ANALYSE)` executed the query. Every spelling and form of ANALYZE
    /// is refused, and options outside the allow-list are refused too.
    #[test]
    fn no_explain_option_executes() {
        for sql in [
            "EXPLAIN ANALYSE SELECT 1",
            "EXPLAIN (ANALYSE) SELECT 1",
            "EXPLAIN (analyse true) SELECT 1",
            "EXPLAIN (ANALYZE on, FORMAT JSON) SELECT 1",
            "EXPLAIN (\"analyze\") SELECT 1",
            "EXPLAIN (\"ANALYZE\") SELECT 1",
            "EXPLAIN (VERBOSE, \"analyse\" 1) SELECT 1",
            "EXPLAIN ANALYZE VERBOSE SELECT 1",
            "explain analyse verbose select 1",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::NotReadOnly(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
        for sql in [
            "EXPLAIN (TIMING) SELECT 1",
            "EXPLAIN (WAL) SELECT 1",
            "EXPLAIN (SERIALIZE) SELECT 1",
            "EXPLAIN (GENERIC_PLAN) SELECT 1",
            "EXPLAIN (whatever) SELECT 1",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::Unsupported(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
    }

    #[test]
    fn functions_come_from_the_allow_list() {
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
            "SELECT * FROM crosstab('SELECT * FROM secret') AS c(a text)",
            "SELECT * FROM connectby('secret', 'a', 'b', '1', 0) AS c(a text)",
            "SELECT setseed(0.5)",
            "SELECT * FROM pg_stat_get_activity(NULL)",
            "SELECT * FROM pg_show_all_settings()",
            "SELECT brin_summarize_new_values('i')",
            "SELECT gin_clean_pending_list('i')",
            "SELECT current_setting('data_directory')",
            // A function of another schema is not the built-in of the same name.
            "SELECT public.lower('A')",
            "SELECT \"public\".\"lower\"('A')",
            "SELECT x FROM t ORDER BY public.upper(x)",
            // Reached through syntax: COUNT(*) FILTER, window, ORDER BY in aggregates.
            "SELECT count(*) FILTER (WHERE pg_advisory_lock(1) IS NULL) FROM t",
            "SELECT sum(x) OVER (PARTITION BY setseed(0)) FROM t",
            "SELECT string_agg(x, ',' ORDER BY pg_sleep(1)) FROM t",
            "SELECT (SELECT 1 FROM t WHERE EXISTS (SELECT lo_import('x')))",
            "SELECT 1::int + pg_backend_pid()",
        ] {
            assert!(
                matches!(pg(sql), Err(SqlError::DeniedFunction(_))),
                "{sql}: {:?}",
                pg(sql)
            );
        }
        // Names in strings and comments are not calls.
        assert!(pg("SELECT 'pg_sleep(1)' AS s -- pg_sleep(2)").is_ok());
        assert!(pg("SELECT lower(x), pg_catalog.upper(x), count(*), extract(year FROM now()) FROM t GROUP BY 1, 2").is_ok());
        let mut configured = FunctionAllowlist::default();
        configured.add("reports.fiscal_year");
        assert!(check("SELECT reports.fiscal_year(now())", &configured).is_ok());
        assert!(check("SELECT other.fiscal_year(now())", &configured).is_err());
    }

    #[test]
    fn names_for_the_database_to_resolve() {
        let q = pg("SELECT a::numeric(10, 2) + 1, b || 'x', OPERATOR(pg_catalog.*)(2, 3), c BETWEEN 1 AND 2, lower(d) FROM t")
            .unwrap();
        let ops: Vec<String> = q.names().operators.iter().map(ToString::to_string).collect();
        assert_eq!(ops, ["+", "||", "pg_catalog.*", ">=", "<="]);
        let types: Vec<String> = q.names().types.iter().map(ToString::to_string).collect();
        assert_eq!(types, ["pg_catalog.numeric"]);
        assert_eq!(q.names().functions[0].to_string(), "lower");
        assert!(matches!(
            pg("SELECT OPERATOR(public.+)(1, 2)"),
            Err(SqlError::DeniedFunction(_))
        ));
    }

    /// Regression: a deep expression overflowed the stack of the old walker and aborted the
    /// process. These run in the test's own thread: an overflow would kill the test binary.
    #[test]
    fn deep_nesting_is_a_clear_error_not_a_crash() {
        let sum = format!("SELECT 1{}", "+1".repeat(20_000));
        let unions = format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(10_000));
        let parens = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let subqueries = format!("SELECT {}1{}", "(SELECT ".repeat(2_000), ")".repeat(2_000));
        let arrays = format!("SELECT {}1{}", "ARRAY[".repeat(5_000), "]".repeat(5_000));
        let cases = format!(
            "SELECT {}1{}",
            "CASE WHEN true THEN ".repeat(3_000),
            " END".repeat(3_000)
        );
        for sql in [sum, unions, parens, subqueries, arrays, cases] {
            match pg(&sql) {
                Err(SqlError::Unsupported(m)) => assert!(m.contains("nested too deeply"), "{m}"),
                Err(SqlError::Parse(m)) => assert!(!m.is_empty()),
                other => panic!("{}...: {other:?}", &sql[..40]),
            }
        }
        // Moderate nesting is fine.
        assert!(pg(&format!("SELECT 1{}", "+1".repeat(20))).is_ok());
        assert!(pg(&format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(50))).is_ok());
    }
}
