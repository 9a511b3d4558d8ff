//! The prebuilt ReAct agent (LangGraph's `create_react_agent`, version "v2").

use std::sync::Arc;
use std::time::Duration;

use agentflow_core::{
    BuildError, CompiledGraph, Context, END, NodeError, Route, START, Send, State, StateGraph,
};
use serde::{Deserialize, Serialize};

use crate::message::{Message, ToolCall, add_messages};
use crate::model::{ChatModel, ChatRequest, ChatResponse, ModelError, Usage};
use crate::tool::ToolRegistry;
use crate::tool_node::{ToolNode, ToolNodeOptions};

/// The agent's state: the conversation (merged with [`add_messages`]) and the tokens used.
#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
pub struct AgentState {
    /// The conversation.
    #[state(reducer = add_messages)]
    pub messages: Vec<Message>,
    /// Tokens used by every model call of the thread.
    #[state(reducer = Usage::accumulate)]
    pub usage: Usage,
}

/// The payload of the `Send` that runs one tool call in the `tools` node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInvocation {
    /// The call.
    pub call: ToolCall,
}

/// How [`react_agent`] builds the agent.
#[derive(Clone, Debug)]
pub struct ReactOptions {
    /// A system message put before the conversation on every model call (not stored in the
    /// state).
    pub system_prompt: Option<String>,
    /// How tool calls run (timeouts, retries, circuit breakers).
    pub tools: ToolNodeOptions,
    /// Attempts per model call for retryable [`ModelError`]s (at least 1).
    pub model_max_attempts: u32,
    /// The wait before retrying a model call when the provider gives no `retry_after`.
    pub model_backoff: Duration,
}

impl Default for ReactOptions {
    /// No system prompt, default tool options, 3 model attempts 1 s apart.
    fn default() -> Self {
        ReactOptions {
            system_prompt: None,
            tools: ToolNodeOptions::default(),
            model_max_attempts: 3,
            model_backoff: Duration::from_secs(1),
        }
    }
}

/// Calls the model, retrying retryable errors (honouring `retry_after`).
async fn call_model(
    model: &dyn ChatModel,
    request: &ChatRequest,
    max_attempts: u32,
    backoff: Duration,
) -> Result<ChatResponse, NodeError> {
    let max_attempts = max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match model.chat(request).await {
            Ok(response) => return Ok(response),
            Err(ModelError::Retryable { message, retry_after }) if attempt < max_attempts => {
                let wait = retry_after.unwrap_or(backoff);
                tracing::debug!(attempt, ?wait, "retrying model call: {message}");
                tokio::time::sleep(wait).await;
            }
            Err(e @ ModelError::Retryable { .. }) => return Err(NodeError::retryable(e)),
            Err(e @ ModelError::Terminal(_)) => return Err(NodeError::terminal(e)),
        }
    }
}

/// The tool calls of the last message, if it is an assistant message with some.
fn pending_calls(state: &AgentState) -> &[ToolCall] {
    state.messages.last().map(Message::tool_calls).unwrap_or_default()
}

/// Builds the ReAct agent: `agent` calls the model with the conversation and the tools' specs;
/// when its answer has tool calls, each call becomes a `Send("tools", ToolInvocation)` task (run
/// in parallel, their results merged in tool-call order), then `agent` runs again; an answer
/// without tool calls ends the run.
///
/// Tool calls are journaled, so the graph can be compiled with a checkpointer and interrupted
/// (for example `interrupt_before(["tools"])` to approve calls) without repeating a finished
/// call. Model failures that stay retryable after `model_max_attempts` fail the run with a
/// retryable error (resume it with `RunInput::Continue`).
///
/// ```
/// use std::sync::Arc;
/// use agentflow_core::{RunConfig, checkpoint::InMemorySaver};
/// use agentflow_tools::{AgentStateUpdate, Message, ReactOptions, ScriptedModel, ToolRegistry, react_agent};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let model = Arc::new(ScriptedModel::new([Message::assistant("hello!")]));
/// let agent = react_agent(model, ToolRegistry::new(), ReactOptions::default())?
///     .with_checkpointer(InMemorySaver::new());
/// let input = AgentStateUpdate::default().messages(vec![Message::user("hi")]);
/// let out = agent.invoke(input, RunConfig::new().thread_id("t1")).await?;
/// assert_eq!(out.state.messages.last().unwrap().content(), "hello!");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn react_agent(
    model: Arc<dyn ChatModel>,
    tools: ToolRegistry,
    options: ReactOptions,
) -> Result<CompiledGraph<AgentState>, BuildError> {
    let specs = Arc::new(tools.specs());
    let system = options.system_prompt.map(Message::system);
    let (max_attempts, backoff) = (options.model_max_attempts, options.model_backoff);
    let tool_node = Arc::new(ToolNode::new(tools, options.tools));

    let mut graph = StateGraph::<AgentState>::new();
    graph.add_node("agent", move |state: Arc<AgentState>, _ctx: Context| {
        let model = model.clone();
        let specs = specs.clone();
        let system = system.clone();
        async move {
            let mut messages = Vec::with_capacity(state.messages.len() + 1);
            messages.extend(system);
            messages.extend(state.messages.iter().cloned());
            let request = ChatRequest {
                messages,
                tools: specs.to_vec(),
            };
            let response = call_model(&*model, &request, max_attempts, backoff).await?;
            if !response.message.is_assistant() {
                return Err(NodeError::terminal(ModelError::Terminal(
                    "the model answered with a message that is not an assistant message".into(),
                )));
            }
            Ok(AgentStateUpdate::default()
                .messages(vec![response.message])
                .usage(response.usage))
        }
    });
    graph.add_send_node("tools", move |invocation: ToolInvocation, ctx: Context| {
        let tool_node = tool_node.clone();
        async move {
            let message = tool_node.run_call(&invocation.call, &ctx).await?;
            Ok(AgentStateUpdate::default().messages(vec![message]))
        }
    });
    graph.add_edge(START, "agent");
    graph.add_conditional_edges(
        "agent",
        |state: &AgentState| -> Vec<Route> {
            let calls = pending_calls(state);
            if calls.is_empty() {
                return vec![Route::from(END)];
            }
            calls
                .iter()
                .map(|call| Route::Send(Send::new("tools", ToolInvocation { call: call.clone() })))
                .collect()
        },
        ["tools", END],
    );
    graph.add_edge("tools", "agent");
    graph.compile()
}
