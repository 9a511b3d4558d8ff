//! PostgreSQL results bounded on the server, before any value reaches this process.
//!
//! sqlx receives each row whole, so a cap applied after decoding comes too late: the bytes of
//! `SELECT repeat('x', 500000000)` would already be in memory. Instead the checked query runs
//! wrapped in one that measures every value on the server. A value whose text form is longer
//! than its share of the byte cap is not sent: NULL takes its place, and two trailing array
//! columns carry its first characters and its size:
//!
//! ```sql
//! SELECT CASE WHEN octet_length(z.t1) <= 4096 THEN z.c1 END, …,
//!        ARRAY[CASE WHEN octet_length(z.t1) > 4096 THEN left(z.t1, 2000) END, …]::text[],
//!        ARRAY[CASE WHEN octet_length(z.t1) > 4096 THEN octet_length(z.t1) END, …]::int8[]
//! FROM (SELECT q.*, q.c1::text AS t1, …
//!       FROM (SELECT * FROM (<query>
//!       ) AS q0 OFFSET 0) AS q(c1, …) OFFSET 0) AS z
//! ```
//!
//! `OFFSET 0` keeps the planner from merging the layers, which would compute a value once per
//! reference to it. The newline before the closing parenthesis ends a trailing `--` comment of
//! the query, and nothing after the query's text could close a string or comment it left open
//! (no quote, `$` or `*/`), so such a text is a syntax error, never a different query. The
//! column count comes from [`probe`], which plans the query without running it.

use serde_json::Value;
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::value::pg_value;

/// How much of the byte cap each value of a row may take, and how much of a value over it is
/// shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The most bytes of one value's text form that is sent as the value itself.
    pub(crate) share: usize,
    /// The characters of a larger value's text that are sent instead.
    pub(crate) preview_chars: usize,
}

impl Bounds {
    /// Each of `columns` values gets an equal share of `max_row_bytes`, so that a row's values
    /// together stay within it. A preview is never longer than a share, nor than half of its
    /// column's share of the JSON result (`max_bytes`), so that a row of previews still fits.
    pub(crate) fn new(max_row_bytes: usize, max_bytes: usize, max_cell_chars: usize, columns: usize) -> Self {
        let columns = columns.max(1);
        let share = (max_row_bytes / columns).max(1);
        Bounds {
            share,
            preview_chars: max_cell_chars.min(share).min(max_bytes / columns / 2).max(1),
        }
    }
}

