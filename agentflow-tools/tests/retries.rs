//! How the tool node and the agent's model calls retry: what an ambiguous failure does to each
//! kind of tool, the cap on a backend's `Retry-After`, and waits that end on cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentflow_core::{CancellationToken, GraphError, RunConfig};
use agentflow_tools::{
    AgentStateUpdate, Idempotency, Message, ModelError, ReactOptions, ScriptedModel, Tool, ToolCall,
    ToolContext, ToolError, ToolNode, ToolNodeOptions, ToolRegistry, react_agent,
};
use tokio::time::Instant;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

/// A tool that fails with the scripted errors, then succeeds with `"done"`; it counts its
/// calls and lookups, and its lookups find the effect after `found_after` of them.
struct Scripted {
    idempotency: Idempotency,
    failures: std::sync::Mutex<Vec<ToolError>>,
    calls: Arc<AtomicUsize>,
    lookups: Arc<AtomicUsize>,
    found_after: Option<usize>,
}

impl Scripted {
    fn new(idempotency: Idempotency, failures: Vec<ToolError>) -> Self {
        Scripted {
            idempotency,
            failures: std::sync::Mutex::new(failures),
            calls: Arc::default(),
            lookups: Arc::default(),
            found_after: None,
        }
    }
}

impl Tool for Scripted {
    type Args = NoArgs;
    type Output = String;

    fn name(&self) -> &str {
        "effect"
    }

    fn description(&self) -> &str {
        "Does something once."
    }

    fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    async fn call(&self, _args: NoArgs, _ctx: ToolContext) -> Result<String, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let next = {
            let mut failures = self.failures.lock().unwrap();
            (!failures.is_empty()).then(|| failures.remove(0))
        };
        match next {
            Some(error) => Err(error),
            None => Ok("done".into()),
        }
    }

    async fn reconcile(&self, _args: NoArgs, _ctx: ToolContext) -> Result<Option<String>, ToolError> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst) + 1;
        match self.found_after {
            Some(after) if n > after => Ok(Some("found the earlier effect".into())),
            Some(_) => Err(ToolError::retryable("lookup unavailable")),
            None => Ok(None),
        }
    }
}

fn node(tool: Scripted, options: ToolNodeOptions) -> ToolNode {
    let mut tools = ToolRegistry::new();
    tools.add(tool);
    ToolNode::new(tools, options)
}

fn fast() -> ToolNodeOptions {
    ToolNodeOptions {
        retry: ToolNodeOptions::default_retry()
            .max_attempts(3)
            .initial_interval(Duration::from_millis(1)),
        ..ToolNodeOptions::default()
    }
}

fn call() -> ToolCall {
    ToolCall::new("c1", "effect", serde_json::json!({}))
}

async fn execute(node: &ToolNode) -> Message {
    node.execute(&call(), "key".into(), CancellationToken::new())
        .await
}

fn ambiguous() -> ToolError {
    ToolError::ambiguous("the request timed out after it was sent", None)
}

