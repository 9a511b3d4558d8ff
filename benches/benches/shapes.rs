//! Criterion benches for three of the shapes of `benches/SHAPES.md`: `sequential_1000`,
//! `wide_state_25x300` and `fanout_to_subgraph_10x`. Each graph is compiled and its input built
//! once; each iteration is one run streamed in updates mode with a fresh thread id, every event
//! drained. As in the `shapes` binary, the runs happen inside a task spawned on a multi-thread
//! tokio runtime (a worker thread, where a server runs its graphs), not on the thread blocked in
//! `block_on`.
//!
//! Run: `cargo bench -p agentflow-benches --bench shapes`

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use agentflow_benches::{fanout, sequential, wide_state};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Benches `run` by timing `iters` consecutive runs inside one task on a worker thread.
fn bench_on_worker<F, Fut>(c: &mut Criterion, rt: &Runtime, name: &str, run: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future + Send,
{
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let run = run.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        black_box(run().await);
                    }
                    started.elapsed()
                })
                .await
                .unwrap_or_else(|e| panic!("bench task failed: {e}"))
            })
        })
    });
}

fn shapes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let graph = sequential::build(1000).expect("sequential_1000 compiles");
    bench_on_worker(c, &rt, "sequential_1000", move || {
        let graph = graph.clone();
        async move { sequential::run(&graph).await.expect("sequential_1000 runs") }
    });

    let size = wide_state::SIZE_25X300;
    let graph = wide_state::build(size.n).expect("wide_state_25x300 compiles");
    let input = wide_state::input(size);
    bench_on_worker(c, &rt, "wide_state_25x300", move || {
        let (graph, input) = (graph.clone(), input.clone());
        async move {
            wide_state::run(&graph, &input)
                .await
                .expect("wide_state_25x300 runs")
        }
    });

    let graph = fanout::build().expect("fanout_to_subgraph compiles");
    let input = fanout::input(10);
    bench_on_worker(c, &rt, "fanout_to_subgraph_10x", move || {
        let (graph, input) = (graph.clone(), input.clone());
        async move {
            fanout::run(&graph, &input)
                .await
                .expect("fanout_to_subgraph_10x runs")
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = shapes
}
criterion_main!(benches);
