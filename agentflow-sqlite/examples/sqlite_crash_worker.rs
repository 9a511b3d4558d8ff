//! The worker process of `tests/crash.rs` (killed mid-superstep, then resumed): the shared crash
//! scenario of `agentflow_core::testing::crash` on a SQLite file.
//!
//! `sqlite_crash_worker <db> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>`

use std::process::ExitCode;
use std::sync::Arc;

use agentflow_sqlite::SqliteSaver;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((db, rest)) = args.split_first() else {
        eprintln!(
            "usage: sqlite_crash_worker <db> <exec-log> <effects-log> <thread> <start|resume> <slow-ms>"
        );
        return ExitCode::from(2);
    };
    let result = async {
        let saver = SqliteSaver::open(db).await?;
        let state = agentflow_core::testing::crash::worker_main(Arc::new(saver.clone()), rest).await?;
        saver.close().await;
        Ok::<_, agentflow_core::BoxError>(state)
    }
    .await;
    match result {
        Ok(state) => {
            println!("{state}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sqlite_crash_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
