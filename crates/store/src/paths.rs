//! Where Homeline keeps its files: config (settings), data (history,
//! contacts), cache (logs), as each OS expects.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AppDirs {
    config: PathBuf,
    data: PathBuf,
    cache: PathBuf,
}

impl AppDirs {
    /// The user's folders, or `None` when the OS gives no home directory.
    pub fn for_user() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("app", "homeline", "Homeline")?;
        Some(Self {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            cache: dirs.cache_dir().to_path_buf(),
        })
    }

    /// All three folders under one root (tests, portable installs).
    pub fn under(root: &Path) -> Self {
        Self { config: root.join("config"), data: root.join("data"), cache: root.join("cache") }
    }

    pub fn config(&self) -> &Path {
        &self.config
    }
    pub fn data(&self) -> &Path {
        &self.data
    }
    pub fn logs(&self) -> PathBuf {
        self.cache.join("logs")
    }
}
