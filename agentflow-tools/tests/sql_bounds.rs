#![cfg(feature = "sql")]
//! One SQL call holds a bounded amount of memory, whatever the query asks the database to
//! build: measured as the peak resident set (`VmHWM`) of a child process that runs such
//! queries through `SqlDatabase::query`, against the real PostgreSQL and a SQLite file.
//!
//! The parent test re-runs this test binary with `AGENTFLOW_SQL_BOUNDS_CHILD` set to the
//! backend; the child (`child_runs_the_queries`, a no-op otherwise) warms up, reads its peak,
//! runs every query, reads its peak again and prints one JSON line with the growth and each
//! result. The child runs under `ulimit -v`, so a regression fails the test instead of taking
//! the machine's memory.

use std::process::Command;

use agentflow_tools::sql::{SqlConfig, SqlDatabase, SqlError};
use serde_json::{Value, json};

const CHILD_ENV: &str = "AGENTFLOW_SQL_BOUNDS_CHILD";
const MARKER: &str = "AGENTFLOW_SQL_BOUNDS_RESULT ";
/// The most the peak resident set may grow while the queries run (the byte cap is 1 MiB).
const MAX_GROWTH_KIB: u64 = 64 * 1024;

/// Each asks the server for hundreds of megabytes in one row (1-2 GB with the brief's
/// numbers; smaller here so that a regression does not strain a shared machine).
const POSTGRES_QUERIES: &[&str] = &[
    "SELECT repeat('x', 300000000)",
    "SELECT array_fill(NULL::int, ARRAY[40000000])",
    "SELECT string_agg(repeat('y', 100), ',') FROM generate_series(1, 2000000)",
    "SELECT 1 AS id, repeat('z', 200000000) AS a, repeat('z', 200000000) AS b",
    // Many columns, each under any one-value limit, together hundreds of megabytes.
    "WITH v(x) AS (SELECT repeat('w', 2000000)) SELECT x AS x1, x AS x2, x AS x3, x AS x4, x AS x5, \
     x AS x6, x AS x7, x AS x8, x AS x9, x AS x10, x AS x11, x AS x12, x AS x13, x AS x14, x AS x15, \
     x AS x16, x AS x17, x AS x18, x AS x19, x AS x20, x AS x21, x AS x22, x AS x23, x AS x24, \
     x AS x25, x AS x26, x AS x27, x AS x28, x AS x29, x AS x30, x AS x31, x AS x32, x AS x33, \
     x AS x34, x AS x35, x AS x36, x AS x37, x AS x38, x AS x39, x AS x40, x AS x41, x AS x42, \
     x AS x43, x AS x44, x AS x45, x AS x46, x AS x47, x AS x48, x AS x49, x AS x50 FROM v",
    // Many rows, each large: the byte limit must stop reading before they pile up.
    "SELECT g, repeat('r', 900000) FROM generate_series(1, 1000) AS g",
    "SELECT jsonb_build_object('k', repeat('j', 200000000))",
    "SELECT decode(repeat('ab', 150000000), 'hex')",
];

const SQLITE_QUERIES: &[&str] = &[
    "SELECT randomblob(300000000), randomblob(300000000)",
    "SELECT zeroblob(500000000)",
    "SELECT printf('%.*c', 300000000, 'x')",
    "SELECT replace(hex(zeroblob(100000000)), '0', 'x')",
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200000) \
     SELECT group_concat(hex(randomblob(1000)), ',') FROM g",
    // Ten values under the length limit, 9 MB together.
    "WITH v(x) AS (SELECT randomblob(900000)) SELECT x, x, x, x, x, x, x, x, x, x FROM v",
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000) \
     SELECT n, randomblob(900000) FROM g",
    WIDE_SQLITE,
];

/// 200 values of 900 kB each, each under `max_row_bytes`, 180 MB together: SQLite computes
/// a row's values before anything can interrupt it.
const WIDE_SQLITE: &str = "WITH v(x) AS (SELECT randomblob(900000)) SELECT \
    x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, \
    x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, \
    x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, \
    x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, \
    x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x \
    FROM v";

