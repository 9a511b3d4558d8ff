#![cfg(feature = "slack")]
//! The Slack client and tools against a local fake of the Web API that follows the documented
//! protocol: bearer auth, `ok`/`error` envelopes, cursor paging, 429 with `Retry-After`.

use agentflow_core::Failure;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_tools::slack::{
    self, HistoryRequest, PostMessage, RepliesRequest, SlackClient, SlackError, UpdateMessage,
};
use agentflow_tools::{ToolContext, ToolError, ToolRegistry};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const TOKEN: &str = "xoxb-test-secret-token-123";

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    http_method: Method,
    content_type: Option<String>,
    query: HashMap<String, String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Fake {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn calls_to(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

/// Starts the fake on 127.0.0.1 and returns it with its `/api/` base URL.
async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/api/{method}", axum::routing::any(handle))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}/api/"))
}

fn client(base: &str, token: &str) -> SlackClient {
    SlackClient::builder(token)
        .base_url(base)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn fail(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

fn message(ts: &str, user: &str, text: &str) -> Value {
    json!({"type": "message", "user": user, "text": text, "ts": ts})
}

/// Slack-style cursor paging over `all`: the cursor is an opaque offset.
fn paged(all: &[Value], query: &HashMap<String, String>) -> Response {
    let start = match query.get("cursor") {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("offset:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= all.len() => n,
            _ => return fail("invalid_cursor"),
        },
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100);
    let end = (start + limit).min(all.len());
    let next = if end < all.len() {
        format!("offset:{end}")
    } else {
        String::new()
    };
    ok(json!({
        "messages": &all[start..end],
        "has_more": end < all.len(),
        "pin_count": 0,
        "response_metadata": {"next_cursor": next},
    }))
}

async fn handle(
    State(fake): State<Fake>,
    Path(method): Path<String>,
    http_method: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json_body: Value = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    fake.requests.lock().unwrap().push(Recorded {
        method: method.clone(),
        http_method,
        content_type,
        query: query.clone(),
        body: json_body.clone(),
    });

    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.starts_with("xoxb-"));
    let Some(token) = token else {
        // Slack reports a bad or missing token with HTTP 200.
        return fail("invalid_auth");
    };
    match token {
        "xoxb-ratelimited" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "7")],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
        "xoxb-500" => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        "xoxb-malformed" => {
            return (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                "<html>oops</html>",
            )
                .into_response();
        }
        "xoxb-no-ok" => return axum::Json(json!({"channel": "C1"})).into_response(),
        "xoxb-huge" => {
            let big = "x".repeat(64 * 1024);
            return ok(json!({"url": big, "team_id": "T1", "user_id": "U1"}));
        }
        "xoxb-internal" => return fail("internal_error"),
        "xoxb-revoked" => return fail("token_revoked"),
        _ => {}
    }
    if token != TOKEN {
        return fail("invalid_auth");
    }

    let arg = |name: &str| -> Option<String> {
        json_body
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| query.get(name).cloned())
    };
    let channel = arg("channel").unwrap_or_default();
    match method.as_str() {
        "auth.test" => ok(json!({
            "url": "https://subarachnoid.slack.com/",
            "team": "Subarachnoid Workspace",
            "user": "bot",
            "team_id": "T0G9PQBBK",
            "user_id": "W23456789",
            "bot_id": "BZYBOTHED",
        })),
        "chat.postMessage" => match channel.as_str() {
            "" => fail("channel_not_found"),
            "C_MISSING" => fail("channel_not_found"),
            "C_BADBLOCKS" => axum::Json(json!({
                "ok": false,
                "error": "invalid_blocks",
                "response_metadata": {"messages": ["[ERROR] missing required field: text [json-pointer:/blocks/0/text]"]},
            }))
            .into_response(),
            _ => ok(json!({
                "channel": channel,
                "ts": "1503435956.000247",
                "message": {
                    "text": arg("text").unwrap_or_default(),
                    "bot_id": "B123ABC456",
                    "type": "message",
                    "ts": "1503435956.000247",
                },
            })),
        },
        "chat.update" => ok(json!({
            "channel": channel,
            "ts": arg("ts").unwrap_or_default(),
            "text": arg("text").unwrap_or_default(),
            "message": {"text": arg("text").unwrap_or_default(), "user": "W23456789"},
        })),
        "conversations.history" => match channel.as_str() {
            "C_MISSING" => fail("channel_not_found"),
            "C_NOSCOPE" => axum::Json(json!({
                "ok": false,
                "error": "missing_scope",
                "needed": "channels:history",
                "provided": "chat:write",
            }))
            .into_response(),
            _ => {
                let all: Vec<Value> = (1..=5)
                    .rev()
                    .map(|i| message(&format!("151208595{i}.000216"), "U123ABC456", &format!("message {i}")))
                    .collect();
                paged(&all, &query)
            }
        },
        "conversations.replies" => {
            if arg("ts").as_deref() != Some("1482960137.003543") {
                return fail("thread_not_found");
            }
            let mut parent = message("1482960137.003543", "U061F7AUR", "island");
            parent["thread_ts"] = json!("1482960137.003543");
            parent["reply_count"] = json!(3);
            let mut all = vec![parent];
            for i in 1..=3 {
                let mut reply = message(&format!("148303760{i}.017503"), "U061F7AUR", &format!("reply {i}"));
                reply["thread_ts"] = json!("1482960137.003543");
                reply["parent_user_id"] = json!("U061F7AUR");
                all.push(reply);
            }
            paged(&all, &query)
        }
        "users.info" => match arg("user").as_deref() {
            Some("W012A3CDE") => ok(json!({"user": {
                "id": "W012A3CDE",
                "team_id": "T012AB3C4",
                "name": "spengler",
                "deleted": false,
                "real_name": "Egon Spengler",
                "tz": "America/Los_Angeles",
                "tz_offset": -25200,
                "profile": {
                    "real_name": "Egon Spengler",
                    "display_name": "spengler",
                    "email": "spengler@ghostbusters.example.com",
                },
                "is_admin": true,
                "is_bot": false,
                "is_app_user": false,
                "updated": 1502138686,
            }})),
            _ => fail("user_not_found"),
        },
        _ => fail("unknown_method"),
    }
}

