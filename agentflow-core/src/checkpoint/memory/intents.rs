//! The in-memory saver's step intents.

use std::collections::HashMap;
use std::time::Instant;

use crate::checkpoint::{IntentClaim, IntentLease, IntentRef};

/// Step intents by (thread, namespace, key).
#[derive(Debug, Default)]
pub(super) struct Intents(HashMap<(String, String, String), Intent>);

#[derive(Debug)]
struct Intent {
    owner: String,
    /// When the claim stops being live (`None`: given up, ambiguous at once).
    lease_until: Option<Instant>,
    /// The effect's result, once completed.
    result: Option<Vec<u8>>,
}

fn slot(intent: &IntentRef) -> (String, String, String) {
    (
        intent.thread_id.clone(),
        intent.namespace.clone(),
        intent.key.clone(),
    )
}

impl Intents {
    pub(super) fn claim(&mut self, intent: &IntentRef, lease: IntentLease<'_>) -> IntentClaim {
        let now = Instant::now();
        let lease_until = Some(now + lease.lease);
        let Some(found) = self.0.get_mut(&slot(intent)) else {
            self.0.insert(
                slot(intent),
                Intent {
                    owner: lease.owner.to_owned(),
                    lease_until,
                    result: None,
                },
            );
            return IntentClaim::Fresh;
        };
        if let Some(result) = &found.result {
            return IntentClaim::Completed(result.clone());
        }
        let live = found.lease_until.is_some_and(|until| until > now);
        if live && found.owner != lease.owner {
            return IntentClaim::Held;
        }
        found.owner = lease.owner.to_owned();
        found.lease_until = lease_until;
        IntentClaim::Ambiguous
    }

    pub(super) fn complete(&mut self, intent: &IntentRef, owner: &str, result: &[u8]) -> bool {
        match self.0.get_mut(&slot(intent)) {
            Some(found) if found.owner == owner && found.result.is_none() => {
                found.result = Some(result.to_vec());
                found.lease_until = None;
                true
            }
            _ => false,
        }
    }

    pub(super) fn release(&mut self, intent: &IntentRef, owner: &str) {
        if let Some(found) = self.0.get_mut(&slot(intent))
            && found.owner == owner
            && found.result.is_none()
        {
            found.lease_until = None;
        }
    }

    pub(super) fn remove_thread(&mut self, thread_id: &str) {
        self.0.retain(|(thread, _, _), _| thread != thread_id);
    }
}
