//! Human-in-the-loop approval: a node proposes a risky action, pauses for a decision, and is
//! resumed with the approver's answer. The Slack post before the pause is a journaled step, so
//! resuming does not post it twice.
//!
//! Run: `cargo run -p agentflow-examples --bin human_in_the_loop`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use agentflow_core::checkpoint::InMemorySaver;
use agentflow_core::{Command, Context, END, NodeError, RunConfig, START, State, StateGraph};
use serde::{Deserialize, Serialize};

#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
struct Ticket {
    request: String,
    #[state(append)]
    audit: Vec<String>,
    outcome: String,
}

/// What the approver answers.
#[derive(Debug, Serialize, Deserialize)]
struct Decision {
    approved: bool,
    by: String,
}

/// Stands in for the Slack client: counts posts.
#[derive(Default)]
struct Slack {
    posts: AtomicU32,
}

async fn propose(state: Arc<Ticket>, ctx: Context<Slack>) -> Result<TicketUpdate, NodeError> {
    let action = format!("delete the production database for '{}'", state.request);
    // Posted once, even though this node runs again when it is resumed.
    let slack = ctx.runtime_arc();
    let message_ts: String = ctx
        .step("notify-approvers", |idempotency_key| async move {
            let n = slack.posts.fetch_add(1, Ordering::SeqCst) + 1;
            println!("  [slack] posted approval request #{n} (idempotency key {idempotency_key})");
            Ok(format!("1700000000.{n:06}"))
        })
        .await?;
    let decision: Decision = ctx.interrupt(serde_json::json!({
        "action": action,
        "why_risky": "irreversible: drops every table",
        "slack_message": message_ts,
    }))?;
    let line = format!(
        "{} by {}",
        if decision.approved { "approved" } else { "rejected" },
        decision.by
    );
    let outcome = if decision.approved {
        "executed"
    } else {
        "cancelled"
    };
    Ok(TicketUpdate::default().audit(vec![line]).outcome(outcome.into()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut graph = StateGraph::<Ticket, Slack>::new();
    graph.add_node("propose", propose);
    graph.add_sequence([START, "propose", END]);
    let graph = graph.compile()?.with_checkpointer(InMemorySaver::new());
    let slack = Arc::new(Slack::default());
    let config = || {
        RunConfig::new()
            .thread_id("ticket-7")
            .with_shared_context(slack.clone())
    };

    let out = graph
        .invoke(TicketUpdate::default().request("cleanup".into()), config())
        .await?;
    let pending = &out.interrupts[0];
    println!(
        "paused at `{}` (interrupt {}):\n  {}",
        pending.node, pending.id, pending.value
    );

    // An approver looks at the queue...
    let snapshot = graph.get_state("ticket-7").await?.ok_or("no state")?;
    println!("pending approvals on the thread: {}", snapshot.interrupts.len());

    // ...and answers.
    let answer = serde_json::to_value(Decision {
        approved: false,
        by: "grace".into(),
    })?;
    let out = graph.invoke(Command::resume(answer), config()).await?;
    println!("outcome: {} ({:?})", out.state.outcome, out.state.audit);
    println!("slack posts: {}", slack.posts.load(Ordering::SeqCst));
    Ok(())
}
