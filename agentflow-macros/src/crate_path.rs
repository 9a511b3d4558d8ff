//! Which crate the generated code names: `agentflow_core`, or the `agentflow` facade.
//!
//! A derive cannot see how the user reached it, so it reads the manifest of the crate being
//! compiled: a crate that depends on `agentflow` (and so may not depend on `agentflow-core`
//! itself) gets `::agentflow`, which re-exports the core at its root; every other crate gets
//! `::agentflow_core`. A renamed dependency (`af = { package = "agentflow" }`) is not detected.

use std::path::Path;

use proc_macro2::TokenStream;
use quote::quote;

/// The path of the crate the generated code names (`::agentflow_core` or `::agentflow`).
pub(crate) struct CorePath {
    /// The path, as tokens.
    pub(crate) tokens: TokenStream,
    /// The same path, as a string (for `#[serde(crate = "...")]`).
    pub(crate) text: &'static str,
}

/// The path of the crate the generated code names, for the crate being compiled.
pub(crate) fn core_path() -> CorePath {
    let depends_on_facade = std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| std::fs::read_to_string(Path::new(&dir).join("Cargo.toml")).ok())
        .is_some_and(|manifest| declares_facade_dependency(&manifest));
    if depends_on_facade {
        CorePath {
            tokens: quote!(::agentflow),
            text: "::agentflow",
        }
    } else {
        CorePath {
            tokens: quote!(::agentflow_core),
            text: "::agentflow_core",
        }
    }
}

/// True when a manifest declares a dependency named `agentflow` (in any dependency table):
/// `agentflow = ...`, `agentflow.workspace = true` or a `[dependencies.agentflow]` table.
fn declares_facade_dependency(manifest: &str) -> bool {
    manifest.lines().map(str::trim).any(|line| {
        let key = line.strip_prefix("agentflow").map(str::trim_start);
        let as_key = key.is_some_and(|rest| rest.starts_with('=') || rest.starts_with('.'));
        let as_table =
            line.starts_with('[') && line.trim_end_matches(']').ends_with("dependencies.agentflow");
        as_key || as_table
    })
}

#[cfg(test)]
mod tests {
    use super::declares_facade_dependency;

    #[test]
    fn the_facade_is_recognised_in_every_spelling_and_the_other_crates_are_not() {
        assert!(declares_facade_dependency(
            "[dependencies]\nagentflow = \"0.1\"\n"
        ));
        assert!(declares_facade_dependency(
            "[dependencies]\nagentflow = { version = \"0.1\", features = [\"sqlite\"] }\n"
        ));
        assert!(declares_facade_dependency(
            "[dependencies]\nagentflow.workspace = true\n"
        ));
        assert!(declares_facade_dependency(
            "[dev-dependencies.agentflow]\npath = \"..\"\n"
        ));
        assert!(!declares_facade_dependency(
            "[dependencies]\nagentflow-core = \"0.1\"\n"
        ));
        assert!(!declares_facade_dependency(
            "[dependencies]\nagentflow-core.workspace = true\nagentflow-sqlite = \"0.1\"\n"
        ));
        assert!(!declares_facade_dependency("[package]\nname = \"agentflow\"\n"));
    }
}
