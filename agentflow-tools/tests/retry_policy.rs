//! One retry policy for everything that retries: a node in the engine, a tool call in the tool
//! node and a model call in the agent wait on the same schedule and honour (and cap) a failure's
//! `retry_after` the same way.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentflow_core::{
    CancellationToken, Context, END, ErrorClass, Failure, NodeError, RetryPolicy, RunConfig, START,
    StateGraph,
};
use agentflow_tools::{
    AgentState, AgentStateUpdate, Message, ModelError, ReactOptions, ScriptedModel, Tool, ToolCall,
    ToolContext, ToolError, ToolNode, ToolNodeOptions, ToolRegistry, react_agent,
};
use tokio::time::Instant;

/// 4 attempts, 1 s doubling (so waits of 1, 2 and 4 s), no jitter, `retry_after` cut to 5 s.
fn policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .initial_interval(Duration::from_secs(1))
        .jitter(false)
        .max_retry_after(Duration::from_secs(5))
}

/// When each attempt started, as offsets from the first.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<Instant>>>);

impl Attempts {
    /// Records an attempt; its 1-based number.
    fn record(&self) -> usize {
        let mut times = self.0.lock().unwrap();
        times.push(Instant::now());
        times.len()
    }

    fn offsets(&self) -> Vec<Duration> {
        let times = self.0.lock().unwrap();
        times.iter().map(|t| *t - times[0]).collect()
    }
}

/// How the scripted failures ask to be retried.
#[derive(Clone, Copy)]
enum Ask {
    /// No delay of their own: the policy's backoff applies.
    Backoff,
    /// A `Retry-After` of 90 s, above the policy's 5 s cap.
    RetryAfter90s,
}

const ASKED: Duration = Duration::from_secs(90);

