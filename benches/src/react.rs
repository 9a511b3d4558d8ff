//! `react_agent_10x`, `react_agent_100x`: the prebuilt ReAct agent with one tool and a scripted
//! model, as LangGraph's `react_agent.py` bench builds it.
//!
//! The tool returns `"result for query: {query}"` repeated 10 times. The model answers, in
//! order, K messages each holding one tool call whose `query` is a UUID string repeated 100
//! times, then one message whose content is `"answer"` repeated 100 times (and starts over, like
//! LangGraph's fake model, so every run consumes exactly K + 1 answers). Input: one user message
//! `"hi?"`. K=10: 21 supersteps (agent x11, tools x10), 21 update events, 22 messages.

use std::sync::Arc;

use agentflow_core::{CompiledGraph, EventData};
use agentflow_tools::{
    AgentState, AgentStateUpdate, Message, ReactOptions, ScriptedModel, Tool, ToolCall, ToolContext,
    ToolError, ToolRegistry, react_agent,
};

use crate::{BenchError, StreamMode, drain, expect_eq, run_config};

/// The tool's arguments.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct QueryArgs {
    /// The query.
    pub query: String,
}

/// The bench's tool: `"result for query: {query}"` ten times. Its name is a random UUID, as in
/// LangGraph's bench.
pub struct QueryTool {
    name: String,
}

impl Tool for QueryTool {
    type Args = QueryArgs;
    type Output = String;
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        ""
    }
    async fn call(&self, args: QueryArgs, _ctx: ToolContext) -> Result<String, ToolError> {
        Ok(format!("result for query: {}", args.query).repeat(10))
    }
}

/// The final answer: `"answer"` repeated 100 times.
pub fn final_answer() -> String {
    "answer".repeat(100)
}

/// The scripted model: `k` tool-calling messages, then the final answer.
pub fn model(k: usize, tool_name: &str) -> ScriptedModel {
    let mut script: Vec<Message> = (0..k)
        .map(|_| {
            let call = ToolCall::new(
                uuid::Uuid::new_v4().to_string(),
                tool_name,
                serde_json::json!({ "query": uuid::Uuid::new_v4().to_string().repeat(100) }),
            );
            Message::assistant_with_calls("", vec![call])
        })
        .collect();
    script.push(Message::assistant(final_answer()));
    ScriptedModel::new(script)
}

/// Builds the agent for `k` tool calls.
pub fn build(k: usize) -> Result<CompiledGraph<AgentState>, BenchError> {
    let tool = QueryTool {
        name: uuid::Uuid::new_v4().to_string(),
    };
    let model = model(k, &tool.name);
    let mut tools = ToolRegistry::new();
    tools.add(tool);
    Ok(react_agent(Arc::new(model), tools, ReactOptions::default())?)
}

/// The input, `{"messages": [HumanMessage("hi?")]}`.
pub fn input() -> AgentStateUpdate {
    AgentStateUpdate::default().messages(vec![Message::user("hi?")])
}

/// What one run produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Update events (one per node execution).
    pub update_events: usize,
    /// Supersteps.
    pub steps: usize,
    /// Final length of `messages`.
    pub messages: usize,
    /// Tool messages holding the tool's result (not an error), 36,390 characters each.
    pub tool_results: usize,
    /// True when the last message is the final answer.
    pub answered: bool,
}

impl Counts {
    /// What BENCHMARKS.md expects for `k` tool calls: 2k + 1 supersteps and update events,
    /// 2k + 2 messages.
    pub fn expected(k: usize) -> Counts {
        Counts {
            update_events: 2 * k + 1,
            steps: 2 * k + 1,
            messages: 2 * k + 2,
            tool_results: k,
            answered: true,
        }
    }
}

/// Length of one tool result: `"result for query: "` (18) plus a 3600-character query, ten times.
pub const TOOL_RESULT_LEN: usize = (18 + 3600) * 10;

/// One timed run: stream in updates mode with a fresh thread id and drain every event.
pub async fn run(graph: &CompiledGraph<AgentState>) -> Result<Counts, BenchError> {
    let mut update_events = 0;
    let events = graph.stream(input(), run_config(), StreamMode::Updates);
    let out = drain(events, |event| {
        if let EventData::Updates { .. } = event.data {
            update_events += 1;
        }
    })
    .await?;
    let messages = &out.state.messages;
    Ok(Counts {
        update_events,
        steps: out.steps,
        messages: messages.len(),
        tool_results: messages
            .iter()
            .filter(|m| {
                matches!(m, Message::Tool { content, is_error: false, .. }
                    if content.len() == TOOL_RESULT_LEN && content.starts_with("result for query: "))
            })
            .count(),
        answered: messages.last().map(Message::content) == Some(final_answer().as_str()),
    })
}

/// Runs once and checks the counts against BENCHMARKS.md; returns a description of them.
pub async fn verify(graph: &CompiledGraph<AgentState>, k: usize) -> Result<String, BenchError> {
    let counts = run(graph).await?;
    expect_eq(&format!("react_agent_{k}x counts"), counts, Counts::expected(k))?;
    Ok(format!(
        "{} supersteps, {} update events, {} messages ({} tool results)",
        counts.steps, counts.update_events, counts.messages, counts.tool_results
    ))
}