fn terminal_message(error: ToolError) -> String {
    match error {
        ToolError::Terminal(message) => message,
        other => panic!("expected a terminal error, got {other:?}"),
    }
}

#[tokio::test]
async fn auth_test_returns_identity_and_sends_bearer_token() {
    let (fake, base) = start_fake().await;
    let me = client(&base, TOKEN).auth_test().await.unwrap();
    assert_eq!(me.user_id, "W23456789");
    assert_eq!(me.bot_id.as_deref(), Some("BZYBOTHED"));
    assert_eq!(me.team_id, "T0G9PQBBK");
    let calls = fake.calls_to("auth.test");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].http_method, Method::GET);
}

#[tokio::test]
async fn a_bad_token_is_invalid_auth_and_terminal() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, "xoxb-wrong").auth_test().await.unwrap_err();
    assert_eq!(error.code(), Some("invalid_auth"));
    assert!(!error.is_retryable());
    let message = terminal_message(error.into());
    assert!(message.contains("invalid_auth"), "{message}");

    let error = client(&base, "xoxb-revoked").auth_test().await.unwrap_err();
    assert!(terminal_message(error.into()).contains("token_revoked"));
}

#[tokio::test]
async fn post_message_sends_json_with_thread_and_blocks() {
    let (fake, base) = start_fake().await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "Ticket *ENG-42* created"}}]);
    let post = PostMessage::new("C123ABC456", "Ticket ENG-42 created")
        .in_thread("1515449522.000016")
        .with_blocks(blocks.clone());
    let posted = client(&base, TOKEN).chat_post_message(&post).await.unwrap();
    assert_eq!(posted.channel, "C123ABC456");
    assert_eq!(posted.ts, "1503435956.000247");
    assert_eq!(posted.message.unwrap().bot_id.as_deref(), Some("B123ABC456"));

    let calls = fake.calls_to("chat.postMessage");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].http_method, Method::POST);
    assert_eq!(
        calls[0].content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        calls[0].body,
        json!({
            "channel": "C123ABC456",
            "text": "Ticket ENG-42 created",
            "thread_ts": "1515449522.000016",
            "blocks": blocks,
        })
    );
}

#[tokio::test]
async fn a_plain_post_sends_only_channel_and_text() {
    let (fake, base) = start_fake().await;
    client(&base, TOKEN)
        .chat_post_message(&PostMessage::new("C1", "hello"))
        .await
        .unwrap();
    assert_eq!(
        fake.calls_to("chat.postMessage")[0].body,
        json!({"channel": "C1", "text": "hello"})
    );
}

