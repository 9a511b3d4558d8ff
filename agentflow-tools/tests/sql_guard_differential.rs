#![cfg(feature = "sql")]
//! The SQL guard against the databases' own reading of the text (issue 12, section 1).
//!
//! The differential suites feed tokenizer edge cases (dollar-quote tags with odd bytes, nested
//! block comments, `E''` and `U&''` strings, comment starts inside operators, Unicode and
//! ASCII whitespace, `$`-parameters, `[ident]`, backticks) and generated variants to the tool,
//! against a schema with an allowed table `t` and a table `secret` outside the allowlist that
//! holds a marker string. Whatever the guard decides, for every input:
//!
//! - no result and no error message carries the marker;
//! - PostgreSQL's own plan of the text (`EXPLAIN (VERBOSE, FORMAT JSON)`) names no relation
//!   outside the allowlist when the guard let it run; SQLite's plan names no `secret`;
//! - the connection is clean afterwards: no advisory lock held, no setting changed.

use agentflow_tools::sql::{SqlConfig, SqlDatabase, SqlError, TableAccess};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor as _, PgPool};

const MARKER: &str = "MARKER-5ec12e7";

async fn setup(pool: &PgPool) {
    for statement in [
        "CREATE TABLE t (id int, note text)",
        "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        "CREATE TABLE secret (x text)",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    sqlx::query("INSERT INTO secret VALUES ($1)")
        .bind(MARKER)
        .execute(pool)
        .await
        .unwrap();
}

/// The tool on a pool of one connection (so every check below sees the session the query
/// ran in), allowed to read `public.t` only.
async fn tool(pool: &PgPool, session_setup: Option<&'static str>) -> (SqlDatabase, PgPool) {
    let options = (*pool.connect_options()).clone();
    let mut builder = PgPoolOptions::new().max_connections(1);
    if let Some(statement) = session_setup {
        builder = builder.after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(statement).await?;
                Ok(())
            })
        });
    }
    let own = builder.connect_with(options).await.unwrap();
    let db = SqlDatabase::postgres(own.clone())
        .with_config(SqlConfig::default().access(TableAccess::only().table("public.t")));
    (db, own)
}

/// The session's state that must not change: advisory locks held and every setting.
async fn session_state(own: &PgPool) -> (i64, String) {
    let locks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    )
    .fetch_one(own)
    .await
    .unwrap();
    let settings: String = sqlx::query_scalar(
        "SELECT string_agg(name || '=' || coalesce(setting, ''), ',' ORDER BY name) FROM pg_settings",
    )
    .fetch_one(own)
    .await
    .unwrap();
    (locks, settings)
}

/// Every `Schema`.`Relation Name` of a JSON plan.
fn plan_relations(plan: &Value, out: &mut Vec<String>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(relation)) = map.get("Relation Name") {
                let schema = map.get("Schema").and_then(Value::as_str).unwrap_or("?");
                out.push(format!("{schema}.{relation}"));
            }
            map.values().for_each(|v| plan_relations(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| plan_relations(v, out)),
        _ => {}
    }
}

/// Runs `sql` through the tool and asserts the three properties; returns whether it ran.
async fn assert_contained(db: &SqlDatabase, own: &PgPool, admin: &PgPool, sql: &str) -> bool {
    let before = session_state(own).await;
    let result = db.query(sql, None).await;
    let shown = format!("{result:?}");
    assert!(!shown.contains(MARKER), "{sql:?} leaked the marker: {shown}");
    if result.is_ok() && !sql.trim_start().to_ascii_lowercase().starts_with("explain") {
        // PostgreSQL's own reading of the same text (on another connection, standard settings).
        let explain = format!("EXPLAIN (VERBOSE, FORMAT JSON) {sql}");
        if let Ok(plan) = sqlx::query_scalar::<_, Value>(&explain).fetch_one(admin).await {
            let mut relations = Vec::new();
            plan_relations(&plan, &mut relations);
            assert!(
                relations.iter().all(|r| r == "public.t"),
                "{sql:?} reads {relations:?}"
            );
        }
    }
    assert_eq!(
        session_state(own).await,
        before,
        "{sql:?} left state on the connection"
    );
    result.is_ok()
}

