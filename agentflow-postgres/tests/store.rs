//! PostgresStore against the real server: the core store kit, migrations, and a graph whose
//! nodes remember through `Context::store`. Each test gets its own database (`#[sqlx::test]`,
//! DATABASE_URL).

use std::sync::Arc;

use agentflow_core::store::{PutOptions, SearchQuery, Store, namespace};
use agentflow_core::{NodeError, RunConfig, START, State, StateGraph};
use agentflow_postgres::{PostgresSaver, PostgresStore};
use serde_json::json;
use sqlx::PgPool;

async fn store(pool: PgPool) -> PostgresStore {
    let store = PostgresStore::new(pool);
    store.migrate().await.expect("migrates");
    store
}

#[sqlx::test(migrations = false)]
async fn passes_the_store_kit(pool: PgPool) {
    agentflow_core::store::testing::run_all(Arc::new(store(pool).await)).await;
}

#[sqlx::test(migrations = false)]
async fn passes_the_store_kit_without_prepared_statements_in_another_schema(pool: PgPool) {
    let store = PostgresStore::new(pool)
        .schema("memory")
        .unwrap()
        .pgbouncer_compatible(true);
    store.migrate().await.unwrap();
    agentflow_core::store::testing::run_all(Arc::new(store)).await;
}

#[sqlx::test(migrations = false)]
async fn one_migrate_creates_the_store_and_the_checkpoints(pool: PgPool) {
    let saver = PostgresSaver::new(pool.clone());
    assert_eq!(saver.migrate().await.unwrap(), 6);
    let store = PostgresStore::new(pool.clone());
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "the saver's migrate made the store table"
    );
    let ns = namespace(["a"]);
    store
        .put(&ns, "k", json!({"text": "hello"}), PutOptions::new())
        .await
        .unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'agentflow' AND tablename = 'store' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        [
            "store_expires",
            "store_pkey",
            "store_prefix",
            "store_search",
            "store_value"
        ]
    );
    // This server has no pgvector; the store works regardless.
    let _ = store.pgvector_available().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn embeddings_and_text_are_stored_on_the_row(pool: PgPool) {
    let store = store(pool.clone()).await;
    let ns = namespace(["m", "u1"]);
    store
        .put(
            &ns,
            "k",
            json!({"title": "Tea time", "body": "ignored words"}),
            PutOptions::new().embedding(vec![0.5, -0.25]).index(["title"]),
        )
        .await
        .unwrap();
    let (prefix, search, embedding): (String, String, Vec<f64>) =
        sqlx::query_as("SELECT prefix, search::text, embedding FROM agentflow.store")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(prefix, "m.u1");
    assert_eq!(search, "'tea':1 'time':2");
    assert_eq!(embedding, [0.5, -0.25]);
}

#[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
struct Chat {
    user: String,
    message: String,
    #[state(append)]
    recalled: Vec<String>,
}

#[sqlx::test(migrations = false)]
async fn nodes_remember_through_the_context(pool: PgPool) {
    let store = Arc::new(store(pool).await);
    let mut g = StateGraph::<Chat>::new();
    g.add_node("remember", |state, ctx| async move {
        let store = ctx.store().ok_or_else(|| NodeError::terminal("no store"))?;
        let ns = namespace(["memories", state.user.as_str()]);
        store
            .put(
                &ns,
                &ctx.run_id().to_string(),
                json!({ "text": state.message }),
                PutOptions::new(),
            )
            .await?;
        let mut recalled: Vec<String> = store
            .search(SearchQuery::new(ns.clone()).limit(100))
            .await?
            .into_iter()
            .map(|h| h.item.value["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        recalled.sort();
        Ok(ChatUpdate::default().recalled(recalled))
    });
    g.add_edge(START, "remember");
    let graph = g.compile().unwrap().with_shared_store(store.clone());
    let input = |m: &str| ChatUpdate::default().user("ada".to_owned()).message(m.to_owned());
    graph.invoke(input("likes tea"), RunConfig::new()).await.unwrap();
    let out = graph.invoke(input("has a cat"), RunConfig::new()).await.unwrap();
    assert_eq!(out.state.recalled, ["has a cat", "likes tea"]);
    let hits = store
        .search(SearchQuery::new(["memories"]).query("cat"))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
}

/// pgvector's surface, emulated in SQL: a `vector` type over `float8[]` and its `<=>` cosine
/// distance, NaN for a zero vector as pgvector gives. This server has no pgvector; the emulation
/// checks the SQL the store sends when it finds the extension.
async fn emulate_pgvector(pool: &PgPool) {
    for sql in [
        "CREATE DOMAIN public.vector AS float8[]",
        "CREATE FUNCTION public.emulated_cosine_distance(a float8[], b float8[]) RETURNS float8
         LANGUAGE sql IMMUTABLE AS $$
             SELECT CASE WHEN sqrt(sum(x * x)) * sqrt(sum(y * y)) = 0 THEN 'NaN'::float8
                         ELSE 1 - sum(x * y) / (sqrt(sum(x * x)) * sqrt(sum(y * y))) END
             FROM unnest(a, b) AS t(x, y)
         $$",
        "CREATE OPERATOR public.<=> (LEFTARG = float8[], RIGHTARG = float8[],
                                      FUNCTION = public.emulated_cosine_distance)",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn passes_the_store_kit_through_pgvector_where_installed(pool: PgPool) {
    let plain = store(pool.clone()).await;
    assert!(!plain.uses_pgvector().await.unwrap());
    emulate_pgvector(&pool).await;
    // The answer is kept per store: a new store asks again.
    assert!(!plain.uses_pgvector().await.unwrap());
    let store = store(pool).await;
    assert!(store.uses_pgvector().await.unwrap());
    agentflow_core::store::testing::run_all(Arc::new(store)).await;
}
