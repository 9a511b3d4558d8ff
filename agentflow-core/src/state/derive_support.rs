//! What the code `#[derive(State)]` generates calls. Not part of the public API: reached through
//! `agentflow_core::__private`, the one path the derive names.

use serde::Serialize;

use super::{Reducer, UpdateError, Write};

/// Serializes the items of a collection from position `from` on, as a sequence: the delta of an
/// append field.
pub struct Tail<'a, T: ?Sized>(pub &'a T, pub usize);

impl<T: ?Sized> Serialize for Tail<'_, T>
where
    for<'b> &'b T: IntoIterator,
    for<'b> <&'b T as IntoIterator>::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.into_iter().skip(self.1))
    }
}

/// The number of items of a collection.
pub fn seq_len<T: ?Sized>(collection: &T) -> usize
where
    for<'b> &'b T: IntoIterator,
{
    collection.into_iter().count()
}

/// Per-field bookkeeping while one superstep's writes are folded in.
#[derive(Clone, Copy, Debug)]
pub struct FieldGuard<'w> {
    last_writer: Option<&'w str>,
    overwritten_by: Option<&'w str>,
}

impl FieldGuard<'_> {
    /// A guard for a field nobody has written yet.
    pub const NEW: Self = FieldGuard {
        last_writer: None,
        overwritten_by: None,
    };

    /// True when the field was overwritten in this superstep.
    pub fn overwritten(&self) -> bool {
        self.overwritten_by.is_some()
    }
}

/// Applies one write to one field with reducer `R`. Called by the derived merge.
pub fn apply_field<'w, T, R: Reducer<T>>(
    current: &mut T,
    write: Write<T>,
    guard: &mut FieldGuard<'w>,
    field: &'static str,
    writer: &'w str,
) -> Result<(), UpdateError> {
    apply_field_with(current, write, guard, field, writer, R::LAST_VALUE, R::reduce)
}

/// Applies one write to one field with a reducer function. Called by the derived merge.
pub fn apply_field_with<'w, T>(
    current: &mut T,
    write: Write<T>,
    guard: &mut FieldGuard<'w>,
    field: &'static str,
    writer: &'w str,
    last_value: bool,
    reduce: impl FnOnce(&mut T, T),
) -> Result<(), UpdateError> {
    match write {
        Write::Overwrite(value) => {
            if let Some(first) = guard.overwritten_by {
                return Err(UpdateError::ConflictingOverwrite {
                    field,
                    first: first.to_owned(),
                    second: writer.to_owned(),
                });
            }
            guard.overwritten_by = Some(writer);
            *current = value;
        }
        // An overwrite in this superstep wins over ordinary writes, whatever their order.
        Write::Value(_) if guard.overwritten_by.is_some() => {}
        Write::Value(value) => {
            if last_value {
                if let Some(first) = guard.last_writer {
                    return Err(UpdateError::ConcurrentLastValue {
                        field,
                        first: first.to_owned(),
                        second: writer.to_owned(),
                    });
                }
                guard.last_writer = Some(writer);
            }
            reduce(current, value);
        }
    }
    Ok(())
}