/// The query without trailing semicolons and whitespace (a statement terminator is not valid
/// inside parentheses). A `;` cut from the end of a line comment changes nothing; one cut from
/// an unterminated string or comment leaves it unterminated, a syntax error.
pub(crate) fn body(sql: &str) -> &str {
    sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// A query that returns exactly one row of NULLs with the columns (names and types) of `sql`,
/// without running it: `LIMIT 0` fetches nothing from the query, and the outer join supplies
/// the one row whatever the query would return.
pub(crate) fn probe(sql: &str) -> String {
    format!(
        "SELECT q.* FROM (VALUES (1)) AS d (x) LEFT JOIN \
         (SELECT * FROM (\n{}\n) AS q0 LIMIT 0) AS q ON true",
        body(sql)
    )
}

/// `sql` wrapped so that no value larger than `bounds.share` bytes (as text) leaves the
/// server: the query's `columns` values, then the previews (`text[]`) and sizes (`int8[]`)
/// of the values left out.
pub(crate) fn wrap(sql: &str, columns: usize, bounds: Bounds) -> String {
    let Bounds { share, preview_chars } = bounds;
    let each = |f: &dyn Fn(usize) -> String| (1..=columns).map(f).collect::<Vec<_>>().join(", ");
    // The text form is computed once per value (t1, …); its length is known without reading it.
    let size = |i| format!("pg_catalog.octet_length(z.t{i})");
    let values = each(&|i| format!("CASE WHEN {} <= {share} THEN z.c{i} END", size(i)));
    let previews = each(&|i| {
        format!(
            "CASE WHEN {} > {share} THEN pg_catalog.left(z.t{i}, {preview_chars}) END",
            size(i)
        )
    });
    let sizes = each(&|i| format!("CASE WHEN {0} > {share} THEN {0} END", size(i)));
    let measured = each(&|i| format!("q.c{i}::pg_catalog.text AS t{i}"));
    let names = each(&|i| format!("c{i}"));
    let (values, measured, names) = if columns == 0 {
        (String::new(), String::new(), String::new())
    } else {
        (
            format!("{values}, "),
            format!(", {measured}"),
            format!(" ({names})"),
        )
    };
    format!(
        "SELECT {values}ARRAY[{previews}]::pg_catalog.text[], ARRAY[{sizes}]::pg_catalog.int8[] \
         FROM (SELECT q.*{measured} FROM (SELECT * FROM (\n{}\n) AS q0 OFFSET 0) AS q{names} OFFSET 0) AS z",
        body(sql)
    )
}

/// One row of a [`wrap`]ped query as JSON values, and which values were left out (shown by
/// their first characters, marked `… [shortened, N bytes in all]`).
pub(crate) fn decode_row(row: &PgRow, columns: usize) -> (Vec<Value>, Vec<bool>) {
    let previews: Vec<Option<String>> = row
        .try_get::<Option<Vec<Option<String>>>, _>(columns)
        .ok()
        .flatten()
        .unwrap_or_default();
    let sizes: Vec<Option<i64>> = row
        .try_get::<Option<Vec<Option<i64>>>, _>(columns + 1)
        .ok()
        .flatten()
        .unwrap_or_default();
    (0..columns)
        .map(|i| {
            match (
                previews.get(i).cloned().flatten(),
                sizes.get(i).copied().flatten(),
            ) {
                (Some(preview), Some(size)) => (
                    Value::String(format!("{preview}… [shortened, {size} bytes in all]")),
                    true,
                ),
                _ => (row.try_get_raw(i).map(pg_value).unwrap_or(Value::Null), false),
            }
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_the_cap_between_columns() {
        let max_bytes = 64 * 1024;
        assert_eq!(
            Bounds::new(1 << 20, max_bytes, 2000, 4),
            Bounds {
                share: 1 << 18,
                preview_chars: 2000
            }
        );
        assert_eq!(
            Bounds::new(1000, max_bytes, 2000, 10),
            Bounds {
                share: 100,
                preview_chars: 100
            }
        );
        // Fifty previews still fit in the JSON result.
        assert_eq!(Bounds::new(1 << 20, max_bytes, 2000, 50).preview_chars, 655);
        assert_eq!(Bounds::new(1000, max_bytes, 2000, 0).share, 1000);
    }

    #[test]
    fn the_query_is_closed_on_a_line_of_its_own() {
        assert_eq!(body("SELECT 1 ;\n ;; "), "SELECT 1");
        assert_eq!(body("SELECT 1 -- note"), "SELECT 1 -- note");
        let wrapped = wrap("SELECT 1 -- note;", 1, Bounds::new(100, 1000, 10, 1));
        assert!(wrapped.contains("(\nSELECT 1 -- note\n) AS q0 OFFSET 0) AS q (c1) OFFSET 0"));
        assert!(probe("SELECT 1 -- x").contains("(\nSELECT 1 -- x\n) AS q0 LIMIT 0"));
        // Nothing after the query could end a string, quoted name or comment it left open.
        let after = wrapped.split("-- note").nth(1).unwrap();
        for closer in ["'", "\"", "$", "*/"] {
            assert!(!after.contains(closer), "{closer} in {after}");
        }
    }

    #[test]
    fn zero_columns_are_wrapped_too() {
        let wrapped = wrap("SELECT FROM t", 0, Bounds::new(100, 1000, 10, 0));
        assert!(wrapped.starts_with("SELECT ARRAY[]::pg_catalog.text[]"));
        assert!(wrapped.contains(") AS q0 OFFSET 0) AS q OFFSET 0"));
    }
}