/// Ways to open something one tokenizer may close differently: dollar tags with odd bytes,
/// comments, strings with escapes, operators containing comment starts, odd whitespace.
fn openers() -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for tag in [
        "$€$",
        "$a$",
        "$_$",
        "$ä1$",
        "$日本$",
        "$🦀$",
        "$$",
        "$a\u{a0}$",
        "$A$",
        "$é$",
    ] {
        pairs.push((tag.to_owned(), tag.to_owned()));
        // A tag nested in another tag's body, and a tag that only looks like the other.
        pairs.push((format!("$x$ {tag}"), format!("{tag} $x$")));
    }
    for (open, close) in [
        ("/*", "*/"),
        ("/* /*", "*/ */"),
        ("/* /* */", "*/"),
        ("--", "\n"),
        ("'", "'"),
        ("E'\\'", "'"),
        ("E'\\\\'", "'"),
        ("'\\'", "'"),
        ("U&'\\0027", "'"),
        ("U&'d\\0061t\\+000061", "'"),
        ("\"", "\""),
        ("U&\"\\0022", "\""),
        ("B'", "'"),
        ("X'", "'"),
        ("'a' ||--", "\n"),
        ("2 */*", "*/"),
        ("2 *--", "\n"),
        ("'a' @--", "\n"),
        ("1 +/*", "*/"),
        ("'x' ~--", "\n"),
    ] {
        pairs.push((open.to_owned(), close.to_owned()));
    }
    pairs
}

/// What an attacker wants to run unseen: read the secret, take a session lock, change a setting.
const PAYLOADS: &[&str] = &[
    "(SELECT string_agg(x, ',') FROM secret)",
    "pg_advisory_lock(1)",
    "set_config('work_mem', '1MB', false)",
    "(SELECT x FROM public.secret LIMIT 1)",
];

/// Characters some tokenizer might take for whitespace.
const SPACES: &[&str] = &[
    " ", "\u{a0}", "\u{2028}", "\u{3000}", "\u{feff}", "\u{85}", "\u{b}", "\u{c}", "\t", "\r\n",
];

fn generated_inputs() -> Vec<String> {
    let mut inputs = vec![
        // The two exploits of the issue, verbatim.
        "SELECT $€$ /* $€$ , pg_advisory_lock(1), (SELECT string_agg(x, ',') FROM secret) --*/".to_owned(),
        "SELECT 'a' ||-- '\npg_advisory_lock(2)::text || (SELECT string_agg(x, ',') FROM secret) --'"
            .to_owned(),
    ];
    for (open, close) in openers() {
        for payload in PAYLOADS {
            // The payload between an opener and its closer, then a trailing comment that hides
            // the rest from one reading or the other.
            inputs.push(format!("SELECT {open} , {payload} {close} AS a"));
            inputs.push(format!("SELECT {open} {close}, {payload} --{close}"));
            inputs.push(format!("SELECT 1 AS {open} /* {close} , {payload} --*/"));
            inputs.push(format!(
                "SELECT * FROM t WHERE note = {open} {close} OR {payload} IS NOT NULL"
            ));
        }
    }
    for space in SPACES {
        for payload in PAYLOADS {
            inputs.push(format!("SELECT{space}1,{space}{payload}"));
            inputs.push(format!("SELECT 1 --{space}\n, {payload}"));
            inputs.push(format!(
                "SELECT id FROM{space}t{space}WHERE{space}id = 1 /*{space}*/ AND {payload} IS NULL"
            ));
        }
    }
    inputs
}

#[sqlx::test(migrations = false)]
async fn whatever_passes_the_guard_reads_only_allowed_tables_and_leaves_the_session_clean(pool: PgPool) {
    setup(&pool).await;
    let (db, own) = tool(&pool, None).await;
    let inputs = generated_inputs();
    let mut ran = 0;
    for sql in &inputs {
        if assert_contained(&db, &own, &pool, sql).await {
            ran += 1;
        }
    }
    // The suite is not vacuous: harmless readings of the same openers do run.
    assert!(ran > 20, "only {ran} of {} inputs ran", inputs.len());
    let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(locks, 0);
}

