//! Secrets (SIP passwords) live only in the OS keychain: the Secret Service on
//! Linux, Keychain Services on macOS, Credential Manager on Windows.
//!
//! Without a keychain (a headless box with no Secret Service) the secret is
//! kept in memory for this run only, and [`Keychain::backend`] says so, so the
//! UI can tell the user. It is never written to a file.

use std::collections::HashMap;
use std::sync::Mutex;

/// The keychain "service" every Homeline secret is filed under.
pub const SERVICE: &str = "homeline";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretBackend {
    /// The OS keychain: secrets survive restarts.
    Os,
    /// No keychain reachable: secrets last until Homeline quits.
    MemoryOnly,
}

#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    #[error("the system keychain refused access: {0}")]
    Denied(String),
    #[error("the system keychain failed: {0}")]
    Failed(String),
}

#[derive(Debug)]
pub struct Keychain {
    backend: SecretBackend,
    memory: Mutex<HashMap<String, String>>,
}

impl Keychain {
    /// Connect to the OS keychain, or fall back to memory (and say so in the log).
    pub fn open() -> Self {
        let backend = match keyring::Entry::store_status() {
            Ok(()) => SecretBackend::Os,
            Err(e) => {
                tracing::warn!("no system keychain ({e}); passwords are kept in memory for this run only");
                SecretBackend::MemoryOnly
            }
        };
        Self { backend, memory: Mutex::new(HashMap::new()) }
    }

    /// A keychain that never touches the OS (unit tests of code that stores secrets).
    pub fn in_memory() -> Self {
        Self { backend: SecretBackend::MemoryOnly, memory: Mutex::new(HashMap::new()) }
    }

    pub fn backend(&self) -> SecretBackend {
        self.backend
    }

    /// Store `secret` for `account` (for example `alice@pbx.example.com`).
    pub fn set(&self, account: &str, secret: &str) -> Result<(), KeychainError> {
        match self.backend {
            SecretBackend::Os => entry(account)?.set_password(secret).map_err(map_err),
            SecretBackend::MemoryOnly => {
                self.memory().insert(account.to_owned(), secret.to_owned());
                Ok(())
            }
        }
    }

    /// The secret for `account`, or `None` when there is none.
    pub fn get(&self, account: &str) -> Result<Option<String>, KeychainError> {
        match self.backend {
            SecretBackend::Os => match entry(account)?.get_password() {
                Ok(secret) => Ok(Some(secret)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(map_err(e)),
            },
            SecretBackend::MemoryOnly => Ok(self.memory().get(account).cloned()),
        }
    }

    /// Forget the secret for `account`; forgetting a missing one is not an error.
    pub fn delete(&self, account: &str) -> Result<(), KeychainError> {
        match self.backend {
            SecretBackend::Os => match entry(account)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(map_err(e)),
            },
            SecretBackend::MemoryOnly => {
                self.memory().remove(account);
                Ok(())
            }
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn entry(account: &str) -> Result<keyring::Entry, KeychainError> {
    keyring::Entry::new(SERVICE, account).map_err(map_err)
}

fn map_err(e: keyring::Error) -> KeychainError {
    match e {
        keyring::Error::NoStorageAccess(inner) => KeychainError::Denied(inner.to_string()),
        other => KeychainError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_backend_round_trips_and_deletes() -> Result<(), KeychainError> {
        let k = Keychain::in_memory();
        assert_eq!(k.get("a@b")?, None);
        k.set("a@b", "s3cret")?;
        assert_eq!(k.get("a@b")?.as_deref(), Some("s3cret"));
        k.delete("a@b")?;
        k.delete("a@b")?;
        assert_eq!(k.get("a@b")?, None);
        Ok(())
    }
}
