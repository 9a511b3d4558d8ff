//! A large value shared by reference (`checkpoint::shared::serialize`) is encoded once while it
//! lives: in the input write, in every task's pending write and in every checkpoint of every
//! run of the graph, with the opt-in `FastMsgPackCodec`. What is stored still reads back whole.
//! The default codecs use plain serde: every write encodes it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentflow_core::checkpoint::{
    CheckpointRef, Checkpointer, Codec, FastMsgPackCodec, InMemorySaver, JsonCodec, ListOptions, MsgPackCodec,
};
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

/// Runs the copying graph twice (threads t1 and t2) with `codec` and returns how many times the
/// shared document was encoded.
async fn encodings_with(codec: impl Codec) -> usize {
    ENCODED.store(0, Ordering::SeqCst);
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
        .with_codec(codec)
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
    let history = saver
        .list(Some(&CheckpointRef::latest("t2")), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 7);
    let state = graph.get_state("t2").await.unwrap().unwrap();
    assert_eq!(state.values.doc, doc);
    assert_eq!(state.values.last, doc);
    ENCODED.load(Ordering::SeqCst)
}

// One test for all codecs: they share the encoding counter.
#[tokio::test]
async fn only_the_opt_in_codec_encodes_a_shared_document_once_while_it_lives() {
    // Two runs of 5 steps: 2 input writes, 10 task writes and 14 checkpoints carried it.
    assert_eq!(
        encodings_with(FastMsgPackCodec).await,
        1,
        "encoded once while it lives"
    );
    // The default path has none of the cache: each write and checkpoint encodes it again.
    let plain = encodings_with(MsgPackCodec).await;
    assert!(plain > 10, "plain msgpack encoded it {plain} times");
    assert_eq!(encodings_with(JsonCodec).await, plain);
}
