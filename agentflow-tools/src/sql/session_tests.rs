//! A connection a call used carries no state into its next use: state is created on purpose
//! with the parser guard skipped (the guard refuses what makes it), and the next user of the
//! pool must see a clean session, while a call that left nothing keeps its connection.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::{SqlConfig, SqlDatabase, SqlError};

/// What the pool's next user sees: its backend, the advisory locks and the prepared
/// statements named `leftover` it holds, and `work_mem`.
async fn next_user_sees(pool: &PgPool) -> (i32, i64, i64, String) {
    sqlx::query_as(
        "SELECT pg_backend_pid(), \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
         (SELECT count(*) FROM pg_prepared_statements WHERE name = 'leftover'), \
         current_setting('work_mem')",
    )
    .persistent(false)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_postgres_session_left_changed_is_closed_not_pooled(pool: PgPool) {
    // One connection, shared with "other code" (the test): whatever the call leaves on it, the
    // next user would get.
    let options = (*pool.connect_options()).clone();
    let shared = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let db = SqlDatabase::postgres(shared.clone());
    let (first_pid, _, _, work_mem) = next_user_sees(&shared).await;

    // What a rollback undoes leaves the connection clean: it is kept.
    for sql in [
        "SELECT set_config('work_mem', '1MB', false)",
        "SELECT pg_advisory_xact_lock(1)",
        "LISTEN some_channel",
        "DECLARE held CURSOR WITH HOLD FOR SELECT 1",
    ] {
        let _ = db.query_unchecked(sql).await;
        let (pid, locks, prepared, setting) = next_user_sees(&shared).await;
        assert_eq!((locks, prepared), (0, 0), "{sql}");
        assert_eq!(setting, work_mem, "{sql}");
        assert_eq!(pid, first_pid, "{sql}: a clean connection is kept");
    }

    // What outlives the rollback: the connection is closed, the next user gets a fresh one.
    let mut last_pid = first_pid;
    for sql in [
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_advisory_lock_shared(7), pg_advisory_lock(8)",
        "PREPARE leftover AS SELECT 1",
    ] {
        let result = db.query_unchecked(sql).await;
        assert!(result.is_ok(), "{sql}: {result:?}");
        let (pid, locks, prepared, _) = next_user_sees(&shared).await;
        assert_eq!((locks, prepared), (0, 0), "{sql}: the next user sees the state");
        assert_ne!(pid, last_pid, "{sql}: the changed connection was pooled again");
        last_pid = pid;
        // The lock is gone from the server too (the session ended), not just hidden.
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (42, 7, 8)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(held, 0, "{sql}");
    }
}

#[sqlx::test(migrations = false)]
async fn an_abandoned_postgres_call_does_not_return_its_connection(pool: PgPool) {
    let options = (*pool.connect_options()).clone();
    let shared = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let db = SqlDatabase::postgres(shared.clone())
        .with_config(SqlConfig::default().statement_timeout(Duration::from_secs(30)));
    let (first_pid, _, _, _) = next_user_sees(&shared).await;
    let token = agentflow_core::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    assert_eq!(
        db.query_within(endless, None, None, Some(&token)).await,
        Err(SqlError::Cancelled)
    );
    // Its session's state is unknown (the statement may still be running): never reused.
    let (pid, locks, _, _) = next_user_sees(&shared).await;
    assert_eq!(locks, 0);
    assert_ne!(pid, first_pid);
}

/// A read-only SQLite database with one table, in a fresh directory.
async fn sqlite_database() -> (SqlDatabase, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("agentflow-sql-session-{}", uuid::Uuid::new_v4()));
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

#[tokio::test]
async fn a_sqlite_connection_left_changed_is_closed_not_pooled() {
    let (db, dir) = sqlite_database().await;
    let pool = db.sqlite_pool().unwrap().clone();
    for sql in [
        "PRAGMA query_only = OFF",
        "PRAGMA query_only = OFF; CREATE TEMP TABLE leftover (a)",
        "ATTACH DATABASE ':memory:' AS leftover",
    ] {
        let _ = db.query_unchecked(sql).await;
        // Every connection the pool holds is clean, once the call's connection is back in the
        // pool (or closed): all are idle, and all are taken at once.
        let started = std::time::Instant::now();
        while pool.num_idle() < pool.size() as usize {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{sql}: a connection stays busy"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut connections = Vec::new();
        for _ in 0..pool.size() {
            connections.push(pool.acquire().await.unwrap());
        }
        for conn in &mut connections {
            let (temp, databases, query_only): (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM temp.sqlite_master), \
                 (SELECT count(*) FROM pragma_database_list WHERE name = 'leftover'), \
                 (SELECT query_only FROM pragma_query_only)",
            )
            .fetch_one(&mut **conn)
            .await
            .unwrap();
            assert_eq!((temp, databases, query_only), (0, 0, 1), "{sql}");
        }
    }
    assert!(matches!(
        db.query("SELECT count(*) FROM t", None).await,
        Ok(result) if result.rows[0][0] == 0
    ));
    let _ = std::fs::remove_dir_all(dir);
}
