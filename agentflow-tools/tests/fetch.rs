#![cfg(feature = "fetch")]
//! The fetch tool against a local server that counts its hits: allowlisted hosts only, checked
//! on every redirect hop, bounded bodies, truncated text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_tools::fetch::FetchTool;
use agentflow_tools::{ToolContext, ToolError, ToolRegistry};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Default)]
struct Server {
    port: Arc<Mutex<u16>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

/// Starts the server on 127.0.0.1 and returns it with its `host:port`.
async fn start_server() -> (Server, String) {
    let server = Server::default();
    let app = Router::new().fallback(handle).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    *server.port.lock().unwrap() = addr.port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (server, addr.to_string())
}

async fn handle(State(server): State<Server>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    *server.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let port = *server.port.lock().unwrap();
    let redirect = |to: String| (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    match path.as_str() {
        "/text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "hello, world",
        )
            .into_response(),
        "/json" => axum::Json(json!({"answer": 42})).into_response(),
        "/latin1" => (
            [(header::CONTENT_TYPE, "text/plain; charset=ISO-8859-1")],
            &b"caf\xe9"[..],
        )
            .into_response(),
        "/long" => ([(header::CONTENT_TYPE, "text/plain")], "é".repeat(1000)).into_response(),
        "/big" => ([(header::CONTENT_TYPE, "text/plain")], "a".repeat(100 * 1024)).into_response(),
        "/stream-big" => {
            // Chunked, without Content-Length: only the streaming check can stop it.
            let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 1024])));
            (
                [(header::CONTENT_TYPE, "text/plain")],
                Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response()
        }
        "/image" => (
            [(header::CONTENT_TYPE, "image/png")],
            vec![0x89, b'P', b'N', b'G', 0, 0, 0, 0],
        )
            .into_response(),
        "/untyped" => Response::new(Body::from(vec![0u8, 159, 146, 150])),
        "/redirect-in" => redirect("/text".into()),
        "/redirect-chain" => redirect(format!("http://127.0.0.1:{port}/redirect-in")),
        "/redirect-out" => redirect(format!("http://localhost:{port}/secret")),
        "/redirect-other-port" => redirect(format!("http://127.0.0.1:{}/secret", port.wrapping_add(1))),
        "/redirect-file" => redirect("file:///etc/passwd".into()),
        "/loop" => redirect("/loop".into()),
        "/busy" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "3")],
            "try later",
        )
            .into_response(),
        "/limited" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "2")]).into_response(),
        "/crash" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "/missing" => (StatusCode::NOT_FOUND, "no such page").into_response(),
        _ => (StatusCode::NOT_FOUND, "unknown").into_response(),
    }
}

