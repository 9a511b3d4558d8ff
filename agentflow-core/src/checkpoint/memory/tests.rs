//! The in-memory saver's own behaviour beyond the conformance kit: what it keeps and releases.

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

async fn latest_values(saver: &InMemorySaver, thread: &str) -> BTreeMap<String, Vec<u8>> {
    let tuple = saver.get_tuple(&CheckpointRef::latest(thread)).await.unwrap();
    tuple.unwrap().checkpoint.channel_values
}

#[tokio::test]
async fn values_are_read_back_whole_and_counted_per_field() {
    let saver = InMemorySaver::new();
    let doc = vec![7u8; 5000];
    let values = BTreeMap::from([
        ("a".to_owned(), doc.clone()),
        ("b".to_owned(), doc.clone()),
        ("c".to_owned(), b"other".to_vec()),
    ]);
    put_first(&saver, "t", &values).await;
    assert_eq!(saver.stored_bytes(), 2 * 5000 + 5);
    assert_eq!(latest_values(&saver, "t").await, values);
}

#[tokio::test]
async fn a_copied_thread_outlives_its_source_and_deleting_both_frees_everything() {
    let saver = InMemorySaver::new();
    let values = BTreeMap::from([("doc".to_owned(), vec![7u8; 100])]);
    put_first(&saver, "t1", &values).await;
    saver.copy_thread("t1", "t2").await.unwrap();
    saver.delete_thread("t1").await.unwrap();
    assert!(
        saver
            .get_tuple(&CheckpointRef::latest("t1"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(latest_values(&saver, "t2").await, values);
    saver
        .prune(&["t2".to_owned()], PruneStrategy::Delete)
        .await
        .unwrap();
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
    assert_eq!(saver.stored_bytes(), 2 * 5000);

    saver
        .prune(&["t".to_owned()], PruneStrategy::KeepLatest)
        .await
        .unwrap();
    assert_eq!(
        saver.stored_bytes(),
        5000,
        "the first version's bytes are released"
    );
    assert_eq!(latest_values(&saver, "t").await, second);
    let history = saver
        .list(Some(&CheckpointRef::latest("t")), &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(
        history[0].parent.is_none(),
        "the kept checkpoint has no parent left"
    );
}
