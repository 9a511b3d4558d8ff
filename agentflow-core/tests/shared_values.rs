//! A large value shared by reference (`checkpoint::shared::serialize`) is encoded once while it
//! lives: in the input write, in every task's pending write and in every checkpoint of every
//! run of the graph. What is stored still reads back whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentflow_core::checkpoint::{CheckpointRef, Checkpointer, InMemorySaver, ListOptions, MsgPackCodec};
use agentflow_core::{Durability, END, RunConfig, START, State, StateGraph};
use serde::{Deserialize, Serialize, Serializer};

static ENCODED: AtomicUsize = AtomicUsize::new(0);

/// A document that counts its encodings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(transparent)]
struct Doc {
    lines: Vec<String>,
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ENCODED.fetch_add(1, Ordering::SeqCst);
        self.lines.serialize(serializer)
    }
}

/// The document as a state holds it: shared, and marked so.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Shared(#[serde(serialize_with = "agentflow_core::checkpoint::shared::serialize")] Arc<Doc>);

#[derive(State, Clone, Default, Debug, Serialize, Deserialize)]
struct Docs {
    doc: Shared,
    last: Shared,
    #[state(append)]
    steps: Vec<u32>,
}

#[tokio::test]
async fn a_shared_document_is_encoded_once_across_writes_checkpoints_and_runs() {
    let mut graph = StateGraph::<Docs>::new();
    graph.add_node("copy", |s, _| async move {
        let step = s.steps.len() as u32;
        Ok(DocsUpdate::default().last(s.doc.clone()).steps(vec![step]))
    });
    graph.add_edge(START, "copy");
    graph.add_conditional_edges(
        "copy",
        |s: &Docs| if s.steps.len() < 5 { "copy" } else { END },
        ["copy", END],
    );
    let saver = Arc::new(InMemorySaver::new());
    let graph = graph
        .compile()
        .unwrap()
        .with_shared_checkpointer(saver.clone())
        .with_codec(MsgPackCodec)
        .with_durability(Durability::Sync);
    let doc = Shared(Arc::new(Doc {
        lines: (0..30).map(|i| format!("line {i} of a document")).collect(),
    }));

    for thread in ["t1", "t2"] {
        let input = DocsUpdate::default().doc(doc.clone());
        let out = graph
            .invoke(input, RunConfig::new().thread_id(thread))
            .await
            .unwrap();
        assert_eq!(out.state.steps, [0, 1, 2, 3, 4]);
    }
    // Two runs of 5 steps: 2 input writes, 10 task writes and 14 checkpoints carried it.
    assert_eq!(ENCODED.load(Ordering::SeqCst), 1, "encoded once while it lives");

    let history = saver
        .list(Some(&CheckpointRef::latest("t2")), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 7);
    let state = graph.get_state("t2").await.unwrap().unwrap();
    assert_eq!(state.values.doc, doc);
    assert_eq!(state.values.last, doc);
}
