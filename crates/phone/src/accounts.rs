//! Accounts as the UI sees and edits them (their flows run in `telephony`).

use homeline_sip::{Account, RegistrationState, ValidAccount};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, ErrorCode};
use crate::settings::AccountNetwork;

/// An account as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    pub account: Account,
    pub enabled: bool,
    pub is_default: bool,
    /// `ws://`: signalling travels unencrypted; the UI shows a warning.
    pub unencrypted: bool,
    pub has_password: bool,
    /// Its STUN/TURN servers.
    pub network: AccountNetwork,
    pub has_turn_password: bool,
    /// The registration's last state (`None` before it starts).
    pub registration: Option<RegistrationState>,
}

/// What the UI or the CLI sends to add or change an account.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInput {
    #[serde(flatten)]
    pub account: Account,
    /// `None` keeps the password already in the keychain.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub make_default: bool,
}

/// The keychain entry of an account's TURN password.
pub fn turn_secret_id(account_id: &str) -> String {
    format!("turn:{account_id}")
}

/// The id an account is known by: its `user@domain`.
pub fn account_id(account: &Account) -> Result<String, EngineError> {
    ValidAccount::new(account.clone())
        .map(|v| v.address.to_string())
        .map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()))
}

