//! Streaming, pricing and budgets of the ReAct agent with the scripted model (no network, no
//! feature needed).

use std::collections::HashMap;
use std::sync::Arc;

use agentflow_core::{EventData, GraphError, RunConfig, StreamMode};
use agentflow_tools::react::BudgetExceeded;
use agentflow_tools::{
    AgentStateUpdate, ChatModel, ChatRequest, ChatResponse, Message, ModelError, Price, PriceTable,
    ReactOptions, ScriptedModel, TokenChunk, ToolCall, ToolRegistry, Usage, react_agent,
};
use futures::StreamExt;
use serde_json::json;

fn question() -> AgentStateUpdate {
    AgentStateUpdate::default().messages(vec![Message::user("hi")])
}

fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
    Usage {
        input_tokens,
        output_tokens,
    }
}

#[tokio::test]
async fn messages_mode_streams_scripted_answers_word_by_word() {
    let model = ScriptedModel::new([Message::assistant("Hello there, how are you?")])
        .with_usage(usage(3, 6))
        .with_model_name("fake/scripted");
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let mut stream = agent.stream(
        question(),
        RunConfig::new(),
        StreamMode::Messages | StreamMode::Updates,
    );
    let mut chunks = Vec::new();
    while let Some(event) = stream.next().await {
        if let EventData::Message { chunk, .. } = event.unwrap().data {
            chunks.push(chunk);
        }
    }
    let state = stream.into_output().unwrap().state;
    let answer = state.messages.last().unwrap();
    let texts: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts, ["Hello ", "there, ", "how ", "are ", "you?", ""]);
    assert_eq!(texts.concat(), answer.content());
    assert!(chunks.iter().all(|c| c.message_id.as_deref() == answer.id()));
    let last = chunks.last().unwrap();
    assert_eq!(last.metadata["finished"], true);
    assert_eq!(last.metadata["model"], "fake/scripted");
    assert_eq!(
        last.metadata["usage"],
        json!({"input_tokens": 3, "output_tokens": 6})
    );
    assert_eq!(last.metadata["cost_usd"], json!(null), "unpriced");
}

/// A model that only implements `chat`: the default `chat_stream` emits the whole text once.
struct Plain;

#[async_trait::async_trait]
impl ChatModel for Plain {
    async fn chat(&self, _request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        Ok(ChatResponse::new(
            Message::assistant("all at once"),
            Usage::default(),
        ))
    }
}

#[tokio::test]
async fn models_without_streaming_emit_one_chunk() {
    let agent = react_agent(Arc::new(Plain), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let mut stream = agent.stream(question(), RunConfig::new(), StreamMode::Messages);
    let mut texts = Vec::new();
    while let Some(event) = stream.next().await {
        if let EventData::Message { chunk, .. } = event.unwrap().data {
            texts.push(chunk.content);
        }
    }
    assert_eq!(texts, ["all at once", ""]);
    let mut chunks = Vec::new();
    let response = Plain
        .chat_stream(&ChatRequest::default(), &mut |c: TokenChunk| chunks.push(c))
        .await
        .unwrap();
    assert_eq!(chunks, [TokenChunk::new("all at once")]);
    assert_eq!(response.message.content(), "all at once");
}

#[tokio::test]
async fn other_stream_modes_and_invoke_do_not_stream_the_model() {
    let model = Arc::new(ScriptedModel::new([Message::assistant("a b c")]));
    let agent = react_agent(model, ToolRegistry::new(), ReactOptions::default()).unwrap();
    let mut stream = agent.stream(question(), RunConfig::new(), StreamMode::Updates);
    while let Some(event) = stream.next().await {
        assert!(!matches!(event.unwrap().data, EventData::Message { .. }));
    }
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.messages.last().unwrap().content(), "a b c");
}

fn tool_loop(k: usize) -> Vec<Message> {
    let mut script: Vec<Message> = (0..k)
        .map(|i| {
            Message::assistant_with_calls("", vec![ToolCall::new(format!("c{i}"), "missing", json!({}))])
        })
        .collect();
    script.push(Message::assistant("done"));
    script
}

#[tokio::test]
async fn costs_accumulate_from_a_price_table() {
    let model = ScriptedModel::new(tool_loop(2))
        .with_usage(usage(1_000, 100))
        .with_model_name("acme/m1");
    let options = ReactOptions {
        prices: PriceTable::new().with_price("m1", Price::per_million(2.0, 10.0)),
        ..ReactOptions::default()
    };
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), options).unwrap();
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.usage, usage(3_000, 300));
    // Three calls of 1000 * $2/M + 100 * $10/M = $0.003 each.
    assert_eq!(out.state.cost.nano_usd, 9_000_000);
    assert_eq!(out.state.cost.usd(), 0.009);
    assert_eq!(out.state.cost.unpriced_calls, 0);
}

#[tokio::test]
async fn unknown_models_count_as_unpriced_calls() {
    let model = ScriptedModel::new(tool_loop(1)).with_usage(usage(10, 1));
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let out = agent.invoke(question(), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.cost.nano_usd, 0);
    assert_eq!(out.state.cost.unpriced_calls, 2);
}

#[tokio::test]
async fn the_cost_budget_stops_the_agent() {
    let model = Arc::new(
        ScriptedModel::new(tool_loop(5))
            .with_usage(usage(1_000, 100))
            .with_model_name("acme/m1"),
    );
    let options = ReactOptions {
        prices: PriceTable::new().with_price("acme/m1", Price::per_million(2.0, 10.0)),
        max_cost_usd: Some(0.005),
        ..ReactOptions::default()
    };
    let agent = react_agent(model.clone(), ToolRegistry::new(), options).unwrap();
    let error = agent.invoke(question(), RunConfig::new()).await.unwrap_err();
    assert!(!error.is_retryable());
    let GraphError::Node { source, node, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(node, "agent");
    match source.downcast_ref::<BudgetExceeded>() {
        Some(BudgetExceeded::Cost { used_usd, limit_usd }) => {
            assert_eq!((*used_usd, *limit_usd), (0.006, 0.005));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(model.calls(), 2, "$0.003 per call: the third call is refused");
}

#[tokio::test]
async fn chunks_of_each_call_share_the_stored_message_id() {
    let model = ScriptedModel::new([
        Message::assistant_with_calls("let me check", vec![ToolCall::new("c1", "missing", json!({}))]),
        Message::assistant("nothing found"),
    ]);
    let agent = react_agent(Arc::new(model), ToolRegistry::new(), ReactOptions::default()).unwrap();
    let mut stream = agent.stream(question(), RunConfig::new(), StreamMode::Messages);
    let mut by_id: HashMap<String, String> = HashMap::new();
    while let Some(event) = stream.next().await {
        if let EventData::Message { chunk, .. } = event.unwrap().data {
            by_id
                .entry(chunk.message_id.unwrap())
                .or_default()
                .push_str(&chunk.content);
        }
    }
    let state = stream.into_output().unwrap().state;
    let assistants: Vec<&Message> = state.messages.iter().filter(|m| m.is_assistant()).collect();
    assert_eq!(assistants.len(), 2);
    assert_eq!(by_id.len(), 2);
    for message in assistants {
        assert_eq!(by_id[message.id().unwrap()], message.content());
    }
}
