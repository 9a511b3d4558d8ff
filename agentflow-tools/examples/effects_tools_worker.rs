//! The worker process of `tests/effects_processes.rs`: a graph whose one node is a [`ToolNode`]
//! running two tool calls, a Slack post (`slack_post_message`) and a Jira issue
//! (`jira_create_issue`), checkpointed in PostgreSQL or SQLite. The tests kill it between the
//! effects and their result, race two of it on one paused checkpoint, or make the vendors
//! stall past the tool node's timeout.
//!
//! ```text
//! effects_tools_worker <postgres URL | sqlite PATH> <slack-base-url> <jira-base-url> <thread>
//!     <start|pause|resume> <sync|async|exit> <tool-timeout-ms>
//! ```
//!
//! Prints the thread's final messages as JSON. A run that lost a race to another process fails
//! with an error that says `conflict`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agentflow_core::checkpoint::Checkpointer;
use agentflow_core::testing::effects::{WORKER_LEASE, parse_durability};
use agentflow_core::{BoxError, END, RunConfig, RunInput, START, StateGraph};
use agentflow_tools::jira::{self, JiraClient, JiraConfig};
use agentflow_tools::slack::{self, SlackClient};
use agentflow_tools::{
    AgentState, AgentStateUpdate, Message, ToolCall, ToolNode, ToolNodeOptions, ToolRegistry,
};
use serde_json::json;

/// The Slack channel the worker posts in (the fake accepts any id starting with `C`).
const CHANNEL: &str = "C0123456789";

/// The saver named by the first two arguments, migrated.
async fn open_saver(kind: &str, location: &str) -> Result<Arc<dyn Checkpointer>, BoxError> {
    Ok(match kind {
        "postgres" => {
            let saver = agentflow_postgres::PostgresSaver::new(sqlx::PgPool::connect(location).await?);
            saver.migrate().await?;
            Arc::new(saver)
        }
        "sqlite" => Arc::new(agentflow_sqlite::SqliteSaver::open(location).await?),
        other => return Err(format!("unknown saver `{other}` (postgres or sqlite)").into()),
    })
}

/// The Slack and Jira tools against the given base URLs, run with `timeout` per attempt.
fn tool_node(slack_base: &str, jira_base: &str, timeout: Duration) -> Result<ToolNode, BoxError> {
    let mut tools = ToolRegistry::new();
    let slack_client = SlackClient::builder("xoxb-test")
        .base_url(slack_base)
        .timeout(Duration::from_secs(60))
        .build()?;
    slack::register(&mut tools, slack_client);
    let jira_config =
        JiraConfig::new(jira_base, "agent@example.com", "token")?.with_timeout(Duration::from_secs(60));
    jira::register(&mut tools, JiraClient::new(jira_config)?);
    let options = ToolNodeOptions {
        timeout: Some(timeout),
        retry: ToolNodeOptions::default_retry()
            .max_attempts(3)
            .initial_interval(Duration::from_millis(10)),
        ..ToolNodeOptions::default()
    };
    Ok(ToolNode::new(tools, options))
}

/// The conversation so far: the model asked for the two calls.
fn input() -> AgentStateUpdate {
    let calls = vec![
        ToolCall::new(
            "slack-call",
            "slack_post_message",
            json!({"channel": CHANNEL, "text": "Deploy finished"}),
        ),
        ToolCall::new(
            "jira-call",
            "jira_create_issue",
            json!({"project_key": "ENG", "summary": "Verify the deploy"}),
        ),
    ];
    AgentStateUpdate::default().messages(vec![
        Message::user("Tell the team and open a follow-up."),
        Message::assistant_with_calls("", calls),
    ])
}

async fn run(args: &[String]) -> Result<String, BoxError> {
    let [
        kind,
        location,
        slack_base,
        jira_base,
        thread,
        action,
        mode,
        timeout_ms,
    ] = args
    else {
        return Err(
            "usage: effects_tools_worker <postgres URL | sqlite PATH> <slack-base-url> \
                    <jira-base-url> <thread> <start|pause|resume> <sync|async|exit> <tool-timeout-ms>"
                .into(),
        );
    };
    let saver = open_saver(kind, location).await?;
    let node = tool_node(slack_base, jira_base, Duration::from_millis(timeout_ms.parse()?))?;
    let mut graph = StateGraph::<AgentState>::new();
    graph.add_node_impl("tools", node);
    graph.add_edge(START, "tools");
    graph.add_edge("tools", END);
    let graph = graph
        .compile()?
        .with_shared_checkpointer(saver)
        .with_durability(parse_durability(mode)?)
        .with_intent_lease(WORKER_LEASE);
    let config = RunConfig::new().thread_id(thread.as_str());
    let out = match action.as_str() {
        "start" => graph.invoke(input(), config).await,
        "pause" => graph.invoke(input(), config.interrupt_before(["tools"])).await,
        "resume" => graph.invoke(RunInput::Continue, config).await,
        other => return Err(format!("unknown action `{other}`").into()),
    };
    match out {
        Ok(out) => Ok(serde_json::to_string(&out.state.messages)?),
        Err(e) if e.is_conflict() => Err(format!("conflict: {e}").into()),
        Err(e) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(messages) => {
            println!("{messages}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("effects_tools_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
