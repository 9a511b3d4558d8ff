//! Derive macros for agentflow. Use them through `agentflow_core` or the `agentflow` facade, which
//! re-export them.
//!
//! `#[derive(State)]` turns a plain struct into graph state: it generates the partial-update type
//! (`{Name}Update`), its builder methods, and the merge that applies a superstep's writes field by
//! field with each field's merge rule. See `agentflow_core::State` for the full story.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod crate_path;
mod state;

use proc_macro::TokenStream;

/// Derives `agentflow_core::State` for a struct with named fields.
///
/// Field attributes choose the merge rule (default: last value):
/// `#[state(append)]`, `#[state(merge)]`, `#[state(add)]`, `#[state(reducer = path::to::fn)]`
/// where the function has the signature `fn(&mut T, T)`.
///
/// Struct attributes: `#[state(update = "Name")]` renames the update type, and
/// `#[state(derive(...))]` adds derives to it (for example `serde::Serialize`).
#[proc_macro_derive(State, attributes(state))]
pub fn derive_state(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    state::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
