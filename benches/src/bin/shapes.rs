//! Runs the benchmark shapes of `benches/SHAPES.md` and prints one line per shape:
//! `name<TAB>median_ms<TAB>min_ms`.
//!
//! ```text
//! cargo run --release -p agentflow-benches --bin shapes -- [--runs N] [--only name1,name2] [--database-url URL]
//! ```
//!
//! For each shape: compile the graph and build the input (untimed), run once to verify the counts
//! of BENCHMARKS.md (reported on stderr), one warm-up run, then N timed runs. Everything runs on
//! one multi-thread tokio runtime, inside a spawned task (a worker thread, where a server runs its
//! graphs), not on the thread blocked in `block_on`.
//!
//! Exit codes: 0 on success, 1 when a shape fails or its counts are wrong, 2 on bad arguments.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use agentflow_benches::registry::{self, Bench, Env, NOT_YET_IMPLEMENTED, Shape};

const USAGE: &str = "usage: shapes [--runs N] [--only name1,name2] [--interleave] [--database-url URL]

  --runs N             timed runs per shape, after one warm-up (default 5; BENCHMARKS.md asks
                       for at least 5)
  --only a,b           run only these shapes (comma-separated)
  --interleave         time the shapes in rounds (one run of each per round) rather than one
                       shape after the other, so that a ratio between two shapes sees the same
                       machine noise on both sides (shapes that report their own figure, the
                       PostgreSQL ones, still run alone)
  --database-url URL   PostgreSQL for the persistence shapes (pg_loop_200, pg_concurrent_8x200,
                       storage_growth_1000), which run only when it is given
  -h, --help           this help

Prints name<TAB>median_ms<TAB>min_ms per shape on stdout; verified counts go to stderr.";

struct Args {
    runs: usize,
    interleave: bool,
    only: Option<Vec<String>>,
    database_url: Option<String>,
}