/// This process's peak resident set, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// What a call returned, small enough to print: the error, or each value's first characters.
fn summary(result: Result<agentflow_tools::sql::QueryResult, SqlError>) -> Value {
    match result {
        Ok(result) => {
            let cells: Vec<String> = result
                .rows
                .iter()
                .flatten()
                .map(|v| {
                    let text = v.to_string();
                    let head: String = text.chars().take(60).collect();
                    let tail: String = {
                        let chars: Vec<char> = text.chars().collect();
                        chars[chars.len().saturating_sub(80)..].iter().collect()
                    };
                    format!("{head} .. {tail}")
                })
                .collect();
            json!({"rows": result.row_count, "truncated": result.truncated, "note": result.note, "cells": cells})
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

async fn sqlite_database() -> (SqlDatabase, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("agentflow-sql-bounds-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db.sqlite");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let writer = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&writer)
        .await
        .unwrap();
    writer.close().await;
    (SqlDatabase::connect_sqlite(&path).await.unwrap(), dir)
}

/// The child: runs the backend's queries and prints the peak's growth and the results.
#[tokio::test]
async fn child_runs_the_queries() {
    let Ok(backend) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (db, queries, dir) = match backend.as_str() {
        "postgres" => {
            let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
            (
                SqlDatabase::connect_postgres(&url).await.unwrap(),
                POSTGRES_QUERIES,
                None,
            )
        }
        _ => {
            let (db, dir) = sqlite_database().await;
            (db, SQLITE_QUERIES, Some(dir))
        }
    };
    // The machine may be busy: the test is about memory, not time.
    let db = db.with_config(SqlConfig::default().statement_timeout(std::time::Duration::from_secs(120)));
    // Warm up: the connection, the runtime's threads, every code path of a small result.
    for _ in 0..3 {
        let warm = db
            .query("SELECT 1 AS a, 'two' AS b, 3.5 AS c", None)
            .await
            .unwrap();
        assert_eq!(warm.row_count, 1);
    }
    let before = peak_rss_kib();
    let mut results = Vec::new();
    for sql in queries {
        let result = summary(db.query(sql, Some(1000)).await);
        results.push(json!({"sql": sql, "result": result, "peak_kib": peak_rss_kib()}));
    }
    let after = peak_rss_kib();
    let report = json!({"before_kib": before, "after_kib": after, "results": results});
    println!("{MARKER}{report}");
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Runs the child for `backend` under a 4 GiB address-space limit; its report.
fn run_child(backend: &str) -> Value {
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" --exact child_runs_the_queries --nocapture --test-threads=1")
        .arg(exe)
        .env(CHILD_ENV, backend)
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split_once(MARKER).map(|(_, report)| report))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).expect("the child's report is JSON")
}

fn assert_bounded(report: &Value) {
    let growth = report["after_kib"].as_u64().unwrap() - report["before_kib"].as_u64().unwrap();
    eprintln!(
        "peak resident set grew by {growth} KiB (before: {} KiB)",
        report["before_kib"]
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "the peak grew by {growth} KiB: {report:#}"
    );
}

fn results(report: &Value) -> &[Value] {
    report["results"].as_array().unwrap()
}

#[test]
fn postgres_calls_stay_within_memory_bounds() {
    let report = run_child("postgres");
    assert_bounded(&report);
    for entry in results(&report) {
        let (sql, result) = (&entry["sql"], &entry["result"]);
        // Every over-large value comes back shortened, with what it was; nothing is refused.
        assert!(result.get("error").is_none(), "{sql}: {result}");
        let cells = result["cells"].as_array().unwrap();
        assert!(!cells.is_empty(), "{sql}: {result}");
        assert!(
            cells.iter().any(|c| c.as_str().unwrap().contains("[shortened, ")),
            "{sql}: {result}"
        );
    }
    // The many-rows query stops at the byte limit, saying so.
    let many = &results(&report)[5]["result"];
    assert_eq!(many["truncated"], true, "{many}");
    assert!(many["note"].as_str().unwrap().contains("result limit"), "{many}");
}

