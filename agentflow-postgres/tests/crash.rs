//! Real failures against the real server: a worker process killed with SIGKILL mid-superstep
//! and resumed by a new process; a database connection killed under a running graph.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentflow_core::testing::crash::{Worker, kill_and_resume};
use agentflow_core::{Context, Durability, NodeError, RunConfig, RunInput, State};
use agentflow_postgres::PostgresSaver;
use sqlx::PgPool;

mod common;

/// The URL of the database `#[sqlx::test]` made for this test.
async fn url_of(pool: &PgPool) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base
        .rsplit_once('/')
        .expect("a database URL ends with /<database>");
    format!("{server}/{db}")
}

#[sqlx::test(migrations = false)]
async fn a_process_killed_mid_superstep_resumes_without_repeating_finished_work(pool: PgPool) {
    let saver = PostgresSaver::new(pool.clone());
    saver.migrate().await.unwrap();
    let dir = std::env::temp_dir().join(format!("agentflow-pg-crash-{}", uuid::Uuid::new_v4()));
    let worker = Worker {
        program: Worker::example("agentflow-postgres", "pg_crash_worker"),
        saver_args: vec![url_of(&pool).await],
        dir: dir.clone(),
    };
    kill_and_resume(&worker, Arc::new(saver)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Steps {
    #[state(add)]
    n: u32,
}

/// A connection killed by the server (`pg_terminate_backend`, as on a restart or failover) in
/// the middle of a run: the run fails with a retryable error or recovers through the pool, and
/// resuming finishes it with nothing committed lost.
#[sqlx::test(migrations = false)]
async fn a_killed_connection_fails_retryably_and_loses_nothing(pool: PgPool) {
    let saver = PostgresSaver::new(pool.clone());
    saver.migrate().await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let killer_pool = pool.clone();
    let r = ran.clone();
    let tick = move |s: Arc<Steps>, _: Context| {
        let (ran, killer) = (r.clone(), killer_pool.clone());
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            if s.n == 5 {
                // Kill every other connection of this database: the saver's pooled ones.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .execute(&killer)
                .await
                .map_err(NodeError::retryable)?;
            }
            Ok(StepsUpdate::default().n(1))
        }
    };
    let g = common::tick_until(tick, |s: &Steps| s.n >= 10);
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(saver)
        .with_durability(Durability::Sync);
    let config = || RunConfig::new().thread_id("t");
    let first = g.invoke(StepsUpdate::default(), config()).await;
    let out = match first {
        Ok(out) => out, // the pool replaced the dead connections in time
        Err(e) => {
            assert!(e.is_retryable(), "a lost connection is retryable: {e}");
            g.invoke(RunInput::Continue, config())
                .await
                .expect("resumes once the server is back")
        }
    };
    assert_eq!(out.state.n, 10);
    assert!(
        ran.load(Ordering::SeqCst) <= 11,
        "at most the interrupted step ran twice"
    );
}
