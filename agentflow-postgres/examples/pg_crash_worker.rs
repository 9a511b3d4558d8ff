//! The worker process of `tests/crash.rs` (killed mid-superstep, then resumed): the shared crash
//! scenario of `agentflow_core::testing::crash` on PostgreSQL.
//!
//! `pg_crash_worker <database-url> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>`

use std::process::ExitCode;
use std::sync::Arc;

use agentflow_postgres::PostgresSaver;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((url, rest)) = args.split_first() else {
        eprintln!(
            "usage: pg_crash_worker <database-url> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>"
        );
        return ExitCode::from(2);
    };
    let result = async {
        let pool = sqlx::PgPool::connect(url).await?;
        let saver = PostgresSaver::new(pool.clone());
        saver.migrate().await?;
        let state = agentflow_core::testing::crash::worker_main(Arc::new(saver), rest).await?;
        pool.close().await;
        Ok::<_, agentflow_core::BoxError>(state)
    }
    .await;
    match result {
        Ok(state) => {
            println!("{state}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pg_crash_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
