//! Homeline's persistence: secrets in the OS keychain, files in the per-user
//! folders the OS expects, settings in a crash-safe TOML file. Call history and
//! contacts live in SQLite in the data folder.

pub mod contacts;
pub mod history;
pub mod keychain;
pub mod paths;
pub mod settings_file;
pub mod vcard;

pub use contacts::{numbers_match, Contact, ContactInput, Contacts, ContactsError, PhoneNumber};
pub use history::{CallRecord, Direction, History, HistoryEntry, HistoryError, HistoryFilter, RowState as HistoryRowState, INTERRUPTED_REASON};
pub use keychain::{Keychain, KeychainError, SecretBackend};
pub use paths::AppDirs;
pub use settings_file::{Loaded, SettingsError, SettingsFile};
pub use vcard::{Parsed as ParsedVcard, VcardError, VcardVersion};
