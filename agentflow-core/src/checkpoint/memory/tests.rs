//! The in-memory saver's own behaviour: values shared within a put and across threads.

use super::*;
use crate::checkpoint::{CheckpointSource, next_checkpoint_id};

/// Puts `values` at `version` as the child of `parent` (a thread's first checkpoint when
/// `parent` names none).
async fn put_values(
    saver: &InMemorySaver,
    parent: &CheckpointRef,
    values: &BTreeMap<String, Vec<u8>>,
    version: u64,
) {
    let versions: BTreeMap<String, u64> = values.keys().map(|k| (k.clone(), version)).collect();
    let checkpoint = Checkpoint {
        id: next_checkpoint_id(parent.checkpoint_id.as_deref()),
        channel_values: values.clone(),
        channel_versions: versions.clone(),
        ..Checkpoint::default()
    };
    let metadata = CheckpointMetadata {
        source: CheckpointSource::Input,
        step: -1,
        parents: BTreeMap::new(),
        run_id: "r".into(),
        extra: BTreeMap::new(),
    };
    saver
        .put(parent, &checkpoint, &metadata, &versions, PutMode::Extend)
        .await
        .unwrap();
}

async fn put_first(saver: &InMemorySaver, thread: &str, values: &BTreeMap<String, Vec<u8>>) {
    put_values(saver, &CheckpointRef::latest(thread), values, 1).await;
}

#[tokio::test]
async fn fields_with_equal_bytes_are_stored_once_and_read_back_whole() {
    let saver = InMemorySaver::new();
    let doc = vec![7u8; 5000];
    let values = BTreeMap::from([
        ("a".to_owned(), doc.clone()),
        ("b".to_owned(), doc.clone()),
        ("c".to_owned(), b"other".to_vec()),
    ]);
    put_first(&saver, "t", &values).await;
    assert_eq!(saver.stored_bytes(), 5000 + 5);
    let back = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.checkpoint.channel_values, values);
}

#[tokio::test]
async fn threads_share_equal_values_until_the_last_one_goes() {
    let saver = InMemorySaver::new();
    let doc = vec![7u8; 5000];
    let values = |own: u8| {
        BTreeMap::from([
            ("doc".to_owned(), doc.clone()),
            ("own".to_owned(), vec![own; 100]),
        ])
    };
    for (thread, own) in [("t1", 1), ("t2", 2), ("t3", 3)] {
        put_first(&saver, thread, &values(own)).await;
    }
    assert_eq!(
        saver.stored_bytes(),
        5000 + 3 * 100,
        "the document is stored once"
    );
    assert_eq!(saver.lock().pool.len(), 4);

    saver.delete_thread("t1").await.unwrap();
    saver
        .prune(&["t2".to_owned()], PruneStrategy::Delete)
        .await
        .unwrap();
    assert_eq!(
        saver.lock().pool.len(),
        2,
        "t1's and t2's own values are released"
    );
    let back = saver
        .get_tuple(&CheckpointRef::latest("t3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.checkpoint.channel_values, values(3));

    saver.copy_thread("t3", "t4").await.unwrap();
    saver.delete_thread("t3").await.unwrap();
    assert_eq!(saver.lock().pool.len(), 2, "the copy holds them");
    saver.delete_thread("t4").await.unwrap();
    assert_eq!(saver.lock().pool.len(), 0);
    assert_eq!(saver.stored_bytes(), 0);
}

#[tokio::test]
async fn pruning_to_the_latest_checkpoint_releases_older_values() {
    let saver = InMemorySaver::new();
    let first = BTreeMap::from([("doc".to_owned(), vec![1u8; 5000])]);
    put_first(&saver, "t", &first).await;
    let parent = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    let second = BTreeMap::from([("doc".to_owned(), vec![2u8; 5000])]);
    put_values(&saver, &parent.config, &second, 2).await;
    assert_eq!(saver.lock().pool.len(), 2);

    saver
        .prune(&["t".to_owned()], PruneStrategy::KeepLatest)
        .await
        .unwrap();
    assert_eq!(
        saver.lock().pool.len(),
        1,
        "the first version's bytes are released"
    );
    let back = saver
        .get_tuple(&CheckpointRef::latest("t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.checkpoint.channel_values, second);
    assert_eq!(saver.stored_bytes(), 5000);
}
