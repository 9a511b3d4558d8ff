//! The two SQLite calls sqlx does not wrap: a connection's length limit, and the memory SQLite
//! has allocated. The only `unsafe` code of the crate (FFI through `libsqlite3-sys`, the
//! library sqlx itself links); each call is a plain C function with no pointer but the
//! connection handle.
#![allow(unsafe_code)]

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

/// Sets the connection's `SQLITE_LIMIT_LENGTH`: from now on no string or blob it builds (and
/// no stored row it reads) may be longer than `bytes`; such a statement fails with
/// `SQLITE_TOOBIG` ("string or blob too big") instead of allocating.
pub(crate) fn set_length_limit(handle: &mut LockedSqliteHandle<'_>, bytes: usize) {
    let limit = i32::try_from(bytes).unwrap_or(i32::MAX);
    let db = handle.as_raw_handle();
    // SAFETY: `db` is the connection's open handle, and `handle` holds the connection's lock
    // (no statement runs on it meanwhile). sqlite3_limit only stores the value in the
    // connection's limit array; the id is one of the documented SQLITE_LIMIT_* constants.
    unsafe {
        ffi::sqlite3_limit(db.as_ptr(), ffi::SQLITE_LIMIT_LENGTH, limit);
    }
}

/// The bytes SQLite has allocated in this process, all connections together.
pub(crate) fn memory_used() -> i64 {
    // SAFETY: no arguments; reads a counter SQLite keeps under its own mutex, callable from
    // any thread at any time (including a progress handler).
    unsafe { ffi::sqlite3_memory_used() }
}
