//! The worker process of `tests/effects.rs` (killed between a post and its result, or raced
//! against another): the shared scenarios of `agentflow_core::testing::effects` on PostgreSQL.
//!
//! `pg_effects_worker <database-url> <vendor> <log> <thread> <start|pause|resume> <sync|async|exit> <reconcile|plain> <after-ms>`

use std::process::ExitCode;
use std::sync::Arc;

use agentflow_postgres::PostgresSaver;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, rest)) = args.split_first() else {
        eprintln!("usage: pg_effects_worker <database-url> <scenario arguments>");
        return ExitCode::from(2);
    };
    let result = async {
        let pool = sqlx::PgPool::connect(url).await?;
        let saver = PostgresSaver::new(pool.clone());
        saver.migrate().await?;
        let state = agentflow_core::testing::effects::worker_main(Arc::new(saver), rest).await;
        pool.close().await;
        state
    }
    .await;
    match result {
        Ok(state) => {
            println!("{state}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pg_effects_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
