//! Each shape does exactly the work BENCHMARKS.md specifies: its counts match the spec (and
//! LangGraph's run of the same shape).

use agentflow_benches::registry::{self, NOT_YET_IMPLEMENTED};
use agentflow_benches::{concurrent, fanout, react, sequential, wide_state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_10_runs_10_steps_and_10_update_events() {
    let graph = sequential::build(10).expect("compiles");
    let counts = sequential::run(&graph).await.expect("runs");
    assert_eq!(counts.steps, 10);
    assert_eq!(counts.update_events, 10);
    assert_eq!(counts.messages, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_1000_runs_1000_steps_and_1000_update_events() {
    let graph = sequential::build(1000).expect("compiles");
    let counts = sequential::run(&graph).await.expect("runs");
    assert_eq!(counts.steps, 1000);
    assert_eq!(counts.update_events, 1000);
    sequential::verify(&graph, 1000).await.expect("verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_state_25x300_counts() {
    let size = wide_state::SIZE_25X300;
    let graph = wide_state::build(size.n).expect("compiles");
    let counts = wide_state::run(&graph, &wide_state::input(size))
        .await
        .expect("runs");
    assert_eq!(counts.steps, 30);
    assert_eq!(counts.update_events, 36);
    assert_eq!(counts.messages, 595);
    assert_eq!(counts.trigger_events, 277);
    assert_eq!(counts.categorizations, 406);
    assert_eq!(counts.responses, 406);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_state_15x600_counts() {
    let size = wide_state::SIZE_15X600;
    let graph = wide_state::build(size.n).expect("compiles");
    let counts = wide_state::run(&graph, &wide_state::input(size))
        .await
        .expect("runs");
    assert_eq!(counts.steps, 35);
    assert_eq!(counts.update_events, 42);
    assert_eq!(counts.messages, 1873);
    assert_eq!(counts.trigger_events, 872);
    assert_eq!(counts.categorizations, 1278);
    assert_eq!(counts.responses, 1278);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_state_9x1200_counts() {
    let size = wide_state::SIZE_9X1200;
    let graph = wide_state::build(size.n).expect("compiles");
    let counts = wide_state::run(&graph, &wide_state::input(size))
        .await
        .expect("runs");
    assert_eq!(counts.steps, 35);
    assert_eq!(counts.update_events, 42);
    assert_eq!(counts.messages, 1873);
    assert_eq!(counts.trigger_events, 872);
    assert_eq!(counts.categorizations, 1278);
    assert_eq!(counts.responses, 1278);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_state_merges_by_each_fields_rule() {
    use wide_state::Val;
    let size = wide_state::SIZE_25X300;
    let graph = wide_state::build(size.n).expect("compiles");
    let input = wide_state::input(size);
    let doc = wide_state::input_doc(size.i, size.j);
    let mut events = graph.stream(
        input,
        agentflow_benches::run_config(),
        agentflow_benches::StreamMode::Updates,
    );
    while let Some(event) = futures::StreamExt::next(&mut events).await {
        event.expect("no error");
    }
    let s = events.into_output().expect("output").state;
    // Every list element is the input document, shared rather than copied.
    let Val::Map(shared) = &s.messages[0] else {
        panic!("messages[0] is a map")
    };
    for list in [&s.messages, &s.trigger_events, &s.categorizations, &s.responses] {
        assert!(
            list.iter()
                .all(|v| matches!(v, Val::Map(m) if std::sync::Arc::ptr_eq(m, shared)))
        );
    }
    assert_eq!(s.messages[0], doc);
    assert_eq!(s.autoresponse, doc);
    assert_eq!(s.issue, doc);
    assert_eq!(s.user_info, doc);
    assert_eq!(s.crm_info, doc);
    assert_eq!(s.relevant_rules.as_deref(), Some(&[doc.clone()][..]));
    assert_eq!(s.memory_docs.as_ref().map(Vec::len), Some(s.trigger_events.len()));
    let Val::Map(doc_map) = &doc else {
        panic!("the input document is a map")
    };
    assert_eq!(&s.slack_participants, &**doc_map);
    assert_eq!(&s.notified_assignees, &**doc_map);
    assert_eq!(s.primary_issue_medium.len(), 300);
    assert!(s.primary_issue_medium.bytes().all(|b| b.is_ascii_lowercase()));
    assert_eq!(s.email_thread_id.as_ref().map(String::len), Some(300));
    assert_eq!(s.bot_id.as_ref().map(String::len), Some(300));
    // The input document: 5 outer keys of 5 inner keys, each a 25-element list.
    assert_eq!(doc_map.len(), 5);
    let Val::Map(inner) = &doc_map["0000000000"] else {
        panic!("inner map")
    };
    assert_eq!(inner.len(), 5);
    let Val::List(row) = &inner["4444444444"] else {
        panic!("inner list")
    };
    assert_eq!(row.len(), 25);
    assert_eq!(row[0], Val::Str("hi?hi?hi?hi?hi?hi?hi?hi?hi?hi?".into()));
    assert_eq!(row[3], Val::Int(6_327_816_386_138));
    assert_eq!(row[24], Val::Null);
}

fn check_fanout(counts: &fanout::Counts, n: usize) {
    assert_eq!(counts.update_events, n, "one root update event per subject");
    assert_eq!(counts.steps, 1, "one root superstep of n Send tasks");
    assert_eq!(counts.jokes, n);
    assert_eq!(counts.well_formed_jokes, n, "every joke ends with ' a' ten times");
    assert_eq!(counts.first_joke_len, 5040, "same joke length as LangGraph's run");
    assert_eq!(
        counts.subgraph_update_events, 0,
        "subgraph events stream only when asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_subgraphs_run_twelve_nodes_each() {
    let graph = fanout::build().expect("compiles");
    let modes = agentflow_core::StreamModes::from(agentflow_core::StreamMode::Updates).with_subgraphs();
    let counts = fanout::run_with(&graph, &fanout::input(3), modes)
        .await
        .expect("runs");
    assert_eq!(counts.update_events, 3);
    assert_eq!(counts.subgraph_update_events, 36, "12 node runs per subgraph");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_to_subgraph_10x_counts() {
    let graph = fanout::build().expect("compiles");
    let counts = fanout::run(&graph, &fanout::input(10)).await.expect("runs");
    check_fanout(&counts, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_to_subgraph_100x_counts() {
    let graph = fanout::build().expect("compiles");
    let counts = fanout::run(&graph, &fanout::input(100)).await.expect("runs");
    check_fanout(&counts, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_jokes_render_the_subject_list_like_python() {
    let graph = fanout::build().expect("compiles");
    let subject: fanout::SubjectList = ["x", "y", "z"].map(String::from).into();
    let input = fanout::OverallUpdate::default().subjects(vec![subject]);
    let out = graph
        .invoke(input, agentflow_benches::run_config())
        .await
        .expect("runs");
    assert_eq!(
        out.state.jokes,
        [format!(
            "Joke about ['x', 'y', 'z'] - hohoho{}",
            fanout::joke_suffix()
        )]
    );
}

#[test]
fn subject_renders_like_python_str_of_a_list() {
    let list = fanout::Subject::List(["a", "it's", "\\"].map(String::from).into());
    assert_eq!(list.to_string(), r#"['a', "it's", '\\']"#);
    let subjects = fanout::subjects(2);
    assert_eq!(subjects.len(), 2);
    for s in &subjects {
        assert_eq!(s.len(), 1000);
        assert!(
            s.iter()
                .all(|c| c.len() == 1 && c.bytes().all(|b| b.is_ascii_lowercase()))
        );
        assert_eq!(fanout::Subject::List(s.clone()).to_string().len(), 5000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn react_agent_10x_runs_21_steps_and_ends_with_22_messages() {
    let graph = react::build(10).expect("compiles");
    let counts = react::run(&graph).await.expect("runs");
    assert_eq!(counts.steps, 21, "agent x11, tools x10");
    assert_eq!(counts.update_events, 21);
    assert_eq!(counts.messages, 22);
    assert_eq!(counts.tool_results, 10);
    assert!(counts.answered);
    // The scripted model starts over: a second run on the same graph does the same work.
    assert_eq!(react::run(&graph).await.expect("runs again"), counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn react_agent_100x_runs_201_steps_and_ends_with_202_messages() {
    let graph = react::build(100).expect("compiles");
    let counts = react::run(&graph).await.expect("runs");
    assert_eq!(counts, react::Counts::expected(100));
    assert_eq!((counts.steps, counts.messages), (201, 202));
}

/// The checkpointed agent does the same work and writes one checkpoint per run (durability
/// exit) whose messages decode back into the typed messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn react_agent_checkpoint_variants_store_the_final_messages() {
    use agentflow_core::checkpoint::ListOptions;
    let graph = agentflow_benches::checkpointed(react::build(10).expect("compiles"));
    let counts = react::run(&graph).await.expect("runs");
    assert_eq!(counts, react::Counts::expected(10));
    let saver = graph.checkpointer().expect("has a saver");
    let all = saver.list(None, &ListOptions::default()).await.expect("lists");
    assert_eq!(all.len(), 2, "exit mode: the fence and the final checkpoint");
    let state = graph
        .get_state(&all[0].config)
        .await
        .expect("reads")
        .expect("exists")
        .values;
    assert_eq!(state.messages.len(), 22);
    assert_eq!(state.messages[0].content(), "hi?");
    assert_eq!(state.messages[2].content().len(), react::TOOL_RESULT_LEN);
    assert_eq!(state.messages[21].content(), react::final_answer());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_500_every_trail_is_abc() {
    let graph = concurrent::build().expect("compiles");
    let counts = concurrent::run(&graph, 500).await.expect("runs");
    assert_eq!(counts.invocations, 500);
    assert_eq!(counts.correct_trails, 500);
    assert_eq!(
        concurrent::invoke_one(&graph, 7).await.expect("runs"),
        ["a", "b", "c"]
    );
}

#[test]
fn registry_names_are_unique_and_disjoint_from_the_unimplemented_ones() {
    let names: Vec<&str> = registry::shapes().iter().map(|s| s.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    assert!(names.iter().all(|n| !NOT_YET_IMPLEMENTED.contains(n)));
    assert_eq!(
        names,
        [
            "sequential_10",
            "sequential_1000",
            "wide_state_25x300",
            "wide_state_15x600",
            "wide_state_9x1200",
            "wide_state_25x300_checkpoint",
            "wide_state_15x600_checkpoint",
            "wide_state_9x1200_checkpoint",
            "fanout_to_subgraph_10x",
            "fanout_to_subgraph_100x",
            "fanout_to_subgraph_10x_checkpoint",
            "fanout_to_subgraph_100x_checkpoint",
            "react_agent_10x",
            "react_agent_100x",
            "react_agent_10x_checkpoint",
            "react_agent_100x_checkpoint",
            "pg_loop_200",
            "pg_concurrent_8x200",
            "storage_growth_1000",
            "concurrent_10k",
        ]
    );
}

/// The `_checkpoint` variants do the same work and write two checkpoints per run (durability
/// exit: the run's fence, put before any node runs, and the final state): the shared lists come
/// back shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_variants_write_a_fence_and_the_final_state() {
    use agentflow_core::checkpoint::ListOptions;
    let graph =
        agentflow_benches::checkpointed(wide_state::build(wide_state::SIZE_25X300.n).expect("compiles"));
    let counts = wide_state::run(&graph, &wide_state::input(wide_state::SIZE_25X300))
        .await
        .expect("runs");
    assert_eq!(
        (counts.update_events, counts.steps, counts.messages),
        (36, 30, 595)
    );
    let saver = graph.checkpointer().expect("has a saver");
    let all = saver.list(None, &ListOptions::default()).await.expect("lists");
    assert_eq!(all.len(), 2, "exit mode: the fence and the final checkpoint");
    let thread = &all[0].config;
    let state = graph
        .get_state(thread)
        .await
        .expect("reads")
        .expect("exists")
        .values;
    assert_eq!(state.messages.len(), 595);
    let first = &state.messages[0];
    assert!(
        state.messages.iter().all(|m| m == first),
        "every message is the input document, decoded back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_verifies_every_shape_but_concurrent_10k() {
    // The persistence shapes run against the test server (DATABASE_URL, set in .cargo/config.toml).
    let env = registry::Env {
        database_url: Some(std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests")),
    };
    for shape in registry::shapes().iter().filter(|s| s.name != "concurrent_10k") {
        let bench = (shape.prepare)(&env).expect("prepares");
        bench
            .verify()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", shape.name));
        bench
            .run()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", shape.name));
    }
}
