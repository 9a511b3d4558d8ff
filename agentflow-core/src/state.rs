//! Typed state, partial updates and per-field merge rules (reducers).
//!
//! A graph's state is a plain Rust struct. `#[derive(State)]` generates its partial-update type
//! (`{Name}Update`, every field optional) and the merge that folds a superstep's updates into the
//! state, field by field, with the rule the field declares:
//!
//! | attribute | rule | typical type |
//! |---|---|---|
//! | *(none)* | last value; two writes in one superstep are an error | any |
//! | `#[state(append)]` | extend with the new items | `Vec<T>`, `VecDeque<T>` |
//! | `#[state(merge)]` | insert the new entries, right wins | `HashMap`, `BTreeMap` |
//! | `#[state(add)]` | `+=` | numbers |
//! | `#[state(reducer = f)]` | `f(&mut current, incoming)` | anything |
//!
//! Every update type also has an `overwrite_{field}` setter that replaces the value outright,
//! bypassing the rule (LangGraph's `Overwrite`). Two overwrites of one field in one superstep are an
//! error; an overwrite wins over the ordinary writes of the same superstep.

use std::ops::AddAssign;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Codec, CodecError};

pub(crate) mod derive_support;

/// Graph state: a struct whose fields merge partial updates by rule. Derive it with
/// `#[derive(State)]`; implementing it by hand is possible but rarely useful.
///
/// ```
/// use agentflow_core::State;
///
/// #[derive(State, Clone, Default, Debug, serde::Serialize, serde::Deserialize)]
/// struct Chat {
///     #[state(append)]
///     messages: Vec<String>,
///     #[state(add)]
///     turns: u32,
///     topic: String,
/// }
///
/// let mut chat = Chat::default();
/// let changed = chat
///     .apply_updates([
///         ("greeter", ChatUpdate::default().messages(vec!["hi".into()]).turns(1)),
///         ("echo", ChatUpdate::default().messages(vec!["hi!".into()]).turns(1)),
///     ])
///     .unwrap();
/// assert_eq!(chat.messages, ["hi", "hi!"]);
/// assert_eq!(chat.turns, 2);
/// assert_eq!(changed.len(), 2);
///
/// // Two writes to a last-value field in one superstep are refused, naming both writers.
/// let err = chat
///     .apply_updates([
///         ("a", ChatUpdate::default().topic("x".into())),
///         ("b", ChatUpdate::default().topic("y".into())),
///     ])
///     .unwrap_err();
/// assert!(err.to_string().contains("`topic`"));
/// ```
pub trait State: Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The partial update nodes return: every field optional.
    type Update: Clone + Default + Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug + 'static;

    /// Field names, in declaration order (indices of [`FieldSet`]).
    const FIELDS: &'static [&'static str];

    /// True when the update writes no field.
    fn is_empty_update(update: &Self::Update) -> bool;

    /// The fields an update writes.
    fn written_fields(update: &Self::Update) -> FieldSet;

    /// Encodes the fields in `fields`, by name (checkpoints store fields separately, so that an
    /// unchanged field is not written again).
    fn encode_fields(
        &self,
        fields: FieldSet,
        codec: &dyn Codec,
    ) -> Result<Vec<(&'static str, Vec<u8>)>, CodecError>;

    /// Decodes field `name` into the state. Returns `false` for a name the type does not have
    /// (a field since removed), which is skipped.
    fn decode_field(&mut self, name: &str, bytes: &[u8], codec: &dyn Codec) -> Result<bool, CodecError>;

    /// The set of all fields.
    fn all_fields() -> FieldSet {
        let mut set = FieldSet::EMPTY;
        for i in 0..Self::FIELDS.len() {
            set.insert(i);
        }
        set
    }

    /// Folds `updates` (writer name, update), in the given order, into the state. Returns the set
    /// of fields that received a write. On error the state may be partly updated; the engine
    /// discards it.
    fn apply_updates<'w, I>(&mut self, updates: I) -> Result<FieldSet, UpdateError>
    where
        I: IntoIterator<Item = (&'w str, Self::Update)>,
    {
        self.apply_tracked(updates).map(|applied| applied.changed)
    }

    /// [`apply_updates`](Self::apply_updates), also telling which fields were replaced outright
    /// (overwritten) rather than merged.
    fn apply_tracked<'w, I>(&mut self, updates: I) -> Result<Applied, UpdateError>
    where
        I: IntoIterator<Item = (&'w str, Self::Update)>;

    /// For append fields stored as deltas: the field's length (`None` for other fields).
    fn append_len(&self, index: usize) -> Option<usize> {
        let _ = index;
        None
    }

    /// For append fields: the items from position `from` on, encoded as the field's type
    /// (`None` for other fields).
    fn encode_tail(
        &self,
        index: usize,
        from: usize,
        codec: &dyn Codec,
    ) -> Result<Option<Vec<u8>>, CodecError> {
        let _ = (index, from, codec);
        Ok(None)
    }

    /// For append fields: decodes items and appends them to field `name`. Returns `false` for
    /// other names.
    fn decode_append(&mut self, name: &str, bytes: &[u8], codec: &dyn Codec) -> Result<bool, CodecError> {
        let _ = (name, bytes, codec);
        Ok(false)
    }
}

/// What a superstep's merge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Fields that received a write.
    pub changed: FieldSet,
    /// Fields replaced outright (an overwrite), not merged.
    pub replaced: FieldSet,
}

/// One write to one field: through the field's merge rule, or replacing it outright.
///
/// The type of the generated update's fields, which their setters fill: hidden from the docs
/// with the rest of the derive's plumbing (see `agentflow_core::__private`).
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Write<T> {
    /// Merged with the field's rule.
    Value(T),
    /// Replaces the field, bypassing its rule.
    Overwrite(T),
}

impl<T> Write<T> {
    /// `"value"` or `"overwrite"`, for diagnostics that must not require `T: Debug`.
    pub fn kind(&self) -> &'static str {
        match self {
            Write::Value(_) => "value",
            Write::Overwrite(_) => "overwrite",
        }
    }
}

