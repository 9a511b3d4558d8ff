//! The functions a query may call: an allow-list of built-in functions that only compute a
//! value from their arguments (aggregates, window functions, string, math, date/time, JSON,
//! arrays), extendable per [`SqlConfig`](crate::sql::SqlConfig).
//!
//! Everything else is refused, whatever it is: functions with effects outside the query
//! (`pg_advisory_lock`, `setseed`, `set_config`, `nextval`, `txid_current`), functions that run
//! SQL given as a string (`crosstab`, `connectby`, `query_to_xml`, `dblink`), functions that
//! show what the schema check hides (`pg_stat_get_activity`, `pg_show_all_settings`), and
//! functions that modify indexes (`brin_summarize_new_values`, `gin_clean_pending_list`).

use std::collections::BTreeSet;

use crate::sql::config::SqlDialect;

/// PostgreSQL functions of `pg_catalog` a query may call.
#[rustfmt::skip]
const POSTGRES: &[&str] = &[
    // Aggregates.
    "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "string_agg", "array_agg",
    "json_agg", "jsonb_agg", "json_agg_strict", "jsonb_agg_strict", "json_object_agg", "jsonb_object_agg",
    "json_object_agg_strict", "jsonb_object_agg_strict", "json_object_agg_unique", "jsonb_object_agg_unique",
    "json_object_agg_unique_strict", "jsonb_object_agg_unique_strict", "stddev", "stddev_pop",
    "stddev_samp", "variance", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "regr_avgx",
    "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
    "regr_syy", "percentile_cont", "percentile_disc", "mode", "bit_and", "bit_or", "bit_xor",
    "any_value", "range_agg", "range_intersect_agg",
    // Window functions.
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // Strings.
    "length", "char_length", "character_length", "octet_length", "bit_length", "lower", "upper",
    "initcap", "btrim", "ltrim", "rtrim", "lpad", "rpad", "substr", "substring", "position", "strpos",
    "replace", "split_part", "concat", "concat_ws", "left", "right", "reverse", "repeat", "format",
    "translate", "ascii", "chr", "md5", "sha224", "sha256", "sha384", "sha512", "encode", "decode",
    "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
    "regexp_split_to_table", "regexp_like", "regexp_count", "regexp_instr", "regexp_substr",
    "starts_with", "string_to_array", "string_to_table", "array_to_string", "quote_ident",
    "quote_literal", "quote_nullable", "to_hex", "overlay", "normalize", "is_normalized",
    "similar_to_escape", "similar_escape", "like_escape", "to_char", "to_number", "to_date", "to_timestamp", "textcat",
    // Math.
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "power", "pow", "exp",
    "ln", "log", "log10", "mod", "div", "pi", "degrees", "radians", "sin", "cos", "tan", "cot", "asin",
    "acos", "atan", "atan2", "sind", "cosd", "tand", "cotd", "asind", "acosd", "atand", "atan2d",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "gcd", "lcm", "factorial", "width_bucket",
    "scale", "min_scale", "trim_scale", "random", "random_normal", "gen_random_uuid", "num_nulls",
    "num_nonnulls",
    // Date and time.
    "now", "date_trunc", "date_part", "extract", "age", "make_date", "make_time", "make_timestamp",
    "make_timestamptz", "make_interval", "justify_days", "justify_hours", "justify_interval",
    "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday", "date_bin",
    "isfinite", "timezone", "date_add", "date_subtract", "overlaps",
    // JSON.
    "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object", "jsonb_build_object",
    "json_build_array", "jsonb_build_array", "json_object", "jsonb_object", "json_array_length",
    "jsonb_array_length", "json_each", "jsonb_each", "json_each_text", "jsonb_each_text",
    "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text",
    "json_object_keys", "jsonb_object_keys", "json_array_elements", "jsonb_array_elements",
    "json_array_elements_text", "jsonb_array_elements_text", "json_typeof", "jsonb_typeof",
    "jsonb_pretty", "json_strip_nulls", "jsonb_strip_nulls", "jsonb_set", "jsonb_set_lax",
    "jsonb_insert", "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query",
    "jsonb_path_query_array", "jsonb_path_query_first", "json_to_record", "jsonb_to_record",
    "json_to_recordset", "jsonb_to_recordset",
    // Arrays and sets.
    "array_length", "array_lower", "array_upper", "array_dims", "array_ndims", "cardinality",
    "array_position", "array_positions", "array_append", "array_prepend", "array_cat",
    "array_remove", "array_replace", "array_fill", "trim_array", "unnest", "generate_series",
    "generate_subscripts",
    // Type information.
    "pg_typeof",
];

