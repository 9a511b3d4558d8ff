//! Side effects exactly once with real processes on the real server, in every durability mode:
//! a worker killed between a post and its result, or after it, and two workers resuming one
//! paused checkpoint at once (the shared scenarios of `agentflow_core::testing::effects`).

use agentflow_core::Durability;
use agentflow_core::testing::crash::Worker;
use agentflow_core::testing::effects::{
    EffectsWorker, kill_after_result, kill_between_effect_and_result, racing_resumers,
};
use agentflow_postgres::PostgresSaver;
use sqlx::PgPool;

const MODES: [Durability; 3] = [Durability::Sync, Durability::Async, Durability::Exit];

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

/// The schema migrated before any worker starts, and the worker for this test's database.
async fn setup(pool: &PgPool) -> EffectsWorker {
    PostgresSaver::new(pool.clone()).migrate().await.unwrap();
    EffectsWorker {
        program: Worker::example("agentflow-postgres", "pg_effects_worker"),
        saver_args: vec![url_of(pool).await],
        dir: std::env::temp_dir().join(format!("agentflow-pg-effects-{}", uuid::Uuid::new_v4())),
    }
}

#[sqlx::test(migrations = false)]
async fn killed_between_a_post_and_its_result_the_post_is_reconciled(pool: PgPool) {
    let worker = setup(&pool).await;
    for mode in MODES {
        kill_between_effect_and_result(&worker, mode, true).await;
    }
    let _ = std::fs::remove_dir_all(&worker.dir);
}

#[sqlx::test(migrations = false)]
async fn killed_between_a_post_and_its_result_without_a_reconcile_the_post_repeats_with_its_key(
    pool: PgPool,
) {
    let worker = setup(&pool).await;
    for mode in MODES {
        kill_between_effect_and_result(&worker, mode, false).await;
    }
    let _ = std::fs::remove_dir_all(&worker.dir);
}

#[sqlx::test(migrations = false)]
async fn killed_after_a_posts_result_the_post_never_repeats(pool: PgPool) {
    let worker = setup(&pool).await;
    for mode in MODES {
        kill_after_result(&worker, mode).await;
    }
    let _ = std::fs::remove_dir_all(&worker.dir);
}

#[sqlx::test(migrations = false)]
async fn two_processes_resuming_one_paused_checkpoint_post_once(pool: PgPool) {
    let worker = setup(&pool).await;
    for mode in MODES {
        racing_resumers(&worker, mode).await;
    }
    let _ = std::fs::remove_dir_all(&worker.dir);
}
