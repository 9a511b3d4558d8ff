#![cfg(feature = "jira")]
//! Exactly-once issues, comments and transitions in Jira when the outcome of a call is unknown.
//!
//! The fake Jira keeps what it accepted and implements what reconciling relies on: labels on
//! created issues and a JQL search by label (`labels = "..."`), comment entity properties set
//! at creation and returned only with `expand=properties`, statuses moved by transitions. It
//! can stall a write past the tool's timeout (after or before applying it) or answer 5xx after
//! applying it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::CancellationToken;
use agentflow_tools::jira::{self, JiraClient, JiraConfig};
use agentflow_tools::{Message, ToolCall, ToolNode, ToolNodeOptions, ToolRegistry};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const TOOL_TIMEOUT: Duration = Duration::from_millis(300);
const STALL: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug)]
enum Fault {
    StallAfterApplying,
    StallBeforeApplying,
    ServerErrorAfterApplying,
    RateLimitedForADay,
}

#[derive(Clone, Debug)]
struct Issue {
    id: String,
    key: String,
    summary: String,
    labels: Vec<String>,
    status: String,
    comments: Vec<Comment>,
}

#[derive(Clone, Debug)]
struct Comment {
    id: String,
    text: Value,
    properties: Vec<Value>,
}

#[derive(Default)]
struct Site {
    issues: Vec<Issue>,
    next_id: u64,
    faults: VecDeque<Fault>,
    /// Every write received: (method, path).
    writes: Vec<(String, String)>,
    /// Every JQL received.
    searches: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Site>>);

impl Fake {
    fn site<T>(&self, f: impl FnOnce(&mut Site) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    fn fail_next_writes(&self, faults: &[Fault]) {
        self.site(|s| s.faults.extend(faults.iter().copied()));
    }

    fn seed_issue(&self, status: &str) -> String {
        self.site(|s| {
            s.next_id += 1;
            let key = format!("ENG-{}", s.next_id);
            s.issues.push(Issue {
                id: (10_000 + s.next_id).to_string(),
                key: key.clone(),
                summary: "seeded".into(),
                labels: Vec::new(),
                status: status.into(),
                comments: Vec::new(),
            });
            key
        })
    }

    fn writes_to(&self, suffix: &str) -> usize {
        self.site(|s| s.writes.iter().filter(|(_, p)| p.ends_with(suffix)).count())
    }
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}"))
}

fn errors(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessages": [message], "errors": {}})),
    )
        .into_response()
}

