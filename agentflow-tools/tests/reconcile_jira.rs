#![cfg(feature = "jira")]
//! Exactly-once issues, comments and transitions in Jira when the outcome of a call is unknown.
//!
//! Against the stateful fake Jira of `fakes/jira.rs`.

mod fakes;

use std::time::Duration;

use agentflow_core::CancellationToken;
use agentflow_tools::jira::{self, JiraClient, JiraConfig};
use agentflow_tools::{Message, ToolCall, ToolNode, ToolNodeOptions, ToolRegistry};
use fakes::jira::{Fault, start_fake};
use serde_json::{Value, json};

const TOOL_TIMEOUT: Duration = Duration::from_millis(300);

fn node(base: &str) -> ToolNode {
    let config = JiraConfig::new(base, "agent@example.com", "token")
        .unwrap()
        .with_timeout(Duration::from_secs(10));
    let mut tools = ToolRegistry::new();
    jira::register(&mut tools, JiraClient::new(config).unwrap());
    let options = ToolNodeOptions {
        timeout: Some(TOOL_TIMEOUT),
        retry: ToolNodeOptions::default_retry()
            .max_attempts(3)
            .initial_interval(Duration::from_millis(10)),
        ..ToolNodeOptions::default()
    };
    ToolNode::new(tools, options)
}

async fn run(node: &ToolNode, name: &str, args: Value, key: &str) -> Message {
    let call = ToolCall::new("call_1", name, args);
    node.execute(&call, key.into(), CancellationToken::new()).await
}

fn output(message: &Message) -> Value {
    serde_json::from_str(message.content()).unwrap_or_else(|_| panic!("not a success: {}", message.content()))
}

async fn assert_created_once_despite(fault: Fault) {
    let (fake, base) = start_fake().await;
    fake.fail_next_writes(&[fault]);
    let node = node(&base);
    let args = json!({"project_key": "ENG", "summary": "Rotate the keys", "labels": ["ops"]});
    let answer = run(&node, "jira_create_issue", args, "0f3a:call_1").await;
    let issues = fake.site(|s| s.issues.clone());
    assert_eq!(
        issues.len(),
        1,
        "{fault:?}: {issues:#?}; answer: {}",
        answer.content()
    );
    assert_eq!(issues[0].labels, ["ops", "agentflow-0f3a_3acall_5f1"]);
    assert_eq!(output(&answer)["key"], issues[0].key);
    assert_eq!(
        fake.writes_to("issue"),
        1,
        "{fault:?}: created again after finding it"
    );
    let searches = fake.site(|s| s.searches.clone());
    assert_eq!(searches, [r#"labels = "agentflow-0f3a_3acall_5f1""#]);
}

#[tokio::test]
async fn an_issue_create_that_stalls_after_jira_created_it_is_created_once() {
    assert_created_once_despite(Fault::StallAfterApplying).await;
}

#[tokio::test]
async fn an_issue_create_answered_with_a_5xx_after_jira_created_it_is_created_once() {
    assert_created_once_despite(Fault::ServerErrorAfterApplying).await;
}

#[tokio::test]
async fn an_issue_create_that_never_reached_jira_is_sent_again_with_the_same_label() {
    let (fake, base) = start_fake().await;
    fake.fail_next_writes(&[Fault::StallBeforeApplying]);
    let node = node(&base);
    let args = json!({"project_key": "ENG", "summary": "Rotate the keys"});
    let answer = run(&node, "jira_create_issue", args, "k2").await;
    let issues = fake.site(|s| s.issues.clone());
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].labels, ["agentflow-k2"]);
    assert_eq!(output(&answer)["key"], issues[0].key);
    assert_eq!(fake.writes_to("issue"), 2);
}

#[tokio::test]
async fn a_comment_that_stalls_after_jira_stored_it_is_added_once() {
    for fault in [Fault::StallAfterApplying, Fault::ServerErrorAfterApplying] {
        let (fake, base) = start_fake().await;
        let key = fake.seed_issue("To Do");
        fake.fail_next_writes(&[fault]);
        let node = node(&base);
        let args = json!({"issue_key": key, "body": "On it."});
        let answer = run(&node, "jira_add_comment", args, "k3").await;
        let comments = fake.site(|s| s.issues[0].comments.clone());
        assert_eq!(
            comments.len(),
            1,
            "{fault:?}: {comments:#?}; {}",
            answer.content()
        );
        assert_eq!(
            comments[0].properties,
            [json!({"key": "agentflow_effect", "value": {"key": "k3"}})]
        );
        assert_eq!(output(&answer)["comment_id"], comments[0].id);
        assert_eq!(fake.writes_to("comment"), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_transition_to_a_status_that_stalls_after_jira_applied_it_is_taken_once() {
    let (fake, base) = start_fake().await;
    let key = fake.seed_issue("To Do");
    fake.fail_next_writes(&[Fault::StallAfterApplying]);
    let node = node(&base);
    let args = json!({"issue_key": key, "transition": "In Progress"});
    let answer = run(&node, "jira_transition_issue", args, "k4").await;
    assert_eq!(output(&answer)["transition"]["to_status"], "In Progress");
    assert_eq!(fake.site(|s| s.issues[0].status.clone()), "In Progress");
    assert_eq!(fake.writes_to("transitions"), 1);
}

#[tokio::test]
async fn a_crashed_comment_is_resumed_from_jira_not_added_again() {
    let (fake, base) = start_fake().await;
    let key = fake.seed_issue("To Do");
    let node = node(&base);
    let call = ToolCall::new(
        "call_9",
        "jira_add_comment",
        json!({"issue_key": key, "body": "Done."}),
    );
    let first = node.execute(&call, "k5".into(), CancellationToken::new()).await;
    let resumed = node
        .resume_call(&call, "k5".into(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(output(&resumed)["comment_id"], output(&first)["comment_id"]);
    assert_eq!(fake.writes_to("comment"), 1);
}

#[tokio::test]
async fn jiras_retry_after_of_a_day_is_capped_by_the_tool_node() {
    let (fake, base) = start_fake().await;
    fake.fail_next_writes(&[Fault::RateLimitedForADay]);
    let plain = node(&base);
    let mut options = plain.options().clone();
    options.retry = options.retry.max_retry_after(Duration::from_millis(200));
    let node = ToolNode::new(plain.tools().clone(), options);
    let args = json!({"project_key": "ENG", "summary": "Rotate the keys"});
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        run(&node, "jira_create_issue", args, "k429"),
    )
    .await
    .expect("the tool node honoured Retry-After: 86400 uncapped");
    assert_eq!(output(&answer)["key"], fake.site(|s| s.issues[0].key.clone()));
    assert_eq!(fake.site(|s| s.issues.len()), 1);
    assert!(
        fake.site(|s| s.searches.is_empty()),
        "a rate limit is not ambiguous"
    );
}
