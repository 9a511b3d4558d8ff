//! Our [`ChatRequest`] as rig's [`CompletionRequest`], and rig's [`CompletionResponse`] as our
//! [`ChatResponse`].
//!
//! - System and user messages map one to one.
//! - An assistant message becomes an assistant turn of its text (when not empty) and its tool
//!   calls, ids and JSON arguments kept.
//! - Consecutive tool results become one user turn of rig tool results (each provider wire then
//!   spells them its own way: OpenAI `role: "tool"` messages, Anthropic `tool_result` blocks),
//!   named after the call they answer.
//! - Tool specs become rig tool definitions (name, description, JSON schema).

use std::collections::HashMap;

use rig_core::completion::{CompletionRequest, CompletionResponse, ToolDefinition};
use rig_core::message::{
    AssistantContent, AssistantMessage, CallId, Message as RigMessage, ToolFunction, ToolName, ToolResult,
    ToolResultContent, UserContent,
};

use crate::message::{Message, ToolCall};
use crate::model::{ChatRequest, ChatResponse, ModelError, Usage};
use crate::tool::ToolSpec;

/// Settings a model applies to every request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sampling {
    pub(crate) temperature: Option<f64>,
    pub(crate) max_tokens: Option<u64>,
}

/// `request` as rig's request. Fails (terminally) on an empty conversation or a tool without a
/// name, which no provider would accept either.
pub(crate) fn to_rig_request(
    request: &ChatRequest,
    sampling: Sampling,
) -> Result<CompletionRequest, ModelError> {
    let history = to_rig_messages(&request.messages)?;
    let mut messages = history.into_iter();
    let Some(first) = messages.next() else {
        return Err(ModelError::Terminal(
            "the conversation is empty; a model needs at least one message".into(),
        ));
    };
    // `new` takes the first message; the rest is set directly to keep the order as is.
    let mut rig = CompletionRequest::new(first);
    rig.chat_history.extend(messages);
    rig.tools = request
        .tools
        .iter()
        .map(tool_definition)
        .collect::<Result<_, _>>()?;
    rig.temperature = sampling.temperature;
    rig.max_tokens = sampling.max_tokens;
    Ok(rig)
}

fn tool_name(name: &str) -> Result<ToolName, ModelError> {
    ToolName::new(name).map_err(|_| ModelError::Terminal("a tool or tool call has an empty name".into()))
}

fn tool_definition(spec: &ToolSpec) -> Result<ToolDefinition, ModelError> {
    Ok(ToolDefinition::new(
        tool_name(&spec.name)?,
        spec.description.clone(),
        spec.parameters.clone(),
    ))
}

fn to_rig_messages(messages: &[Message]) -> Result<Vec<RigMessage>, ModelError> {
    // A tool result must name its tool for some wires (Gemini, Anthropic replay), and our tool
    // messages only carry the call id: look the name up in the calls seen so far.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out: Vec<RigMessage> = Vec::with_capacity(messages.len());
    // Tool results gathered until the next non-tool message.
    let mut results: Vec<UserContent> = Vec::new();
    for message in messages {
        if !matches!(message, Message::Tool { .. }) && !results.is_empty() {
            out.push(RigMessage::User {
                content: std::mem::take(&mut results),
            });
        }
        match message {
            Message::System { content, .. } => out.push(RigMessage::system(content.as_ref())),
            Message::User { content, .. } => out.push(RigMessage::user(content.as_ref())),
            Message::Assistant {
                content, tool_calls, ..
            } => {
                let mut parts = Vec::with_capacity(tool_calls.len() + 1);
                if !content.is_empty() {
                    parts.push(AssistantContent::text(content.as_ref()));
                }
                for call in tool_calls.iter() {
                    names.insert(&call.id, &call.name);
                    parts.push(AssistantContent::ToolCall(
                        rig_core::message::ToolCall::from_wire(
                            call.id.clone(),
                            ToolFunction::new(tool_name(&call.name)?, call.arguments.clone()),
                        ),
                    ));
                }
                // An assistant turn with neither text nor calls says nothing, and providers
                // reject empty turns.
                if !parts.is_empty() {
                    out.push(RigMessage::Assistant(AssistantMessage::new(parts)));
                }
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
                ..
            } => {
                let name = names.get(&**tool_call_id).copied().unwrap_or("unknown_tool");
                results.push(UserContent::ToolResult(ToolResult {
                    call: CallId::from_wire(tool_call_id.to_string()),
                    name: tool_name(name)?,
                    content: vec![ToolResultContent::text(content.as_ref())],
                    is_error: *is_error,
                }));
            }
        }
    }
    if !results.is_empty() {
        out.push(RigMessage::User { content: results });
    }
    Ok(out)
}