#[tokio::test]
async fn update_message_sends_channel_ts_and_text() {
    let (fake, base) = start_fake().await;
    let update = UpdateMessage::new("C123ABC456", "1401383885.000061", "Approved by <@W111>");
    let updated = client(&base, TOKEN).chat_update(&update).await.unwrap();
    assert_eq!(updated.ts, "1401383885.000061");
    assert_eq!(updated.text.as_deref(), Some("Approved by <@W111>"));
    let calls = fake.calls_to("chat.update");
    assert_eq!(calls[0].http_method, Method::POST);
    assert_eq!(
        calls[0].body,
        json!({"channel": "C123ABC456", "ts": "1401383885.000061", "text": "Approved by <@W111>"})
    );
}

#[tokio::test]
async fn one_history_page_returns_the_next_cursor() {
    let (fake, base) = start_fake().await;
    let slack = client(&base, TOKEN);
    let page = slack
        .conversations_history(&HistoryRequest::new("C1").limit(2))
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.messages[0].text, "message 5");
    assert_eq!(page.next_cursor.as_deref(), Some("offset:2"));

    let last = slack
        .conversations_history(&HistoryRequest::new("C1").limit(10).cursor("offset:4"))
        .await
        .unwrap();
    assert_eq!(last.messages.len(), 1);
    // Slack's empty `next_cursor` means done.
    assert_eq!(last.next_cursor, None);
    let calls = fake.calls_to("conversations.history");
    assert_eq!(calls[1].query.get("cursor").map(String::as_str), Some("offset:4"));
    assert_eq!(calls[1].http_method, Method::GET);
}

#[tokio::test]
async fn history_follows_cursors_until_done() {
    let (fake, base) = start_fake().await;
    let all = client(&base, TOKEN)
        .conversations_history_all(&HistoryRequest::new("C1").limit(2), 100)
        .await
        .unwrap();
    let texts: Vec<&str> = all.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["message 5", "message 4", "message 3", "message 2", "message 1"]
    );
    assert_eq!(all.next_cursor, None);
    let cursors: Vec<Option<String>> = fake
        .calls_to("conversations.history")
        .iter()
        .map(|c| c.query.get("cursor").cloned())
        .collect();
    assert_eq!(cursors, [None, Some("offset:2".into()), Some("offset:4".into())]);
}

#[tokio::test]
async fn history_stops_at_max_messages_and_says_where_to_continue() {
    let (fake, base) = start_fake().await;
    let some = client(&base, TOKEN)
        .conversations_history_all(&HistoryRequest::new("C1").limit(2), 3)
        .await
        .unwrap();
    assert_eq!(some.messages.len(), 3);
    assert_eq!(some.next_cursor.as_deref(), Some("offset:3"));
    let calls = fake.calls_to("conversations.history");
    assert_eq!(calls.len(), 2);
    // The second page asks only for what is still wanted, so nothing is skipped.
    assert_eq!(calls[1].query.get("limit").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn replies_follow_cursors_parent_first() {
    let (fake, base) = start_fake().await;
    let thread = client(&base, TOKEN)
        .conversations_replies_all(&RepliesRequest::new("C1", "1482960137.003543").limit(3), 50)
        .await
        .unwrap();
    let texts: Vec<&str> = thread.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["island", "reply 1", "reply 2", "reply 3"]);
    assert_eq!(thread.messages[0].reply_count, Some(3));
    assert_eq!(thread.messages[1].extra["parent_user_id"], "U061F7AUR");
    let calls = fake.calls_to("conversations.replies");
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.query.get("ts").map(String::as_str) == Some("1482960137.003543"))
    );

    let error = client(&base, TOKEN)
        .conversations_replies(&RepliesRequest::new("C1", "9.9"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("thread_not_found"));
}

#[tokio::test]
async fn users_info_parses_the_documented_shape() {
    let (_fake, base) = start_fake().await;
    let user = client(&base, TOKEN).users_info("W012A3CDE").await.unwrap();
    assert_eq!(user.name.as_deref(), Some("spengler"));
    assert_eq!(user.tz_offset, Some(-25200));
    assert!(user.is_admin);
    assert_eq!(
        user.profile.email.as_deref(),
        Some("spengler@ghostbusters.example.com")
    );
    assert_eq!(user.extra["updated"], 1502138686);
}