/// Regression (issue 12): `$€$` is a dollar-quote tag for PostgreSQL, not for sqlparser, so the
/// old guard saw a comment-free `SELECT` of nothing while PostgreSQL took a session advisory
/// lock and read `secret`.
#[sqlx::test(migrations = false)]
async fn exploit_dollar_tag_with_a_non_ascii_byte_is_read_as_postgresql_reads_it(pool: PgPool) {
    setup(&pool).await;
    let (db, own) = tool(&pool, None).await;
    let sql = "SELECT $€$ /* $€$ , pg_advisory_lock(1), (SELECT string_agg(x, ',') FROM secret) --*/";
    assert_eq!(
        db.query(sql, None).await,
        Err(SqlError::DeniedFunction("pg_advisory_lock".into()))
    );
    assert_eq!(session_state(&own).await.0, 0, "no advisory lock is held");
    // Without the function, the table is what is refused.
    let sql = "SELECT $€$ /* $€$ , (SELECT string_agg(x, ',') FROM secret) --*/";
    assert_eq!(
        db.query(sql, None).await,
        Err(SqlError::TableNotAllowed("table public.secret".into()))
    );
}

/// Regression (issue 12): `||--` is one custom operator for sqlparser, an operator and a
/// comment for PostgreSQL.
#[sqlx::test(migrations = false)]
async fn exploit_comment_start_inside_an_operator_is_read_as_postgresql_reads_it(pool: PgPool) {
    setup(&pool).await;
    let (db, own) = tool(&pool, None).await;
    let sql = "SELECT 'a' ||-- '\npg_advisory_lock(2)::text || (SELECT string_agg(x, ',') FROM secret) --'";
    assert_eq!(
        db.query(sql, None).await,
        Err(SqlError::DeniedFunction("pg_advisory_lock".into()))
    );
    assert_eq!(session_state(&own).await.0, 0, "no advisory lock is held");
    let sql = "SELECT 'a' ||-- '\n(SELECT string_agg(x, ',') FROM secret) --'";
    assert_eq!(
        db.query(sql, None).await,
        Err(SqlError::TableNotAllowed("table public.secret".into()))
    );
}

/// A session whose `standard_conforming_strings` is off reads `'a\'` as an unterminated
/// string; the query's transaction pins the setting the guard's parser assumes.
#[sqlx::test(migrations = false)]
async fn the_lexer_settings_the_guard_assumed_are_pinned(pool: PgPool) {
    setup(&pool).await;
    let (db, own) = tool(&pool, Some("SET standard_conforming_strings = off")).await;
    let sql = r"SELECT 'a\' AS y, ' , (SELECT string_agg(x, chr(44)) FROM secret) AS z --'";
    let result = db.query(sql, None).await.unwrap();
    assert_eq!(result.columns.len(), 2, "read as two string literals: {result:?}");
    assert!(!format!("{result:?}").contains(MARKER));
    let setting: String = sqlx::query_scalar("SHOW standard_conforming_strings")
        .fetch_one(&own)
        .await
        .unwrap();
    assert_eq!(setting, "off", "the session's own setting is left as it was");
}

