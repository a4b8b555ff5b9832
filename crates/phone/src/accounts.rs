//! Accounts: the settings entries, their passwords in the keychain, and one
//! running registration each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homeline_sip::{Account, InstanceId, Registration, RegistrationEvent, RegistrationState, Secret, ValidAccount};
use homeline_store::Keychain;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;

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

/// The id an account is known by: its `user@domain`.
pub fn account_id(account: &Account) -> Result<String, EngineError> {
    ValidAccount::new(account.clone())
        .map(|v| v.address.to_string())
        .map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()))
}

/// The running registrations and their last known states.
#[derive(Debug, Default)]
pub struct Registrations {
    running: tokio::sync::Mutex<HashMap<String, Registration>>,
    states: Arc<Mutex<HashMap<String, RegistrationState>>>,
}

impl Registrations {
    pub fn state(&self, id: &str) -> Option<RegistrationState> {
        lock(&self.states).get(id).cloned()
    }

    /// Start (or restart with new details) the registration of `id`.
    pub async fn start(
        &self,
        id: &str,
        account: &Account,
        keychain: &Keychain,
        instance: &InstanceId,
        events: &broadcast::Sender<EngineEvent>,
    ) -> Result<(), EngineError> {
        let password = keychain
            .get(id)
            .map_err(|e| EngineError::new(ErrorCode::Keychain, e.to_string()))?
            .ok_or_else(|| EngineError::new(ErrorCode::NoPassword, format!("No password is saved for {id}: enter it in Settings → Accounts.")))?;
        let secret = Secret::new(password);
        let mut running = self.running.lock().await;
        if let Some(existing) = running.get(id) {
            return existing
                .account_edited(account.clone(), secret)
                .map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()));
        }
        let (registration, mut stream) = Registration::start(account.clone(), secret, instance.clone())
            .map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()))?;
        running.insert(id.to_owned(), registration);
        drop(running);

        // Each state change: remembered for the account list, and published.
        let (states, events, id) = (self.states.clone(), events.clone(), id.to_owned());
        tokio::spawn(async move {
            while let Some(RegistrationEvent { state, .. }) = stream.next().await {
                lock(&states).insert(id.clone(), state.clone());
                let _ = events.send(EngineEvent::RegistrationChanged { account: id.clone(), state });
            }
        });
        Ok(())
    }

    /// Unregister `id` and wait for it (bounded by the SIP layer).
    pub async fn stop(&self, id: &str) {
        let registration = self.running.lock().await.remove(id);
        if let Some(registration) = registration {
            registration.stop().await;
        }
    }

    /// Unregister everything (on quit).
    pub async fn stop_all(&self) {
        let all: Vec<Registration> = self.running.lock().await.drain().map(|(_, r)| r).collect();
        for registration in all {
            registration.stop().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
