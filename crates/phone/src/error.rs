//! The engine's errors: a stable code for programs and a sentence for people.

use serde::Serialize;

/// Stable, machine-readable error codes (the UI switches on these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NoAccount,
    UnknownAccount,
    InvalidAccount,
    NoPassword,
    Keychain,
    Settings,
    InvalidTarget,
    UnknownCall,
    CallFailed,
    NotAvailable,
    /// The call history could not be read or written.
    History,
    Internal,
}

#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct EngineError {
    pub code: ErrorCode,
    pub message: String,
}

impl EngineError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}
