//! A stateful fake of Jira Cloud's REST API v3, shared by the tests (one copy).
//!
//! It keeps what it accepted and implements what reconciling relies on: labels on created
//! issues and a JQL search by label (`labels = "..."`), comment entity properties set at
//! creation and returned only with `expand=properties`, statuses moved by transitions. It can
//! stall a write past the tool's timeout (after or before applying it), answer late, or answer
//! 5xx after applying it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How long a stalled write waits: past the tools' timeouts in the tests.
pub const STALL: Duration = Duration::from_secs(3);

/// What the fake does with the next write (a `POST` other than a search).
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Applies the write, then answers after [`STALL`].
    StallAfterApplying,
    /// Answers 504 after [`STALL`], without applying anything.
    StallBeforeApplying,
    /// Applies the write, then answers 502.
    ServerErrorAfterApplying,
    /// Applies nothing and answers 429 with `Retry-After: 86400`.
    RateLimitedForADay,
    /// Applies the write, then answers normally after the given time.
    AnswerAfterApplying(Duration),
}

#[derive(Clone, Debug)]
pub struct Issue {
    pub id: String,
    pub key: String,
    pub summary: String,
    pub labels: Vec<String>,
    pub status: String,
    pub comments: Vec<Comment>,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: String,
    pub text: Value,
    pub properties: Vec<Value>,
}

#[derive(Default)]
pub struct Site {
    pub issues: Vec<Issue>,
    pub next_id: u64,
    pub faults: VecDeque<Fault>,
    /// Every write received: (method, path).
    pub writes: Vec<(String, String)>,
    /// Every JQL received.
    pub searches: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<Site>>);

impl Fake {
    pub fn site<T>(&self, f: impl FnOnce(&mut Site) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    pub fn fail_next_writes(&self, faults: &[Fault]) {
        self.site(|s| s.faults.extend(faults.iter().copied()));
    }

    pub fn seed_issue(&self, status: &str) -> String {
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

    pub fn writes_to(&self, suffix: &str) -> usize {
        self.site(|s| s.writes.iter().filter(|(_, p)| p.ends_with(suffix)).count())
    }
}

pub async fn start_fake() -> (Fake, String) {
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
        Some(Fault::AnswerAfterApplying(wait)) => {
            tokio::time::sleep(wait).await;
            response
        }
        Some(Fault::ServerErrorAfterApplying) => errors(StatusCode::BAD_GATEWAY, "upstream failure"),
        _ => response,
    }
}