fn tool(host: &str) -> FetchTool {
    FetchTool::builder()
        .allow_host(host)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_allowlisted_host_returns_status_type_and_text() {
    let (server, host) = start_server().await;
    let out = tool(&host).fetch(&format!("http://{host}/text")).await.unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(out.body, "hello, world");
    assert!(!out.truncated);
    assert!(out.redirects.is_empty());
    assert_eq!(server.hits("/text"), 1);

    let json = tool(&host).fetch(&format!("http://{host}/json")).await.unwrap();
    assert_eq!(json.body, r#"{"answer":42}"#);
    let latin1 = tool(&host).fetch(&format!("http://{host}/latin1")).await.unwrap();
    assert_eq!(latin1.body, "café");
}

#[tokio::test]
async fn other_hosts_are_refused_without_a_request() {
    let (server, host) = start_server().await;
    let port = host.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
    let fetch = tool(&host);
    for url in [
        format!("http://localhost:{port}/secret"),
        format!("http://127.0.0.1:{}/secret", port.wrapping_add(1)),
        "http://127.0.0.1/secret".to_owned(),
        format!("http://{host}.evil.test/secret"),
        format!("http://user:pw@{host}/secret"),
        format!("http://evil.test@{host}/secret"),
        format!("ftp://{host}/secret"),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let error = fetch.fetch(&url).await.unwrap_err();
        assert!(
            matches!(error, ToolError::InvalidArguments(_)),
            "{url}: {error:?}"
        );
    }
    let error = fetch
        .fetch(&format!("http://localhost:{port}/secret"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ToolError::InvalidArguments(format!(
            "host localhost:{port} is not allowed; allowed hosts: {host}"
        ))
    );
    assert_eq!(server.total_hits(), 0);
}

#[tokio::test]
async fn redirects_within_the_allowlist_are_followed() {
    let (server, host) = start_server().await;
    let out = tool(&host)
        .fetch(&format!("http://{host}/redirect-chain"))
        .await
        .unwrap();
    assert_eq!(out.body, "hello, world");
    assert_eq!(out.url, format!("http://{host}/text"));
    assert_eq!(
        out.redirects,
        [
            format!("http://{host}/redirect-in"),
            format!("http://{host}/text")
        ]
    );
    assert_eq!(server.hits("/redirect-chain"), 1);
    assert_eq!(server.hits("/text"), 1);
}

#[tokio::test]
async fn a_redirect_to_a_disallowed_host_is_refused() {
    let (server, host) = start_server().await;
    let fetch = tool(&host);
    for path in ["/redirect-out", "/redirect-other-port", "/redirect-file"] {
        let error = fetch.fetch(&format!("http://{host}{path}")).await.unwrap_err();
        match error {
            ToolError::Terminal(message) => assert!(message.contains("which is refused"), "{message}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(server.hits("/redirect-out"), 1);
    assert_eq!(server.hits("/secret"), 0);
}

#[tokio::test]
async fn redirect_loops_stop_at_the_hop_limit() {
    let (server, host) = start_server().await;
    let fetch = FetchTool::builder()
        .allow_host(&host)
        .max_redirects(3)
        .build()
        .unwrap();
    let error = fetch.fetch(&format!("http://{host}/loop")).await.unwrap_err();
    assert!(
        matches!(&error, ToolError::Terminal(m) if m.contains("more than 3 times")),
        "{error:?}"
    );
    assert_eq!(server.hits("/loop"), 4);
}

#[tokio::test]
async fn with_redirects_off_the_redirect_is_the_result() {
    let (server, host) = start_server().await;
    let fetch = FetchTool::builder()
        .allow_host(&host)
        .max_redirects(0)
        .build()
        .unwrap();
    let out = fetch.fetch(&format!("http://{host}/redirect-out")).await.unwrap();
    assert_eq!(out.status, 302);
    let port = host.rsplit_once(':').unwrap().1;
    assert_eq!(out.location, Some(format!("http://localhost:{port}/secret")));
    assert_eq!(server.hits("/secret"), 0);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let (_server, host) = start_server().await;
    let fetch = FetchTool::builder()
        .allow_host(&host)
        .max_response_bytes(10 * 1024)
        .build()
        .unwrap();
    for path in ["/big", "/stream-big"] {
        let error = fetch.fetch(&format!("http://{host}{path}")).await.unwrap_err();
        assert_eq!(
            error,
            ToolError::terminal("fetch response is larger than the 10240-byte limit"),
            "{path}"
        );
    }
    // The default limit (2 MiB) lets it through, truncated for the model.
    let out = tool(&host)
        .fetch(&format!("http://{host}/stream-big"))
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.body.len(), 20_000);
}

#[tokio::test]
async fn long_text_is_truncated_on_a_character_boundary() {
    let (_server, host) = start_server().await;
    let fetch = FetchTool::builder()
        .allow_host(&host)
        .max_text_chars(10)
        .build()
        .unwrap();
    let out = fetch.fetch(&format!("http://{host}/long")).await.unwrap();
    assert!(out.truncated);
    assert_eq!(out.body, "é".repeat(10));
    let short = fetch.fetch(&format!("http://{host}/text")).await.unwrap();
    assert_eq!((short.body.as_str(), short.truncated), ("hello, wor", true));
}

#[tokio::test]
async fn binary_content_is_described_not_returned() {
    let (_server, host) = start_server().await;
    let out = tool(&host).fetch(&format!("http://{host}/image")).await.unwrap();
    assert_eq!(out.body, "[image/png content, 8 bytes, not shown]");
    let untyped = tool(&host)
        .fetch(&format!("http://{host}/untyped"))
        .await
        .unwrap();
    assert_eq!(untyped.body, "[binary content, 4 bytes, not shown]");
}

#[tokio::test]
async fn busy_and_rate_limited_servers_are_retryable() {
    let (_server, host) = start_server().await;
    let fetch = tool(&host);
    let busy = fetch.fetch(&format!("http://{host}/busy")).await.unwrap_err();
    // A 5xx is retryable but ambiguous (the server may have acted before failing).
    assert_eq!(
        busy,
        ToolError::ambiguous(
            format!("fetch http://{host}/busy answered HTTP 503 Service Unavailable: try later"),
            Some(Duration::from_secs(3))
        )
    );
    let limited = fetch.fetch(&format!("http://{host}/limited")).await.unwrap_err();
    assert!(
        matches!(limited, ToolError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(2))
    );
    let crash = fetch.fetch(&format!("http://{host}/crash")).await.unwrap_err();
    assert!(
        matches!(
            crash,
            ToolError::Ambiguous {
                retry_after: None,
                ..
            }
        ),
        "{crash:?}"
    );
}

#[tokio::test]
async fn client_errors_are_results_the_model_can_read() {
    let (_server, host) = start_server().await;
    let out = tool(&host)
        .fetch(&format!("http://{host}/missing"))
        .await
        .unwrap();
    assert_eq!((out.status, out.body.as_str()), (404, "no such page"));
}

#[tokio::test]
async fn the_tool_runs_through_a_registry() {
    let (server, host) = start_server().await;
    let mut tools = ToolRegistry::new();
    tools.add(tool(&host));
    let fetch = tools.get("fetch_url").unwrap();
    assert!(fetch.description().contains(&host), "{}", fetch.description());

    let out = fetch
        .call_json(
            json!({"url": format!("http://{host}/text")}),
            ToolContext::new("k"),
        )
        .await
        .unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], "hello, world");
    assert_eq!(out["truncated"], false);

    for args in [
        json!({}),
        json!({"url": 5}),
        json!({"url": format!("http://{host}/text"), "method": "POST"}),
    ] {
        let error = fetch
            .call_json(args.clone(), ToolContext::new("k"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ToolError::InvalidArguments(_)),
            "{args}: {error:?}"
        );
    }
    assert_eq!(server.total_hits(), 1);
}