/// The only JQL the fake understands: `labels = "<label>"`.
fn label_of(jql: &str) -> Option<&str> {
    jql.strip_prefix("labels = \"")?.strip_suffix('"')
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(path) = uri.path().strip_prefix("/rest/api/3/") else {
        return errors(StatusCode::NOT_FOUND, "no such resource");
    };
    let segments: Vec<&str> = path.split('/').collect();
    let fault = if method == Method::POST && segments != ["search", "jql"] {
        fake.site(|s| {
            s.writes.push((method.to_string(), path.to_owned()));
            s.faults.pop_front()
        })
    } else {
        None
    };
    if let Some(Fault::RateLimitedForADay) = fault {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "86400")],
            axum::Json(json!({"errorMessages": ["Rate limit exceeded."], "errors": {}})),
        )
            .into_response();
    }
    if let Some(Fault::StallBeforeApplying) = fault {
        tokio::time::sleep(STALL).await;
        return errors(StatusCode::GATEWAY_TIMEOUT, "timed out");
    }
    let response = match (&method, segments.as_slice()) {
        (&Method::POST, ["issue"]) => fake.site(|s| {
            s.next_id += 1;
            let fields = &body["fields"];
            let issue = Issue {
                id: (10_000 + s.next_id).to_string(),
                key: format!("ENG-{}", s.next_id),
                summary: fields["summary"].as_str().unwrap_or_default().into(),
                labels: serde_json::from_value(fields["labels"].clone()).unwrap_or_default(),
                status: "To Do".into(),
                comments: Vec::new(),
            };
            if issue.labels.iter().any(|l| l.contains(' ')) {
                return errors(StatusCode::BAD_REQUEST, "labels cannot contain spaces");
            }
            let created = json!({"id": issue.id, "key": issue.key, "self": "x"});
            s.issues.push(issue);
            (StatusCode::CREATED, axum::Json(created)).into_response()
        }),
        (&Method::POST, ["search", "jql"]) => fake.site(|s| {
            let jql = body["jql"].as_str().unwrap_or_default().to_owned();
            s.searches.push(jql.clone());
            let Some(label) = label_of(&jql) else {
                return errors(StatusCode::BAD_REQUEST, "the fake only searches by label");
            };
            let hits: Vec<Value> = s
                .issues
                .iter()
                .filter(|i| i.labels.iter().any(|l| l == label))
                .map(|i| json!({"id": i.id, "key": i.key, "fields": {"summary": i.summary}}))
                .collect();
            axum::Json(json!({"issues": hits, "isLast": true})).into_response()
        }),
        (_, ["issue", key, rest @ ..]) => fake.site(|s| {
            let Some(issue) = s.issues.iter_mut().find(|i| i.key == *key) else {
                return errors(StatusCode::NOT_FOUND, "Issue does not exist");
            };
            match (&method, rest) {
                (&Method::GET, []) => axum::Json(json!({
                    "id": issue.id, "key": issue.key,
                    "fields": {"status": {"id": "1", "name": issue.status}}
                }))
                .into_response(),
                (&Method::POST, ["comment"]) => {
                    let id = format!("{}", 20_000 + issue.comments.len());
                    issue.comments.push(Comment {
                        id: id.clone(),
                        text: body["body"].clone(),
                        properties: serde_json::from_value(body["properties"].clone()).unwrap_or_default(),
                    });
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({"id": id, "body": body["body"], "created": "now"})),
                    )
                        .into_response()
                }
                (&Method::GET, ["comment"]) => {
                    let with_properties = query
                        .get("expand")
                        .is_some_and(|e| e.split(',').any(|x| x == "properties"));
                    let newest_first = query.get("orderBy").is_some_and(|o| o == "-created");
                    let mut comments: Vec<Value> = issue
                        .comments
                        .iter()
                        .map(|c| {
                            let mut out = json!({"id": c.id, "body": c.text, "created": "now"});
                            if with_properties {
                                out["properties"] = json!(c.properties);
                            }
                            out
                        })
                        .collect();
                    if newest_first {
                        comments.reverse();
                    }
                    let max: usize = query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(50);
                    comments.truncate(max);
                    axum::Json(json!({"comments": comments, "startAt": 0, "maxResults": max})).into_response()
                }
                (&Method::GET, ["transitions"]) => {
                    // A two-state workflow: "Start" to In Progress, "Stop" back to To Do.
                    let transition = if issue.status == "To Do" {
                        json!({"id": "11", "name": "Start", "to": {"id": "3", "name": "In Progress"}})
                    } else {
                        json!({"id": "21", "name": "Stop", "to": {"id": "1", "name": "To Do"}})
                    };
                    axum::Json(json!({"transitions": [transition]})).into_response()
                }
                (&Method::POST, ["transitions"]) => {
                    let id = body["transition"]["id"].as_str().unwrap_or_default();
                    match (issue.status.as_str(), id) {
                        ("To Do", "11") => issue.status = "In Progress".into(),
                        ("In Progress", "21") => issue.status = "To Do".into(),
                        _ => return errors(StatusCode::BAD_REQUEST, "transition not available"),
                    }
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => errors(StatusCode::NOT_FOUND, "no such resource"),
            }
        }),
        _ => errors(StatusCode::NOT_FOUND, "no such resource"),
    };
    match fault {
        Some(Fault::StallAfterApplying) => {
            tokio::time::sleep(STALL).await;
            response
        }
        Some(Fault::ServerErrorAfterApplying) => errors(StatusCode::BAD_GATEWAY, "upstream failure"),
        _ => response,
    }
}

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
