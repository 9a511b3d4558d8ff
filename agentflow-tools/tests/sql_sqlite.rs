#![cfg(feature = "sql")]
//! The read-only SQL backend against a real SQLite file: refusals, read-only connection,
//! timeouts, limits, values and the schema tool.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentflow_tools::sql::{self, SqlConfig, SqlDatabase, SqlError, TableAccess};
use agentflow_tools::{ToolContext, ToolError, ToolRegistry};
use serde_json::json;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

/// A database file with `customers`, `orders` (a foreign key) and `secret`; removed on drop.
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
    let dir = std::env::temp_dir().join(format!("agentflow-sql-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.db");
    let writer = writer(&path).await;
    for statement in [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, vip BOOLEAN)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), total REAL, \
         receipt BLOB)",
        "CREATE TABLE secret (pw TEXT)",
        "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
        "INSERT INTO customers VALUES (1, 'Zoë ✓ 日本', 1), (2, 'Bob', 0), (3, 'Ann', NULL)",
        "INSERT INTO orders VALUES (1, 1, 150.5, x'deadbeef'), (2, 2, 20.0, NULL)",
        "INSERT INTO secret VALUES ('hunter2')",
    ] {
        sqlx::query(statement).execute(&writer).await.unwrap();
    }
    writer.close().await;
    Fixture { dir, path }
}

async fn writer(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path).create_if_missing(true))
        .await
        .unwrap()
}

