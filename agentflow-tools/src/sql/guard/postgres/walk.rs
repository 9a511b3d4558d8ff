//! The walk of a PostgreSQL parse tree: an allow-list of node kinds, collecting the names the
//! database resolves.
//!
//! Any node kind not matched here is refused, so syntax this walk does not know (or that a
//! newer parser adds) is refused rather than trusted. Structs are destructured field by field
//! (no `..`), so a field added by a `pg_query` upgrade is a compile error here, not a subtree
//! the walk silently skips.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    self, AExpr, AExprKind, ColumnDef, CommonTableExpr, FuncCall, Node, RangeFunction, RangeVar, SelectStmt,
    SortBy, TypeName, WindowDef, WithClause,
};

use super::{Names, QualifiedName};
use crate::sql::config::SqlDialect;
use crate::sql::error::SqlError;
use crate::sql::guard::{
    CheckedQuery, FunctionAllowlist, MAX_DEPTH, TableRef, not_read_only, too_deep, unsupported,
};

/// EXPLAIN options that only change what the plan shows; every other one is refused (ANALYZE
/// executes the statement; the others need ANALYZE or parameters).
const EXPLAIN_OPTIONS: &[&str] = &[
    "verbose", "costs", "settings", "format", "summary", "memory", "buffers",
];

type Check = Result<(), SqlError>;

/// The tree walk: collects tables (CTE names excluded by scope), functions, operators, types.
pub(super) struct Walker<'a> {
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
    pub(super) fn new(allow: &'a FunctionAllowlist) -> Self {
        Walker {
            allow,
            tables: Vec::new(),
            names: Names::default(),
            ctes: Vec::new(),
        }
    }

    pub(super) fn finish(self, explain: bool, source: &str, statement: String) -> CheckedQuery {
        CheckedQuery {
            explain,
            source: source.to_owned(),
            statement,
            tables: self.tables,
            names: self.names,
            database_checks: true,
        }
    }

    pub(super) fn explain(&mut self, explain: &protobuf::ExplainStmt) -> Check {
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
            // CYCLE compares its mark with `=` and `<>` found on the search path.
            self.implicit_operators(&["=", "<>"]);
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

    pub(super) fn select(&mut self, select: &SelectStmt, depth: usize) -> Check {
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

    /// Operators the syntax uses without naming them.
    fn implicit_operators(&mut self, operators: &[&str]) {
        for op in operators {
            let name = QualifiedName {
                schema: None,
                name: (*op).to_owned(),
            };
            push_unique(&mut self.names.operators, name);
        }
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
            ) => self.implicit_operators(&[">=", "<="]),
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
                if arg.is_some() {
                    // `CASE x WHEN y` compares with the operator `=` found on the search path.
                    self.implicit_operators(&["="]);
                }
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
