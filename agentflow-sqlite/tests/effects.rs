//! Side effects exactly once with real processes on a SQLite file, in every durability mode:
//! a worker killed between a post and its result, or after it, and two workers resuming one
//! paused checkpoint at once (the shared scenarios of `agentflow_core::testing::effects`).

mod common;

use agentflow_core::Durability;
use agentflow_core::testing::crash::Worker;
use agentflow_core::testing::effects::{
    EffectsWorker, kill_after_result, kill_between_effect_and_result, racing_resumers,
};
use agentflow_sqlite::SqliteSaver;
use common::TempDb;

const MODES: [Durability; 3] = [Durability::Sync, Durability::Async, Durability::Exit];

/// A database (migrated before any worker opens it) and the worker that uses it.
async fn setup(label: &str) -> (TempDb, EffectsWorker) {
    let db = TempDb::new(label);
    SqliteSaver::open(db.path()).await.unwrap().close().await;
    let worker = EffectsWorker {
        program: Worker::example("agentflow-sqlite", "sqlite_effects_worker"),
        saver_args: vec![db.path().display().to_string()],
        dir: db.sibling(".logs"),
    };
    (db, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_a_post_and_its_result_the_post_is_reconciled() {
    let (db, worker) = setup("effects-reconcile").await;
    for mode in MODES {
        kill_between_effect_and_result(&worker, mode, true).await;
    }
    let _ = std::fs::remove_dir_all(db.sibling(".logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_a_post_and_its_result_without_a_reconcile_the_post_repeats_with_its_key() {
    let (db, worker) = setup("effects-plain").await;
    for mode in MODES {
        kill_between_effect_and_result(&worker, mode, false).await;
    }
    let _ = std::fs::remove_dir_all(db.sibling(".logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_a_posts_result_the_post_never_repeats() {
    let (db, worker) = setup("effects-after").await;
    for mode in MODES {
        kill_after_result(&worker, mode).await;
    }
    let _ = std::fs::remove_dir_all(db.sibling(".logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_resuming_one_paused_checkpoint_post_once() {
    let (db, worker) = setup("effects-race").await;
    for mode in MODES {
        racing_resumers(&worker, mode).await;
    }
    let _ = std::fs::remove_dir_all(db.sibling(".logs"));
}