/// Function names resolve as PostgreSQL resolves them: a function of another schema on the
/// search path that could win over the built-in is refused, as are user operators and casts.
#[sqlx::test(migrations = false)]
async fn functions_operators_and_casts_resolve_only_to_built_ins(pool: PgPool) {
    setup(&pool).await;
    for statement in [
        // A better match than pg_catalog.lower(text) for lower(1).
        "CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS 'SELECT pg_advisory_lock(7)::text'",
        "CREATE SCHEMA evil",
        "CREATE FUNCTION evil.upper(text) RETURNS text LANGUAGE sql AS 'SELECT pg_advisory_lock(8)::text'",
        "CREATE FUNCTION public.lock_plus(integer, text) RETURNS integer LANGUAGE sql \
         AS 'SELECT pg_advisory_lock(9)::text::int * 0 + 1'",
        "CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = text, FUNCTION = public.lock_plus)",
        "CREATE TYPE mood AS ENUM ('sad', 'happy')",
        "CREATE FUNCTION public.to_mood(text) RETURNS mood LANGUAGE sql \
         AS 'SELECT CASE WHEN pg_advisory_lock(10) IS NULL THEN ''sad''::mood ELSE ''happy''::mood END'",
        "CREATE CAST (text AS mood) WITH FUNCTION public.to_mood(text)",
        // Functional notation: t.fullname is fullname(t).
        "CREATE FUNCTION public.fullname(t) RETURNS text LANGUAGE sql AS 'SELECT pg_advisory_lock(11)::text'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let (db, own) = tool(&pool, Some("SET search_path = evil, public")).await;
    for (sql, expected) in [
        ("SELECT lower(1)", "public.lower"),
        ("SELECT upper('a')", "evil.upper"),
        ("SELECT public.lower(1)", "public.lower"),
        ("SELECT t.fullname FROM t", "public.fullname"),
        ("SELECT (t).fullname FROM t", "public.fullname"),
        ("SELECT x.fullname FROM t AS x", "public.fullname"),
    ] {
        assert_eq!(
            db.query(sql, None).await,
            Err(SqlError::DeniedFunction(expected.into())),
            "{sql}"
        );
    }
    for sql in [
        "SELECT 1 + 'x'::text",
        "SELECT 'happy'::text::mood",
        "SELECT CAST('sad'::text AS mood)",
    ] {
        assert!(
            matches!(db.query(sql, None).await, Err(SqlError::Unsupported(_))),
            "{sql}: {:?}",
            db.query(sql, None).await
        );
    }
    assert_eq!(session_state(&own).await.0, 0, "no advisory lock is held");
    // Built-ins still work. (An enum literal is fine in general, see the values test of
    // tests/sql.rs; here a user cast to `mood` exists, so casts to it are refused.)
    // A column of that name is just a column.
    assert!(db.query("SELECT t.note, t.id FROM t", None).await.is_ok());
    let ok = db
        .query(
            "SELECT pg_catalog.lower('A') AS l, 2 * 3 AS s, 'sad'::text AS m, 1 BETWEEN 0 AND 2 AS b",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        ok.rows[0],
        vec![
            Value::from("a"),
            Value::from(6),
            Value::from("sad"),
            Value::from(true)
        ]
    );
    // An operator name that a schema on the path also defines is refused whatever the operand
    // types (the parse does not know them): `+` here, because of public.+.
    assert!(matches!(
        db.query("SELECT 2 + 3", None).await,
        Err(SqlError::Unsupported(_))
    ));
    // A configured function of another schema is allowed, and only that one.
    let configured = db.clone().with_config(
        SqlConfig::default()
            .allow_function("evil.upper")
            .access(TableAccess::only().table("public.t")),
    );
    assert!(configured.query("SELECT evil.upper('a')", None).await.is_ok());
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&own).await;
}

/// The issue's list of functions that must be refused, through the tool.
#[sqlx::test(migrations = false)]
async fn functions_outside_the_allow_list_are_refused(pool: PgPool) {
    setup(&pool).await;
    let (db, own) = tool(&pool, None).await;
    for (sql, name) in [
        (
            "SELECT * FROM crosstab('SELECT x, x, x FROM secret') AS c(a text, b text)",
            "crosstab",
        ),
        (
            "SELECT * FROM connectby('secret', 'x', 'x', 'a', 0) AS c(a text, b text, l int)",
            "connectby",
        ),
        ("SELECT setseed(0.5)", "setseed"),
        ("SELECT * FROM pg_stat_get_activity(NULL)", "pg_stat_get_activity"),
        ("SELECT * FROM pg_show_all_settings()", "pg_show_all_settings"),
        (
            "SELECT brin_summarize_new_values('t'::regclass)",
            "brin_summarize_new_values",
        ),
        (
            "SELECT gin_clean_pending_list('t'::regclass)",
            "gin_clean_pending_list",
        ),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
        (
            "SELECT query_to_xml('SELECT * FROM secret', true, true, '')",
            "query_to_xml",
        ),
        (
            "SELECT * FROM dblink('dbname=x', 'SELECT 1') AS r(a int)",
            "dblink",
        ),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT set_config('work_mem', '1MB', false)", "set_config"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT txid_current()", "txid_current"),
    ] {
        assert_eq!(
            db.query(sql, None).await,
            Err(SqlError::DeniedFunction(name.into())),
            "{sql}"
        );
    }
    assert_eq!(session_state(&own).await.0, 0);
}

