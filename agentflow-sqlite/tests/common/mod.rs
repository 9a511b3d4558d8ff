//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A database file under the system temp dir, removed (with its WAL and shared-memory files)
/// when dropped.
pub struct TempDb {
    path: PathBuf,
}

impl TempDb {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "agentflow-sqlite-{label}-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        TempDb { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A sibling file (logs and the like), removed with the database.
    pub fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal", ".exec.log", ".effects.log"] {
            let _ = std::fs::remove_file(self.sibling(suffix));
        }
    }
}
