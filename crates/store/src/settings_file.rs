//! A settings file that survives crashes and bad edits.
//!
//! Writes go to a temporary file in the same folder, are flushed to disk and
//! then renamed over the old file, so a crash leaves either the old or the
//! new settings, never half of each. A file that cannot be read back (a bad
//! hand edit, a disk error) is moved aside — not deleted — and the caller
//! gets the defaults plus a sentence to show the user.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not save the settings to {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded<T> {
    pub value: T,
    /// Set when the file was unreadable and moved aside: say so to the user.
    pub warning: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

/// Largest settings file we read: anything bigger is not ours.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

impl SettingsFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the settings; a missing file gives the defaults.
    pub fn load<T: DeserializeOwned + Default>(&self) -> Loaded<T> {
        let text = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded { value: T::default(), warning: None },
            Ok(meta) if meta.len() > MAX_BYTES => Err(format!("it is larger than {MAX_BYTES} bytes")),
            _ => std::fs::read_to_string(&self.path).map_err(|e| e.to_string()),
        };
        match text.and_then(|t| toml::from_str::<T>(&t).map_err(|e| e.message().to_owned())) {
            Ok(value) => Loaded { value, warning: None },
            Err(reason) => {
                let aside = self.aside_path();
                let moved = std::fs::rename(&self.path, &aside).is_ok();
                let warning = if moved {
                    format!(
                        "Your settings file could not be read ({reason}); Homeline started with default settings and kept the old file as {}.",
                        aside.display()
                    )
                } else {
                    format!("Your settings file {} could not be read ({reason}); Homeline started with default settings.", self.path.display())
                };
                tracing::warn!("{warning}");
                Loaded { value: T::default(), warning: Some(warning) }
            }
        }
    }

    /// Write the settings atomically (temp file + fsync + rename).
    pub fn save<T: Serialize>(&self, value: &T) -> Result<(), SettingsError> {
        let fail = |reason: String| SettingsError::Write { path: self.path.clone(), reason };
        let text = toml::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let tmp = self.path.with_extension("toml.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| fail(e.to_string()))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| fail(e.to_string()))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(|e| fail(e.to_string()))?;
        // The rename itself is durable only once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn aside_path(&self) -> PathBuf {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        self.path.with_extension(format!("toml.unreadable-{stamp}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Demo {
        #[serde(default)]
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn missing_file_gives_defaults_and_save_round_trips() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = SettingsFile::new(dir.path().join("sub/settings.toml"));
        let loaded: Loaded<Demo> = file.load();
        assert_eq!(loaded.value, Demo::default());
        assert!(loaded.warning.is_none());
        let demo = Demo { name: "alice".into(), count: 3 };
        file.save(&demo).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.load::<Demo>().value, demo);
        assert!(!file.path().with_extension("toml.tmp").exists(), "no temp file is left behind");
    }

    #[test]
    fn unreadable_file_is_kept_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "name = [unclosed").unwrap_or_else(|e| panic!("{e}"));
        let loaded: Loaded<Demo> = SettingsFile::new(&path).load();
        assert_eq!(loaded.value, Demo::default());
        let warning = loaded.warning.unwrap_or_default();
        assert!(warning.contains("could not be read"), "{warning}");
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("unreadable"))
            .collect();
        assert_eq!(kept.len(), 1, "the bad file is kept for the user");
        assert_eq!(std::fs::read_to_string(kept[0].path()).unwrap_or_default(), "name = [unclosed");
    }
}