/// Regression (issue 12): `EXPLAIN (ANALYSE)` executed the statement.
#[sqlx::test(migrations = false)]
async fn no_explain_option_executes(pool: PgPool) {
    setup(&pool).await;
    sqlx::query(
        "CREATE FUNCTION public.lock_it() RETURNS int LANGUAGE sql AS 'SELECT pg_advisory_lock(3)::text::int * 0'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (db, own) = tool(&pool, None).await;
    let db = db.with_config(
        SqlConfig::default()
            .allow_function("public.lock_it")
            .allow_postgres_explain()
            .access(TableAccess::only().table("public.t")),
    );
    for sql in [
        "EXPLAIN (ANALYSE) SELECT lock_it()",
        "EXPLAIN ANALYSE SELECT lock_it()",
        "EXPLAIN (analyse true, FORMAT JSON) SELECT lock_it()",
        "EXPLAIN (\"analyze\") SELECT lock_it()",
        "EXPLAIN ANALYZE VERBOSE SELECT lock_it()",
    ] {
        assert!(
            matches!(db.query(sql, None).await, Err(SqlError::NotReadOnly(_))),
            "{sql}"
        );
    }
    for sql in [
        "EXPLAIN (TIMING) SELECT lock_it()",
        "EXPLAIN (SERIALIZE) SELECT lock_it()",
    ] {
        assert!(
            matches!(db.query(sql, None).await, Err(SqlError::Unsupported(_))),
            "{sql}"
        );
    }
    assert!(
        db.query("EXPLAIN (VERBOSE, COSTS OFF) SELECT lock_it()", None)
            .await
            .is_ok()
    );
    assert_eq!(session_state(&own).await.0, 0, "nothing executed");
}

/// Regression (issue 12): deep expressions overflowed the guard's stack and aborted the
/// process. They run in this test's own process; an overflow would kill the test binary.
#[sqlx::test(migrations = false)]
async fn deep_nesting_is_refused_with_a_clear_error(pool: PgPool) {
    let db = SqlDatabase::postgres(pool.clone());
    for sql in [
        format!("SELECT 1{}", "+1".repeat(20_000)),
        format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(10_000)),
        format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000)),
        format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)),
    ] {
        match db.query(&sql, None).await {
            Err(SqlError::Unsupported(message)) => {
                assert!(message.contains("nested too deeply"), "{message}")
            }
            Err(SqlError::Parse(message)) => assert!(!message.is_empty()),
            other => panic!("{}: {other:?}", &sql[..30]),
        }
    }
}

mod sqlite {
    use std::path::PathBuf;

    use super::*;
    use sqlx::SqlitePool;
    use sqlx::sqlite::SqliteConnectOptions;

    struct Fixture {
        dir: PathBuf,
        path: PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!("agentflow-sql-guard-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let writer = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        for statement in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)",
            "CREATE INDEX t_note ON t (note)",
            "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
            "CREATE TABLE secret (x TEXT)",
            "CREATE INDEX secret_x ON secret (x)",
            "CREATE VIEW secret_view AS SELECT x FROM secret",
        ] {
            sqlx::query(statement).execute(&writer).await.unwrap();
        }
        sqlx::query("INSERT INTO secret VALUES (?1)")
            .bind(MARKER)
            .execute(&writer)
            .await
            .unwrap();
        writer.close().await;
        Fixture { dir, path }
    }

