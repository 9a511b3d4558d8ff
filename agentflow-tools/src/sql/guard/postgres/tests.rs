//! The syntactic check of PostgreSQL queries, without a database.
use super::*;
use crate::sql::guard::FunctionAllowlist;

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
        tables("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"),
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
    assert!(
        pg("SELECT lower(x), pg_catalog.upper(x), count(*), extract(year FROM now()) FROM t GROUP BY 1, 2")
            .is_ok()
    );
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
    // Operators the syntax implies: `=` of a simple CASE; LIKE is `~~`, its ESCAPE a function.
    let case = pg("SELECT CASE a WHEN 1 THEN 'x' END, b LIKE 'a!%' ESCAPE '!' FROM t").unwrap();
    let ops: Vec<String> = case.names().operators.iter().map(ToString::to_string).collect();
    assert_eq!(ops, ["=", "~~"]);
    // `t.f` may be the function f called on the row t.
    let fields = pg("SELECT t.note, (t).fullname, x.y.z FROM t").unwrap();
    assert_eq!(fields.names().fields, ["note", "fullname", "z"]);
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
    // Moderate nesting is fine (the limits documented in docs/backends/sql.md): 40 chained
    // operators, 80 UNION ALLs, 8 nested scalar subqueries; flat lists of any length.
    assert!(pg(&format!("SELECT 1{}", "+1".repeat(40))).is_ok());
    assert!(pg(&format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(80))).is_ok());
    assert!(pg(&format!("SELECT {}1{}", "(SELECT ".repeat(8), ")".repeat(8))).is_ok());
    let list = (0..20_000).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    assert!(pg(&format!("SELECT 1 WHERE 1 IN ({list}) AND true AND true")).is_ok());
    assert!(
        pg(&format!(
            "SELECT 1 WHERE true{}",
            " AND true OR false".repeat(5_000)
        ))
        .is_ok()
    );
    assert!(pg(&format!("SELECT CASE{} END", " WHEN false THEN 1".repeat(5_000))).is_ok());
}
