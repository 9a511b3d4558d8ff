//! [`AgentState`]: the state the prebuilt agent and the [`ToolNode`](crate::ToolNode) share (the
//! conversation, the tokens used and what they cost). Its own module so that the tool node and
//! the agent graph both import it without importing each other.

use agentflow_core::State;
use serde::{Deserialize, Serialize};

use crate::message::{Message, add_messages};
use crate::model::{Cost, Usage};

/// The agent's state: the conversation (merged with [`add_messages`]), the tokens used and what
/// they cost.
#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
pub struct AgentState {
    /// The conversation.
    #[state(reducer = add_messages)]
    pub messages: Vec<Message>,
    /// Tokens used by every model call of the thread.
    #[state(reducer = Usage::accumulate)]
    pub usage: Usage,
    /// What every model call of the thread cost, priced with [`ReactOptions::prices`](crate::ReactOptions::prices).
    #[state(reducer = Cost::accumulate)]
    #[serde(default)]
    pub cost: Cost,
}
