//! A stateful fake of the Slack Web API, shared by the tests (one copy).
//!
//! It keeps the messages it accepted and implements what reconciling relies on:
//! `chat.postMessage` stores the message's `metadata`, and `conversations.history` /
//! `conversations.replies` return it only when asked with `include_all_metadata=true`. It can
//! misbehave after (or before) storing a post: stall past the tool's timeout, answer late,
//! answer 5xx, or drop the connection without answering.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The one channel the fake knows (any id starting with `C` is accepted).
pub const CHANNEL: &str = "C0123456789";
/// How long a stalled post waits: past the tools' timeouts in the tests.
pub const STALL: Duration = Duration::from_secs(3);

/// What the fake does with the next `chat.postMessage`.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Stores the message, then answers only after the tool's timeout.
    StallAfterStoring,
    /// Answers only after the tool's timeout, without storing anything.
    StallBeforeStoring,
    /// Stores the message, then answers HTTP 500.
    ServerErrorAfterStoring,
    /// Stores the message, then closes the connection without an answer.
    DropAfterStoring,
    /// Stores the message, then answers `{"ok": false, "error": "internal_error"}`.
    InternalErrorAfterStoring,
    /// Stores nothing and answers 429 with `Retry-After: 86400`.
    RateLimitedForADay,
    /// Stores the message, then answers normally after the given time.
    AnswerAfterStoring(Duration),
}

#[derive(Clone, Debug)]
pub struct Stored {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub metadata: Option<Value>,
}

#[derive(Default)]
pub struct Workspace {
    pub messages: Vec<Stored>,
    pub next_ts: u64,
    pub faults: VecDeque<Fault>,
    /// Every `chat.postMessage` body received.
    pub posts: Vec<Value>,
    /// The query of every read.
    pub reads: Vec<(String, HashMap<String, String>)>,
}

#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<Workspace>>);

impl Fake {
    pub fn stored(&self) -> Vec<Stored> {
        self.0.lock().unwrap().messages.clone()
    }

    pub fn posts(&self) -> Vec<Value> {
        self.0.lock().unwrap().posts.clone()
    }

    pub fn reads(&self) -> Vec<(String, HashMap<String, String>)> {
        self.0.lock().unwrap().reads.clone()
    }

    pub fn fail_next_posts(&self, faults: &[Fault]) {
        self.0.lock().unwrap().faults.extend(faults.iter().copied());
    }

    /// Adds a message as if someone else had posted it (no metadata).
    pub fn seed(&self, text: &str, thread_ts: Option<&str>) -> String {
        let mut ws = self.0.lock().unwrap();
        let ts = next_ts(&mut ws);
        ws.messages.push(Stored {
            channel: CHANNEL.into(),
            ts: ts.clone(),
            text: text.into(),
            thread_ts: thread_ts.map(str::to_owned),
            metadata: None,
        });
        ts
    }
}

fn next_ts(ws: &mut Workspace) -> String {
    ws.next_ts += 1;
    format!("1700000000.{:06}", ws.next_ts)
}

pub async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/api/{method}", axum::routing::any(handle))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}/api/"))
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn fail(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

/// A stored message as the read methods return it: the metadata only when asked for.
fn render(message: &Stored, with_metadata: bool) -> Value {
    let mut out = json!({"type": "message", "bot_id": "B0BOT", "text": message.text, "ts": message.ts});
    if let Some(thread_ts) = &message.thread_ts {
        out["thread_ts"] = json!(thread_ts);
    }
    if with_metadata && let Some(metadata) = &message.metadata {
        out["metadata"] = metadata.clone();
    }
    out
}

/// One page of `messages` by `limit` and an offset cursor.
fn page(messages: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let start: usize = query.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = (start + limit).min(messages.len());
    let next = if end < messages.len() {
        end.to_string()
    } else {
        String::new()
    };
    ok(json!({
        "messages": messages.get(start..end).unwrap_or_default(),
        "has_more": end < messages.len(),
        "response_metadata": {"next_cursor": next},
    }))
}

async fn handle(
    State(fake): State<Fake>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match method.as_str() {
        "chat.postMessage" => post(fake, body).await,
        "conversations.history" | "conversations.replies" => {
            let mut ws = fake.0.lock().unwrap();
            ws.reads.push((method.clone(), query.clone()));
            let with_metadata = query.get("include_all_metadata").is_some_and(|v| v == "true");
            let in_channel = |m: &&Stored| Some(&m.channel) == query.get("channel");
            let messages: Vec<Value> = if method == "conversations.history" {
                // Newest first; thread replies stay in their thread.
                ws.messages
                    .iter()
                    .filter(in_channel)
                    .filter(|m| m.thread_ts.as_ref().is_none_or(|t| *t == m.ts))
                    .rev()
                    .map(|m| render(m, with_metadata))
                    .collect()
            } else {
                let Some(parent) = query.get("ts") else {
                    return fail("invalid_arguments");
                };
                // The parent first, then its replies oldest first.
                ws.messages
                    .iter()
                    .filter(in_channel)
                    .filter(|m| &m.ts == parent || m.thread_ts.as_ref() == Some(parent))
                    .map(|m| render(m, with_metadata))
                    .collect()
            };
            page(messages, &query)
        }
        _ => (StatusCode::NOT_FOUND, "unknown method").into_response(),
    }
}

async fn post(fake: Fake, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = {
        let mut ws = fake.0.lock().unwrap();
        ws.posts.push(body.clone());
        ws.faults.pop_front()
    };
    let Some(channel) = body["channel"].as_str().filter(|c| c.starts_with('C')) else {
        return fail("channel_not_found");
    };
    if let Some(Fault::RateLimitedForADay) = fault {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "86400")],
            "",
        )
            .into_response();
    }
    if let Some(Fault::StallBeforeStoring) = fault {
        tokio::time::sleep(STALL).await;
        return fail("request_timeout");
    }
    let ts = {
        let mut ws = fake.0.lock().unwrap();
        let ts = next_ts(&mut ws);
        ws.messages.push(Stored {
            channel: channel.into(),
            ts: ts.clone(),
            text: body["text"].as_str().unwrap_or_default().into(),
            thread_ts: body["thread_ts"].as_str().map(str::to_owned),
            metadata: body.get("metadata").cloned(),
        });
        ts
    };
    match fault {
        Some(Fault::StallAfterStoring) => tokio::time::sleep(STALL).await,
        Some(Fault::AnswerAfterStoring(wait)) => tokio::time::sleep(wait).await,
        Some(Fault::ServerErrorAfterStoring) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
        }
        Some(Fault::InternalErrorAfterStoring) => return fail("internal_error"),
        // Panicking ends the connection's task: the client sees the connection close with
        // no response.
        Some(Fault::DropAfterStoring) => panic!("the fake drops this connection on purpose"),
        _ => {}
    }
    ok(json!({"channel": channel, "ts": ts, "message": {"text": body["text"], "ts": ts}}))
}
