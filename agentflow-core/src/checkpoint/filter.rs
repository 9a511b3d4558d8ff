//! What a `list` filter and limit mean, for every saver.
//!
//! A filter key names an engine field of [`CheckpointMetadata`] ([`ENGINE_METADATA_KEYS`]) or a
//! user key of `extra`; it matches when the stored value is *equal* to the filter's value, as
//! JSON: arrays element by element in order, objects by the same keys with equal values, numbers
//! by value (`1` equals `1.0`). A filter `["a"]` does not match a stored `["a", "b"]` (no
//! containment): savers that filter in SQL compare the same way (PostgreSQL: JSONB `=`).

use std::collections::BTreeMap;

use super::CheckpointMetadata;

/// The filter keys that name [`CheckpointMetadata`]'s own fields; every other key is looked up
/// in [`CheckpointMetadata::extra`].
pub const ENGINE_METADATA_KEYS: [&str; 3] = ["source", "step", "run_id"];

/// How many checkpoints `list` returns when [`ListOptions::limit`](super::ListOptions::limit)
/// is `None`, in every saver: ask for more with `Some(n)`, or page with `before`.
pub const DEFAULT_LIST_LIMIT: usize = 100;

impl CheckpointMetadata {
    /// True when every key of `filter` is equal (see the [module](self) docs) to the
    /// metadata's value for it (`source`, `step`, `run_id`, or a user key).
    pub fn matches(&self, filter: &BTreeMap<String, serde_json::Value>) -> bool {
        filter.iter().all(|(key, want)| {
            let have = match key.as_str() {
                "source" => serde_json::to_value(self.source).ok(),
                "step" => Some(serde_json::Value::from(self.step)),
                "run_id" => Some(serde_json::Value::from(self.run_id.clone())),
                other => self.extra.get(other).cloned(),
            };
            have.is_some_and(|have| json_equal(&have, want))
        })
    }
}

/// JSON equality as PostgreSQL's JSONB `=` has it: numbers compare by value whatever their
/// representation (serde_json's own `==` tells `1` from `1.0`).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::json_equal;

    #[test]
    fn equality_is_exact_for_arrays_and_objects_and_by_value_for_numbers() {
        assert!(json_equal(&json!([1, "a"]), &json!([1.0, "a"])));
        assert!(!json_equal(&json!(["a", "b"]), &json!(["a"])));
        assert!(!json_equal(&json!(["a", "b"]), &json!(["b", "a"])));
        assert!(json_equal(&json!({"k": 1, "j": [2]}), &json!({"j": [2], "k": 1})));
        assert!(!json_equal(&json!({"k": 1, "j": 2}), &json!({"k": 1})));
        assert!(!json_equal(&json!(1), &json!("1")));
    }
}
