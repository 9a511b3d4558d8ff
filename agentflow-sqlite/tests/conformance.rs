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

/// Damages the database by raw SQL, for the kit's corruption checks.
struct RawSql(sqlx::SqlitePool);

#[async_trait::async_trait]
impl agentflow_core::testing::corrupt::Damage for RawSql {
    async fn remove_value(&self, thread_id: &str, field: &str, version: u64) {
        sqlx::query("DELETE FROM blobs WHERE thread_id = ?1 AND ns = '' AND channel = ?2 AND version = ?3")
            .bind(thread_id)
            .bind(field)
            .bind(version as i64)
            .execute(&self.0)
            .await
            .unwrap();
    }

    async fn set_base(&self, thread_id: &str, field: &str, version: u64, base: u64) {
        sqlx::query(
            "UPDATE blobs SET base_version = ?4,
                 base_origin = (SELECT origin FROM blobs
                                 WHERE thread_id = ?1 AND ns = '' AND channel = ?2 AND version = ?4)
              WHERE thread_id = ?1 AND ns = '' AND channel = ?2 AND version = ?3",
        )
        .bind(thread_id)
        .bind(field)
        .bind(version as i64)
        .bind(base as i64)
        .execute(&self.0)
        .await
        .unwrap();
    }
}

/// A delta without its base, or a chain that loops, is `CheckpointError::Corrupt` (before, the
/// field was logged and left out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_delta_chains_are_corrupt_errors() {
    let db = TempDb::new("corrupt");
    let saver = SqliteSaver::open(db.path()).await.unwrap();
    agentflow_core::testing::corrupt::run_all(&saver, &RawSql(saver.pool().clone())).await;
    saver.close().await;
}
