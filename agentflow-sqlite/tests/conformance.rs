//! The checkpointer conformance kit, on a database file and in memory.

mod common;

use std::sync::Arc;

use agentflow_sqlite::SqliteSaver;
use common::TempDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_database_file() {
    let db = TempDb::new("conformance");
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    agentflow_core::testing::run_all(Arc::new(saver.clone())).await;
    saver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_in_memory() {
    let saver = SqliteSaver::in_memory().await.unwrap();
    agentflow_core::testing::run_all(Arc::new(saver)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_when_reopened_by_url() {
    let db = TempDb::new("conformance-url");
    let url = format!("sqlite://{}", db.path().display());
    let first = SqliteSaver::connect(&url).await.unwrap();
    first.close().await;
    let saver = SqliteSaver::connect(&url).await.unwrap();
    assert_eq!(
        saver.schema_version().await.unwrap(),
        agentflow_sqlite::SCHEMA_VERSION
    );
    agentflow_core::testing::run_all(Arc::new(saver.clone())).await;
    saver.close().await;
}