/// rig's response as ours. `provider` names the provider for [`ChatResponse::model`] when the
/// response does not. A turn the provider reported as failed (a refusal, a content filter) is a
/// terminal error.
pub(crate) fn from_rig_response(
    provider: &str,
    response: &CompletionResponse,
) -> Result<ChatResponse, ModelError> {
    if let Some(error) = &response.error {
        return Err(ModelError::Terminal(format!(
            "{provider} reported a failed turn: {error}"
        )));
    }
    let calls: Vec<ToolCall> = response
        .tool_calls()
        .map(|call| {
            // Arguments that are not a JSON object are passed on as the text the model wrote,
            // so the tool node reports them to the model as invalid arguments.
            let arguments = match &call.function.invalid_arguments {
                Some(text) => serde_json::Value::String(text.clone()),
                None => call.function.arguments_value(),
            };
            ToolCall::new(call.id.wire(), call.function.name.as_str(), arguments)
        })
        .collect();
    let usage = &response.usage;
    let mut chat = ChatResponse::new(
        Message::assistant_with_calls(response.text(), calls),
        Usage {
            input_tokens: usage.input_tokens.unwrap_or(0),
            output_tokens: usage.output_tokens.unwrap_or(0),
        },
    )
    .with_cached_input_tokens(usage.cached_input_tokens.unwrap_or(0));
    let origin = &response.origin;
    let provider = if origin.provider.is_empty() {
        provider
    } else {
        &origin.provider
    };
    if !origin.model.is_empty() {
        chat = chat.with_model(format!("{provider}/{}", origin.model));
    }
    if let Some(cost) = &usage.cost {
        chat = chat.with_cost_usd(cost.total);
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversation_maps_to_rig_messages() {
        let request = ChatRequest {
            messages: vec![
                Message::system("be brief"),
                Message::user("weather?"),
                Message::assistant_with_calls(
                    "",
                    vec![
                        ToolCall::new("c1", "weather", json!({"city": "Paris"})),
                        ToolCall::new("c2", "weather", json!({"city": "Oslo"})),
                    ],
                ),
                Message::tool("c1", "sunny"),
                Message::tool_error("c2", "timeout"),
                Message::assistant(""),
                Message::user("thanks"),
            ],
            tools: vec![ToolSpec {
                name: "weather".into(),
                description: "Weather of a city".into(),
                parameters: json!({"type": "object"}),
            }],
        };
        let rig = to_rig_request(
            &request,
            Sampling {
                temperature: Some(0.0),
                max_tokens: Some(64),
            },
        )
        .unwrap();
        assert_eq!(rig.chat_history.len(), 5, "{:?}", rig.chat_history);
        assert_eq!(rig.system_instructions(), Some("be brief"));
        let RigMessage::Assistant(turn) = &rig.chat_history[2] else {
            panic!("an assistant turn")
        };
        let calls: Vec<_> = turn.tool_calls().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id.wire(), "c1");
        assert_eq!(calls[0].function.arguments_value(), json!({"city": "Paris"}));
        let RigMessage::User { content } = &rig.chat_history[3] else {
            panic!("tool results")
        };
        let results: Vec<_> = content
            .iter()
            .map(|part| match part {
                UserContent::ToolResult(r) => (r.call.wire().into_owned(), r.name.to_string(), r.is_error),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            results,
            [
                ("c1".into(), "weather".into(), false),
                ("c2".into(), "weather".into(), true)
            ]
        );
        assert_eq!(rig.tools.len(), 1);
        assert_eq!(rig.temperature, Some(0.0));
        assert_eq!(rig.max_tokens, Some(64));
    }

    #[test]
    fn empty_conversations_and_nameless_tools_are_terminal() {
        assert!(matches!(
            to_rig_request(&ChatRequest::default(), Sampling::default()),
            Err(ModelError::Terminal(_))
        ));
        let nameless = ChatRequest {
            messages: vec![Message::user("hi")],
            tools: vec![ToolSpec {
                name: String::new(),
                description: String::new(),
                parameters: json!({}),
            }],
        };
        assert!(to_rig_request(&nameless, Sampling::default()).is_err());
    }
}
