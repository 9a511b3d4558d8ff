//! A real crash: a worker process is killed (SIGKILL) mid-superstep, then a new process resumes
//! the thread from the SQLite file (the shared scenario of `agentflow_core::testing::crash`).

mod common;

use std::sync::Arc;

use agentflow_core::testing::crash::{Worker, kill_and_resume};
use agentflow_sqlite::SqliteSaver;
use common::TempDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_superstep_resumes_without_repeating_finished_work() {
    let db = TempDb::new("crash");
    // The worker opens (and creates) the database too: the observer must not race its
    // migrations, so open first.
    let observer = SqliteSaver::open(db.path()).await.unwrap();
    let worker = Worker {
        program: Worker::example("agentflow-sqlite", "sqlite_crash_worker"),
        saver_args: vec![db.path().display().to_string()],
        dir: db.sibling(".logs"),
    };
    kill_and_resume(&worker, Arc::new(observer.clone())).await;
    observer.close().await;
    let _ = std::fs::remove_dir_all(db.sibling(".logs"));
}
