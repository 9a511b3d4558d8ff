#![cfg(feature = "rig")]
//! Chat models through rig-core against a local fake provider speaking the real wire protocols:
//! OpenAI Chat Completions (JSON and SSE), Anthropic Messages and Ollama's native chat.

use agentflow_core::Failure;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentflow_core::{EventData, GraphError, RunConfig, StreamMode};
use agentflow_tools::react::BudgetExceeded;
use agentflow_tools::rig::{ModelConfig, Provider, RigChatModel};
use agentflow_tools::{
    AgentStateUpdate, ChatModel, ChatRequest, Message, ModelError, Price, PriceTable, ReactOptions, Tool,
    ToolContext, ToolError, ToolRegistry, Usage, react_agent,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The fake provider
// ---------------------------------------------------------------------------------------------

/// One scripted reply.
#[derive(Clone)]
enum Reply {
    /// An OpenAI assistant turn: a `chat.completion`, or SSE chunks when the request streams.
    Turn {
        text: &'static str,
        calls: Vec<(&'static str, &'static str, Value)>,
        usage: (u64, u64, u64),
    },
    /// A failure status with headers and a body.
    Status(u16, Vec<(&'static str, &'static str)>, &'static str),
    /// A 200 with this JSON body, whatever the request.
    Json(Value),
    /// A 200 `application/json` whose body is not JSON.
    Malformed(&'static str),
    /// A 200 SSE stream with this body, whatever the request.
    RawSse(String),
    /// The reply after a delay.
    Slow(Duration, Box<Reply>),
}

fn text(text: &'static str, usage: (u64, u64, u64)) -> Reply {
    Reply::Turn {
        text,
        calls: Vec::new(),
        usage,
    }
}

fn status(code: u16, body: &'static str) -> Reply {
    Reply::Status(code, Vec::new(), body)
}

/// What the fake received.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Default)]
struct Fake {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

impl Fake {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// Starts a fake on 127.0.0.1:0 answering `script` in order; returns it and its root URL.
async fn fake(script: Vec<Reply>) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        script: Mutex::new(script.into()),
        received: Mutex::default(),
    });
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{address}"))
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.received.lock().unwrap().push(Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body: body.clone(),
    });
    let reply = fake.script.lock().unwrap().pop_front();
    match reply {
        Some(reply) => render(reply, &body).await,
        None => respond(
            400,
            &[],
            "application/json",
            r#"{"error":{"message":"fake: script exhausted"}}"#.into(),
        ),
    }
}

fn respond(code: u16, headers: &[(&str, &str)], content_type: &str, body: String) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", content_type);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(Body::from(body)).unwrap()
}

async fn render(reply: Reply, request: &Value) -> Response {
    match reply {
        Reply::Slow(delay, reply) => {
            tokio::time::sleep(delay).await;
            Box::pin(render(*reply, request)).await
        }
        Reply::Status(code, headers, body) => respond(code, &headers, "application/json", body.into()),
        Reply::Json(value) => respond(200, &[], "application/json", value.to_string()),
        Reply::Malformed(body) => respond(200, &[], "application/json", body.into()),
        Reply::RawSse(body) => respond(200, &[], "text/event-stream", body),
        Reply::Turn { text, calls, usage } => {
            let model = request["model"].as_str().unwrap_or("unknown");
            if request["stream"] == json!(true) {
                let include_usage = request["stream_options"]["include_usage"] == json!(true);
                respond(
                    200,
                    &[],
                    "text/event-stream",
                    sse(model, text, &calls, usage, include_usage),
                )
            } else {
                respond(
                    200,
                    &[],
                    "application/json",
                    completion(model, text, &calls, usage).to_string(),
                )
            }
        }
    }
}

fn usage_json((input, output, cached): (u64, u64, u64)) -> Value {
    json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": cached}
    })
}

fn finish_reason(calls: &[(&str, &str, Value)]) -> &'static str {
    if calls.is_empty() { "stop" } else { "tool_calls" }
}

/// A whole `chat.completion`: tool-call arguments are a JSON *string*, as OpenAI sends them.
fn completion(model: &str, text: &str, calls: &[(&str, &str, Value)], usage: (u64, u64, u64)) -> Value {
    let mut message =
        json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
    }
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(calls)}],
        "usage": usage_json(usage),
    })
}