    fn inputs() -> Vec<String> {
        let mut inputs = Vec::new();
        let payloads = [
            "(SELECT group_concat(x) FROM secret)",
            "(SELECT x FROM main.secret)",
            "(SELECT x FROM secret_view)",
            "(SELECT name FROM sqlite_schema LIMIT 1)",
            "(SELECT count(*) FROM pragma_table_info('secret'))",
            "load_extension('x')",
        ];
        for (open, close) in [
            ("$a$", "$a$"),
            ("$€$", "$€$"),
            ("[", "]"),
            ("`", "`"),
            ("\"", "\""),
            ("'", "'"),
            ("/*", "*/"),
            ("/* /*", "*/ */"),
            ("--", "\n"),
            ("E'\\'", "'"),
            ("'\\'", "'"),
            ("x'", "'"),
            ("?1 ||--", "\n"),
            (":a", ""),
            ("@b", ""),
            ("$c", ""),
            ("2 */*", "*/"),
            ("$a(')", "'"),
            ("@a(\")", "\""),
            (":a::b(`)", "`"),
            ("#a([)", "]"),
        ] {
            for payload in payloads {
                inputs.push(format!("SELECT {open} , {payload} {close} AS a"));
                inputs.push(format!("SELECT {open} {close}, {payload} --{close}"));
                inputs.push(format!("SELECT 1 AS {open} /* {close} , {payload} --*/"));
                inputs.push(format!("SELECT {open} {close} ; SELECT {payload}"));
            }
        }
        for space in SPACES {
            for payload in payloads {
                inputs.push(format!("SELECT{space}1,{space}{payload}"));
                inputs.push(format!(
                    "SELECT note FROM{space}t{space}WHERE id = 1 AND {payload} IS NOT NULL"
                ));
            }
        }
        inputs
    }

    #[tokio::test]
    async fn whatever_passes_the_guard_reads_only_allowed_tables() {
        let f = fixture().await;
        let db = SqlDatabase::connect_sqlite(&f.path)
            .await
            .unwrap()
            .with_config(SqlConfig::default().access(TableAccess::only().table("t")));
        let raw = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&f.path).read_only(true))
            .await
            .unwrap();
        let mut ran = 0;
        let inputs = inputs();
        for sql in &inputs {
            let result = db.query(sql, None).await;
            let shown = format!("{result:?}");
            assert!(!shown.contains(MARKER), "{sql:?} leaked the marker: {shown}");
            if result.is_ok() {
                ran += 1;
                // SQLite's own plan of the text: no secret table, index or view.
                let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&raw)
                    .await
                    .unwrap_or_default();
                assert!(
                    plan.iter()
                        .all(|detail| !detail.contains("secret") && !detail.contains("sqlite_")),
                    "{sql:?}: {plan:?}"
                );
            }
        }
        assert!(ran > 10, "only {ran} of {} inputs ran", inputs.len());
        raw.close().await;
    }

    #[tokio::test]
    async fn views_indexes_and_internal_tables_are_checked_through_the_program() {
        let f = fixture().await;
        let db = SqlDatabase::connect_sqlite(&f.path)
            .await
            .unwrap()
            .with_config(SqlConfig::default().access(TableAccess::only().table("t").table("secret_view")));
        // The view reads `secret`, which the allowlist does not include.
        assert_eq!(
            db.query("SELECT * FROM secret_view", None).await,
            Err(SqlError::TableNotAllowed("table main.secret".into()))
        );
        // An index of an allowed table is read as that table.
        let ok = db
            .query("SELECT id FROM t WHERE note = 'two'", None)
            .await
            .unwrap();
        assert_eq!(ok.rows, vec![vec![Value::from(2)]]);
        for sql in [
            "SELECT * FROM sqlite_schema",
            "SELECT * FROM temp.sqlite_master",
            "SELECT x FROM secret INDEXED BY secret_x WHERE x > ''",
        ] {
            assert!(
                matches!(db.query(sql, None).await, Err(SqlError::TableNotAllowed(_))),
                "{sql}: {:?}",
                db.query(sql, None).await
            );
        }
        // Only the first statement is ever compiled or run.
        assert!(matches!(
            db.query("SELECT 1; SELECT * FROM secret", None).await,
            Err(SqlError::MultipleStatements(_))
        ));
        assert_eq!(
            db.query("SELECT abs(-1) AS a; -- done", None).await.unwrap().rows,
            vec![vec![Value::from(1)]]
        );
        // A function outside the allow-list, even one SQLite has.
        for (sql, name) in [
            ("SELECT sqlite_source_id()", "sqlite_source_id"),
            ("SELECT changes()", "changes"),
            ("SELECT load_extension('x')", "load_extension"),
        ] {
            assert_eq!(
                db.query(sql, None).await,
                Err(SqlError::DeniedFunction(name.into())),
                "{sql}"
            );
        }
        // EXPLAIN QUERY PLAN of a query the guard accepts.
        assert!(db.query("EXPLAIN QUERY PLAN SELECT * FROM t", None).await.is_ok());
        assert!(matches!(
            db.query("EXPLAIN QUERY PLAN SELECT * FROM secret", None).await,
            Err(SqlError::TableNotAllowed(_))
        ));
    }

    #[tokio::test]
    async fn deep_nesting_is_an_error_not_a_crash() {
        let f = fixture().await;
        let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap();
        for sql in [
            format!("SELECT 1{}", "+1".repeat(20_000)),
            format!("SELECT 1{}", " UNION ALL SELECT 1".repeat(10_000)),
            format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)),
        ] {
            assert!(db.query(&sql, None).await.is_err(), "{}", &sql[..30]);
        }
        // Parentheses make no tree nodes for SQLite: this one just runs.
        let parens = format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(db.query(&parens, None).await.is_ok());
    }
}

