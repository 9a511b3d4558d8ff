//! Long-term memory: the store kit against `InMemoryStore`, and nodes (and subgraph nodes) that
//! remember across threads through `Context::store` (`reference/langgraph.md` §1.1, "Store").

use std::sync::Arc;

use agentflow_core::store::{InMemoryStore, PutOptions, SearchQuery, Store, namespace};
use agentflow_core::{Context, NodeError, RunConfig, START, State, StateGraph};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_store_passes_the_kit() {
    agentflow_core::store::testing::run_all(Arc::new(InMemoryStore::new())).await;
}

#[tokio::test]
async fn sweep_counts_and_drops_expired_items() {
    let store = InMemoryStore::new();
    let ns = namespace(["a"]);
    store
        .put(
            &ns,
            "gone",
            json!(1),
            PutOptions::new().ttl(std::time::Duration::ZERO),
        )
        .await
        .unwrap();
    store.put(&ns, "kept", json!(2), PutOptions::new()).await.unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(store.sweep_expired().await.unwrap(), 1);
    assert_eq!(store.len(), 1);
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Chat {
    user: String,
    message: String,
    #[state(append)]
    recalled: Vec<String>,
}

/// Remembers the message for the user, then recalls everything remembered about them.
async fn remember(state: Arc<Chat>, ctx: Context) -> Result<ChatUpdate, NodeError> {
    let store = ctx.store().ok_or_else(|| NodeError::terminal("no store"))?;
    let ns = namespace(["memories", state.user.as_str()]);
    let key = format!("m-{}", ctx.run_id());
    store
        .put(
            &ns,
            &key,
            json!({ "text": state.message, "node": ctx.node() }),
            PutOptions::new(),
        )
        .await?;
    let mine = store
        .get(&ns, &key)
        .await?
        .ok_or_else(|| NodeError::terminal("lost the memory"))?;
    assert_eq!(mine.value["text"], state.message);
    let mut recalled: Vec<String> = store
        .search(SearchQuery::new(["memories", state.user.as_str()]).limit(100))
        .await?
        .into_iter()
        .map(|hit| hit.item.value["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    recalled.sort();
    Ok(ChatUpdate::default().recalled(recalled))
}

fn chat_graph() -> StateGraph<Chat> {
    let mut g = StateGraph::<Chat>::new();
    g.add_node("remember", remember);
    g.add_edge(START, "remember");
    g
}

fn input(user: &str, message: &str) -> ChatUpdate {
    ChatUpdate::default()
        .user(user.to_owned())
        .message(message.to_owned())
}

#[tokio::test]
async fn nodes_remember_across_runs_through_the_context() {
    let store = Arc::new(InMemoryStore::new());
    let graph = chat_graph().compile().unwrap().with_shared_store(store.clone());
    assert!(graph.store().is_some());

    let out = graph
        .invoke(input("ada", "likes tea"), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.recalled, ["likes tea"]);
    let out = graph
        .invoke(input("ada", "has a cat"), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(
        out.state.recalled,
        ["has a cat", "likes tea"],
        "a second run recalls the first"
    );
    let out = graph
        .invoke(input("bob", "plays chess"), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.recalled, ["plays chess"], "namespaces keep users apart");

    // The caller sees the same memories.
    let hits = store
        .search(SearchQuery::new(["memories", "ada"]).query("cat"))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].item.value["node"], "remember");
}

#[tokio::test]
async fn without_a_store_nodes_see_none() {
    let mut g = StateGraph::<Chat>::new();
    g.add_node("probe", |_, ctx| async move {
        Ok(ChatUpdate::default().recalled(vec![ctx.store().is_some().to_string()]))
    });
    g.add_edge(START, "probe");
    let graph = g.compile().unwrap();
    assert!(graph.store().is_none());
    let out = graph
        .invoke(ChatUpdate::default(), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.recalled, ["false"]);
}

#[tokio::test]
async fn subgraphs_share_the_parent_store() {
    let store = Arc::new(InMemoryStore::new());
    // The subgraph has no store of its own: it runs with its parent's.
    let child = chat_graph().compile().unwrap();
    let mut parent = StateGraph::<Chat>::new();
    parent.add_node(
        "child",
        child.as_node(
            |s: Arc<Chat>| input(&s.user, &s.message),
            |c: Chat| ChatUpdate::default().recalled(c.recalled),
        ),
    );
    parent.add_edge(START, "child");
    let parent = parent.compile().unwrap().with_shared_store(store.clone());

    let out = parent
        .invoke(input("cy", "from the subgraph"), RunConfig::new())
        .await
        .unwrap();
    assert_eq!(out.state.recalled, ["from the subgraph"]);
    let hits = store.search(SearchQuery::new(["memories", "cy"])).await.unwrap();
    assert_eq!(hits.len(), 1, "the subgraph wrote to the parent's store");
}
