#![cfg(feature = "sql")]
//! The read-only SQL backend against a real PostgreSQL (`#[sqlx::test]`: a fresh database per
//! test, DATABASE_URL). Each attack asserts the exact refusal and that the database did not
//! change.

use std::time::{Duration, Instant};

use agentflow_core::CancellationToken;
use agentflow_tools::sql::{self, SqlConfig, SqlDatabase, SqlError, TableAccess};
use agentflow_tools::{ToolContext, ToolError, ToolRegistry};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A table `t` with three rows, a sequence and a secret table.
async fn setup(pool: &PgPool) {
    for statement in [
        "CREATE TABLE t (id int PRIMARY KEY, note text)",
        "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        "CREATE SEQUENCE s",
        "CREATE TABLE secret (pw text)",
        "INSERT INTO secret VALUES ('hunter2')",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
}

/// What the database holds: `t`'s rows, the sequence's state, the tables of `public`.
async fn snapshot(pool: &PgPool) -> (Vec<(i32, Option<String>)>, i64, Vec<String>) {
    let rows = sqlx::query_as("SELECT id, note FROM t ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT last_value FROM s")
        .fetch_one(pool)
        .await
        .unwrap();
    let tables = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (rows, seq, tables)
}

fn db(pool: &PgPool) -> SqlDatabase {
    SqlDatabase::postgres(pool.clone())
}

/// The URL of the database `#[sqlx::test]` made for this test.
async fn url_of(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base
        .rsplit_once('/')
        .expect("a database URL ends with /<database>");
    format!("{server}/{name}")
}

#[sqlx::test(migrations = false)]
async fn stacked_and_comment_hidden_statements_are_refused(pool: PgPool) {
    setup(&pool).await;
    let before = snapshot(&pool).await;
    for sql in [
        "SELECT 1; DROP TABLE t",
        "SELECT 1 /* */; DELETE FROM t",
        "SELECT 1 -- \n; DROP TABLE t",
        "SELECT 1 /* nested /* */ still a comment */; DELETE FROM t",
        "SELECT * FROM t;\nUPDATE t SET note = 'x'",
    ] {
        assert_eq!(
            db(&pool).query(sql, None).await,
            Err(SqlError::MultipleStatements(2)),
            "{sql}"
        );
    }
    assert_eq!(snapshot(&pool).await, before);
}

/// Quoting the parser might read differently from PostgreSQL: whatever the guard concludes,
/// the extended protocol takes one statement only, so nothing runs.
#[sqlx::test(migrations = false)]
async fn quoting_tricks_never_run_a_second_statement(pool: PgPool) {
    setup(&pool).await;
    let before = snapshot(&pool).await;
    for sql in [
        r"SELECT E'\''; DELETE FROM t; --'",
        r"SELECT '\'; DELETE FROM t; --'",
        "SELECT $x$ $$ $x$; DELETE FROM t; -- $x$",
    ] {
        let result = db(&pool).query(sql, None).await;
        assert!(
            matches!(
                result,
                Err(SqlError::MultipleStatements(_) | SqlError::Parse(_) | SqlError::Query(_))
            ),
            "{sql}: {result:?}"
        );
    }
    // Dollar quoting is read as PostgreSQL reads it: one string.
    let quoted = db(&pool)
        .query("SELECT $$; DELETE FROM t; $$ AS s", None)
        .await
        .unwrap();
    assert_eq!(quoted.rows[0][0], json!("; DELETE FROM t; "));
    // Nested comments too: all of this is one comment.
    let nested = db(&pool)
        .query("SELECT 1 /* /* */ ; DELETE FROM t; -- */", None)
        .await
        .unwrap();
    assert_eq!(nested.rows, vec![vec![json!(1)]]);
    assert_eq!(snapshot(&pool).await, before);
}

#[sqlx::test(migrations = false)]
async fn statements_other_than_queries_are_refused(pool: PgPool) {
    setup(&pool).await;
    let before = snapshot(&pool).await;
    for (sql, kind) in [
        ("INSERT INTO t VALUES (9, 'nine')", "INSERT"),
        ("UPDATE t SET note = 'x'", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("DROP TABLE t", "DROP TABLE"),
        ("CREATE TABLE x (a int)", "CREATE TABLE"),
        ("TRUNCATE t", "TRUNCATE"),
        ("COPY t TO STDOUT", "COPY"),
        ("COPY t FROM '/etc/passwd'", "COPY"),
        ("SET statement_timeout = 0", "SET"),
        ("BEGIN", "BEGIN"),
        ("CALL p()", "CALL"),
        ("GRANT ALL ON t TO PUBLIC", "GRANT ALL"),
        ("ALTER TABLE t ADD COLUMN c int", "ALTER TABLE"),
    ] {
        match db(&pool).query(sql, None).await {
            Err(SqlError::NotReadOnly(message)) => {
                assert!(
                    message.contains(&format!("a {kind} statement is not a query")),
                    "{sql}: {message}"
                )
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[sqlx::test(migrations = false)]
async fn data_modifying_ctes_into_locks_and_explain_analyze_are_refused(pool: PgPool) {
    setup(&pool).await;
    let before = snapshot(&pool).await;
    for (sql, expected) in [
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "DELETE inside WITH",
        ),
        (
            "WITH i AS (INSERT INTO t VALUES (9) RETURNING *) SELECT * FROM i",
            "INSERT inside WITH",
        ),
        (
            "WITH u AS (UPDATE t SET note = 'x' RETURNING *) SELECT * FROM u",
            "UPDATE inside WITH",
        ),
        (
            "WITH a AS (SELECT 1), b AS (DELETE FROM t RETURNING id) SELECT * FROM a, b",
            "DELETE inside WITH",
        ),
        ("SELECT * FROM t FOR UPDATE", "FOR UPDATE / FOR SHARE"),
        ("SELECT * FROM t FOR SHARE SKIP LOCKED", "FOR UPDATE / FOR SHARE"),
        (
            "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
            "FOR UPDATE / FOR SHARE",
        ),
        ("SELECT * INTO new_t FROM t", "SELECT ... INTO creates a table"),
        ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN ANALYZE executes"),
        (
            "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t",
            "EXPLAIN ANALYZE executes",
        ),
        ("EXPLAIN DELETE FROM t", "EXPLAIN is allowed only for queries"),
    ] {
        match db(&pool).query(sql, None).await {
            Err(SqlError::NotReadOnly(message)) => assert!(message.contains(expected), "{sql}: {message}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[sqlx::test(migrations = false)]
async fn side_effecting_functions_are_refused_before_running(pool: PgPool) {
    setup(&pool).await;
    let before = snapshot(&pool).await;
    let started = Instant::now();
    for (sql, function) in [
        ("SELECT pg_sleep(10)", "pg_sleep"),
        (
            "SELECT 1 FROM t WHERE id = (SELECT pg_catalog.PG_SLEEP(10)::text::int)",
            "pg_catalog.pg_sleep",
        ),
        ("SELECT \"pg_sleep\" /* hidden */ (10)", "pg_sleep"),
        ("SELECT * FROM pg_sleep_for('10 seconds')", "pg_sleep_for"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT setval('s', 100)", "setval"),
        ("SELECT pg_advisory_lock(42)", "pg_advisory_lock"),
        (
            "SELECT pg_terminate_backend(pg_backend_pid())",
            "pg_terminate_backend",
        ),
        ("SELECT pg_cancel_backend(1)", "pg_cancel_backend"),
        ("SELECT pg_reload_conf()", "pg_reload_conf"),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
        ("SELECT pg_stat_file('postgresql.conf')", "pg_stat_file"),
        ("SELECT txid_current()", "txid_current"),
        ("SELECT pg_notify('channel', 'x')", "pg_notify"),
        (
            "SELECT query_to_xml('DELETE FROM t RETURNING 1', true, true, '')",
            "query_to_xml",
        ),
        ("SELECT table_to_xml('secret', true, true, '')", "table_to_xml"),
        (
            "SELECT * FROM dblink('dbname=x', 'DELETE FROM t') AS r(a int)",
            "dblink",
        ),
    ] {
        assert_eq!(
            db(&pool).query(sql, None).await,
            Err(SqlError::DeniedFunction(function.into())),
            "{sql}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2), "nothing slept");
    assert_eq!(snapshot(&pool).await, before);
    // Settings are not readable (they show what the schema check hides) unless configured.
    assert_eq!(
        db(&pool)
            .query("SELECT current_setting('search_path')", None)
            .await,
        Err(SqlError::DeniedFunction("current_setting".into()))
    );
    let configured = db(&pool).with_config(SqlConfig::default().allow_function("current_setting"));
    let ok = configured
        .query("SELECT current_setting('search_path')", None)
        .await
        .unwrap();
    assert_eq!(ok.row_count, 1);
}

#[sqlx::test(migrations = false)]
async fn a_slow_query_hits_the_statement_timeout(pool: PgPool) {
    let db = db(&pool).with_config(
        SqlConfig::default()
            .statement_timeout(Duration::from_millis(300))
            .allow_function("current_setting"),
    );
    let started = Instant::now();
    let err = db
        .query(
            "SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err, SqlError::Timeout(Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Terminal, with advice: the same query would time out again.
    match ToolError::from(err) {
        ToolError::Terminal(message) => assert!(message.contains("do not retry it unchanged"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The pool's connection is healthy afterwards and its session settings untouched.
    let after = db
        .query("SELECT current_setting('statement_timeout') AS t", None)
        .await
        .unwrap();
    assert_eq!(after.rows[0][0], json!("300ms"));
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, "0");
}

#[sqlx::test(migrations = false)]
async fn a_volatile_function_that_writes_is_refused_by_the_read_only_transaction(pool: PgPool) {
    setup(&pool).await;
    sqlx::query("CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'INSERT INTO t VALUES (99, ''evil'') RETURNING 1'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "CREATE FUNCTION evil_ddl() RETURNS int LANGUAGE plpgsql AS \
         $$ BEGIN EXECUTE 'DROP TABLE secret'; RETURN 1; END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = snapshot(&pool).await;
    // Functions outside the allow-list are refused by the guard...
    assert_eq!(
        db(&pool).query("SELECT evil()", None).await,
        Err(SqlError::DeniedFunction("evil".into()))
    );
    // ...and when configured, the read-only transaction still stops their writes.
    let db = |pool: &PgPool| {
        SqlDatabase::postgres(pool.clone()).with_config(
            SqlConfig::default()
                .allow_function("public.evil")
                .allow_function("public.evil_ddl"),
        )
    };
    for sql in [
        "SELECT evil()",
        "SELECT * FROM t WHERE id = evil()",
        "SELECT evil_ddl()",
    ] {
        match db(&pool).query(sql, None).await {
            Err(SqlError::ReadOnlyViolation(message)) => {
                assert!(message.contains("read-only transaction"), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert_eq!(snapshot(&pool).await, before);
    // For the model: fix the query.
    let err = ToolError::from(db(&pool).query("SELECT evil()", None).await.unwrap_err());
    assert!(
        matches!(&err, ToolError::InvalidArguments(m) if m.contains("only read-only queries")),
        "{err}"
    );
}

#[sqlx::test(migrations = false)]
async fn a_huge_result_is_cut_at_max_rows_quickly(pool: PgPool) {
    let started = Instant::now();
    let result = db(&pool)
        .query("SELECT generate_series(1, 10000000) AS n", Some(50))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(result.row_count, 50);
    assert_eq!(result.rows.len(), 50);
    assert!(result.truncated);
    assert_eq!(result.rows[49], vec![json!(50)]);
    assert!(
        result.note.as_deref().is_some_and(|n| n.contains("more rows")),
        "{:?}",
        result.note
    );
    // The cursor stops the server after 51 rows: no 10-million-row transfer.
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    // Exactly max_rows rows is not truncated.
    let exact = db(&pool)
        .query("SELECT generate_series(1, 50)", Some(50))
        .await
        .unwrap();
    assert_eq!((exact.row_count, exact.truncated, exact.note), (50, false, None));
    // The model cannot ask for more than the configured limit.
    let capped = db(&pool)
        .with_config(SqlConfig::default().max_rows_limit(20))
        .query("SELECT generate_series(1, 1000)", Some(1000))
        .await
        .unwrap();
    assert_eq!((capped.row_count, capped.truncated), (20, true));
}

#[sqlx::test(migrations = false)]
async fn results_are_cut_at_max_bytes_and_long_text_is_shortened(pool: PgPool) {
    let db = db(&pool).with_config(SqlConfig::default().max_bytes(1000).max_cell_chars(10));
    let result = db
        .query(
            "SELECT n, repeat('x', 100) AS filler FROM generate_series(1, 1000) n",
            Some(1000),
        )
        .await
        .unwrap();
    assert!(result.truncated);
    assert!(
        result.row_count > 5 && result.row_count < 40,
        "{}",
        result.row_count
    );
    assert!(serde_json::to_string(&result.rows).unwrap().len() <= 1000);
    assert_eq!(
        result.rows[0][1],
        json!("xxxxxxxxxx… [shortened, 100 characters in all]")
    );
    let note = result.note.unwrap();
    assert!(
        note.contains("1000-byte result limit") && note.contains("shortened"),
        "{note}"
    );
}

#[sqlx::test(migrations = false)]
async fn values_round_trip_to_json(pool: PgPool) {
    for statement in [
        "CREATE TYPE mood AS ENUM ('sad', 'happy')",
        "CREATE TYPE pair AS (a int, b text)",
        "CREATE DOMAIN positive AS int CHECK (VALUE > 0)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let sql = r#"SELECT
        1::int2 AS i2, 2147483647::int4 AS i4, 9007199254740993::int8 AS i8,
        1.5::float4 AS f4, 'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf,
        12345.678::numeric AS num, -0.0012::numeric AS small, 'NaN'::numeric AS num_nan,
        true AS yes, NULL::int AS nothing, 'héllo wörld ✓ 日本 🦀'::text AS unicode,
        'x'::varchar(3) AS vc, 'ab'::char(4) AS bp, 'pg'::name AS nm,
        '{"a": [1, null, "é"]}'::json AS j, '{"b": {"c": true}}'::jsonb AS jb,
        '2024-02-29'::date AS d, '1999-12-31 23:59:59.25'::timestamp AS ts,
        '2024-02-29 12:00:00+02'::timestamptz AS tstz, '13:14:15.5'::time AS t,
        '1 year 2 months 3 days 04:05:06.5'::interval AS iv,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id,
        '\xdeadbeef'::bytea AS bin,
        ARRAY[1, NULL, 3] AS ints, ARRAY['a', 'b"c'] AS texts, ARRAY[[1, 2], [3, 4]] AS grid,
        '{}'::int[] AS empty, 'happy'::mood AS m, ARRAY['sad', 'happy']::mood[] AS moods,
        ROW(1, 'x')::pair AS p, ROW(2, 'y') AS anon, 5::positive AS dom,
        '192.168.0.1'::inet AS ip, '10.0.0.0/8'::cidr AS net, '08:00:2b:01:02:03'::macaddr AS mac,
        '12.34'::money AS cash, 'infinity'::timestamp AS forever, B'101' AS bits,
        'a:1 b:2'::tsvector AS unsupported"#;
    let result = db(&pool).query(sql, None).await.unwrap();
    let row: serde_json::Map<String, Value> = result
        .columns
        .iter()
        .map(|c| c.name.clone())
        .zip(result.rows[0].iter().cloned())
        .collect();
    let expected = json!({
        "i2": 1, "i4": 2147483647, "i8": 9007199254740993i64,
        "f4": 1.5, "nan": "NaN", "ninf": "-Infinity",
        "num": "12345.678", "small": "-0.0012", "num_nan": "NaN",
        "yes": true, "nothing": null, "unicode": "héllo wörld ✓ 日本 🦀",
        "vc": "x", "bp": "ab  ", "nm": "pg",
        "j": {"a": [1, null, "é"]}, "jb": {"b": {"c": true}},
        "d": "2024-02-29", "ts": "1999-12-31T23:59:59.25",
        "tstz": "2024-02-29T10:00:00Z", "t": "13:14:15.5",
        "iv": "P1Y2M3DT4H5M6.5S",
        "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "bin": "3q2+7w==",
        "ints": [1, null, 3], "texts": ["a", "b\"c"], "grid": [[1, 2], [3, 4]],
        "empty": [], "m": "happy", "moods": ["sad", "happy"],
        "p": {"a": 1, "b": "x"}, "anon": [2, "y"], "dom": 5,
        "ip": "192.168.0.1", "net": "10.0.0.0/8", "mac": "08:00:2b:01:02:03",
        "cash": "12.34", "forever": "infinity", "bits": "101",
        "unsupported": "<tsvector value: cast the column to text (::text) to read it>",
    });
    assert_eq!(Value::Object(row), expected);
    let types: Vec<&str> = result.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(&types[..4], ["int2", "int4", "int8", "float4"]);
    assert!(
        types.contains(&"timestamptz") && types.contains(&"jsonb") && types.contains(&"int4[]"),
        "{types:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn an_empty_result_still_has_its_columns(pool: PgPool) {
    setup(&pool).await;
    for _ in 0..2 {
        let result = db(&pool)
            .query("SELECT id, note FROM t WHERE false", None)
            .await
            .unwrap();
        assert_eq!(result.row_count, 0);
        assert!(!result.truncated);
        let columns: Vec<(&str, &str)> = result
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_name.as_str()))
            .collect();
        assert_eq!(columns, [("id", "int4"), ("note", "text")]);
    }
    // A different cursor on the same pooled connection gets its own columns, not cached ones.
    let other = db(&pool)
        .query("SELECT 1::bool AS flag WHERE false", None)
        .await
        .unwrap();
    assert_eq!(other.columns[0].name, "flag");
}

#[sqlx::test(migrations = false)]
async fn queries_ctes_values_and_explain_work(pool: PgPool) {
    setup(&pool).await;
    let db = db(&pool).with_config(SqlConfig::default().allow_postgres_explain());
    let cte = db
        .query(
            "WITH big AS (SELECT * FROM t WHERE id > 1) SELECT note FROM big ORDER BY id DESC;",
            None,
        )
        .await
        .unwrap();
    assert_eq!(cte.rows, vec![vec![json!("three")], vec![json!("two")]]);
    let values = db.query("VALUES (1, 'a'), (2, 'b')", None).await.unwrap();
    assert_eq!(values.row_count, 2);
    let explain = db
        .query("EXPLAIN SELECT * FROM t WHERE id = 1", None)
        .await
        .unwrap();
    assert_eq!(explain.columns[0].name, "QUERY PLAN");
    assert!(explain.rows[0][0].as_str().is_some_and(|plan| plan.contains("t")));
    let json_plan = db.query("EXPLAIN (FORMAT JSON) SELECT 1", None).await.unwrap();
    assert!(json_plan.rows[0][0].is_array());
    let recursive = db
        .query(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r",
            None,
        )
        .await
        .unwrap();
    assert_eq!(recursive.rows[0][0], json!(15));
}

#[sqlx::test(migrations = false)]
async fn the_allowlist_limits_the_tables_read(pool: PgPool) {
    setup(&pool).await;
    sqlx::query("CREATE SCHEMA hidden").execute(&pool).await.unwrap();
    sqlx::query("CREATE TABLE hidden.t (x int)")
        .execute(&pool)
        .await
        .unwrap();
    // Default: every user table, no catalogs.
    let all = db(&pool);
    assert!(all.query("SELECT * FROM secret", None).await.is_ok());
    assert!(all.query("SELECT * FROM hidden.t", None).await.is_ok());
    for sql in [
        "SELECT * FROM pg_authid",
        "SELECT * FROM pg_catalog.pg_shadow",
        "SELECT * FROM information_schema.tables",
        "SELECT usename FROM pg_user",
    ] {
        assert!(
            matches!(all.query(sql, None).await, Err(SqlError::TableNotAllowed(ref m)) if m.starts_with("table pg_catalog.") || m.starts_with("table information_schema.")),
            "{sql}: {:?}",
            all.query(sql, None).await
        );
    }
    // Only t.
    let only_t = db(&pool).with_config(SqlConfig::default().access(TableAccess::only().table("public.t")));
    assert!(only_t.query("SELECT * FROM T WHERE id = 1", None).await.is_ok());
    for (sql, refused) in [
        ("SELECT * FROM secret", "table public.secret"),
        (
            "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM secret)",
            "table public.secret",
        ),
        (
            "SELECT * FROM t, LATERAL (SELECT pw FROM public.secret) s",
            "table public.secret",
        ),
        ("SELECT * FROM hidden.t", "table hidden.t"),
        // A CTE named like an excluded table, defined after the body that reads the table.
        (
            "WITH a AS (SELECT * FROM secret), secret AS (SELECT 1) SELECT * FROM a",
            "table public.secret",
        ),
    ] {
        assert_eq!(
            only_t.query(sql, None).await,
            Err(SqlError::TableNotAllowed(refused.into())),
            "{sql}"
        );
    }
    assert!(
        only_t
            .query("WITH secret AS (SELECT 1 AS pw) SELECT pw FROM secret", None)
            .await
            .is_ok()
    );
    assert_eq!(
        only_t.query("SELECT * FROM nope", None).await,
        Err(SqlError::UnknownTable("nope".into()))
    );
    // A schema allowlist.
    let hidden = db(&pool).with_config(SqlConfig::default().access(TableAccess::only().schema("hidden")));
    assert!(hidden.query("SELECT * FROM hidden.t", None).await.is_ok());
    assert!(matches!(
        hidden.query("SELECT * FROM t", None).await,
        Err(SqlError::TableNotAllowed(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn the_schema_tool_lists_the_readable_tables(pool: PgPool) {
    for statement in [
        "CREATE TABLE customers (id serial PRIMARY KEY, name varchar(80) NOT NULL, tags text[])",
        "COMMENT ON TABLE customers IS 'People who buy'",
        "COMMENT ON COLUMN customers.name IS 'Full name'",
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers (id), \
         total numeric(10, 2))",
        "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
        "CREATE SCHEMA hidden",
        "CREATE TABLE hidden.x (a int)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let mut tools = ToolRegistry::new();
    sql::register(
        &mut tools,
        db(&pool).with_config(SqlConfig::default().access(TableAccess::only().schema("public"))),
    );
    assert_eq!(tools.names().collect::<Vec<_>>(), ["sql_query", "sql_schema"]);
    let schema = tools
        .get("sql_schema")
        .unwrap()
        .call_json(json!({}), ToolContext::new("k"))
        .await
        .unwrap();
    assert_eq!(schema["dialect"], "PostgreSQL");
    let names: Vec<&str> = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big_orders", "customers", "orders"]);
    assert_eq!(
        schema["tables"][1],
        json!({
            "schema": "public", "name": "customers", "kind": "table", "comment": "People who buy",
            "columns": [
                {"name": "id", "type": "integer", "nullable": false, "primary_key": true},
                {"name": "name", "type": "character varying(80)", "nullable": false, "comment": "Full name"},
                {"name": "tags", "type": "text[]", "nullable": true},
            ],
        })
    );
    assert_eq!(
        schema["tables"][2]["columns"][1]["references"],
        "public.customers(id)"
    );
    assert_eq!(schema["tables"][2]["columns"][2]["type"], "numeric(10,2)");
    assert_eq!(schema["tables"][0]["kind"], "view");
    // One table.
    let one = tools
        .get("sql_schema")
        .unwrap()
        .call_json(json!({"table": "orders"}), ToolContext::new("k"))
        .await
        .unwrap();
    assert_eq!(one["tables"].as_array().unwrap().len(), 1);
    // The default access lists the other schema too, never the catalogs.
    let all = db(&pool).schema(None).await.unwrap();
    let schemas: Vec<&str> = all.tables.iter().map(|t| t.schema.as_str()).collect();
    assert!(schemas.contains(&"hidden"));
    assert!(!schemas.contains(&"pg_catalog") && !schemas.contains(&"information_schema"));
}

#[sqlx::test(migrations = false)]
async fn the_query_tool_reports_errors_the_model_can_act_on(pool: PgPool) {
    setup(&pool).await;
    let mut tools = ToolRegistry::new();
    sql::register(&mut tools, db(&pool));
    let query = tools.get("sql_query").unwrap();
    assert!(query.description().contains("PostgreSQL"));
    assert_eq!(query.parameters()["required"], json!(["sql"]));
    let call = |args: Value| query.call_json(args, ToolContext::new("k"));
    let ok = call(json!({"sql": "SELECT id, note FROM t ORDER BY id", "max_rows": 2}))
        .await
        .unwrap();
    assert_eq!(
        ok,
        json!({
            "columns": [{"name": "id", "type": "int4"}, {"name": "note", "type": "text"}],
            "rows": [[1, "one"], [2, "two"]],
            "row_count": 2,
            "truncated": true,
            "note": "the query has more rows than the 2 returned; add WHERE/LIMIT, aggregate, or ask for more rows with max_rows",
        })
    );
    for (sql, expected) in [
        ("SELEC 1", "could not be parsed"),
        ("SELECT nope FROM t", "column \"nope\" does not exist"),
        ("SELECT 1 / 0", "division by zero"),
        ("DELETE FROM t", "a DELETE statement is not a query"),
        ("SELECT pg_sleep(1)", "function pg_sleep() is not allowed"),
    ] {
        match call(json!({ "sql": sql })).await {
            Err(ToolError::InvalidArguments(message)) => {
                assert!(message.contains(expected), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[sqlx::test(migrations = false)]
async fn a_cancelled_run_stops_the_query(pool: PgPool) {
    let db = db(&pool).with_config(SqlConfig::default().statement_timeout(Duration::from_secs(30)));
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let err = db
        .query_within(
            "SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b",
            None,
            None,
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(err, SqlError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The abandoned statement is cancelled on the server, not left running until its 30 s
    // timeout.
    let running = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND state = 'active' AND query LIKE 'FETCH FORWARD%'";
    loop {
        let active: i64 = sqlx::query_scalar(running).fetch_one(&pool).await.unwrap();
        if active == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the statement still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A deadline shortens the statement timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let err = db
        .query_within(
            "SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b",
            None,
            Some(deadline),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, SqlError::Timeout(d) if d <= Duration::from_millis(300)),
        "{err:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn an_own_pool_defaults_to_read_only_sessions(pool: PgPool) {
    setup(&pool).await;
    let db = SqlDatabase::connect_postgres(&url_of(&pool).await)
        .await
        .unwrap()
        .with_config(SqlConfig::default().allow_function("current_setting"));
    let result = db
        .query("SELECT current_setting('default_transaction_read_only')", None)
        .await
        .unwrap();
    assert_eq!(result.rows[0][0], json!("on"));
    assert_eq!(
        db.query("SELECT count(*) FROM t", None).await.unwrap().rows[0][0],
        json!(3)
    );
    assert!(matches!(
        SqlDatabase::connect_postgres("not a url").await,
        Err(SqlError::Config(_))
    ));
}

/// Regression (issue 12): PostgreSQL prints constants it folds while planning in full, so an
/// EXPLAIN's output is not bounded before it reaches the process (a 100 MB line here). EXPLAIN
/// is off unless the configuration allows it; the tool's description does not offer it then.
#[sqlx::test(migrations = false)]
async fn postgres_explain_is_off_unless_allowed(pool: PgPool) {
    setup(&pool).await;
    let huge = "EXPLAIN SELECT * FROM t WHERE note = repeat('x', 100000000)";
    let refused = db(&pool).query(huge, None).await;
    assert!(
        matches!(&refused, Err(SqlError::Unsupported(m)) if m.contains("EXPLAIN is turned off")),
        "{refused:?}"
    );
    let tool = sql::QueryTool::new(db(&pool));
    assert!(!agentflow_tools::Tool::description(&tool).contains("EXPLAIN"));

    let allowed = db(&pool).with_config(SqlConfig::default().allow_postgres_explain());
    let plan = allowed
        .query("EXPLAIN SELECT * FROM t WHERE note = repeat('x', 3)", None)
        .await
        .unwrap();
    assert!(
        plan.rows[0][0]
            .as_str()
            .is_some_and(|line| line.contains("Seq Scan"))
    );
    assert!(agentflow_tools::Tool::description(&sql::QueryTool::new(allowed)).contains("EXPLAIN"));
}
