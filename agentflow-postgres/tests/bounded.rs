//! Damaged data and bounded resources against the real server: delta chains that lost their
//! base or loop are `Corrupt` errors (found by a bounded query), statements run under a timeout
//! that never leaks into the shared pool, `list` reads in a bounded number of queries with a
//! default limit, and the saver and store together leave part of a shared pool to its other
//! users. Each test gets its own database (`#[sqlx::test]`, DATABASE_URL).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentflow_core::checkpoint::{
    CheckpointError, CheckpointRef, Checkpointer, Corruption, ListOptions, PendingWrite,
};
use agentflow_core::store::{PutOptions, Store, namespace};
use agentflow_core::testing::corrupt::Damage;
use agentflow_core::{CompiledGraph, Context, Durability, GraphError, RunConfig, RunInput, State};
use agentflow_postgres::{DEFAULT_LIST_LIMIT, PostgresSaver, PostgresStore};
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};
use tracing::instrument::WithSubscriber;

mod common;

async fn saver(pool: PgPool) -> PostgresSaver {
    let saver = PostgresSaver::new(pool);
    saver.migrate().await.expect("migrates");
    saver
}

/// Damages the saver's tables by raw SQL (values live in `blobs`, small ones also inline in
/// the checkpoint rows).
struct RawSql(PgPool);

#[async_trait::async_trait]
impl Damage for RawSql {
    async fn remove_value(&self, thread_id: &str, field: &str, version: u64) {
        sqlx::query(
            "DELETE FROM agentflow.blobs WHERE thread_id = $1 AND ns = '' AND channel = $2 AND version = $3",
        )
        .bind(thread_id)
        .bind(field)
        .bind(version as i64)
        .execute(&self.0)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE agentflow.checkpoints SET inline = inline - $2
              WHERE thread_id = $1 AND ns = '' AND split_part(inline ->> $2, ':', 1) = $3::text",
        )
        .bind(thread_id)
        .bind(field)
        .bind(version.to_string())
        .execute(&self.0)
        .await
        .unwrap();
    }

    async fn set_base(&self, thread_id: &str, field: &str, version: u64, base: u64) {
        let done = sqlx::query(
            "UPDATE agentflow.blobs SET base_version = $4
              WHERE thread_id = $1 AND ns = '' AND channel = $2 AND version = $3",
        )
        .bind(thread_id)
        .bind(field)
        .bind(version as i64)
        .bind(base as i64)
        .execute(&self.0)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1, "the value to damage is in blobs");
    }
}

