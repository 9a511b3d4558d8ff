#![cfg(feature = "slack")]
//! Exactly-once posting to Slack when the outcome of a post is unknown.
//!
//! Against the stateful fake Web API of `fakes/slack.rs`.

mod fakes;

use std::time::Duration;

use agentflow_core::CancellationToken;
use agentflow_tools::slack::{self, SlackClient};
use agentflow_tools::{Message, ToolCall, ToolNode, ToolNodeOptions, ToolRegistry};
use fakes::slack::{CHANNEL, Fake, Fault, Stored, start_fake};
use serde_json::{Value, json};

/// The tool node's per-attempt timeout; a stalled post outlasts it.
const TOOL_TIMEOUT: Duration = Duration::from_millis(300);

fn node(base: &str) -> ToolNode {
    let client = SlackClient::builder("xoxb-test")
        .base_url(base)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tools = ToolRegistry::new();
    slack::register(&mut tools, client);
    let options = ToolNodeOptions {
        timeout: Some(TOOL_TIMEOUT),
        retry: ToolNodeOptions::default_retry()
            .max_attempts(3)
            .initial_interval(Duration::from_millis(10)),
        ..ToolNodeOptions::default()
    };
    ToolNode::new(tools, options)
}

fn post_call(args: Value) -> ToolCall {
    ToolCall::new("call_1", "slack_post_message", args)
}

async fn run(node: &ToolNode, call: &ToolCall, key: &str) -> Message {
    node.execute(call, key.into(), CancellationToken::new()).await
}

/// The `ts` the tool message reports.
fn reported_ts(message: &Message) -> String {
    let value: Value = serde_json::from_str(message.content())
        .unwrap_or_else(|_| panic!("not a success: {}", message.content()));
    value["ts"].as_str().unwrap().to_owned()
}

/// The one stored message, checked to carry `key` in its metadata.
fn only_message(fake: &Fake, key: &str) -> Stored {
    let stored = fake.stored();
    assert_eq!(stored.len(), 1, "expected exactly one message, got {stored:#?}");
    let message = stored.into_iter().next().unwrap();
    assert_eq!(
        message.metadata,
        Some(json!({"event_type": "agentflow_effect", "event_payload": {"key": key}}))
    );
    message
}

async fn assert_posted_once_despite(fault: Fault) {
    let (fake, base) = start_fake().await;
    fake.seed("someone else's message", None);
    fake.fail_next_posts(&[fault]);
    let node = node(&base);
    let call = post_call(json!({"channel": CHANNEL, "text": "Deploy finished"}));
    let answer = run(&node, &call, "key-1").await;
    let stored: Vec<Stored> = fake
        .stored()
        .into_iter()
        .filter(|m| m.metadata.is_some())
        .collect();
    assert_eq!(
        stored.len(),
        1,
        "{fault:?}: {stored:#?}; answer: {}",
        answer.content()
    );
    assert_eq!(reported_ts(&answer), stored[0].ts, "{fault:?}");
    assert_eq!(
        fake.posts().len(),
        1,
        "{fault:?}: posted again after finding the message"
    );
    let (method, query) = fake.reads().pop().expect("a reconciling read");
    assert_eq!(method, "conversations.history");
    assert_eq!(
        query.get("include_all_metadata").map(String::as_str),
        Some("true")
    );
}

#[tokio::test]
async fn a_post_that_stalls_after_slack_stored_it_is_posted_once() {
    assert_posted_once_despite(Fault::StallAfterStoring).await;
}

#[tokio::test]
async fn a_post_answered_with_a_5xx_after_slack_stored_it_is_posted_once() {
    assert_posted_once_despite(Fault::ServerErrorAfterStoring).await;
}

#[tokio::test]
async fn a_post_whose_connection_drops_after_slack_stored_it_is_posted_once() {
    assert_posted_once_despite(Fault::DropAfterStoring).await;
}

#[tokio::test]
async fn a_post_failing_with_internal_error_after_slack_stored_it_is_posted_once() {
    assert_posted_once_despite(Fault::InternalErrorAfterStoring).await;
}