/// Parses the arguments; `Err` holds the message to print (usage errors exit 2).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        runs: 5,
        interleave: false,
        only: None,
        database_url: None,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--runs" => {
                let v = value("--runs")?;
                parsed.runs = match v.parse::<usize>() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("--runs takes a whole number >= 1, got {v:?}")),
                };
            }
            "--only" => {
                let names: Vec<String> = value("--only")?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    return Err("--only needs at least one shape name".into());
                }
                parsed.only = Some(names);
            }
            "--interleave" => parsed.interleave = true,
            "--database-url" => parsed.database_url = Some(value("--database-url")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

/// The shapes `--only` selects, in registry order, or why the selection is invalid.
fn select(all: Vec<Shape>, only: Option<&[String]>) -> Result<Vec<Shape>, String> {
    let Some(only) = only else { return Ok(all) };
    let mut problems = Vec::new();
    for name in only {
        if all.iter().any(|s| s.name == name) {
            continue;
        }
        if NOT_YET_IMPLEMENTED.contains(&name.as_str()) {
            problems.push(format!(
                "shape {name:?} is specified in BENCHMARKS.md but not implemented yet"
            ));
        } else {
            problems.push(format!("unknown shape {name:?}"));
        }
    }
    if !problems.is_empty() {
        let known: Vec<&str> = all.iter().map(|s| s.name).collect();
        return Err(format!(
            "{}\nimplemented shapes: {}",
            problems.join("\n"),
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|s| only.iter().any(|n| n == s.name))
        .collect())
}

/// The median (mean of the middle two for an even count, as Python's `statistics.median`) and
/// the minimum.
fn median_min(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    (median, times[0])
}

/// A shape compiled, verified and warmed up, or the figure it measured itself.
enum Ready {
    Timed(Box<dyn Bench>),
    Measured(f64),
}

async fn prepare(shape: Shape, env: Env) -> Result<Ready, String> {
    let fail = |e: agentflow_benches::BenchError| format!("{}: {e}", shape.name);
    let bench = (shape.prepare)(&env).map_err(fail)?;
    let description = bench.verify().await.map_err(fail)?;
    eprintln!("# {}: verified {description}", shape.name);
    if let Some(figure) = bench.measure().await.map_err(fail)? {
        return Ok(Ready::Measured(figure));
    }
    bench.run().await.map_err(fail)?; // warm-up
    Ok(Ready::Timed(bench))
}

/// One timed run, in milliseconds.
async fn time_one(name: &str, bench: &dyn Bench) -> Result<f64, String> {
    let started = Instant::now();
    bench.run().await.map_err(|e| format!("{name}: {e}"))?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Times `shapes`: each one's runs in a row, or, interleaved, one run of each per round.
/// Returns (median, min) per shape, in order.
async fn bench_all(
    shapes: Vec<Shape>,
    runs: usize,
    interleave: bool,
    env: Env,
) -> Result<Vec<(f64, f64)>, String> {
    // Shapes timed together, in rounds: all of them, or one at a time.
    let groups: Vec<Vec<Shape>> = if interleave {
        vec![shapes]
    } else {
        shapes.into_iter().map(|shape| vec![shape]).collect()
    };
    let mut results = Vec::new();
    for group in groups {
        let mut ready = Vec::with_capacity(group.len());
        for shape in &group {
            ready.push(prepare(*shape, env.clone()).await?);
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); group.len()];
        for _ in 0..runs {
            for ((shape, bench), times) in group.iter().zip(&ready).zip(&mut times) {
                if let Ready::Timed(bench) = bench {
                    times.push(time_one(shape.name, &**bench).await?);
                }
            }
        }
        results.extend(ready.iter().zip(times).map(|(bench, times)| match bench {
            Ready::Measured(figure) => (*figure, *figure),
            Ready::Timed(_) => median_min(times),
        }));
    }
    Ok(results)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let selected = match select(registry::shapes(), args.only.as_deref()) {
        Ok(selected) => selected,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if args.runs < 5 {
        eprintln!(
            "# note: {} timed run(s); BENCHMARKS.md asks for at least 5",
            args.runs
        );
    }
    let env = Env {
        database_url: args.database_url.clone(),
    };
    let selected: Vec<Shape> = if args.only.is_some() {
        if env.database_url.is_none()
            && let Some(shape) = selected.iter().find(|s| s.needs_database)
        {
            eprintln!("error: shape {:?} needs --database-url", shape.name);
            return ExitCode::from(2);
        }
        selected
    } else {
        selected
            .into_iter()
            .filter(|s| !s.needs_database || env.database_url.is_some())
            .collect()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let names: Vec<&str> = selected.iter().map(|s| s.name).collect();
        // On a worker thread, as a graph runs inside a server's task (and as LangGraph's bench
        // runs on its event loop), not on the thread blocked in `block_on`.
        let results = match tokio::spawn(bench_all(selected, args.runs, args.interleave, env)).await {
            Ok(Ok(results)) => results,
            Ok(Err(message)) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("error: the benchmark task failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut stdout = std::io::stdout();
        for (name, (median, min)) in names.iter().zip(results) {
            let _ = writeln!(stdout, "{name}\t{median:.3}\t{min:.3}");
        }
        let _ = stdout.flush();
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_runs_only_and_database_url() {
        let args = parse(&[
            "--runs",
            "7",
            "--only=sequential_10, concurrent_10k",
            "--database-url",
            "pg://x",
        ])
        .expect("valid")
        .expect("not help");
        assert_eq!(args.runs, 7);
        assert_eq!(
            args.only.as_deref(),
            Some(&["sequential_10".to_owned(), "concurrent_10k".to_owned()][..])
        );
        assert_eq!(args.database_url.as_deref(), Some("pg://x"));
        assert_eq!(parse(&[]).expect("valid").expect("not help").runs, 5);
        assert!(parse(&["--help"]).expect("valid").is_none());
        assert!(
            parse(&["--interleave"])
                .expect("valid")
                .expect("not help")
                .interleave
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &["--runs"][..],
            &["--runs", "0"],
            &["--runs", "x"],
            &["--only", ","],
            &["--frobnicate"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn selects_known_shapes_and_names_the_unknown_ones() {
        let picked = select(
            registry::shapes(),
            Some(&["concurrent_10k".into(), "sequential_10".into()]),
        )
        .expect("known");
        let names: Vec<&str> = picked.iter().map(|s| s.name).collect();
        assert_eq!(names, ["sequential_10", "concurrent_10k"]);
        let picked = select(registry::shapes(), Some(&["react_agent_10x".into()])).expect("known");
        assert_eq!(picked.len(), 1);
        let err = select(
            registry::shapes(),
            Some(&["nope".into(), "react_agent_10x".into()]),
        )
        .err()
        .expect("refused");
        assert!(err.contains("unknown shape \"nope\""), "{err}");
        assert!(!err.contains("react_agent_10x\""), "{err}");
    }

    #[test]
    fn median_is_pythons() {
        assert_eq!(median_min(vec![3.0, 1.0, 2.0]), (2.0, 1.0));
        assert_eq!(median_min(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0));
    }
}
