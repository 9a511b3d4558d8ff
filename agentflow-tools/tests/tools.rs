//! The tools framework: arguments, messages, the tool node's reliability features and the
//! prebuilt ReAct agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use agentflow_core::checkpoint::{CheckpointRef, InMemorySaver, MsgPackCodec};
use agentflow_core::{Command, END, RunConfig, RunInput, START, StateGraph};
use agentflow_tools::{
    AgentState, AgentStateUpdate, BreakerConfig, CircuitBreakers, CircuitState, Message, ReactOptions,
    ScriptedModel, Tool, ToolCall, ToolContext, ToolError, ToolNode, ToolNodeOptions, ToolRegistry, Usage,
    add_messages, react_agent,
};
use serde_json::json;
use tokio::time::Instant;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
    #[serde(default)]
    delay_ms: u64,
}

/// Echoes its text after `delay_ms`; counts its calls.
#[derive(Default)]
struct Echo {
    calls: Arc<AtomicU32>,
}

impl Tool for Echo {
    type Args = EchoArgs;
    type Output = String;
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Echoes its text."
    }
    async fn call(&self, args: EchoArgs, _ctx: ToolContext) -> Result<String, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        Ok(format!("echo: {}", args.text))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

/// Fails with the scripted errors in order, then succeeds.
struct Flaky {
    name: &'static str,
    backend: Option<&'static str>,
    errors: std::sync::Mutex<Vec<ToolError>>,
    calls: Arc<AtomicU32>,
}

impl Flaky {
    fn new(name: &'static str, errors: Vec<ToolError>) -> (Self, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let tool = Flaky {
            name,
            backend: None,
            errors: std::sync::Mutex::new(errors.into_iter().rev().collect()),
            calls: calls.clone(),
        };
        (tool, calls)
    }
}

impl Tool for Flaky {
    type Args = NoArgs;
    type Output = serde_json::Value;
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "Fails, then works."
    }
    fn backend(&self) -> &str {
        self.backend.unwrap_or(self.name)
    }
    async fn call(&self, _args: NoArgs, _ctx: ToolContext) -> Result<serde_json::Value, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.errors.lock().unwrap().pop() {
            Some(e) => Err(e),
            None => Ok(json!({"ok": true})),
        }
    }
}

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall::new(id, name, args)
}

fn registry(tool: impl Tool) -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools.add(tool);
    tools
}

#[tokio::test]
async fn invalid_arguments_become_a_readable_error() {
    let tools = registry(Echo::default());
    let echo = tools.get("echo").unwrap();
    assert_eq!(echo.parameters()["required"], json!(["text"]));
    let err = echo
        .call_json(json!({"text": 42}), ToolContext::new("k"))
        .await
        .unwrap_err();
    let ToolError::InvalidArguments(message) = &err else {
        panic!("expected InvalidArguments, got {err:?}")
    };
    assert!(
        message.contains("invalid type: integer `42`, expected a string"),
        "{message}"
    );

    let node = ToolNode::new(tools, ToolNodeOptions::default());
    let answer = node
        .execute(
            &call("c1", "echo", json!({"txt": "hi"})),
            "k".into(),
            Default::default(),
        )
        .await;
    let Message::Tool {
        tool_call_id,
        content,
        is_error,
        ..
    } = &answer
    else {
        panic!("a tool message")
    };
    assert_eq!(&**tool_call_id, "c1");
    assert!(is_error);
    assert_eq!(
        &**content,
        "error: invalid arguments for tool `echo`: missing field `text`"
    );

    let answer = node
        .execute(
            &call("c2", "echo", json!("not an object")),
            "k".into(),
            Default::default(),
        )
        .await;
    assert!(
        answer
            .content()
            .starts_with("error: invalid arguments for tool `echo`: invalid type")
    );
}

#[test]
fn add_messages_appends_and_replaces_by_id() {
    let mut messages = vec![
        Message::user("hi").with_id("u1"),
        Message::assistant("hello").with_id("a1"),
    ];
    add_messages(
        &mut messages,
        vec![
            Message::assistant("hello, edited").with_id("a1"),
            Message::user("next"),
            Message::user("with id").with_id("u2"),
            Message::user("with id, again").with_id("u2"),
        ],
    );
    let contents: Vec<&str> = messages.iter().map(Message::content).collect();
    assert_eq!(contents, ["hi", "hello, edited", "next", "with id, again"]);
    assert_eq!(messages[1].id(), Some("a1"));
    let fresh = messages[2].id().expect("a message without an id gets one");
    assert_eq!(uuid::Uuid::parse_str(fresh).unwrap().get_version_num(), 4);
    assert_eq!(messages[3].id(), Some("u2"));
}