#[tokio::test]
async fn a_thread_reply_that_stalls_is_found_in_its_thread() {
    let (fake, base) = start_fake().await;
    let parent = fake.seed("the parent", None);
    fake.seed("an earlier reply", Some(&parent));
    fake.fail_next_posts(&[Fault::StallAfterStoring]);
    let node = node(&base);
    let call = post_call(json!({"channel": CHANNEL, "text": "on it", "thread_ts": parent}));
    let answer = run(&node, &call, "key-thread").await;
    let ours: Vec<Stored> = fake
        .stored()
        .into_iter()
        .filter(|m| m.metadata.is_some())
        .collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    assert_eq!(ours[0].thread_ts.as_deref(), Some(parent.as_str()));
    assert_eq!(reported_ts(&answer), ours[0].ts);
    let (method, query) = fake.reads().pop().unwrap();
    assert_eq!(method, "conversations.replies");
    assert_eq!(query.get("ts"), Some(&parent));
}

#[tokio::test]
async fn a_post_that_never_reached_slack_is_sent_again_with_the_same_key() {
    let (fake, base) = start_fake().await;
    fake.fail_next_posts(&[Fault::StallBeforeStoring]);
    let node = node(&base);
    let call = post_call(json!({"channel": CHANNEL, "text": "hello"}));
    let answer = run(&node, &call, "key-2").await;
    let message = only_message(&fake, "key-2");
    assert_eq!(reported_ts(&answer), message.ts);
    let posts = fake.posts();
    assert_eq!(posts.len(), 2, "one stalled post, one after finding nothing");
    assert_eq!(posts[0]["metadata"], posts[1]["metadata"]);
    assert_eq!(
        fake.reads().len(),
        1,
        "one reconciling read between the two posts"
    );
}

#[tokio::test]
async fn another_calls_message_is_not_taken_for_ours() {
    let (fake, base) = start_fake().await;
    let node = node(&base);
    let call = post_call(json!({"channel": CHANNEL, "text": "same text"}));
    run(&node, &call, "key-a").await;
    fake.fail_next_posts(&[Fault::StallBeforeStoring]);
    let answer = run(&node, &call, "key-b").await;
    let stored = fake.stored();
    assert_eq!(stored.len(), 2, "{stored:#?}");
    assert_eq!(reported_ts(&answer), stored[1].ts);
}

#[tokio::test]
async fn the_lookback_bounds_the_reconciling_read() {
    let (fake, base) = start_fake().await;
    let client = SlackClient::builder("xoxb-test").base_url(&base).build().unwrap();
    let tool = slack::PostMessageTool::new(client).reconcile_lookback(3);
    let call = slack::PostMessageArgs {
        channel: CHANNEL.into(),
        text: "x".into(),
        thread_ts: None,
        blocks: None,
    };
    for i in 0..10 {
        fake.seed(&format!("m{i}"), None);
    }
    use agentflow_tools::{Tool, ToolContext};
    let found = tool.reconcile(call, ToolContext::new("absent")).await.unwrap();
    assert!(found.is_none());
    let reads = fake.reads();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].1.get("limit").map(String::as_str), Some("3"));
}

#[tokio::test]
async fn a_crashed_post_is_resumed_from_slack_not_posted_again() {
    let (fake, base) = start_fake().await;
    let node = node(&base);
    let call = post_call(json!({"channel": CHANNEL, "text": "posted before the crash"}));
    // The first run posted, and the process died before the result was saved.
    let first = run(&node, &call, "key-crash").await;
    let resumed = node
        .resume_call(&call, "key-crash".into(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(reported_ts(&resumed), reported_ts(&first));
    assert_eq!(fake.posts().len(), 1);
    // A call that never ran is run on resume.
    let other = post_call(json!({"channel": CHANNEL, "text": "never posted"}));
    let resumed = node
        .resume_call(&other, "key-never".into(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(fake.posts().len(), 2);
    assert_eq!(reported_ts(&resumed), fake.stored()[1].ts);
}

#[tokio::test]
async fn slacks_retry_after_of_a_day_is_capped_by_the_tool_node() {
    let (fake, base) = start_fake().await;
    fake.fail_next_posts(&[Fault::RateLimitedForADay]);
    let mut node = node(&base);
    let mut options = node.options().clone();
    options.retry = options.retry.max_retry_after(Duration::from_millis(200));
    node = ToolNode::new(node.tools().clone(), options);
    let call = post_call(json!({"channel": CHANNEL, "text": "hello"}));
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), run(&node, &call, "key-429"))
        .await
        .expect("the tool node honoured Retry-After: 86400 uncapped");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(reported_ts(&answer), only_message(&fake, "key-429").ts);
    assert_eq!(
        fake.reads().len(),
        0,
        "a rate limit is not ambiguous: nothing to reconcile"
    );
}