/// The guard is not a wall: the queries an analyst writes pass it, with their names resolved
/// in the database.
#[sqlx::test(migrations = false)]
async fn ordinary_postgres_queries_pass(pool: PgPool) {
    setup(&pool).await;
    sqlx::query("CREATE TABLE orders (id int, region text, total numeric, placed timestamptz, tags jsonb)")
        .execute(&pool)
        .await
        .unwrap();
    let db = SqlDatabase::postgres(pool.clone()).with_config(SqlConfig::default().allow_postgres_explain());
    for sql in [
        "SELECT region, sum(total) AS s, count(*) FILTER (WHERE total > 10) FROM orders GROUP BY region HAVING sum(total) > 0 ORDER BY 2 DESC NULLS LAST LIMIT 5",
        "SELECT id, rank() OVER (PARTITION BY region ORDER BY total DESC), lag(total) OVER w FROM orders WINDOW w AS (ORDER BY placed)",
        "SELECT date_trunc('month', placed) AS m, extract(year FROM placed), to_char(placed, 'YYYY-MM'), placed::date, now() - interval '7 days' FROM orders",
        "SELECT tags ->> 'a', tags -> 'b', tags @> '{\"x\": 1}', jsonb_array_length(tags -> 'list') FROM orders WHERE tags ? 'a'",
        "SELECT DISTINCT ON (region) region, total FROM orders ORDER BY region, total DESC",
        "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM t WHERE t.id = o.id) AND o.id IN (SELECT id FROM t) AND region ILIKE 'e%'",
        "SELECT region, percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders GROUP BY ROLLUP (region)",
        "SELECT * FROM generate_series(1, 3) AS g(n) CROSS JOIN LATERAL (SELECT n * 2 AS d) x",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r EXCEPT SELECT 2 INTERSECT SELECT 3",
        "SELECT coalesce(note, '-'), nullif(id, 0), greatest(id, 1), CASE WHEN id > 1 THEN 'big' ELSE 'small' END, CASE id WHEN 1 THEN 'one' END FROM t",
        "SELECT string_agg(note, ', ' ORDER BY note), array_agg(id), json_agg(t), jsonb_build_object('n', count(*)) FROM t",
        "SELECT round(avg(total), 2), stddev(total), abs(-1), ceil(1.5), mod(7, 3), 2 ^ 3, |/ 16.0, ARRAY[1, 2] || 3, 'a' || 'b' FROM orders",
        "SELECT id FROM t WHERE note LIKE 'o%' AND note NOT SIMILAR TO 'x' AND id BETWEEN 1 AND 5 AND id IS DISTINCT FROM 3 AND note ~ '^o'",
        "SELECT substring(note FROM 1 FOR 2), position('n' IN note), trim(both ' ' FROM note), upper(note), length(note), left(note, 1), split_part(note, 'n', 1) FROM t",
        "VALUES (1, 'a'), (2, 'b') ORDER BY 1 OFFSET 1 FETCH FIRST 1 ROW ONLY",
        "SELECT t.note, t.id, x.* FROM t JOIN LATERAL unnest(ARRAY[t.id]) AS x(v) ON true LEFT JOIN orders o USING (id)",
        "SELECT placed AT TIME ZONE 'UTC', age(placed), make_date(2024, 1, 31), date_bin('15 minutes', placed, TIMESTAMPTZ '2001-01-01') FROM orders",
        "SELECT gen_random_uuid()::text, md5(note), to_jsonb(t) - 'id', row_to_json(t) FROM t",
        "EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) SELECT * FROM t WHERE id = 1",
    ] {
        if let Err(e) = db.query(sql, None).await {
            panic!("{sql}: {e:?}");
        }
    }
}