/// The rows of every table, to prove nothing changed.
async fn snapshot(path: &Path) -> (i64, i64, i64, Vec<String>) {
    let pool = writer(path).await;
    let count = |table: &str| format!("SELECT count(*) FROM {table}");
    let customers = sqlx::query_scalar(&count("customers"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let orders = sqlx::query_scalar(&count("orders"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let secret = sqlx::query_scalar(&count("secret"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let tables = sqlx::query_scalar("SELECT name FROM sqlite_master ORDER BY name")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    (customers, orders, secret, tables)
}

#[tokio::test]
async fn writes_attach_pragmas_and_extensions_are_refused() {
    let f = fixture().await;
    let before = snapshot(&f.path).await;
    let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap();
    assert_eq!(
        db.query("SELECT 1; DELETE FROM orders", None).await,
        Err(SqlError::MultipleStatements(2))
    );
    assert_eq!(
        db.query("SELECT 1 /* x */; DROP TABLE orders", None).await,
        Err(SqlError::MultipleStatements(2))
    );
    for (sql, kind) in [
        ("INSERT INTO orders VALUES (9, 1, 1.0, NULL)", "INSERT"),
        ("DELETE FROM orders", "DELETE"),
        ("DROP TABLE orders", "DROP TABLE"),
        ("ATTACH DATABASE '/tmp/agentflow-evil.db' AS evil", "ATTACH"),
        ("PRAGMA query_only = 0", "PRAGMA"),
        ("PRAGMA writable_schema = 1", "PRAGMA"),
    ] {
        match db.query(sql, None).await {
            Err(SqlError::NotReadOnly(message)) => {
                assert!(
                    message.contains(&format!("a {kind} statement is not a query")),
                    "{sql}: {message}"
                )
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    // Functions SQLite compiles into the program are checked against the allow-list; the shell's
    // file functions do not exist in the library, so SQLite itself refuses to compile them.
    assert_eq!(
        db.query("SELECT load_extension('/tmp/evil.so')", None).await,
        Err(SqlError::DeniedFunction("load_extension".into()))
    );
    for sql in [
        "SELECT writefile('/tmp/x', 'y')",
        "SELECT readfile('/etc/passwd')",
    ] {
        match db.query(sql, None).await {
            Err(SqlError::Query(message)) => {
                assert!(message.contains("no such function"), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(matches!(
        db.query("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", None)
            .await,
        Err(SqlError::NotReadOnly(_) | SqlError::Parse(_) | SqlError::Query(_))
    ));
    assert!(matches!(
        db.query("VACUUM INTO '/tmp/agentflow-copy.db'", None).await,
        Err(SqlError::NotReadOnly(_))
    ));
    assert!(!Path::new("/tmp/agentflow-evil.db").exists());
    assert!(!Path::new("/tmp/agentflow-copy.db").exists());
    assert_eq!(snapshot(&f.path).await, before);
}

#[tokio::test]
async fn internal_tables_and_pragma_functions_are_not_readable() {
    let f = fixture().await;
    let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap();
    for sql in [
        "SELECT * FROM sqlite_master",
        "SELECT * FROM sqlite_schema",
        "SELECT * FROM pragma_table_info('secret')",
        "SELECT * FROM pragma_database_list",
    ] {
        assert!(
            matches!(db.query(sql, None).await, Err(SqlError::TableNotAllowed(_))),
            "{sql}: {:?}",
            db.query(sql, None).await
        );
    }
    let only = db
        .clone()
        .with_config(SqlConfig::default().access(TableAccess::only().table("customers").table("orders")));
    assert!(
        only.query(
            "SELECT * FROM Customers JOIN orders ON orders.customer_id = customers.id",
            None
        )
        .await
        .is_ok()
    );
    assert_eq!(
        only.query("SELECT * FROM secret", None).await,
        Err(SqlError::TableNotAllowed("table main.secret".into()))
    );
    assert_eq!(
        only.query("SELECT * FROM main.secret", None).await,
        Err(SqlError::TableNotAllowed("table main.secret".into()))
    );
    assert_eq!(
        db.query("SELECT * FROM nope", None).await,
        Err(SqlError::UnknownTable("nope".into()))
    );
    // Virtual tables are refused: SQLite's program does not say which one it opens, so an
    // allowed json_each cannot be told from pragma_table_info. JSON functions still work.
    assert!(matches!(
        db.query("SELECT value FROM json_each('[1, 2, 3]')", None).await,
        Err(SqlError::TableNotAllowed(_))
    ));
    assert_eq!(
        db.query(
            "SELECT json_array_length('[1, 2, 3]') AS n, '{\"a\": 2}' ->> '$.a' AS a",
            None
        )
        .await
        .unwrap()
        .rows[0],
        vec![serde_json::json!(3), serde_json::json!(2)]
    );
}

#[tokio::test]
async fn a_slow_query_is_interrupted_at_the_timeout() {
    let f = fixture().await;
    let db = SqlDatabase::connect_sqlite(&f.path)
        .await
        .unwrap()
        .with_config(SqlConfig::default().statement_timeout(Duration::from_millis(300)));
    let started = Instant::now();
    let err = db
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
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
    assert!(matches!(ToolError::from(err), ToolError::Terminal(_)));
    // The connection works again afterwards (its deadline is reset per call).
    for _ in 0..5 {
        assert_eq!(
            db.query("SELECT count(*) FROM orders", None).await.unwrap().rows[0][0],
            json!(2)
        );
    }
}

#[tokio::test]
async fn a_huge_result_is_cut_at_max_rows() {
    let f = fixture().await;
    let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap();
    let started = Instant::now();
    let result = db
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT x FROM c",
            Some(25),
        )
        .await
        .unwrap();
    assert_eq!((result.row_count, result.truncated), (25, true));
    assert_eq!(result.rows[24], vec![json!(25)]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn values_round_trip_to_json() {
    let f = fixture().await;
    let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap();
    let result = db
        .query(
            "SELECT c.id, c.name, c.vip, o.total, o.receipt, NULL AS empty, 1e999 AS inf \
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id ORDER BY c.id",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        result.rows,
        vec![
            vec![
                json!(1),
                json!("Zoë ✓ 日本"),
                json!(true),
                json!(150.5),
                json!("3q2+7w=="),
                json!(null),
                json!("Infinity")
            ],
            vec![
                json!(2),
                json!("Bob"),
                json!(false),
                json!(20.0),
                json!(null),
                json!(null),
                json!("Infinity")
            ],
            vec![
                json!(3),
                json!("Ann"),
                json!(null),
                json!(null),
                json!(null),
                json!(null),
                json!("Infinity")
            ],
        ]
    );
    let types: Vec<&str> = result.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(&types[..5], ["INTEGER", "TEXT", "BOOLEAN", "REAL", "BLOB"]);
    // No rows: the columns are still described.
    let empty = db
        .query("SELECT id, name FROM customers WHERE 0", None)
        .await
        .unwrap();
    assert_eq!(empty.row_count, 0);
    assert_eq!(
        empty.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["id", "name"]
    );
    let plan = db
        .query("EXPLAIN QUERY PLAN SELECT * FROM orders WHERE id = 1", None)
        .await
        .unwrap();
    assert!(plan.row_count >= 1);
}

#[tokio::test]
async fn the_tools_list_the_schema_and_query() {
    let f = fixture().await;
    let db = SqlDatabase::connect_sqlite(&f.path).await.unwrap().with_config(
        SqlConfig::default().access(
            TableAccess::only()
                .table("customers")
                .table("orders")
                .table("big_orders"),
        ),
    );
    let mut tools = ToolRegistry::new();
    sql::register(&mut tools, db);
    let schema = tools
        .get("sql_schema")
        .unwrap()
        .call_json(json!({}), ToolContext::new("k"))
        .await
        .unwrap();
    assert_eq!(schema["dialect"], "SQLite");
    let names: Vec<&str> = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big_orders", "customers", "orders"]);
    assert_eq!(
        schema["tables"][1]["columns"],
        json!([
            {"name": "id", "type": "INTEGER", "nullable": true, "primary_key": true},
            {"name": "name", "type": "TEXT", "nullable": false},
            {"name": "vip", "type": "BOOLEAN", "nullable": true},
        ])
    );
    assert_eq!(
        schema["tables"][2]["columns"][1]["references"],
        "main.customers(id)"
    );
    assert_eq!(schema["tables"][0]["kind"], "view");
    let query = tools.get("sql_query").unwrap();
    assert!(query.description().contains("SQLite"));
    let ok = query
        .call_json(
            json!({"sql": "SELECT name FROM customers ORDER BY id LIMIT 1"}),
            ToolContext::new("k"),
        )
        .await
        .unwrap();
    assert_eq!(ok["rows"], json!([["Zoë ✓ 日本"]]));
    let err = query
        .call_json(
            json!({"sql": "SELECT nope FROM customers"}),
            ToolContext::new("k"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidArguments(m) if m.contains("no such column")),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_file_is_not_created() {
    let dir = std::env::temp_dir().join(format!("agentflow-sql-missing-{}", uuid::Uuid::new_v4()));
    let path = dir.join("nope.db");
    assert!(SqlDatabase::connect_sqlite(&path).await.is_err());
    assert!(!path.exists());
}