/// The same turn as `chat.completion.chunk` SSE events: the text word by word, each call's
/// arguments in two fragments, the finish reason, the usage chunk when asked, then `[DONE]`.
fn sse(
    model: &str,
    text: &str,
    calls: &[(&str, &str, Value)],
    usage: (u64, u64, u64),
    include_usage: bool,
) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    for word in text.split_inclusive(' ') {
        events.push(chunk(json!({"content": word}), Value::Null));
    }
    for (index, (id, name, args)) in calls.iter().enumerate() {
        events.push(chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        let args = args.to_string();
        let (head, tail) = args.split_at(args.len() / 2);
        for fragment in [head, tail] {
            events.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                Value::Null,
            ));
        }
    }
    events.push(chunk(json!({}), json!(finish_reason(calls))));
    if include_usage {
        events.push(json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [], "usage": usage_json(usage),
        }));
    }
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// A message's text, whether its content is a string or an array of parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct WeatherArgs {
    /// The city.
    city: String,
}

struct GetWeather;

impl Tool for GetWeather {
    type Args = WeatherArgs;
    type Output = String;
    fn name(&self) -> &str {
        "get_weather"
    }
    fn description(&self) -> &str {
        "The current weather of a city."
    }
    async fn call(&self, args: WeatherArgs, _ctx: ToolContext) -> Result<String, ToolError> {
        Ok(format!("sunny, 21 C in {}", args.city))
    }
}

const KEY: &str = "sk-test-secret";

fn openai(base: &str) -> ModelConfig {
    ModelConfig::new(Provider::OpenAiCompatible, "gpt-test")
        .with_base_url(format!("{base}/v1"))
        .with_api_key(KEY)
        .with_timeout(Duration::from_secs(5))
}

fn tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools.add(GetWeather);
    tools
}

/// Fast retries for tests: 3 attempts, 5 ms apart.
fn options() -> ReactOptions {
    ReactOptions {
        system_prompt: Some("You are terse.".into()),
        model_retry: ReactOptions::default_model_retry()
            .max_attempts(3)
            .initial_interval(Duration::from_millis(5)),
        prices: PriceTable::new()
            .without_catalog()
            .with_price("gpt-test", Price::per_million(1.0, 2.0).with_cached_input(0.5)),
        ..ReactOptions::default()
    }
}

fn question() -> AgentStateUpdate {
    AgentStateUpdate::default().messages(vec![Message::user("Weather in Paris?")])
}

/// The two turns of a tool run: a call to `get_weather`, then the answer.
fn weather_script() -> Vec<Reply> {
    vec![
        Reply::Turn {
            text: "",
            calls: vec![("call_1", "get_weather", json!({"city": "Paris"}))],
            usage: (42, 7, 0),
        },
        text("It is sunny in Paris.", (60, 9, 32)),
    ]
}

/// 42 input at $1/M + 7 output at $2/M, then 28 uncached input at $1/M, 32 cached at $0.5/M
/// and 9 output at $2/M, in nano-dollars.
const WEATHER_COST_NANOS: u64 = 42 * 1_000 + 7 * 2_000 + 28 * 1_000 + 32 * 500 + 9 * 2_000;

