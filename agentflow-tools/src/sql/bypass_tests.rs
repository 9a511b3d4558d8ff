//! The database layer alone refuses writes: statements run with the guard skipped.

use sqlx::PgPool;

use super::{SqlDatabase, SqlError};

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_read_only_transaction_refuses_writes_without_the_parser(pool: PgPool) {
    for statement in [
        "CREATE TABLE t (id int PRIMARY KEY)",
        "INSERT INTO t VALUES (1), (2)",
        "CREATE SEQUENCE s",
        "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'INSERT INTO t VALUES (99) RETURNING 1'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let db = SqlDatabase::postgres(pool.clone());
    for sql in [
        "INSERT INTO t VALUES (3)",
        "UPDATE t SET id = id + 10",
        "DELETE FROM t",
        "DROP TABLE t",
        "TRUNCATE t",
        "CREATE TABLE x (a int)",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * INTO new_t FROM t",
        "SELECT evil()",
        "SELECT nextval('s')",
        "EXPLAIN ANALYZE DELETE FROM t",
    ] {
        match db.query_unchecked(sql).await {
            Err(SqlError::ReadOnlyViolation(message)) => {
                assert!(message.contains("read-only transaction"), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    // Stacked statements: the extended protocol takes one statement only.
    match db.query_unchecked("SELECT 1; DELETE FROM t").await {
        Err(SqlError::Query(message)) => assert!(message.contains("multiple commands"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Lifting the read-only mode inside the transaction is refused too.
    assert!(matches!(
        db.query_unchecked("SELECT set_config('transaction_read_only', 'off', true)")
            .await,
        Err(SqlError::Query(_) | SqlError::ReadOnlyViolation(_))
    ));
    assert_eq!(count(&pool).await, 2);
    let last: i64 = sqlx::query_scalar("SELECT last_value FROM s")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(last, 1);
}

/// A writable SQLite file with `t` (two rows), in a fresh directory.
async fn sqlite_fixture(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("agentflow-sql-{name}-{}", uuid::Uuid::new_v4()));
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
    sqlx::query("INSERT INTO t VALUES (1), (2)")
        .execute(&writer)
        .await
        .unwrap();
    writer.close().await;
    (dir, path)
}

#[tokio::test]
async fn an_abandoned_sqlite_statement_is_interrupted_at_once() {
    let (dir, path) = sqlite_fixture("abandon").await;
    let db = SqlDatabase::connect_sqlite(&path)
        .await
        .unwrap()
        .with_config(super::SqlConfig::default().statement_timeout(std::time::Duration::from_secs(30)));
    let token = agentflow_core::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        cancel.cancel();
    });
    let started = std::time::Instant::now();
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    assert_eq!(
        db.query_within(endless, None, None, Some(&token)).await,
        Err(SqlError::Cancelled)
    );
    // The connection comes back to the pool once its statement stopped: at once, not after 30 s.
    let pool = db.sqlite_pool().unwrap();
    while pool.num_idle() < pool.size() as usize {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the statement still runs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        db.query("SELECT count(*) FROM t", None).await.unwrap().rows[0][0],
        2
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_read_only_sqlite_connection_refuses_writes_without_the_parser() {
    let (dir, path) = sqlite_fixture("bypass").await;
    let db = SqlDatabase::connect_sqlite(&path).await.unwrap();
    let other = dir.join("other.sqlite");
    for sql in [
        "INSERT INTO t VALUES (3)".to_owned(),
        "UPDATE t SET id = id + 10".to_owned(),
        "DELETE FROM t".to_owned(),
        "DROP TABLE t".to_owned(),
        "CREATE TABLE x (a)".to_owned(),
        "SELECT 1; DELETE FROM t".to_owned(),
        // Even with query_only lifted, the file is open read-only.
        "PRAGMA query_only = OFF; INSERT INTO t VALUES (4)".to_owned(),
        format!("ATTACH DATABASE '{}' AS other", other.display()),
        "VACUUM".to_owned(),
    ] {
        match db.query_unchecked(&sql).await {
            Err(SqlError::ReadOnlyViolation(_) | SqlError::Query(_) | SqlError::Connection(_)) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    // Extensions cannot be loaded.
    assert!(
        db.query_unchecked("SELECT load_extension('/tmp/evil')")
            .await
            .is_err()
    );
    assert!(!other.exists(), "ATTACH created no file");
    let reader = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&reader)
        .await
        .unwrap();
    assert_eq!(count, 2);
    reader.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
