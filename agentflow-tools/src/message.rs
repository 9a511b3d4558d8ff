//! Chat messages and the [`add_messages`] reducer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id; the tool's answer carries it as `tool_call_id`.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the model wrote them.
    pub arguments: serde_json::Value,
}

impl ToolCall {
    /// A tool call.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: serde_json::Value) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }
}

/// A chat message. `id` is optional: [`add_messages`] gives a message without one a fresh UUID,
/// and replaces the message with the same id when there is one.
///
/// Every part is shared (`Arc`): a conversation is cloned at every turn (the model's request,
/// the router's view of the state), and sharing makes a message's clone a few reference-count
/// bumps, whatever the length of its text and tool-call arguments.
///
/// ```
/// use agentflow_tools::{Message, ToolCall};
///
/// let call = ToolCall::new("c1", "search", serde_json::json!({"query": "rust"}));
/// let turn = vec![
///     Message::system("You are terse."),
///     Message::user("find rust"),
///     Message::assistant_with_calls("", vec![call]),
///     Message::tool("c1", "3 results"),
/// ];
/// assert_eq!(turn[2].tool_calls().len(), 1);
/// let json = serde_json::to_value(&turn[3]).unwrap();
/// assert_eq!(json["role"], "tool");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The message's id.
        #[serde(default)]
        id: Option<Arc<str>>,
        /// The text.
        content: Arc<str>,
    },
    /// What the user said.
    User {
        /// The message's id.
        #[serde(default)]
        id: Option<Arc<str>>,
        /// The text.
        content: Arc<str>,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The message's id.
        #[serde(default)]
        id: Option<Arc<str>>,
        /// The text.
        content: Arc<str>,
        /// The tools the model wants to call.
        #[serde(default)]
        tool_calls: Arc<[ToolCall]>,
    },
    /// A tool's result (or its error, as text starting with `error: `).
    Tool {
        /// The message's id.
        #[serde(default)]
        id: Option<Arc<str>>,
        /// The call this answers.
        tool_call_id: Arc<str>,
        /// The result, as text.
        content: Arc<str>,
        /// True when the call failed and `content` describes the error.
        #[serde(default)]
        is_error: bool,
    },
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<Arc<str>>) -> Self {
        Message::System {
            id: None,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<Arc<str>>) -> Self {
        Message::User {
            id: None,
            content: content.into(),
        }
    }

    /// An assistant message without tool calls.
    pub fn assistant(content: impl Into<Arc<str>>) -> Self {
        Message::assistant_with_calls(content, Vec::<ToolCall>::new())
    }

    /// An assistant message with tool calls.
    pub fn assistant_with_calls(
        content: impl Into<Arc<str>>,
        tool_calls: impl Into<Arc<[ToolCall]>>,
    ) -> Self {
        Message::Assistant {
            id: None,
            content: content.into(),
            tool_calls: tool_calls.into(),
        }
    }

    /// A successful tool result.
    pub fn tool(tool_call_id: impl Into<Arc<str>>, content: impl Into<Arc<str>>) -> Self {
        Message::Tool {
            id: None,
            tool_call_id: tool_call_id.into(),
            content: content.into(),
            is_error: false,
        }
    }

    /// A failed tool call, as the model reads it: `content` is the error's text, prefixed with
    /// `error: `.
    pub fn tool_error(tool_call_id: impl Into<Arc<str>>, error: impl std::fmt::Display) -> Self {
        Message::Tool {
            id: None,
            tool_call_id: tool_call_id.into(),
            content: format!("error: {error}").into(),
            is_error: true,
        }
    }

    /// The same message with `id`.
    pub fn with_id(mut self, new_id: impl Into<Arc<str>>) -> Self {
        *self.id_mut() = Some(new_id.into());
        self
    }

    /// The message's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Message::System { id, .. }
            | Message::User { id, .. }
            | Message::Assistant { id, .. }
            | Message::Tool { id, .. } => id.as_deref(),
        }
    }

    fn id_mut(&mut self) -> &mut Option<Arc<str>> {
        match self {
            Message::System { id, .. }
            | Message::User { id, .. }
            | Message::Assistant { id, .. }
            | Message::Tool { id, .. } => id,
        }
    }

    /// The text of the message.
    pub fn content(&self) -> &str {
        match self {
            Message::System { content, .. }
            | Message::User { content, .. }
            | Message::Assistant { content, .. }
            | Message::Tool { content, .. } => content,
        }
    }

    /// The tool calls of an assistant message (empty for every other kind).
    pub fn tool_calls(&self) -> &[ToolCall] {
        match self {
            Message::Assistant { tool_calls, .. } => tool_calls,
            _ => &[],
        }
    }

    /// True for an assistant message.
    pub fn is_assistant(&self) -> bool {
        matches!(self, Message::Assistant { .. })
    }
}

/// A fresh random (version 4) UUID string, from a fast non-cryptographic generator (ids need to
/// be unique, not secret).
pub(crate) fn new_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

/// LangGraph's `add_messages`: appends `incoming` to `current`, except that a message whose id
/// is already in `current` replaces that message in place. Messages without an id get a fresh
/// UUID. Use it as a field's merge rule:
///
/// ```
/// use agentflow_core::State;
/// use agentflow_tools::{Message, add_messages};
///
/// #[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
/// struct Chat {
///     #[state(reducer = add_messages)]
///     messages: Vec<Message>,
/// }
///
/// let mut messages = vec![Message::user("hi").with_id("1")];
/// add_messages(&mut messages, vec![Message::user("hello").with_id("1"), Message::assistant("hey")]);
/// assert_eq!(messages.len(), 2);
/// assert_eq!(messages[0].content(), "hello");
/// assert!(messages[1].id().is_some());
/// ```
pub fn add_messages(current: &mut Vec<Message>, incoming: Vec<Message>) {
    current.reserve(incoming.len());
    for mut message in incoming {
        let Some(id) = message.id() else {
            // A new id matches nothing: append without searching.
            *message.id_mut() = Some(new_id().into());
            current.push(message);
            continue;
        };
        match current.iter().position(|m| m.id() == Some(id)) {
            Some(i) => current[i] = message,
            None => current.push(message),
        }
    }
}
