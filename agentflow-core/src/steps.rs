//! Journaled steps ([`Context::step`](crate::Context::step)): which step a call is, what earlier
//! attempts of the task left, and the claim protocol that runs each step's effect once.
//!
//! A step is known by its name and its occurrence: the first call named `charge` in a task is
//! `(charge, 0)`, the second `(charge, 1)`. Occurrences are handed out when a call starts, and
//! a name may have only one call in flight at a time, so they never depend on which of several
//! concurrent calls finishes first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::checkpoint::{CheckpointError, Checkpointer, IntentClaim, IntentLease, IntentRef};
use crate::error::NodeError;

/// A step's result as this task knows it.
#[derive(Clone)]
pub(crate) struct Known {
    pub(crate) bytes: Vec<u8>,
    /// Whether the saver holds it (its intent was completed): else completing it comes first.
    pub(crate) durable: bool,
}

/// What a task remembers of its journaled steps across attempts.
#[derive(Default)]
pub(crate) struct StepBook {
    /// Per name: how many calls this attempt has started.
    started: HashMap<String, usize>,
    /// Names with a call in flight.
    running: HashSet<String>,
    /// Results by (name, occurrence).
    known: HashMap<(String, usize), Known>,
    /// Journal entries written so far (the next one's position).
    written: usize,
    /// An engine error that must fail the task whatever the node does with its step's error:
    /// another runner holds the step.
    fatal: Option<CheckpointError>,
}

impl StepBook {
    /// A book with the journal a task saved before, as (name, result) by position.
    pub(crate) fn from_journal(journal: Vec<(String, Vec<u8>)>) -> Self {
        let mut book = StepBook {
            written: journal.len(),
            ..StepBook::default()
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (name, bytes) in &journal {
            if name.is_empty() {
                continue; // a position whose entry never arrived
            }
            let occurrence = seen.entry(name).or_default();
            book.known.insert(
                (name.clone(), *occurrence),
                Known {
                    bytes: bytes.clone(),
                    durable: true,
                },
            );
            *occurrence += 1;
        }
        book
    }

    /// A new attempt starts from the top of the node.
    pub(crate) fn restart(&mut self) {
        self.started.clear();
        self.running.clear();
    }

    /// The occurrence the next call named `name` gets.
    pub(crate) fn next_occurrence(&self, name: &str) -> usize {
        self.started.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn take_fatal(&mut self) -> Option<CheckpointError> {
        self.fatal.take()
    }
}

/// The step book of a task, locked (a poisoned lock keeps its data: every update is one
/// insert or remove).
pub(crate) fn lock(book: &Mutex<StepBook>) -> MutexGuard<'_, StepBook> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A call of a step, in flight until dropped.
pub(crate) struct Running<'a> {
    book: &'a Mutex<StepBook>,
    pub(crate) name: String,
    pub(crate) occurrence: usize,
}

impl<'a> Running<'a> {
    /// Starts a call named `name`, or refuses it when one of that name is in flight.
    pub(crate) fn start(book: &'a Mutex<StepBook>, name: &str, node: &str) -> Result<Self, NodeError> {
        let mut b = lock(book);
        if !b.running.insert(name.to_owned()) {
            return Err(NodeError::terminal(format!(
                "node `{node}` called step `{name}` while another call of `{name}` was still running; \
                 steps of one name must be awaited one at a time (or given distinct names), so that \
                 each keeps its idempotency key and saved result on every run"
            )));
        }
        let started = b.started.entry(name.to_owned()).or_default();
        let occurrence = *started;
        *started += 1;
        Ok(Running {
            book,
            name: name.to_owned(),
            occurrence,
        })
    }

    pub(crate) fn known(&self) -> Option<Known> {
        lock(self.book)
            .known
            .get(&(self.name.clone(), self.occurrence))
            .cloned()
    }

    /// Remembers the result; a durable one takes the next journal position.
    pub(crate) fn remember(&self, bytes: Vec<u8>, durable: bool) {
        let mut b = lock(self.book);
        b.known
            .insert((self.name.clone(), self.occurrence), Known { bytes, durable });
        if durable {
            b.written += 1;
        }
    }

    /// Marks the result remembered for this call durable (its bytes stay where they are);
    /// returns the journal position it takes.
    pub(crate) fn mark_durable(&self) -> usize {
        let mut b = lock(self.book);
        if let Some(known) = b.known.get_mut(&(self.name.clone(), self.occurrence)) {
            known.durable = true;
        }
        b.written += 1;
        b.written - 1
    }

    /// Records an error that fails the task whatever the node does.
    pub(crate) fn fail_task(&self, error: CheckpointError) {
        lock(self.book).fatal = Some(error);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(self.book).running.remove(&self.name);
    }
}

/// Where a run's steps claim their intents: the saver, the thread, and the run's claim.
pub(crate) struct IntentScope {
    pub(crate) saver: Arc<dyn Checkpointer>,
    pub(crate) thread_id: String,
    pub(crate) namespace: String,
    /// Unique to this run (two processes never share it, even with the same run id).
    pub(crate) owner: String,
    pub(crate) lease: Duration,
}

impl IntentScope {
    pub(crate) fn intent(&self, key: &str) -> IntentRef {
        IntentRef {
            thread_id: self.thread_id.clone(),
            namespace: self.namespace.clone(),
            key: key.to_owned(),
        }
    }

    pub(crate) async fn claim(&self, intent: &IntentRef) -> Result<IntentClaim, CheckpointError> {
        let lease = IntentLease {
            owner: &self.owner,
            lease: self.lease,
        };
        self.saver.claim_intent(intent, lease).await
    }
}