fn expect_node_error(error: &GraphError) -> &(dyn std::error::Error + Send + Sync + 'static) {
    match error {
        GraphError::Node { source, .. } => source.as_ref(),
        other => panic!("expected a node error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn react_agent_runs_a_tool_over_the_rig_http_path() {
    let (fake, base) = fake(weather_script()).await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();

    let messages = &out.state.messages;
    assert_eq!(messages.len(), 4, "{messages:?}");
    let calls = messages[1].tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_1", "get_weather")
    );
    assert_eq!(calls[0].arguments, json!({"city": "Paris"}));
    assert!(matches!(&messages[2], Message::Tool { tool_call_id, .. } if &**tool_call_id == "call_1"));
    assert_eq!(messages[2].content(), "sunny, 21 C in Paris");
    assert_eq!(messages[3].content(), "It is sunny in Paris.");

    // Usage summed across both calls; cost from the configured price, cache reads included.
    assert_eq!(
        out.state.usage,
        Usage {
            input_tokens: 102,
            output_tokens: 16
        }
    );
    assert_eq!(out.state.cost.nano_usd, WEATHER_COST_NANOS);
    assert_eq!(out.state.cost.unpriced_calls, 0);

    let received = fake.received();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(request.method, Method::POST);
        assert_eq!(
            request.path, "/v1/chat/completions",
            "Chat Completions, not /responses"
        );
        assert_eq!(request.body["model"], "gpt-test");
        assert_ne!(request.body["stream"], json!(true), "invoke does not stream");
        assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
        // The tool's schema, in OpenAI's function-tool shape.
        let tool = &request.body["tools"][0];
        assert_eq!(tool["type"], "function");
        assert_eq!(tool["function"]["name"], "get_weather");
        assert_eq!(tool["function"]["description"], "The current weather of a city.");
        assert_eq!(
            tool["function"]["parameters"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(tool["function"]["parameters"]["required"], json!(["city"]));
    }
    let first = received[0].body["messages"].as_array().unwrap();
    assert_eq!(first[0]["role"], "system");
    assert_eq!(content_text(&first[0]["content"]), "You are terse.");
    assert_eq!(first[1]["role"], "user");
    assert_eq!(content_text(&first[1]["content"]), "Weather in Paris?");

    // The second request carries the assistant's call and the tool result under its id.
    let second = received[1].body["messages"].as_array().unwrap();
    assert_eq!(second.len(), 4, "{second:?}");
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(second[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(second[2]["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        second[2]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "call_1");
    assert_eq!(content_text(&second[3]["content"]), "sunny, 21 C in Paris");
}

#[tokio::test]
async fn messages_mode_streams_the_tokens_of_every_model_call() {
    let (fake, base) = fake(weather_script()).await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let mut stream = agent.stream(question(), RunConfig::new(), StreamMode::Messages);
    let mut chunks = Vec::new();
    while let Some(event) = stream.next().await {
        match event.unwrap().data {
            EventData::Message { node, chunk } => {
                assert_eq!(&*node, "agent");
                chunks.push(chunk);
            }
            _ => panic!("only messages were asked for"),
        }
    }
    let state = stream.into_output().unwrap().state;

    // Chunks grouped by message id; each group joins into the stored message's text.
    let mut by_id: HashMap<String, String> = HashMap::new();
    for chunk in &chunks {
        by_id
            .entry(chunk.message_id.clone().unwrap())
            .or_default()
            .push_str(&chunk.content);
    }
    let answer = state.messages.last().unwrap();
    assert_eq!(answer.content(), "It is sunny in Paris.");
    assert_eq!(by_id[answer.id().unwrap()], answer.content());
    let call_turn = &state.messages[1];
    assert_eq!(by_id[call_turn.id().unwrap()], "");
    assert!(
        chunks.len() >= 7,
        "token by token, plus two closing chunks: {chunks:?}"
    );

    // Each call ends with a closing chunk carrying the model, usage, cost and tool calls.
    let closing: Vec<_> = chunks
        .iter()
        .filter(|c| c.metadata["finished"] == json!(true))
        .collect();
    assert_eq!(closing.len(), 2);
    assert_eq!(closing[0].message_id.as_deref(), call_turn.id());
    assert_eq!(closing[0].metadata["tool_calls"][0]["name"], "get_weather");
    assert_eq!(
        closing[0].metadata["tool_calls"][0]["arguments"],
        json!({"city": "Paris"})
    );
    assert_eq!(closing[1].metadata["model"], "openai/gpt-test");
    assert_eq!(
        closing[1].metadata["usage"],
        json!({"input_tokens": 60, "output_tokens": 9})
    );
    assert_eq!(closing[1].metadata["cached_input_tokens"], 32);
    assert!(closing[1].metadata["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(std::ptr::eq(*closing.last().unwrap(), chunks.last().unwrap()));

    // Usage from the SSE usage chunk, asked for with stream_options.include_usage.
    assert_eq!(
        state.usage,
        Usage {
            input_tokens: 102,
            output_tokens: 16
        }
    );
    assert_eq!(state.cost.nano_usd, WEATHER_COST_NANOS);
    for request in fake.received() {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.body["stream"], json!(true));
        assert_eq!(request.body["stream_options"]["include_usage"], json!(true));
    }
}

#[tokio::test]
async fn a_stream_cut_off_is_retried_and_its_chunks_are_closed_with_an_error() {
    // The first reply stops after two words: no finish reason, no usage, no [DONE].
    let full = sse("gpt-test", "It is sunny.", &[], (5, 3, 0), true);
    let cut: String = full
        .split("\n\n")
        .take(3)
        .map(|event| format!("{event}\n\n"))
        .collect();
    let (fake, base) = fake(vec![Reply::RawSse(cut), text("It is sunny.", (5, 3, 0))]).await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let mut stream = agent.stream(question(), RunConfig::new(), StreamMode::Messages);
    let mut chunks = Vec::new();
    while let Some(event) = stream.next().await {
        if let EventData::Message { chunk, .. } = event.unwrap().data {
            chunks.push(chunk);
        }
    }
    let state = stream.into_output().unwrap().state;
    assert_eq!(fake.calls(), 2);
    let answer = state.messages.last().unwrap();
    assert_eq!(answer.content(), "It is sunny.");
    let of = |id: Option<&str>| -> String {
        chunks
            .iter()
            .filter(|c| c.message_id.as_deref() == id)
            .map(|c| c.content.as_str())
            .collect()
    };
    assert_eq!(of(answer.id()), "It is sunny.");
    let failed = chunks
        .iter()
        .find(|c| c.metadata.get("error").is_some())
        .expect("a failed attempt");
    assert_ne!(failed.message_id.as_deref(), answer.id());
    assert_eq!(failed.metadata["retryable"], true, "{:?}", failed.metadata);
    assert_eq!(of(failed.message_id.as_deref()), "It is ");
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_wait_the_provider_asks_for() {
    let limited = Reply::Status(
        429,
        vec![("retry-after", "1"), ("retry-after-ms", "150")],
        r#"{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded"}}"#,
    );
    let (fake, base) = fake(vec![limited, text("ok", (5, 1, 0))]).await;
    let options = ReactOptions {
        model_retry: ReactOptions::default_model_retry().initial_interval(Duration::from_millis(1)),
        ..options()
    };
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options).unwrap();
    let started = Instant::now();
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out.state.messages.last().unwrap().content(), "ok");
    assert_eq!(fake.calls(), 2);
    assert!(
        elapsed >= Duration::from_millis(150),
        "waited {elapsed:?}, not the provider's 150 ms"
    );
    assert!(
        elapsed < Duration::from_millis(900),
        "took the 1 s Retry-After instead of retry-after-ms"
    );
}

#[tokio::test]
async fn a_providers_retry_after_of_a_day_is_capped() {
    let limited = Reply::Status(
        429,
        vec![("retry-after", "86400"), ("retry-after-ms", "86400000")],
        r#"{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded"}}"#,
    );
    let (fake, base) = fake(vec![limited, text("ok", (5, 1, 0))]).await;
    let options = ReactOptions {
        model_retry: options().model_retry.max_retry_after(Duration::from_millis(100)),
        ..options()
    };
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options).unwrap();
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        agent.invoke(question(), RunConfig::new()),
    )
    .await
    .expect("the agent honoured a one-day Retry-After uncapped")
    .unwrap();
    assert_eq!(out.state.messages.last().unwrap().content(), "ok");
    assert_eq!(fake.calls(), 2);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn a_rate_limit_reports_retry_after_to_the_caller() {
    let limited = Reply::Status(
        429,
        vec![("retry-after", "2")],
        r#"{"error":{"message":"slow down"}}"#,
    );
    let (fake, base) = fake(vec![limited]).await;
    let model = RigChatModel::from_config(&openai(&base)).unwrap();
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
    };
    let error = model.chat(&request).await.unwrap_err();
    match error {
        ModelError::Retryable { message, retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            assert!(
                message.contains("429") && message.contains("slow down"),
                "{message}"
            );
        }
        other => panic!("429 is retryable: {other:?}"),
    }
    assert_eq!(fake.calls(), 1, "the model itself never retries");
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let (fake, base) = fake(vec![
        status(500, r#"{"error":{"message":"boom"}}"#),
        status(503, "overloaded"),
        text("recovered", (5, 1, 0)),
    ])
    .await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.messages.last().unwrap().content(), "recovered");
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn persistent_server_errors_fail_the_run_as_retryable() {
    let (fake, base) = fake(vec![
        status(500, "boom"),
        status(500, "boom"),
        status(500, "boom"),
    ])
    .await;
    let options = ReactOptions {
        model_retry: options().model_retry.max_attempts(2),
        ..options()
    };
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn an_authentication_failure_fails_fast_without_leaking_the_key() {
    let (fake, base) = fake(vec![
        status(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        ),
        text("never sent", (1, 1, 0)),
    ])
    .await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(fake.calls(), 1);
    let model_error = expect_node_error(&error).downcast_ref::<ModelError>().unwrap();
    assert!(
        matches!(model_error, ModelError::Terminal(m) if m.contains("Incorrect API key")),
        "{model_error}"
    );
    assert!(!format!("{error} {error:?}").contains(KEY));
}

#[tokio::test]
async fn a_bad_request_fails_fast() {
    let (fake, base) = fake(vec![status(400, r#"{"error":{"message":"bad tool schema"}}"#)]).await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(!error.is_retryable());
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn malformed_json_is_a_terminal_error() {
    let (fake, base) = fake(vec![
        Reply::Malformed("{\"choices\": [oops"),
        text("never", (1, 1, 0)),
    ])
    .await;
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options()).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(expect_node_error(&error).downcast_ref::<ModelError>().is_some());
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_reply_without_choices_is_a_terminal_error() {
    let (fake, base) = fake(vec![Reply::Json(
        json!({"id": "x", "object": "chat.completion", "choices": []}),
    )])
    .await;
    let model = RigChatModel::from_config(&openai(&base)).unwrap();
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
    };
    let error = model.chat(&request).await.unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_slow_provider_times_out_as_retryable() {
    let slow = Reply::Slow(Duration::from_millis(500), Box::new(text("late", (1, 1, 0))));
    let (_fake, base) = fake(vec![slow]).await;
    let model = RigChatModel::from_config(&openai(&base).with_timeout(Duration::from_millis(50))).unwrap();
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
    };
    let error = model.chat(&request).await.unwrap_err();
    assert!(
        matches!(&error, ModelError::Retryable { message, .. } if message.contains("within")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_retryable() {
    // Bind then drop a listener, so the port is (very likely) closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let model = RigChatModel::from_config(&openai(&format!("http://127.0.0.1:{port}"))).unwrap();
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
    };
    let error = model.chat(&request).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn the_token_budget_stops_the_agent_before_the_next_call() {
    let (fake, base) = fake(weather_script()).await;
    let options = ReactOptions {
        max_total_tokens: Some(40),
        ..options()
    };
    let agent = react_agent(openai(&base).build().unwrap(), tools(), options).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(!error.is_retryable());
    let budget = expect_node_error(&error)
        .downcast_ref::<BudgetExceeded>()
        .unwrap();
    assert_eq!(budget, &BudgetExceeded::Tokens { used: 49, limit: 40 });
    assert!(error.to_string().contains("token budget exceeded"), "{error}");
    assert_eq!(
        fake.calls(),
        1,
        "the tool ran, the second model call did not happen"
    );
}

#[tokio::test]
async fn anthropic_messages_are_posted_to_v1_messages() {
    let reply = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": "Hello from Claude."}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 12, "output_tokens": 4}
    });
    let (fake, base) = fake(vec![Reply::Json(reply)]).await;
    let config = ModelConfig::new(Provider::Anthropic, "claude-test")
        .with_base_url(&base)
        .with_api_key(KEY)
        .with_temperature(0.0);
    let model = config.build().unwrap();
    let request = ChatRequest {
        messages: vec![Message::system("Be brief."), Message::user("hi")],
        tools: Vec::new(),
    };
    let response = model.chat(&request).await.unwrap();
    assert_eq!(response.message.content(), "Hello from Claude.");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 4
        }
    );
    assert_eq!(response.model.as_deref(), Some("anthropic/claude-test"));
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/messages");
    assert_eq!(received[0].headers["x-api-key"], KEY);
    assert_eq!(received[0].body["model"], "claude-test");
    assert_eq!(
        received[0].body["max_tokens"], 4096,
        "Anthropic requires max_tokens"
    );
    assert_eq!(content_text(&received[0].body["system"]), "Be brief.");
    assert_eq!(received[0].body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn ollama_chat_is_posted_to_api_chat() {
    let reply = json!({
        "model": "llama-test", "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "Hello from Ollama."},
        "done": true, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 5
    });
    let (fake, base) = fake(vec![Reply::Json(reply)]).await;
    let config: ModelConfig = serde_json::from_value(json!({
        "provider": "ollama", "model": "llama-test", "base_url": base, "timeout": "5s"
    }))
    .unwrap();
    let model = config.build().unwrap();
    let request = ChatRequest {
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
    };
    let response = model.chat(&request).await.unwrap();
    assert_eq!(response.message.content(), "Hello from Ollama.");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 9,
            output_tokens: 5
        }
    );
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/api/chat");
    assert_eq!(received[0].body["model"], "llama-test");
    assert!(
        received[0].headers.get("authorization").is_none(),
        "no key, no header"
    );
    assert_eq!(
        PriceTable::new().cost(&response).unpriced_calls,
        1,
        "a local Ollama is not priced from the catalog"
    );
}
