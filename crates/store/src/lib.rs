//! Homeline's persistence: secrets in the OS keychain, files in the per-user
//! folders the OS expects. (Settings and history arrive with their issues.)

pub mod keychain;
pub mod paths;

pub use keychain::{Keychain, KeychainError, SecretBackend};
pub use paths::AppDirs;