/// A delta whose base is gone is `Corrupt(MissingDeltaBase)` (before, the deepest delta was
/// silently read as the full value); a chain that loops is `Corrupt(DeltaChainLoops)` from a
/// query with a depth bound (before, the recursive query never ended).
#[sqlx::test(migrations = false)]
async fn damaged_delta_chains_are_corrupt_errors(pool: PgPool) {
    let saver = saver(pool.clone()).await;
    agentflow_core::testing::corrupt::run_all(&saver, &RawSql(pool)).await;
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Ticks {
    #[state(add)]
    n: u32,
    #[state(append)]
    log: Vec<String>,
}

/// Runs `steps` supersteps on `thread`: one checkpoint each, with an append field in `blobs`.
async fn run_steps(saver: PostgresSaver, thread: &str, steps: u32) {
    ticks(saver, steps)
        .invoke(
            TicksUpdate::default(),
            RunConfig::new()
                .thread_id(thread)
                .recursion_limit(steps as usize + 10),
        )
        .await
        .unwrap();
}

/// A graph that ticks `steps` times, each adding to `n` and `log`.
fn ticks(saver: PostgresSaver, steps: u32) -> CompiledGraph<Ticks> {
    common::tick_until(
        |_: Arc<Ticks>, _: Context| async { Ok(TicksUpdate::default().n(1).log(vec!["x".repeat(100)])) },
        move |s: &Ticks| s.n >= steps,
    )
    .compile()
    .unwrap()
    .with_checkpointer(saver)
    .with_durability(Durability::Sync)
}

/// A hostile journal index written through the saver's own `put_writes`, and a damaged inline
/// value, are `Corrupt` errors that name the thread and the checkpoint (before: the index
/// panicked with a capacity overflow; the inline value was a `Backend` error naming neither).
#[sqlx::test(migrations = false)]
async fn hostile_rows_are_corrupt_errors(pool: PgPool) {
    let saver = saver(pool.clone()).await;
    let g = ticks(saver.clone(), 1);
    g.invoke(TicksUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    let latest = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    let id = latest.config.checkpoint_id.clone().unwrap();
    let hostile = PendingWrite {
        task_id: "task-x".into(),
        task_path: "tick".into(),
        channel: "__step__:charge".into(),
        idx: 9_000_000_000_000_000_000,
        value: b"1".to_vec(),
    };
    saver.put_writes(&latest.config, &[hostile]).await.unwrap();
    for read in [
        g.get_state(&latest.config).await.map(drop),
        g.invoke(RunInput::Continue, RunConfig::new().thread_id("t"))
            .await
            .map(drop),
    ] {
        match read {
            Err(GraphError::Checkpoint(CheckpointError::Corrupt {
                thread_id,
                checkpoint_id,
                problem: Corruption::OutOfRange { value, .. },
            })) => {
                assert_eq!((thread_id.as_str(), checkpoint_id.as_str()), ("t", id.as_str()));
                assert_eq!(value, "9000000000000000000");
            }
            other => panic!("expected Corrupt(OutOfRange), got {other:?}"),
        }
    }
    sqlx::query("UPDATE agentflow.checkpoints SET inline = '{\"n\": \"x:01\"}' WHERE thread_id = 't' AND checkpoint_id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let read = saver.get_tuple(&CheckpointRef::latest("t")).await;
    assert!(
        matches!(
            &read,
            Err(CheckpointError::Corrupt { problem: Corruption::Unreadable { what, .. }, .. })
                if what.contains("`n`")
        ),
        "{read:?}"
    );
}

/// Counts the statements sqlx runs (its `sqlx::query` events) in the future it is attached to.
struct CountQueries(Arc<AtomicUsize>);

impl tracing::Subscriber for CountQueries {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// `list` without a limit returns `DEFAULT_LIST_LIMIT` checkpoints, and reads them, their
/// values and their writes in a bounded number of statements (before: no limit, and 1 + 2N
/// statements).
#[sqlx::test(migrations = false)]
async fn list_has_a_default_limit_and_a_bounded_number_of_queries(pool: PgPool) {
    let saver = saver(pool).await;
    let steps = DEFAULT_LIST_LIMIT as u32 + 5;
    run_steps(saver.clone(), "t", steps).await;
    let queries = Arc::new(AtomicUsize::new(0));
    // The subscriber goes with the future, whichever worker thread polls it.
    let listed = saver
        .list(Some(&CheckpointRef::latest("t")), &ListOptions::default())
        .with_subscriber(CountQueries(queries.clone()))
        .await
        .unwrap();
    assert_eq!(listed.len(), DEFAULT_LIST_LIMIT);
    let ran = queries.load(Ordering::SeqCst);
    assert!(
        (3..=5).contains(&ran),
        "{ran} statements for a list of {}",
        listed.len()
    );
    // Every listed checkpoint has the value of each of its fields.
    for tuple in &listed {
        let cp = &tuple.checkpoint;
        assert!(
            cp.channel_versions
                .keys()
                .all(|f| cp.channel_values.contains_key(f))
        );
        assert!(cp.channel_values.contains_key("log"));
    }
    // Asked for, more come back.
    let all = saver
        .list(
            Some(&CheckpointRef::latest("t")),
            &ListOptions {
                limit: Some(usize::MAX),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(all.len() > DEFAULT_LIST_LIMIT, "{}", all.len());
}

/// A connection outside the pool, holding `LOCK TABLE ... ACCESS EXCLUSIVE` on `tables` until
/// it is dropped: every statement on them waits.
async fn lock_tables(pool: &PgPool, tables: &str) -> PgConnection {
    let mut locker = PgConnection::connect_with(&pool.connect_options()).await.unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute(format!("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE").as_str())
        .await
        .unwrap();
    locker
}

/// What `SHOW statement_timeout` says on a connection of `pool`.
async fn pool_statement_timeout(pool: &PgPool) -> String {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// A statement that waits past the saver's timeout is cancelled with a retryable error
/// (before, it waited as long as the lock was held). The timeout is the saver's own: on a pool
/// of one connection (so that every check sees the connection the saver used), the pool's
/// other users find the server's setting after a cancelled statement, after the saver's kept
/// connection went back, and after a statement dropped mid-way.
#[sqlx::test(migrations = false)]
async fn statements_run_under_a_timeout_that_stays_out_of_the_pool(pool: PgPool) {
    let one = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let server_default = pool_statement_timeout(&one).await;
    let saver = saver(one.clone())
        .await
        .statement_timeout(Some(Duration::from_millis(300)));
    run_steps(saver.clone(), "t", 2).await;
    let locker = lock_tables(&pool, "agentflow.checkpoints").await;
    let started = Instant::now();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        saver.get_tuple(&CheckpointRef::latest("t")),
    )
    .await
    .expect("the statement timeout cancels the read");
    let error = read.expect_err("cancelled");
    assert!(error.is_retryable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pool_statement_timeout(&one).await, server_default);

    // Dropped while it waits: the connection is closed, not handed back with the setting.
    let waiting = tokio::spawn({
        let saver = saver.clone().statement_timeout(Some(Duration::from_secs(20)));
        async move { saver.get_tuple(&CheckpointRef::latest("t")).await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    drop(locker);
    assert_eq!(pool_statement_timeout(&one).await, server_default);

    // Kept between statements, then handed back once idle: reset.
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest("t"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(pool_statement_timeout(&one).await, server_default);
}

/// The saver and the store each used to take connections from a shared pool without a bound:
/// blocked together, they held all of it and the application's own queries timed out. Now
/// they share one budget below the pool's size: with both saturated, a third user still gets a
/// connection at once.
#[sqlx::test(migrations = false)]
async fn saver_and_store_leave_part_of_a_shared_pool_to_others(pool: PgPool) {
    let shared = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(20))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let saver = saver(shared.clone()).await;
    let store = PostgresStore::new(shared.clone());
    run_steps(saver.clone(), "t", 1).await;
    let ns = namespace(["memories"]);
    store
        .put(&ns, "k", serde_json::json!({"v": 1}), PutOptions::new())
        .await
        .unwrap();
    // Every statement of the saver and the store now waits for the lock.
    let locker = lock_tables(&pool, "agentflow.checkpoints, agentflow.store").await;
    let mut blocked = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let saver = saver.clone();
        blocked.spawn(async move {
            saver
                .get_tuple(&CheckpointRef::latest("t"))
                .await
                .map(|t| t.is_some())
                .map_err(|e| e.to_string())
        });
        let (store, ns) = (store.clone(), ns.clone());
        blocked.spawn(async move {
            store
                .get(&ns, "k")
                .await
                .map(|i| i.is_some())
                .map_err(|e| e.to_string())
        });
    }
    // Let them take every connection they can.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = tokio::time::timeout(Duration::from_secs(2), shared.acquire()).await;
    let mut conn = third
        .expect("a third user of the pool gets a connection while saver and store are saturated")
        .unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);
    drop(locker);
    while let Some(done) = blocked.join_next().await {
        assert_eq!(done.unwrap(), Ok(true));
    }
}