/// A merge rule for fields of type `T`.
pub trait Reducer<T> {
    /// True for the last-value rule, which accepts one write per superstep.
    const LAST_VALUE: bool = false;
    /// Folds `incoming` into `current`.
    fn reduce(current: &mut T, incoming: T);
}

/// Keep the newest value; a second write in the same superstep is an error.
#[derive(Debug, Clone, Copy)]
pub struct LastValue;
impl<T> Reducer<T> for LastValue {
    const LAST_VALUE: bool = true;
    fn reduce(current: &mut T, incoming: T) {
        *current = incoming;
    }
}

/// Extend a collection with the incoming items.
#[derive(Debug, Clone, Copy)]
pub struct Append;
impl<T> Reducer<T> for Append
where
    T: Extend<<T as IntoIterator>::Item> + IntoIterator,
{
    fn reduce(current: &mut T, incoming: T) {
        current.extend(incoming);
    }
}

/// Insert the incoming entries into a map; on equal keys the incoming value wins.
#[derive(Debug, Clone, Copy)]
pub struct Merge;
impl<T> Reducer<T> for Merge
where
    T: Extend<<T as IntoIterator>::Item> + IntoIterator,
{
    fn reduce(current: &mut T, incoming: T) {
        current.extend(incoming);
    }
}

/// Add the incoming value (`+=`).
#[derive(Debug, Clone, Copy)]
pub struct Add;
impl<T: AddAssign> Reducer<T> for Add {
    fn reduce(current: &mut T, incoming: T) {
        *current += incoming;
    }
}

/// A set of field indices (at most 128 fields per state).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u128);

impl FieldSet {
    /// The empty set.
    pub const EMPTY: FieldSet = FieldSet(0);

    /// Adds field `index`.
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1u128 << index;
    }

    /// True when field `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < 128 && self.0 & (1u128 << index) != 0
    }

    /// True when no field is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many fields are in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The union of two sets.
    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// Field indices in ascending order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        // One step per member, not per possible index: this runs for every write of every step.
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let index = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(index)
        })
    }

    /// The names of the fields in the set, for state type `S`.
    pub fn names<S: State>(self) -> Vec<&'static str> {
        self.iter().filter_map(|i| S::FIELDS.get(i).copied()).collect()
    }
}

impl std::fmt::Debug for FieldSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A state that turns into the update that overwrites every field with its values (whatever
/// the fields' merge rules): how a subgraph over the parent's own state hands its final state
/// back ([`CompiledGraph::as_same_state_node`](crate::CompiledGraph::as_same_state_node)).
/// `#[derive(State)]` implements it.
pub trait IntoOverwrite: State {
    /// The update that sets every field to this state's value.
    fn into_overwrite(self) -> Self::Update;
}

/// A superstep's writes could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// Two writes to a last-value field in one superstep.
    #[error(
        "field `{field}` received two values in one superstep (from `{first}` and `{second}`), \
         but it keeps only the last value. Give it a merge rule such as #[state(append)] or \
         #[state(reducer = ...)], or let only one of the parallel nodes write it"
    )]
    ConcurrentLastValue {
        /// The field.
        field: &'static str,
        /// The first writer (in merge order).
        first: String,
        /// The second writer.
        second: String,
    },
    /// Two overwrites of one field in one superstep.
    #[error(
        "field `{field}` was overwritten twice in one superstep (by `{first}` and `{second}`); \
         at most one node may overwrite a field per superstep"
    )]
    ConflictingOverwrite {
        /// The field.
        field: &'static str,
        /// The first writer.
        first: String,
        /// The second writer.
        second: String,
    },
}

#[cfg(test)]
mod tests {
    use super::FieldSet;

    #[test]
    fn a_field_set_iterates_its_members_in_ascending_order() {
        let mut set = FieldSet::EMPTY;
        assert_eq!(set.iter().count(), 0);
        for index in [127, 0, 64, 5, 63] {
            set.insert(index);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 127]);
        assert!(set.iter().all(|i| set.contains(i)));
    }
}