/// The schedule of a graph node that fails `failures` times, retried by `policy`.
async fn node_schedule(failures: usize, ask: Ask) -> Vec<Duration> {
    let attempts = Attempts::default();
    let seen = attempts.clone();
    let mut graph = StateGraph::<AgentState>::new();
    graph
        .add_node("flaky", move |_: Arc<AgentState>, _: Context| {
            let seen = seen.clone();
            async move {
                if seen.record() <= failures {
                    let error = NodeError::retryable("backend unavailable");
                    return Err(match ask {
                        Ask::Backoff => error,
                        Ask::RetryAfter90s => error.with_retry_after(ASKED),
                    });
                }
                Ok(AgentStateUpdate::default())
            }
        })
        .retry(policy());
    graph.add_edge(START, "flaky");
    graph.add_edge("flaky", END);
    let graph = graph.compile().unwrap();
    graph
        .invoke(AgentStateUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    attempts.offsets()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

/// A tool that fails `failures` times, then answers `"ok"`.
struct FlakyTool {
    attempts: Attempts,
    failures: usize,
    ask: Ask,
}

impl Tool for FlakyTool {
    type Args = NoArgs;
    type Output = String;

    fn name(&self) -> &str {
        "flaky"
    }

    fn description(&self) -> &str {
        "Fails, then works."
    }

    async fn call(&self, _: NoArgs, _: ToolContext) -> Result<String, ToolError> {
        if self.attempts.record() <= self.failures {
            return Err(match self.ask {
                Ask::Backoff => ToolError::retryable("backend unavailable"),
                Ask::RetryAfter90s => ToolError::retry_after("rate limited", ASKED),
            });
        }
        Ok("ok".into())
    }
}

/// The schedule of a tool call that fails `failures` times, retried by `policy`.
async fn tool_schedule(failures: usize, ask: Ask) -> Vec<Duration> {
    let attempts = Attempts::default();
    let mut tools = ToolRegistry::new();
    tools.add(FlakyTool {
        attempts: attempts.clone(),
        failures,
        ask,
    });
    let options = ToolNodeOptions {
        retry: policy(),
        ..ToolNodeOptions::default()
    };
    let call = ToolCall::new("c1", "flaky", serde_json::json!({}));
    let answer = ToolNode::new(tools, options)
        .execute(&call, "key".into(), CancellationToken::new())
        .await;
    assert_eq!(answer.content(), "ok");
    attempts.offsets()
}

/// How long the agent's model calls took when the model fails `failures` times first (the
/// scripted model answers instantly, so this is the retry waits alone).
async fn model_waits(failures: usize, ask: Ask) -> Duration {
    let failure = ModelError::Retryable {
        message: "overloaded".into(),
        retry_after: match ask {
            Ask::Backoff => None,
            Ask::RetryAfter90s => Some(ASKED),
        },
    };
    let script = std::iter::repeat_n(Err(failure), failures).chain([Ok(Message::assistant("ok"))]);
    let model = Arc::new(ScriptedModel::from_results(script));
    let options = ReactOptions {
        model_retry: policy(),
        ..ReactOptions::default()
    };
    let agent = react_agent(model.clone(), ToolRegistry::new(), options).unwrap();
    let started = Instant::now();
    let question = AgentStateUpdate::default().messages(vec![Message::user("hi")]);
    let out = agent.invoke(question, RunConfig::new()).await.unwrap();
    assert_eq!(out.state.messages.last().unwrap().content(), "ok");
    assert_eq!(model.calls(), failures + 1);
    started.elapsed()
}

fn secs(offsets: &[u64]) -> Vec<Duration> {
    offsets.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test(start_paused = true)]
async fn nodes_tools_and_models_back_off_on_the_same_schedule() {
    // Waits of 1, 2 and 4 s: attempts at 0, 1, 3 and 7 s.
    let expected = secs(&[0, 1, 3, 7]);
    assert_eq!(node_schedule(3, Ask::Backoff).await, expected, "node retries");
    assert_eq!(tool_schedule(3, Ask::Backoff).await, expected, "tool retries");
    assert_eq!(
        model_waits(3, Ask::Backoff).await,
        Duration::from_secs(7),
        "model retries"
    );
}

#[tokio::test(start_paused = true)]
async fn nodes_tools_and_models_honour_retry_after_up_to_the_same_cap() {
    // Each failure asks for 90 s; the policy waits its 5 s cap instead of its backoff.
    let expected = secs(&[0, 5, 10]);
    assert_eq!(
        node_schedule(2, Ask::RetryAfter90s).await,
        expected,
        "node retries"
    );
    assert_eq!(
        tool_schedule(2, Ask::RetryAfter90s).await,
        expected,
        "tool retries"
    );
    assert_eq!(
        model_waits(2, Ask::RetryAfter90s).await,
        Duration::from_secs(10),
        "model retries"
    );
}

#[test]
fn tool_model_and_node_errors_share_one_classification() {
    let two = Some(Duration::from_secs(2));
    let cases: [(&dyn Failure, ErrorClass, Option<Duration>); 8] = [
        (
            &NodeError::retryable("down").with_retry_after(Duration::from_secs(2)),
            ErrorClass::Retryable,
            two,
        ),
        (
            &NodeError::ambiguous("sent, no answer"),
            ErrorClass::Ambiguous,
            None,
        ),
        (
            &ToolError::retry_after("429", Duration::from_secs(2)),
            ErrorClass::Retryable,
            two,
        ),
        (
            &ToolError::ambiguous("timed out after sending", two),
            ErrorClass::Ambiguous,
            two,
        ),
        (
            &ToolError::InvalidArguments("no `id`".into()),
            ErrorClass::Terminal,
            None,
        ),
        (&ToolError::terminal("forbidden"), ErrorClass::Terminal, None),
        (
            &ModelError::Retryable {
                message: "overloaded".into(),
                retry_after: two,
            },
            ErrorClass::Retryable,
            two,
        ),
        (
            &ModelError::Terminal("bad request".into()),
            ErrorClass::Terminal,
            None,
        ),
    ];
    for (failure, class, retry_after) in cases {
        assert_eq!(
            (failure.class(), failure.retry_after()),
            (class, retry_after),
            "{}",
            failure.error()
        );
        assert_eq!(failure.is_retryable(), class != ErrorClass::Terminal);
    }
}

#[test]
fn a_node_error_made_from_a_failure_keeps_its_class_and_delay() {
    let ambiguous = ToolError::ambiguous("timed out after sending", Some(Duration::from_secs(2)));
    let kept = NodeError::from_failure(ambiguous.clone());
    assert_eq!(kept.class(), ErrorClass::Ambiguous);
    assert_eq!(kept.retry_after(), Some(Duration::from_secs(2)));
    assert!(kept.is_retryable());
    assert_eq!(kept.downcast_ref::<ToolError>(), Some(&ambiguous));
    // `?` (the blanket `From`) cannot know the class: everything becomes plainly retryable.
    let plain: NodeError = ambiguous.into();
    assert_eq!(
        (plain.class(), plain.retry_after()),
        (ErrorClass::Retryable, None)
    );
    let terminal = NodeError::from_failure(ModelError::Terminal("bad request".into()));
    assert!(!terminal.is_retryable());
}