#[test]
fn sqlite_calls_stay_within_memory_bounds() {
    let report = run_child("sqlite");
    assert_bounded(&report);
    let results = results(&report);
    let error = |i: usize| {
        results[i]["result"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // One value over the length limit: refused, saying why.
    for i in [0, 1, 3, 4] {
        assert!(
            error(i).contains("string or blob too big") && error(i).contains("1048576 bytes"),
            "{}",
            results[i]
        );
    }
    // Many values: each gets its share of 16 MiB (83886 bytes each for 200).
    assert!(
        error(7).contains("string or blob too big") && error(7).contains("83886 bytes"),
        "{}",
        results[7]
    );
    // printf stops at the length limit by itself (its result is NULL then).
    let printf = &results[2]["result"];
    assert!(
        error(2).contains("too big") || printf["cells"][0] == "null .. null",
        "{printf}"
    );
    // Ten values under the limit: returned, shortened.
    assert_eq!(results[5]["result"]["rows"], 1, "{}", results[5]);
    // Rows of large values: read until the JSON result is full.
    let many = &results[6]["result"];
    assert_eq!(many["truncated"], true, "{many}");
    assert!(many["note"].as_str().unwrap().contains("result limit"), "{many}");
}

/// The PostgreSQL wrapper changes nothing but the values over their share: names (repeated or
/// none), order, types, comments and a trailing `;` come through as the query wrote them.
#[sqlx::test(migrations = false)]
async fn the_postgres_wrapper_is_transparent_below_the_cap(pool: sqlx::PgPool) {
    let db = SqlDatabase::postgres(pool).with_config(SqlConfig::default().max_row_bytes(4096));
    let names = |r: &agentflow_tools::sql::QueryResult| -> Vec<String> {
        r.columns.iter().map(|c| c.name.clone()).collect()
    };

    let r = db
        .query("SELECT 1 AS a, 'x' AS a -- trailing comment", None)
        .await
        .unwrap();
    assert_eq!(names(&r), ["a", "a"]);
    assert_eq!(r.rows, [vec![json!(1), json!("x")]]);
    assert_eq!(r.columns[0].type_name, "int4");

    let r = db.query("SELECT 2 AS b;  ", None).await.unwrap();
    assert_eq!(r.rows, [vec![json!(2)]]);

    let r = db.query("SELECT FROM generate_series(1, 3)", None).await.unwrap();
    assert_eq!((r.columns.len(), r.row_count), (0, 3));

    let r = db
        .query(
            "SELECT g FROM generate_series(1, 100) AS g ORDER BY g DESC",
            Some(3),
        )
        .await
        .unwrap();
    assert_eq!(r.rows, [vec![json!(100)], vec![json!(99)], vec![json!(98)]]);
    assert!(r.truncated);

    let r = db
        .query(
            "VALUES (ROW(1, 'a'), ARRAY[1, 2], '{\"k\": 1}'::jsonb, '\\xdead'::bytea)",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        [vec![
            json!([1, "a"]),
            json!([1, 2]),
            json!({"k": 1}),
            json!("3q0=")
        ]]
    );

    // No rows: the columns still come from the query's plan.
    let r = db
        .query("SELECT 1 AS one, now() AS at WHERE false", None)
        .await
        .unwrap();
    assert_eq!(names(&r), ["one", "at"]);
    assert_eq!(r.columns[1].type_name, "timestamptz");

    // Two columns share 4096 bytes: 2048 each. One over its share comes as a preview.
    let r = db
        .query(
            "SELECT repeat('a', 3000) AS big, repeat('b', 2000) AS small",
            None,
        )
        .await
        .unwrap();
    let big = r.rows[0][0].as_str().unwrap();
    assert!(big.starts_with("aaaa"), "{big}");
    assert!(big.ends_with("… [shortened, 3000 bytes in all]"), "{big}");
    assert_eq!(r.rows[0][1], json!("b".repeat(2000)));
    assert!(r.note.unwrap().contains("values larger than 2048 bytes"));
    // Any type: an array's text form is measured.
    let r = db.query("SELECT array_fill(7, ARRAY[3000])", None).await.unwrap();
    assert!(
        r.rows[0][0].as_str().unwrap().starts_with("{7,7,7"),
        "{:?}",
        r.rows
    );
}
