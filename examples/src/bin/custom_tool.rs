//! A tool from another crate (`agentflow-example-tool`) in the prebuilt ReAct agent, driven by a
//! scripted model: the model asks for a conversion, the tool runs, the model answers.
//!
//! Run: `cargo run -p agentflow-examples --bin custom_tool`

use std::sync::Arc;

use agentflow_core::RunConfig;
use agentflow_example_tool::ConvertUnits;
use agentflow_tools::{
    AgentStateUpdate, Message, ReactOptions, ScriptedModel, ToolCall, ToolRegistry, react_agent,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tools = ToolRegistry::new();
    tools.add(ConvertUnits);

    let call = ToolCall::new(
        "call-1",
        "convert_units",
        serde_json::json!({"value": 42.195, "from": "km", "to": "mi"}),
    );
    let model = ScriptedModel::new([
        Message::assistant_with_calls("", vec![call]),
        Message::assistant("A marathon is about 26.2 miles."),
    ]);

    let agent = react_agent(Arc::new(model), tools, ReactOptions::default())?;
    let input = AgentStateUpdate::default().messages(vec![Message::user("How long is a marathon in miles?")]);
    let out = agent.invoke(input, RunConfig::new()).await?;
    for message in &out.state.messages {
        let role = match message {
            Message::System { .. } => "system",
            Message::User { .. } => "user",
            Message::Assistant { .. } => "assistant",
            Message::Tool { .. } => "tool",
        };
        let calls: Vec<&str> = message.tool_calls().iter().map(|c| c.name.as_str()).collect();
        if calls.is_empty() {
            println!("{role:>9}: {}", message.content());
        } else {
            println!("{role:>9}: calls {}", calls.join(", "));
        }
    }
    let tool_result = out
        .state
        .messages
        .get(2)
        .map(Message::content)
        .unwrap_or_default();
    if !tool_result.contains("26.2188") {
        return Err(format!("unexpected tool result: {tool_result}").into());
    }
    Ok(())
}
