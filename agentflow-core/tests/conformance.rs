//! The checkpointer conformance kit against the in-memory saver.

use std::sync::Arc;

use agentflow_core::checkpoint::InMemorySaver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_saver_passes_the_conformance_kit() {
    agentflow_core::testing::run_all(Arc::new(InMemorySaver::new())).await;
}
