//! The crate's one error type. Every message is a sentence a person can read
//! in the UI; `code()` gives the stable identifier the UI can match on.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SipError {
    #[error("The SIP address {0:?} is not valid: write it as user@domain.")]
    BadAddress(String),
    #[error("The server address {0:?} is not valid: write it as wss://host[:port][/path] (or ws:// for an unencrypted test server).")]
    BadServerUrl(String),
    #[error("The CA file {path} could not be used: {why}.")]
    BadCaFile { path: String, why: String },
    #[error("The certificate fingerprint {0:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed).")]
    BadFingerprint(String),
    #[error("Could not connect to {host}: {why}.")]
    Connect { host: String, why: String },
    #[error("The certificate of {host} {why}.")]
    Certificate { host: String, why: String },
    #[error("The WebSocket connection to {host} failed: {why}.")]
    WebSocket { host: String, why: String },
    #[error("The connection to the SIP server was lost.")]
    ConnectionLost,
    #[error("The SIP server sent a message that could not be read: {0}.")]
    BadMessage(String),
    #[error("The server's authentication challenge could not be used: {0}.")]
    BadChallenge(String),
    #[error("The registration task has stopped.")]
    Stopped,
    #[error("There is no call {0:?} (it may have ended already).")]
    NoSuchCall(String),
    #[error("The call cannot {0} in its current state.")]
    CallState(&'static str),
    #[error("{0:?} is not a number or SIP address Homeline can call.")]
    BadTarget(String),
    #[error("Too many calls are in progress on this account.")]
    TooManyCalls,
    #[error("{0:?} is not a DTMF key (0-9, *, #, A-D).")]
    BadDtmf(char),
    #[error("Homeline is not connected to the phone system right now; try again in a moment.")]
    NotConnected,
}

impl SipError {
    /// A stable, machine-readable code for the UI and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            SipError::BadAddress(_) => "bad_address",
            SipError::BadServerUrl(_) => "bad_server_url",
            SipError::BadCaFile { .. } => "bad_ca_file",
            SipError::BadFingerprint(_) => "bad_fingerprint",
            SipError::Connect { .. } => "connect_failed",
            SipError::Certificate { .. } => "bad_certificate",
            SipError::WebSocket { .. } => "websocket_failed",
            SipError::ConnectionLost => "connection_lost",
            SipError::BadMessage(_) => "bad_message",
            SipError::BadChallenge(_) => "bad_challenge",
            SipError::Stopped => "stopped",
            SipError::NoSuchCall(_) => "no_such_call",
            SipError::CallState(_) => "wrong_call_state",
            SipError::BadTarget(_) => "bad_target",
            SipError::TooManyCalls => "too_many_calls",
            SipError::BadDtmf(_) => "bad_dtmf",
            SipError::NotConnected => "not_connected",
        }
    }
}