#[tokio::test]
async fn a_rate_limit_is_retryable_after_the_given_delay() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, "xoxb-ratelimited").auth_test().await.unwrap_err();
    assert!(
        matches!(&error, SlackError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
        "{error:?}"
    );
    match ToolError::from(error) {
        ToolError::Retryable { retry_after, message } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(message.contains("rate limited"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn channel_not_found_is_terminal_and_named() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, TOKEN)
        .chat_post_message(&PostMessage::new("C_MISSING", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("channel_not_found"));
    let message = terminal_message(error.into());
    assert!(
        message.starts_with("slack chat.postMessage failed: channel_not_found"),
        "{message}"
    );
}

#[tokio::test]
async fn missing_scope_names_the_needed_scope() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, TOKEN)
        .conversations_history(&HistoryRequest::new("C_NOSCOPE"))
        .await
        .unwrap_err();
    match &error {
        SlackError::Api(api) => {
            assert_eq!(api.error, "missing_scope");
            assert_eq!(api.needed.as_deref(), Some("channels:history"));
        }
        other => panic!("{other:?}"),
    }
    let message = terminal_message(error.into());
    assert!(
        message.contains("missing_scope") && message.contains("needed scope: channels:history"),
        "{message}"
    );
}

#[tokio::test]
async fn invalid_blocks_are_invalid_arguments_with_slacks_details() {
    let (_fake, base) = start_fake().await;
    let post = PostMessage::new("C_BADBLOCKS", "x").with_blocks(json!([{"type": "section"}]));
    let error = client(&base, TOKEN).chat_post_message(&post).await.unwrap_err();
    match ToolError::from(error) {
        ToolError::InvalidArguments(message) => {
            assert!(message.contains("invalid_blocks"), "{message}");
            assert!(message.contains("json-pointer:/blocks/0/text"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_error_is_retryable() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, "xoxb-500").auth_test().await.unwrap_err();
    assert!(
        matches!(&error, SlackError::Status { status, detail, .. } if status.as_u16() == 500 && detail == "upstream exploded"),
        "{error:?}"
    );
    // Retryable, and ambiguous: Slack may have acted before failing.
    assert!(matches!(
        ToolError::from(error),
        ToolError::Ambiguous {
            retry_after: None,
            ..
        }
    ));
}

#[tokio::test]
async fn a_transient_error_code_is_retryable() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, "xoxb-internal").auth_test().await.unwrap_err();
    assert_eq!(error.code(), Some("internal_error"));
    assert!(ToolError::from(error).is_retryable());
}

#[tokio::test]
async fn malformed_responses_are_terminal() {
    let (_fake, base) = start_fake().await;
    let error = client(&base, "xoxb-malformed").auth_test().await.unwrap_err();
    assert!(matches!(error, SlackError::Malformed { .. }), "{error:?}");
    assert!(terminal_message(error.into()).contains("not JSON"));

    let error = client(&base, "xoxb-no-ok").auth_test().await.unwrap_err();
    assert!(matches!(error, SlackError::Malformed { .. }), "{error:?}");

    // `ok: true` without the fields the type needs.
    let error = client(&base, TOKEN)
        .call_get::<slack::AuthTest>("users.info", &[("user", "W012A3CDE".into())])
        .await
        .unwrap_err();
    assert!(matches!(error, SlackError::Malformed { .. }), "{error:?}");
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let (_fake, base) = start_fake().await;
    let small = SlackClient::builder("xoxb-huge")
        .base_url(&base)
        .max_response_bytes(16 * 1024)
        .build()
        .unwrap();
    let error = small.auth_test().await.unwrap_err();
    assert!(matches!(error, SlackError::Body { .. }), "{error:?}");
    let message = terminal_message(error.into());
    assert!(message.contains("16384-byte limit"), "{message}");

    // The default limit (4 MiB) lets the same body through.
    client(&base, "xoxb-huge").auth_test().await.unwrap();
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = client(&format!("http://{addr}/api/"), TOKEN)
        .auth_test()
        .await
        .unwrap_err();
    assert!(matches!(error, SlackError::Transport { .. }), "{error:?}");
    let error = ToolError::from(error);
    assert!(error.is_retryable(), "{error:?}");
    assert!(!error.to_string().contains(TOKEN));
}

#[tokio::test]
async fn debug_output_never_shows_the_token() {
    let slack = client("http://127.0.0.1:9/api/", TOKEN);
    let debug = format!("{slack:?}");
    assert!(
        !debug.contains(TOKEN) && !debug.contains("secret-token"),
        "{debug}"
    );
    assert!(debug.contains("127.0.0.1:9"), "{debug}");
    let builder = format!("{:?}", SlackClient::builder(TOKEN));
    assert!(!builder.contains(TOKEN), "{builder}");
}

fn registry(base: &str) -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    slack::register(&mut registry, client(base, TOKEN));
    registry
}

#[tokio::test]
async fn the_registry_rejects_invalid_arguments_before_any_request() {
    let (fake, base) = start_fake().await;
    let tools = registry(&base);
    let names: Vec<&str> = tools.names().collect();
    assert_eq!(
        names,
        [
            "slack_post_message",
            "slack_update_message",
            "slack_channel_history",
            "slack_thread_replies",
            "slack_user_info"
        ]
    );
    let post = tools.get("slack_post_message").unwrap();
    let cases = [
        json!({"text": "no channel"}),
        json!({"channel": "C1", "text": "hi", "thread": "1.2"}),
        json!({"channel": "C1", "text": "hi", "thread_ts": "yesterday"}),
        json!({"channel": "C1", "text": "  "}),
        json!({"channel": "C1", "text": "hi", "blocks": {"type": "section"}}),
    ];
    for args in cases {
        let error = post
            .call_json(args.clone(), ToolContext::new("k"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ToolError::InvalidArguments(_)),
            "{args}: {error:?}"
        );
    }
    let history = tools.get("slack_channel_history").unwrap();
    let error = history
        .call_json(json!({"channel": "C1", "limit": 1000}), ToolContext::new("k"))
        .await;
    assert!(matches!(error, Err(ToolError::InvalidArguments(m)) if m.contains("between 1 and 100")));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn tools_post_and_read_through_the_registry() {
    let (fake, base) = start_fake().await;
    let tools = registry(&base);
    let ctx = || ToolContext::new("call-1");

    let posted = tools
        .get("slack_post_message")
        .unwrap()
        .call_json(
            json!({"channel": "C1", "text": "On it", "thread_ts": "1515449522.000016",
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "On it"}}]}),
            ctx(),
        )
        .await
        .unwrap();
    assert_eq!(posted, json!({"channel": "C1", "ts": "1503435956.000247"}));
    let sent = &fake.calls_to("chat.postMessage")[0].body;
    assert_eq!(sent["thread_ts"], "1515449522.000016");
    assert_eq!(sent["blocks"][0]["type"], "section");

    let history = tools
        .get("slack_channel_history")
        .unwrap()
        .call_json(json!({"channel": "C1", "limit": 3}), ctx())
        .await
        .unwrap();
    assert_eq!(history["messages"].as_array().unwrap().len(), 3);
    assert_eq!(history["next_cursor"], "offset:3");
    let rest = tools
        .get("slack_channel_history")
        .unwrap()
        .call_json(json!({"channel": "C1", "cursor": "offset:3"}), ctx())
        .await
        .unwrap();
    assert_eq!(rest["messages"][0]["text"], "message 2");
    assert!(rest.get("next_cursor").is_none(), "{rest}");

    let thread = tools
        .get("slack_thread_replies")
        .unwrap()
        .call_json(json!({"channel": "C1", "thread_ts": "1482960137.003543"}), ctx())
        .await
        .unwrap();
    assert_eq!(thread["messages"][0]["reply_count"], 3);

    let user = tools
        .get("slack_user_info")
        .unwrap()
        .call_json(json!({"user": "<@W012A3CDE>"}), ctx())
        .await
        .unwrap();
    assert_eq!(user["real_name"], "Egon Spengler");
    // Emails are hidden unless the tools are configured to show them.
    assert!(user.get("email").is_none(), "{user}");

    let updated = tools
        .get("slack_update_message")
        .unwrap()
        .call_json(
            json!({"channel": "C1", "ts": "1503435956.000247", "text": "Done"}),
            ctx(),
        )
        .await
        .unwrap();
    assert_eq!(updated["ts"], "1503435956.000247");

    for output in [posted, history, rest, thread, user, updated] {
        assert!(!output.to_string().contains(TOKEN));
    }
}

#[tokio::test]
async fn tool_errors_keep_their_variant_through_the_registry() {
    let (_fake, base) = start_fake().await;
    let tools = registry(&base);
    let error = tools
        .get("slack_channel_history")
        .unwrap()
        .call_json(json!({"channel": "C_NOSCOPE"}), ToolContext::new("k"))
        .await
        .unwrap_err();
    assert!(terminal_message(error).contains("needed scope: channels:history"));

    let mut limited = ToolRegistry::new();
    slack::register(&mut limited, client(&base, "xoxb-ratelimited"));
    let error = limited
        .get("slack_post_message")
        .unwrap()
        .call_json(json!({"channel": "C1", "text": "hi"}), ToolContext::new("k"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ToolError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(7))
    );

    let options = slack::SlackToolOptions::default().include_email(true);
    let with_email = slack::tools_with_options(client(&base, TOKEN), options);
    let user = with_email[4]
        .call_json(json!({"user": "W012A3CDE"}), ToolContext::new("k"))
        .await
        .unwrap();
    assert_eq!(user["email"], "spengler@ghostbusters.example.com");
}
