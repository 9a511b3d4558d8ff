//! PostgresSaver against the real server: the conformance kit, migrations, and the engine's
//! durability scenarios. Each test gets its own database (`#[sqlx::test]`, DATABASE_URL).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, ListOptions, SaverMaintenance};
use agentflow_core::{
    Command, Context, Durability, NodeError, RunConfig, RunInput, START, State, StateGraph,
};
use agentflow_postgres::{PostgresError, PostgresSaver};
use sqlx::PgPool;

mod common;

async fn saver(pool: PgPool) -> PostgresSaver {
    let saver = PostgresSaver::new(pool);
    saver.migrate().await.expect("migrates");
    saver
}

#[sqlx::test(migrations = false)]
async fn passes_the_conformance_kit(pool: PgPool) {
    agentflow_core::testing::run_all(Arc::new(saver(pool).await)).await;
}

#[sqlx::test(migrations = false)]
async fn migrations_are_idempotent_and_safe_when_processes_race(pool: PgPool) {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let saver = PostgresSaver::new(pool.clone()).schema("raced").unwrap();
        tasks.push(tokio::spawn(async move { saver.migrate().await }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.unwrap().expect("every racer succeeds");
    }
    assert_eq!(applied, 6, "each migration applied once, by one of the racers");
    let again = PostgresSaver::new(pool.clone()).schema("raced").unwrap();
    assert_eq!(again.migrate().await.unwrap(), 0);
    sqlx::query("INSERT INTO raced.migrations (version, name) VALUES (999, 'future')")
        .execute(&pool)
        .await
        .unwrap();
    let err = again.migrate().await.unwrap_err();
    assert!(
        matches!(err, PostgresError::NewerSchema { found: 999, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn schema_names_are_validated() {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://localhost/x")
        .unwrap();
    for bad in ["", "Upper", "1abc", "a;drop table x", "a-b"] {
        let err = PostgresSaver::new(pool.clone()).schema(bad).unwrap_err();
        assert!(matches!(err, PostgresError::InvalidSchema(_)), "{bad}");
    }
    assert!(PostgresSaver::new(pool).schema("tenant_7").is_ok());
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Log {
    #[state(append)]
    log: Vec<String>,
}

#[sqlx::test(migrations = false)]
async fn a_failed_sibling_resumes_alone_and_a_journaled_step_runs_once(pool: PgPool) {
    let saver = saver(pool).await;
    let calls = Arc::new(AtomicU32::new(0));
    let posts = Arc::new(AtomicU32::new(0));
    let (c, p) = (calls.clone(), posts.clone());
    let mut g = StateGraph::<Log>::new();
    g.add_node("ok", |_, _| async {
        Ok(LogUpdate::default().log(vec!["ok".into()]))
    });
    g.add_node("flaky", move |_, ctx| {
        let (calls, posts) = (c.clone(), p.clone());
        async move {
            let ts: String = ctx
                .step("post", |_| async move {
                    posts.fetch_add(1, Ordering::SeqCst);
                    Ok("ts-1".to_string())
                })
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(NodeError::terminal("boom"));
            }
            Ok(LogUpdate::default().log(vec![ts]))
        }
    });
    g.add_edge(START, "ok");
    g.add_edge(START, "flaky");
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(saver.clone())
        .with_durability(Durability::Sync);
    let config = || RunConfig::new().thread_id("t");
    assert!(g.invoke(LogUpdate::default(), config()).await.is_err());
    let out = g.invoke(RunInput::Continue, config()).await.unwrap();
    assert_eq!(out.state.log, ["ts-1", "ok"], "merged in node order: flaky, ok");
    assert_eq!(
        posts.load(Ordering::SeqCst),
        1,
        "the journaled post happened once"
    );
    let history = saver
        .list(Some(&CheckpointRef::latest("t")), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 3, "input, step 0, final");
}

#[sqlx::test(migrations = false)]
async fn interrupts_resume_across_saver_instances(pool: PgPool) {
    let build = |saver: PostgresSaver| {
        let mut g = StateGraph::<Log>::new();
        g.add_node("ask", |_, ctx| async move {
            let answer: String = ctx.interrupt("approve?")?;
            Ok(LogUpdate::default().log(vec![answer]))
        });
        g.add_edge(START, "ask");
        g.compile().unwrap().with_checkpointer(saver)
    };
    let first = build(saver(pool.clone()).await);
    let out = first
        .invoke(LogUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.interrupts[0].value, "approve?");
    // Another process, another pool: the pause is in the database.
    let second = build(PostgresSaver::new(pool));
    let out = second
        .invoke(Command::resume("yes"), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.state.log, ["yes"]);
}

#[sqlx::test(migrations = false)]
async fn two_runs_on_one_thread_exactly_one_wins(pool: PgPool) {
    let saver = saver(pool).await;
    let mut g = StateGraph::<Log>::new();
    g.add_node("slow", |_, _| async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Ok(LogUpdate::default().log(vec!["slow".into()]))
    });
    g.add_node("after", |_, _| async { Ok(()) });
    g.add_sequence([START, "slow", "after"]);
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(saver)
        .with_durability(Durability::Sync);
    g.invoke(LogUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    let (a, b) = (g.clone(), g.clone());
    let one = tokio::spawn(async move {
        a.invoke(LogUpdate::default(), RunConfig::new().thread_id("t"))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let two = tokio::spawn(async move {
        b.invoke(LogUpdate::default(), RunConfig::new().thread_id("t"))
            .await
    });
    let results = [one.await.unwrap(), two.await.unwrap()];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert_eq!(
        results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| e.is_conflict()))
            .count(),
        1
    );
}

#[sqlx::test(migrations = false)]
async fn two_processes_resuming_one_thread_exactly_one_proceeds(pool: PgPool) {
    let build = |saver: PostgresSaver| {
        let mut g = StateGraph::<Log>::new();
        g.add_node("gate", |_, ctx| async move {
            let _: bool = ctx.interrupt("go?")?;
            Ok(LogUpdate::default().log(vec!["gate".into()]))
        });
        g.add_node("work", |_, _| async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            Ok(LogUpdate::default().log(vec!["work".into()]))
        });
        g.add_sequence([START, "gate", "work"]);
        g.compile()
            .unwrap()
            .with_checkpointer(saver)
            .with_durability(Durability::Sync)
    };
    let setup = build(saver(pool.clone()).await);
    setup
        .invoke(LogUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    // Two "processes": separate pools and savers on the same database.
    let (a, b) = (
        build(PostgresSaver::new(pool.clone())),
        build(PostgresSaver::new(pool.clone())),
    );
    let one = tokio::spawn(async move {
        a.invoke(Command::resume(true), RunConfig::new().thread_id("t"))
            .await
    });
    let two = tokio::spawn(async move {
        b.invoke(Command::resume(true), RunConfig::new().thread_id("t"))
            .await
    });
    let results = [one.await.unwrap(), two.await.unwrap()];
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        results
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(ok[0].state.log, ["gate", "work"]);
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:?}")))
        .collect();
    // The loser either raced the winner to the same checkpoint (Conflict at its first write) or
    // arrived after the winner answered the interrupt (nothing left to resume).
    let refused = |e: &agentflow_core::GraphError| {
        e.is_conflict() || matches!(e, agentflow_core::GraphError::InvalidResume(_))
    };
    assert!(
        results.iter().any(|r| r.as_ref().is_err_and(refused)),
        "the other is refused: {errors:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn the_ttl_sweep_deletes_idle_threads_only(pool: PgPool) {
    let saver = saver(pool.clone()).await;
    let mut g = StateGraph::<Log>::new();
    g.add_node("note", |_, _| async {
        Ok(LogUpdate::default().log(vec!["n".into()]))
    });
    g.add_edge(START, "note");
    let g = g.compile().unwrap().with_checkpointer(saver.clone());
    for thread in ["old", "fresh"] {
        g.invoke(LogUpdate::default(), RunConfig::new().thread_id(thread))
            .await
            .unwrap();
    }
    assert!(
        saver.stored_bytes("old").await.unwrap() > 0,
        "stored_bytes counts the thread's rows"
    );
    // Age one thread by a day.
    sqlx::query(
        "UPDATE agentflow.checkpoints SET created_at = now() - interval '1 day' WHERE thread_id = 'old'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let swept = saver
        .sweep_idle(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(
        saver.stored_bytes("old").await.unwrap(),
        0,
        "a swept thread stores nothing"
    );
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest("old"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest("fresh"))
            .await
            .unwrap()
            .is_some()
    );
    let blobs: i64 = sqlx::query_scalar("SELECT count(*) FROM agentflow.blobs WHERE thread_id = 'old'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(blobs, 0, "its values went too");
}

/// Behind a transaction-pooling proxy no statement may rely on session state: the saver then
/// uses unnamed statements only, and still passes the whole kit, in its own schema.
#[sqlx::test(migrations = false)]
async fn passes_the_conformance_kit_without_prepared_statements(pool: PgPool) {
    let saver = PostgresSaver::new(pool)
        .schema("pooled")
        .unwrap()
        .pgbouncer_compatible(true);
    saver.migrate().await.unwrap();
    agentflow_core::testing::run_all(Arc::new(saver)).await;
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Ticks {
    #[state(add)]
    n: u32,
}

/// The saver keeps the connection of its last write for the next one (sqlx pings every
/// connection handed back to its pool), but never all of the pool's connections, and hands
/// them back once idle.
#[sqlx::test(migrations = false)]
async fn kept_connections_leave_one_for_others_and_go_back_when_idle(pool: PgPool) {
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let saver = saver(small.clone()).await;
    let g = common::tick_until(
        |_: Arc<Ticks>, _: Context| async { Ok(TicksUpdate::default().n(1)) },
        |s: &Ticks| s.n >= 20,
    );
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(saver)
        .with_durability(Durability::Sync);
    let out = g
        .invoke(TicksUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.state.n, 20);
    // Right after the run, someone else sharing the pool gets a connection at once.
    let other = tokio::time::timeout(std::time::Duration::from_millis(500), small.acquire())
        .await
        .expect("the saver leaves a connection to others")
        .unwrap();
    drop(other);
    // Once idle, the kept connection goes back to the pool.
    let mut back = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if small.num_idle() as u32 == small.size() {
            back = true;
            break;
        }
    }
    assert!(back, "idle: {} of {}", small.num_idle(), small.size());
    // The graph (and its saver) is still alive: the connection was returned, not dropped.
    assert!(g.get_state("t").await.unwrap().is_some());
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    #[state(add)]
    n: u32,
    #[state(append)]
    log: Vec<String>,
}

/// Reads every checkpoint of `thread` and checks each state is whole: `n` entries in the log.
async fn history_is_whole(g: &agentflow_core::CompiledGraph<Journal>, thread: &str) -> usize {
    let history = g
        .get_state_history(thread, &ListOptions::default())
        .await
        .unwrap();
    for snapshot in &history {
        let Journal { n, log } = &snapshot.values;
        assert_eq!(log.len(), *n as usize, "{:?}", snapshot.config);
        assert!(
            log.iter()
                .enumerate()
                .all(|(i, entry)| *entry == format!("entry {i:>10}"))
        );
    }
    history.len()
}

/// Small values ride in the checkpoint row (no `blobs` row per version of a counter); an append
/// field that starts small moves to `blobs` for its delta chain; rows written before the
/// `inline` column existed still read.
#[sqlx::test(migrations = false)]
async fn small_values_ride_in_the_checkpoint_row(pool: PgPool) {
    let g = common::tick_until(
        |s: Arc<Journal>, _: Context| async move {
            Ok(JournalUpdate::default()
                .n(1)
                .log(vec![format!("entry {:>10}", s.n)]))
        },
        |s: &Journal| s.n >= 12,
    );
    let g = g
        .compile()
        .unwrap()
        .with_checkpointer(saver(pool.clone()).await)
        .with_durability(Durability::Sync);
    let out = g
        .invoke(JournalUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.state.n, 12);
    let counted = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(
        counted("SELECT count(*) FROM agentflow.blobs WHERE channel = 'n'").await,
        0
    );
    assert!(counted("SELECT count(*) FROM agentflow.blobs WHERE channel = 'log'").await > 0);
    assert!(counted("SELECT count(*) FROM agentflow.checkpoints WHERE inline ? 'n'").await >= 12);
    let checkpoints = history_is_whole(&g, "t").await;
    assert!(checkpoints >= 13, "{checkpoints}");

    // The layout before the `inline` column: every value in `blobs`.
    sqlx::query(
        "INSERT INTO agentflow.blobs (thread_id, ns, channel, version, blob)
         SELECT c.thread_id, c.ns, e.key, split_part(e.value, ':', 1)::bigint,
                decode(split_part(e.value, ':', 2), 'hex')
         FROM agentflow.checkpoints c, jsonb_each_text(c.inline) e
         ON CONFLICT DO NOTHING",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE agentflow.checkpoints SET inline = NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(history_is_whole(&g, "t").await, checkpoints);
    // And a run goes on from such a row.
    let out = g
        .invoke(JournalUpdate::default(), RunConfig::new().thread_id("t"))
        .await
        .unwrap();
    assert_eq!(out.state.n, 13);
    history_is_whole(&g, "t").await;
}