#[tokio::test]
async fn a_not_idempotent_tool_is_not_called_again_after_an_ambiguous_failure() {
    let tool = Scripted::new(Idempotency::NotIdempotent, vec![ambiguous()]);
    let calls = tool.calls.clone();
    let answer = execute(&node(tool, fast())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(answer.content().starts_with("error: "), "{}", answer.content());
    assert!(
        answer
            .content()
            .contains("may have taken effect, so it was not repeated")
    );
}

#[tokio::test]
async fn a_not_idempotent_tool_is_still_retried_after_a_failure_that_did_nothing() {
    let tool = Scripted::new(
        Idempotency::NotIdempotent,
        vec![ToolError::retryable("rate limited")],
    );
    let calls = tool.calls.clone();
    let answer = execute(&node(tool, fast())).await;
    assert_eq!(answer.content(), "done");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_node_timeout_is_ambiguous_for_a_not_idempotent_tool() {
    struct Slow(Arc<AtomicUsize>);
    impl Tool for Slow {
        type Args = NoArgs;
        type Output = String;
        fn name(&self) -> &str {
            "effect"
        }
        fn description(&self) -> &str {
            "Slow."
        }
        fn idempotency(&self) -> Idempotency {
            Idempotency::NotIdempotent
        }
        async fn call(&self, _: NoArgs, _: ToolContext) -> Result<String, ToolError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok("late".into())
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tools = ToolRegistry::new();
    tools.add(Slow(calls.clone()));
    let options = ToolNodeOptions {
        timeout: Some(Duration::from_millis(50)),
        ..fast()
    };
    let answer = execute(&ToolNode::new(tools, options)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{}", answer.content());
    assert!(answer.content().contains("timed out"), "{}", answer.content());
}

#[tokio::test]
async fn a_reconcilable_tool_is_looked_up_until_the_lookup_answers_and_not_called_again() {
    let mut tool = Scripted::new(Idempotency::Reconcilable, vec![ambiguous()]);
    tool.found_after = Some(1);
    let (calls, lookups) = (tool.calls.clone(), tool.lookups.clone());
    let answer = execute(&node(tool, fast())).await;
    assert_eq!(answer.content(), "found the earlier effect");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        2,
        "a failed lookup is tried again"
    );
}

#[tokio::test]
async fn a_reconcilable_tool_whose_lookup_never_answers_is_not_called_again() {
    let mut tool = Scripted::new(Idempotency::Reconcilable, vec![ambiguous()]);
    tool.found_after = Some(usize::MAX);
    let calls = tool.calls.clone();
    let answer = execute(&node(tool, fast())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        answer
            .content()
            .contains("an earlier attempt may have taken effect"),
        "{}",
        answer.content()
    );
}

#[tokio::test]
async fn an_idempotent_tool_is_retried_after_an_ambiguous_failure_without_lookups() {
    let tool = Scripted::new(Idempotency::Idempotent, vec![ambiguous()]);
    let (calls, lookups) = (tool.calls.clone(), tool.lookups.clone());
    assert_eq!(execute(&node(tool, fast())).await.content(), "done");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn resuming_a_crashed_call_depends_on_the_tools_idempotency() {
    let cancel = CancellationToken::new();
    // Not idempotent: never run again, the model is told the outcome is unknown.
    let tool = Scripted::new(Idempotency::NotIdempotent, vec![]);
    let calls = tool.calls.clone();
    let node_ = node(tool, fast());
    let resumed = node_
        .resume_calls(&[call()], "step", cancel.clone())
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(
        resumed[0].content().contains("may have taken effect"),
        "{}",
        resumed[0].content()
    );
    // Idempotent: simply run again.
    let tool = Scripted::new(Idempotency::Idempotent, vec![]);
    let calls = tool.calls.clone();
    let resumed = node(tool, fast())
        .resume_calls(&[call()], "step", cancel.clone())
        .await
        .unwrap();
    assert_eq!((calls.load(Ordering::SeqCst), resumed[0].content()), (1, "done"));
    // Reconcilable and found: the found result, no call.
    let mut tool = Scripted::new(Idempotency::Reconcilable, vec![]);
    tool.found_after = Some(0);
    let calls = tool.calls.clone();
    let resumed = node(tool, fast())
        .resume_call(&call(), "k".into(), cancel.clone())
        .await
        .unwrap();
    assert_eq!(
        (calls.load(Ordering::SeqCst), resumed.content()),
        (0, "found the earlier effect")
    );
    // Reconcilable, lookup keeps failing: a retryable node error, and no call.
    let mut tool = Scripted::new(Idempotency::Reconcilable, vec![]);
    tool.found_after = Some(usize::MAX);
    let calls = tool.calls.clone();
    let error = node(tool, fast())
        .resume_call(&call(), "k".into(), cancel)
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// Retry-After: capped, cancellable

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(start_paused = true)]
async fn a_tools_retry_after_of_a_day_is_capped_at_a_minute_by_default() {
    let tool = Scripted::new(
        Idempotency::Idempotent,
        vec![ToolError::retry_after("rate limited", DAY)],
    );
    let started = Instant::now();
    let answer = execute(&node(tool, fast())).await;
    let waited = started.elapsed();
    assert_eq!(answer.content(), "done");
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_tool_retry_after_cap_is_configurable() {
    let tool = Scripted::new(
        Idempotency::Idempotent,
        vec![ToolError::retry_after("rate limited", DAY)],
    );
    let mut options = fast();
    options.retry = options.retry.max_retry_after(Duration::from_secs(2));
    let started = Instant::now();
    assert_eq!(execute(&node(tool, options)).await.content(), "done");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
}

fn rate_limited_model(retry_after: Duration) -> Arc<ScriptedModel> {
    Arc::new(ScriptedModel::from_results([
        Err(ModelError::Retryable {
            message: "429".into(),
            retry_after: Some(retry_after),
        }),
        Ok(Message::assistant("hello")),
    ]))
}

fn question() -> AgentStateUpdate {
    AgentStateUpdate::default().messages(vec![Message::user("hi")])
}

#[tokio::test(start_paused = true)]
async fn a_models_retry_after_of_a_day_is_capped() {
    for (cap, expected) in [
        (None, Duration::from_secs(60)),
        (Some(Duration::from_secs(3)), Duration::from_secs(3)),
    ] {
        let mut options = ReactOptions::default();
        if let Some(cap) = cap {
            options.model_retry = options.model_retry.max_retry_after(cap);
        }
        let agent = react_agent(rate_limited_model(DAY), ToolRegistry::new(), options).unwrap();
        let started = Instant::now();
        let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
        let waited = started.elapsed();
        assert_eq!(out.state.messages.last().unwrap().content(), "hello");
        assert!(
            waited >= expected && waited < expected + Duration::from_secs(1),
            "cap {cap:?}: waited {waited:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_the_run_ends_a_models_retry_wait_at_once() {
    let agent = react_agent(
        rate_limited_model(Duration::from_secs(30)),
        ToolRegistry::new(),
        ReactOptions::default(),
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let started = std::time::Instant::now();
    let run = agent.invoke(question(), RunConfig::new().cancellation(cancel));
    let result = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run still waits for the 30 s Retry-After after being cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(result.is_err());
    if let Err(error) = result {
        assert!(
            matches!(error, GraphError::Cancelled | GraphError::Node { .. }),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_ends_a_tools_retry_wait_at_once() {
    let tool = Scripted::new(
        Idempotency::Idempotent,
        vec![ToolError::retry_after("rate limited", Duration::from_secs(30))],
    );
    let node = node(tool, fast());
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let started = std::time::Instant::now();
    let answer = node.execute(&call(), "key".into(), cancel).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        answer.content().contains("cancelled while waiting"),
        "{}",
        answer.content()
    );
}