mod sqlite_ordinary {
    use super::*;

    #[tokio::test]
    async fn ordinary_sqlite_queries_pass() {
        let dir = std::env::temp_dir().join(format!("agentflow-sql-guard-ok-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let writer = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        for statement in [
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, total REAL, placed TEXT, tags TEXT)",
            "CREATE INDEX orders_region ON orders (region)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT) STRICT",
            "CREATE VIEW big AS SELECT * FROM orders WHERE total > 100",
            "INSERT INTO orders VALUES (1, 'eu', 150.5, '2024-02-29 10:00:00', '{\"a\": 1, \"list\": [1, 2]}')",
            "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        ] {
            sqlx::query(statement).execute(&writer).await.unwrap();
        }
        writer.close().await;
        let db = SqlDatabase::connect_sqlite(&path).await.unwrap();
        for sql in [
            "SELECT region, sum(total), count(*), avg(total), total(total) FROM orders GROUP BY region HAVING count(*) > 0 ORDER BY 2 DESC NULLS LAST LIMIT 5 OFFSET 0",
            "SELECT id, rank() OVER (PARTITION BY region ORDER BY total DESC), lag(total) OVER w, row_number() OVER () FROM orders WINDOW w AS (ORDER BY placed)",
            "SELECT strftime('%Y-%m', placed), date(placed), datetime(placed, '+1 day'), julianday(placed), unixepoch(placed) FROM orders",
            "SELECT tags ->> '$.a', tags -> '$.list', json_extract(tags, '$.a'), json_array_length(tags, '$.list'), json_group_array(id), json_object('n', count(*)) FROM orders",
            "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM t WHERE t.id = o.id) AND o.id IN (SELECT id FROM t) AND region LIKE 'e%' AND region GLOB 'e*'",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r EXCEPT SELECT 2 INTERSECT SELECT 3",
            "SELECT coalesce(note, '-'), ifnull(note, ''), nullif(id, 0), iif(id > 1, 'big', 'small'), CASE id WHEN 1 THEN 'one' END, max(id, 2), min(id, 0) FROM t",
            "SELECT group_concat(note, ', '), upper(note), lower(note), length(note), substr(note, 1, 2), instr(note, 'n'), replace(note, 'o', '0'), trim(note), printf('%05d', id) FROM t",
            "SELECT DISTINCT region FROM orders WHERE id BETWEEN 1 AND 5 AND region IS NOT NULL AND region IN ('eu', 'us')",
            "SELECT round(total, 1), abs(-1), CAST(total AS INTEGER), typeof(total), hex(id), quote(region) FROM orders",
            "SELECT o.id, t.note FROM orders o LEFT JOIN t ON t.id = o.id CROSS JOIN (SELECT 1 AS one) x",
            "SELECT * FROM big",
            "VALUES (1, 'a'), (2, 'b')",
            "SELECT region FROM orders INDEXED BY orders_region WHERE region = 'eu'",
            "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE region = 'eu'",
        ] {
            if let Err(e) = db.query(sql, None).await {
                panic!("{sql}: {e:?}");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
