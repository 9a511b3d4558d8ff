//! The worker process of `tests/effects.rs` (killed between a post and its result, or raced
//! against another): the shared scenarios of `agentflow_core::testing::effects` on a SQLite file.
//!
//! `sqlite_effects_worker <db> <vendor> <log> <thread> <start|pause|resume> <sync|async|exit> <reconcile|plain> <after-ms>`

use std::process::ExitCode;
use std::sync::Arc;

use agentflow_sqlite::SqliteSaver;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((db, rest)) = args.split_first() else {
        eprintln!("usage: sqlite_effects_worker <db> <scenario arguments>");
        return ExitCode::from(2);
    };
    let result = async {
        let saver = SqliteSaver::open(db).await?;
        let state = agentflow_core::testing::effects::worker_main(Arc::new(saver.clone()), rest).await;
        saver.close().await;
        state
    }
    .await;
    match result {
        Ok(state) => {
            println!("{state}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sqlite_effects_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