#[tokio::test(start_paused = true)]
async fn tool_node_runs_calls_in_parallel_and_keeps_their_order() {
    let echo = Echo::default();
    let count = echo.calls.clone();
    let mut graph = StateGraph::<AgentState>::new();
    graph.add_node_impl("tools", ToolNode::new(registry(echo), ToolNodeOptions::default()));
    graph.add_sequence([START, "tools", END]);
    let graph = graph.compile().unwrap();
    let calls = vec![
        call("c1", "echo", json!({"text": "slow", "delay_ms": 300})),
        call("c2", "echo", json!({"text": "fast", "delay_ms": 100})),
        call("c3", "echo", json!({"text": "middle", "delay_ms": 200})),
    ];
    let input = AgentStateUpdate::default().messages(vec![Message::assistant_with_calls("", calls)]);
    let started = Instant::now();
    let out = graph.invoke(input, RunConfig::new()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(300), "the calls overlap");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let results: Vec<(String, &str)> = out.state.messages[1..]
        .iter()
        .map(|m| match m {
            Message::Tool {
                tool_call_id,
                content,
                ..
            } => (tool_call_id.to_string(), &**content),
            other => panic!("not a tool message: {other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        [
            ("c1".to_string(), "echo: slow"),
            ("c2".to_string(), "echo: fast"),
            ("c3".to_string(), "echo: middle")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_after_retry_after() {
    let (flaky, calls) = Flaky::new(
        "flaky",
        vec![
            ToolError::retry_after("rate limited", Duration::from_secs(7)),
            ToolError::retry_after("rate limited", Duration::from_secs(5)),
        ],
    );
    let node = ToolNode::new(registry(flaky), ToolNodeOptions::default());
    let started = Instant::now();
    let answer = node
        .execute(&call("c1", "flaky", json!({})), "k".into(), Default::default())
        .await;
    assert_eq!(answer.content(), r#"{"ok":true}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(12), "waited 7 s, then 5 s");

    // Out of attempts: the last error reaches the model.
    let (flaky, calls) = Flaky::new("flaky", vec![ToolError::retryable("down"); 5]);
    let options = ToolNodeOptions {
        retry: ToolNodeOptions::default_retry()
            .max_attempts(2)
            .initial_interval(Duration::from_secs(1)),
        ..Default::default()
    };
    let node = ToolNode::new(registry(flaky), options);
    let answer = node
        .execute(&call("c1", "flaky", json!({})), "k".into(), Default::default())
        .await;
    assert_eq!(answer.content(), "error: down (gave up after 2 attempt(s))");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Terminal errors are not retried.
    let (flaky, calls) = Flaky::new("flaky", vec![ToolError::terminal("no such ticket")]);
    let node = ToolNode::new(registry(flaky), ToolNodeOptions::default());
    let answer = node
        .execute(&call("c1", "flaky", json!({})), "k".into(), Default::default())
        .await;
    assert_eq!(answer.content(), "error: no such ticket");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retryable_failures() {
    let echo = Echo::default();
    let count = echo.calls.clone();
    let options = ToolNodeOptions {
        timeout: Some(Duration::from_secs(1)),
        retry: ToolNodeOptions::default_retry()
            .max_attempts(2)
            .initial_interval(Duration::from_millis(10)),
        ..Default::default()
    };
    let node = ToolNode::new(registry(echo), options);
    let answer = node
        .execute(
            &call("c1", "echo", json!({"text": "x", "delay_ms": 5000})),
            "k".into(),
            Default::default(),
        )
        .await;
    assert_eq!(
        answer.content(),
        "error: tool `echo` timed out after 1s (gave up after 2 attempt(s))"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_fails_fast_and_half_opens_after_the_cool_down() {
    let (flaky, calls) = Flaky::new("jira", vec![ToolError::retryable("503"); 3]);
    let breakers = CircuitBreakers::new(BreakerConfig {
        failure_threshold: 2,
        cool_down: Duration::from_secs(10),
    });
    let options = ToolNodeOptions {
        retry: ToolNodeOptions::default_retry().max_attempts(1),
        breakers: breakers.clone(),
        ..Default::default()
    };
    let node = ToolNode::new(registry(flaky), options);
    let c = call("c", "jira", json!({}));
    let run = || node.execute(&c, "k".into(), Default::default());

    assert!(run().await.content().starts_with("error: 503"));
    assert_eq!(breakers.state("jira"), CircuitState::Closed { failures: 1 });
    run().await;
    let CircuitState::Open { until } = breakers.state("jira") else {
        panic!("open after 2 failures: {:?}", breakers.state("jira"))
    };
    assert_eq!(until, Instant::now() + Duration::from_secs(10));

    // Open: fails fast without calling the tool.
    let answer = run().await;
    assert!(answer.content().contains("circuit open"), "{}", answer.content());
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // After the cool-down one probe goes through; it fails (third scripted error): open again.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(run().await.content().starts_with("error: 503"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(matches!(breakers.state("jira"), CircuitState::Open { .. }));
    assert!(run().await.content().contains("circuit open"));

    // The next probe succeeds: closed.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(breakers.try_acquire("jira"), Ok(()));
    assert_eq!(breakers.state("jira"), CircuitState::HalfOpen);
    assert!(breakers.try_acquire("jira").is_err(), "one probe at a time");
    breakers.record_neutral("jira");
    assert_eq!(run().await.content(), r#"{"ok":true}"#);
    assert_eq!(breakers.state("jira"), CircuitState::Closed { failures: 0 });
    assert_eq!(breakers.states().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn tools_of_one_backend_share_its_circuit() {
    let (mut create, created) = Flaky::new("crm_create", vec![ToolError::retryable("503"); 2]);
    let (mut read, reads) = Flaky::new("crm_read", vec![]);
    (create.backend, read.backend) = (Some("crm"), Some("crm"));
    let (other, others) = Flaky::new("weather", vec![]);
    let mut tools = ToolRegistry::new();
    tools.add(create).add(read).add(other);
    let breakers = CircuitBreakers::new(BreakerConfig {
        failure_threshold: 2,
        cool_down: Duration::from_secs(10),
    });
    let options = ToolNodeOptions {
        retry: ToolNodeOptions::default_retry().max_attempts(1),
        breakers: breakers.clone(),
        ..Default::default()
    };
    let node = ToolNode::new(tools, options);
    let calls: Vec<ToolCall> = ["crm_create", "crm_read", "weather"]
        .iter()
        .map(|name| call("c", name, json!({})))
        .collect();
    let run = |i: usize| node.execute(&calls[i], "k".into(), Default::default());
    run(0).await;
    run(0).await;
    assert!(matches!(breakers.state("crm"), CircuitState::Open { .. }));
    // The backend is down for every tool that calls it, not only for the one that failed.
    let answer = run(1).await;
    assert!(
        answer.content().contains("circuit open for `crm`"),
        "{}",
        answer.content()
    );
    assert_eq!(
        (created.load(Ordering::SeqCst), reads.load(Ordering::SeqCst)),
        (2, 0)
    );
    // Another backend is not affected.
    assert_eq!(run(2).await.content(), r#"{"ok":true}"#);
    assert_eq!(others.load(Ordering::SeqCst), 1);
}

fn scripted(turns: Vec<Vec<ToolCall>>, answer: &str) -> ScriptedModel {
    let mut script: Vec<Message> = turns
        .into_iter()
        .map(|calls| Message::assistant_with_calls("", calls))
        .collect();
    script.push(Message::assistant(answer));
    ScriptedModel::new(script).recording().with_usage(Usage {
        input_tokens: 10,
        output_tokens: 2,
    })
}

#[tokio::test(start_paused = true)]
async fn react_agent_loops_until_the_model_answers() {
    let echo = Echo::default();
    let count = echo.calls.clone();
    let mut tools = registry(echo);
    let (failing, _) = Flaky::new("broken", vec![ToolError::terminal("permission denied")]);
    tools.add(failing);
    let model = Arc::new(scripted(
        vec![
            vec![
                call("a", "echo", json!({"text": "one", "delay_ms": 50})),
                call("b", "echo", json!({"text": "two"})),
            ],
            vec![call("c", "broken", json!({})), call("d", "missing", json!({}))],
        ],
        "done",
    ));
    let options = ReactOptions {
        system_prompt: Some("be brief".into()),
        ..Default::default()
    };
    let agent = react_agent(model.clone(), tools, options).unwrap();
    let out = agent
        .invoke(
            AgentStateUpdate::default().messages(vec![Message::user("go")]),
            RunConfig::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.steps, 5, "agent, tools, agent, tools, agent");
    let contents: Vec<&str> = out.state.messages.iter().map(Message::content).collect();
    assert_eq!(
        contents,
        [
            "go",
            "",
            "echo: one",
            "echo: two",
            "",
            "error: permission denied",
            "error: unknown tool `missing`; the available tools are: echo, broken",
            "done"
        ]
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(
        out.state.usage,
        Usage {
            input_tokens: 30,
            output_tokens: 6
        }
    );
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].messages[0], Message::system("be brief"));
    assert_eq!(requests[2].messages.len(), 8, "system prompt + 7 messages");
    assert_eq!(requests[0].tools.len(), 2);
    assert!(out.state.messages.iter().all(|m| m.id().is_some()));
}

#[tokio::test]
async fn react_agent_pauses_before_tools_and_resumes_with_a_checkpointer() {
    let echo = Echo::default();
    let count = echo.calls.clone();
    let model = Arc::new(scripted(
        vec![vec![call("a", "echo", json!({"text": "x"}))]],
        "final",
    ));
    let agent = react_agent(model, registry(echo), ReactOptions::default())
        .unwrap()
        .with_checkpointer(InMemorySaver::new())
        .with_codec(MsgPackCodec)
        .interrupt_before(["tools"])
        .unwrap();
    let config = || RunConfig::new().thread_id("react-1");

    let out = agent
        .invoke(
            AgentStateUpdate::default().messages(vec![Message::user("hi")]),
            config(),
        )
        .await
        .unwrap();
    assert!(out.is_interrupted());
    assert_eq!(out.interrupts[0].node, "tools");
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let snapshot = agent
        .get_state(&CheckpointRef::latest("react-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.values.messages.len(), 2);
    assert_eq!(snapshot.values.messages[1].tool_calls()[0].name, "echo");

    let out = agent.invoke(RunInput::Continue, config()).await.unwrap();
    assert!(!out.is_interrupted());
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let contents: Vec<&str> = out.state.messages.iter().map(Message::content).collect();
    assert_eq!(contents, ["hi", "", "echo: x", "final"]);

    // The stored state decodes back into the typed messages.
    let stored = agent
        .get_state(&CheckpointRef::latest("react-1"))
        .await
        .unwrap()
        .unwrap()
        .values;
    assert_eq!(stored.messages, out.state.messages);
}

#[tokio::test]
async fn a_journaled_tool_call_runs_once_across_an_interrupt() {
    let echo = Echo::default();
    let count = echo.calls.clone();
    let node = Arc::new(ToolNode::new(registry(echo), ToolNodeOptions::default()));
    let mut graph = StateGraph::<AgentState>::new();
    graph.add_node("act_then_ask", move |_state, ctx| {
        let node = node.clone();
        async move {
            let result = node
                .run_call(&call("c1", "echo", json!({"text": "side effect"})), &ctx)
                .await?;
            let approved: bool = ctx.interrupt(json!({"result": result.content()}))?;
            let verdict = Message::user(if approved { "approved" } else { "rejected" });
            Ok(AgentStateUpdate::default().messages(vec![result, verdict]))
        }
    });
    graph.add_sequence([START, "act_then_ask", END]);
    let graph = graph.compile().unwrap().with_checkpointer(InMemorySaver::new());
    let config = || RunConfig::new().thread_id("journal-1");

    let out = graph.invoke(AgentStateUpdate::default(), config()).await.unwrap();
    assert!(out.is_interrupted());
    assert_eq!(out.interrupts[0].value, json!({"result": "echo: side effect"}));
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let out = graph
        .invoke(Command::resume(json!(true)), config())
        .await
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1, "the tool call was not repeated");
    let contents: Vec<&str> = out.state.messages.iter().map(Message::content).collect();
    assert_eq!(contents, ["echo: side effect", "approved"]);
}

#[tokio::test(start_paused = true)]
async fn model_errors_are_retried_after_retry_after() {
    let model = ScriptedModel::from_results([
        Err(agentflow_tools::ModelError::Retryable {
            message: "overloaded".into(),
            retry_after: Some(Duration::from_secs(3)),
        }),
        Ok(Message::assistant("fine")),
    ]);
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let started = Instant::now();
    let out = agent
        .invoke(
            AgentStateUpdate::default().messages(vec![Message::user("hi")]),
            RunConfig::new(),
        )
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(out.state.messages[1].content(), "fine");

    let model = ScriptedModel::from_results([Err(agentflow_tools::ModelError::Terminal("bad key".into()))]);
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let err = agent
        .invoke(
            AgentStateUpdate::default().messages(vec![Message::user("hi")]),
            RunConfig::new(),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("bad key"), "{err}");
}
