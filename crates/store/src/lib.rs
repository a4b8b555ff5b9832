//! Homeline's persistence: secrets in the OS keychain, files in the per-user
//! folders the OS expects, settings in a crash-safe TOML file. (History and
//! contacts arrive with their issue.)

pub mod history;
pub mod keychain;
pub mod paths;
pub mod settings_file;

pub use history::{CallRecord, Direction, History, HistoryEntry, HistoryError, HistoryFilter};
pub use keychain::{Keychain, KeychainError, SecretBackend};
pub use paths::AppDirs;
pub use settings_file::{Loaded, SettingsError, SettingsFile};