/// SQLite functions a query may call (its core scalar, aggregate, window, date/time, math
/// and JSON functions). The operators `->` and `->>` are JSON functions of these names.
#[rustfmt::skip]
const SQLITE: &[&str] = &[
    // Scalar.
    "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull", "iif", "instr",
    "length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif",
    "octet_length", "printf", "quote", "random", "randomblob", "replace", "round", "rtrim", "sign",
    "substr", "substring", "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "zeroblob",
    // Aggregates and window functions.
    "avg", "count", "group_concat", "string_agg", "sum", "total", "row_number", "rank", "dense_rank",
    "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
    // Date and time.
    "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff", "current_date",
    "current_time", "current_timestamp",
    // Math.
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh",
    "degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
    "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
    // JSON.
    "json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position",
    "json_extract", "jsonb_extract", "->", "->>", "json_insert", "jsonb_insert", "json_object",
    "jsonb_object", "json_patch", "jsonb_patch", "json_pretty", "json_remove", "jsonb_remove",
    "json_replace", "jsonb_replace", "json_set", "jsonb_set", "json_type", "json_valid", "json_quote",
    "json_group_array", "jsonb_group_array", "json_group_object", "jsonb_group_object",
];

/// The functions a query may call beyond the built-in allow-list, from
/// [`SqlConfig::allow_function`](crate::sql::SqlConfig::allow_function).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FunctionAllowlist {
    /// `"name"`: a built-in function (PostgreSQL: of `pg_catalog`; SQLite: any of that name).
    plain: BTreeSet<String>,
    /// `"schema.name"`: PostgreSQL's function `name` of `schema`.
    qualified: BTreeSet<(String, String)>,
}

impl FunctionAllowlist {
    /// Adds `"name"` or `"schema.name"`, as the catalog stores them (lower case unless the
    /// function was created with a quoted name).
    pub(crate) fn add(&mut self, function: &str) {
        match function.split_once('.') {
            Some(("pg_catalog", name)) => {
                self.plain.insert(name.to_owned());
            }
            Some((schema, name)) => {
                self.qualified.insert((schema.to_owned(), name.to_owned()));
            }
            None => {
                self.plain.insert(function.to_owned());
            }
        }
    }

    /// True when the function `name` of `schema` (PostgreSQL; `None` for SQLite) may be called.
    pub(crate) fn allows(&self, dialect: SqlDialect, schema: Option<&str>, name: &str) -> bool {
        let builtin = |name: &str| match dialect {
            SqlDialect::Postgres => POSTGRES.contains(&name),
            SqlDialect::Sqlite => SQLITE.contains(&name),
        } || self.plain.contains(name);
        match schema {
            None => builtin(name),
            Some("pg_catalog") => builtin(name),
            Some(schema) => self.qualified.iter().any(|(s, n)| s == schema && n == name),
        }
    }

    /// True when some schema's function `name` may be called (an unqualified call may then
    /// pass the syntactic check; the database decides which schemas it could resolve to).
    pub(crate) fn allows_somewhere(&self, name: &str) -> bool {
        self.allows(SqlDialect::Postgres, None, name) || self.qualified.iter().any(|(_, n)| n == name)
    }

    /// Every SQLite function name allowed (built-in and configured).
    pub(crate) fn sqlite_names(&self) -> impl Iterator<Item = &str> {
        SQLITE
            .iter()
            .copied()
            .chain(self.plain.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_match_only_their_schema() {
        let mut list = FunctionAllowlist::default();
        list.add("reports.fiscal_year");
        list.add("pg_catalog.pg_size_pretty");
        let pg = SqlDialect::Postgres;
        assert!(list.allows(pg, Some("reports"), "fiscal_year"));
        assert!(!list.allows(pg, Some("public"), "fiscal_year"));
        assert!(!list.allows(pg, None, "fiscal_year"));
        assert!(list.allows_somewhere("fiscal_year"));
        assert!(list.allows(pg, None, "pg_size_pretty"));
        assert!(list.allows(pg, Some("pg_catalog"), "lower"));
        assert!(!list.allows(pg, Some("public"), "lower"));
        for denied in [
            "crosstab",
            "connectby",
            "setseed",
            "pg_stat_get_activity",
            "pg_show_all_settings",
            "brin_summarize_new_values",
            "gin_clean_pending_list",
            "pg_advisory_lock",
            "query_to_xml",
            "dblink",
            "lo_import",
            "set_config",
            "nextval",
            "txid_current",
            "current_setting",
        ] {
            assert!(!list.allows(pg, None, denied), "{denied}");
            assert!(!list.allows(pg, Some("pg_catalog"), denied), "{denied}");
        }
    }
}
