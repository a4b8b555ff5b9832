//! The engine facade: the commands the shell and the CLI call.

use std::sync::{Arc, Mutex};

use homeline_sip::InstanceId;
use homeline_store::{AppDirs, Keychain, SettingsFile};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::accounts::{account_id, AccountInput, AccountView};
use crate::media_options::MediaOptions;
use crate::telephony::{CallView, Telephony};
use crate::dialer::{self, DialString, DialerView};
use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;
use crate::settings::{AccountEntry, Settings};

/// What the UI needs to know at start.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub accounts_configured: bool,
}

/// Where the engine keeps things. `EngineConfig::ephemeral()` keeps nothing
/// (tests, one-shot CLI runs).
#[derive(Debug)]
pub struct EngineConfig {
    /// `None`: settings live in memory only.
    pub dirs: Option<AppDirs>,
    pub keychain: Keychain,
    pub media: MediaOptions,
}

impl EngineConfig {
    /// The user's folders and the OS keychain.
    pub fn for_user() -> Self {
        // Real microphone and speaker; loopback candidates when HOMELINE_TEST_LOOPBACK_MEDIA=1 (tests).
        Self { dirs: AppDirs::for_user(), keychain: Keychain::open(), media: MediaOptions::desktop() }
    }

    pub fn ephemeral() -> Self {
        Self { dirs: None, keychain: Keychain::in_memory(), media: MediaOptions::default() }
    }
}

pub struct Engine {
    dial: Mutex<DialString>,
    events: broadcast::Sender<EngineEvent>,
    settings: Mutex<Settings>,
    settings_file: Option<SettingsFile>,
    keychain: Keychain,
    telephony: Arc<Telephony>,
    /// Said once to the first subscriber (for example: unreadable settings).
    startup_notice: Mutex<Option<String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine that keeps nothing on disk.
    pub fn new() -> Self {
        Self::open(EngineConfig::ephemeral())
    }

    /// Load the settings (crash-safe file) and get ready. Registrations start
    /// with [`Engine::start`], inside a Tokio runtime.
    pub fn open(config: EngineConfig) -> Self {
        let (events, _) = broadcast::channel(256);
        let settings_file = config.dirs.as_ref().map(|d| SettingsFile::new(d.config().join("settings.toml")));
        let (mut settings, notice) = match &settings_file {
            Some(file) => {
                let loaded = file.load::<Settings>();
                (loaded.value, loaded.warning)
            }
            None => (Settings::default(), None),
        };
        let before = settings.clone();
        settings.migrate();
        let engine = Self {
            dial: Mutex::new(DialString::new()),
            events: events.clone(),
            settings: Mutex::new(settings),
            settings_file,
            keychain: config.keychain,
            telephony: Telephony::new(events.clone(), config.media),
            startup_notice: Mutex::new(notice),
        };
        if before != *lock(&engine.settings) {
            if let Err(e) = engine.save_settings() {
                tracing::warn!("{e}");
            }
        }
        engine
    }

    /// Register every enabled account. Failures are reported as events.
    pub async fn start(&self) {
        let entries: Vec<AccountEntry> = lock(&self.settings).accounts.iter().filter(|a| a.enabled).cloned().collect();
        for entry in entries {
            self.register(&entry).await;
        }
    }

    /// Unregister everything (on quit). Bounded: the SIP layer gives up after a few seconds.
    pub async fn shutdown(&self) {
        self.telephony.stop_all().await;
    }

    /// Every event from now on. A slow reader that falls behind by more than
    /// the channel's capacity gets `Lagged` and carries on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        let rx = self.events.subscribe();
        let _ = self.events.send(EngineEvent::Ready { version: crate::VERSION.into() });
        if let Some(message) = lock(&self.startup_notice).take() {
            let _ = self.events.send(EngineEvent::Notice { message });
        }
        rx
    }

    pub fn app_info(&self) -> AppInfo {
        AppInfo { version: crate::VERSION.into(), accounts_configured: !lock(&self.settings).accounts.is_empty() }
    }

    /// Every account, with its registration state.
    pub fn accounts(&self) -> Vec<AccountView> {
        let settings = lock(&self.settings);
        settings
            .accounts
            .iter()
            .map(|entry| AccountView {
                id: entry.id.clone(),
                account: entry.account.clone(),
                enabled: entry.enabled,
                is_default: settings.default_account.as_deref() == Some(entry.id.as_str()),
                unencrypted: entry.account.server.trim().to_ascii_lowercase().starts_with("ws://"),
                has_password: matches!(self.keychain.get(&entry.id), Ok(Some(_))),
                registration: self.telephony.registration_state(&entry.id),
            })
            .collect()
    }

    /// Add an account, or change one (matched by its `user@domain`). The
    /// password goes to the keychain, the rest to the settings file; the
    /// account (re-)registers at once.
    pub async fn save_account(&self, input: AccountInput) -> Result<AccountView, EngineError> {
        let id = account_id(&input.account)?;
        if let Some(password) = input.password.as_deref().filter(|p| !p.is_empty()) {
            self.keychain.set(&id, password).map_err(|e| EngineError::new(ErrorCode::Keychain, e.to_string()))?;
        }
        let entry = AccountEntry { id: id.clone(), enabled: true, account: input.account };
        {
            let mut settings = lock(&self.settings);
            match settings.accounts.iter_mut().find(|a| a.id == id) {
                Some(existing) => *existing = entry.clone(),
                None => settings.accounts.push(entry.clone()),
            }
            if input.make_default || settings.default_account.is_none() {
                settings.default_account = Some(id.clone());
            }
        }
        self.save_settings()?;
        let _ = self.events.send(EngineEvent::AccountsChanged);
        self.register(&entry).await;
        self.accounts()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| EngineError::new(ErrorCode::Internal, "The account vanished while it was saved."))
    }

    /// Unregister and forget an account, its password included.
    pub async fn remove_account(&self, id: &str) -> Result<(), EngineError> {
        if lock(&self.settings).account(id).is_none() {
            return Err(unknown_account(id));
        }
        self.telephony.stop_account(id).await;
        {
            let mut settings = lock(&self.settings);
            settings.accounts.retain(|a| a.id != id);
            settings.migrate();
        }
        self.save_settings()?;
        self.keychain.delete(id).map_err(|e| EngineError::new(ErrorCode::Keychain, e.to_string()))?;
        let _ = self.events.send(EngineEvent::AccountsChanged);
        Ok(())
    }

    /// The account calls are placed from unless the user picks another.
    pub fn set_default_account(&self, id: &str) -> Result<(), EngineError> {
        {
            let mut settings = lock(&self.settings);
            if settings.account(id).is_none() {
                return Err(unknown_account(id));
            }
            settings.default_account = Some(id.to_owned());
        }
        self.save_settings()?;
        let _ = self.events.send(EngineEvent::AccountsChanged);
        Ok(())
    }

    async fn register(&self, entry: &AccountEntry) {
        let instance = InstanceId(lock(&self.settings).instance_id.clone());
        if let Err(e) = self.telephony.start_account(&entry.id, &entry.account, &self.keychain, &instance).await {
            let state = homeline_sip::RegistrationState::Failed { reason: e.message };
            let _ = self.events.send(EngineEvent::RegistrationChanged { account: entry.id.clone(), state });
        }
    }

    fn save_settings(&self) -> Result<(), EngineError> {
        let Some(file) = &self.settings_file else { return Ok(()) };
        let settings = lock(&self.settings).clone();
        file.save(&settings).map_err(|e| EngineError::new(ErrorCode::Settings, e.to_string()))
    }

    pub fn dialer_press(&self, key: &str) -> DialerView {
        self.edit_dial(|d| d.press(key))
    }

    pub fn dialer_backspace(&self) -> DialerView {
        self.edit_dial(DialString::backspace)
    }

    pub fn dialer_paste(&self, text: &str) -> DialerView {
        self.edit_dial(|d| d.paste(text))
    }

    pub fn dialer_clear(&self) -> DialerView {
        self.edit_dial(DialString::clear)
    }

    pub fn dialer_view(&self) -> DialerView {
        self.lock_dial().view()
    }

    /// Place a call from `account` (the default account when `None`).
    /// Returns the call id; progress arrives as `CallChanged` events.
    pub async fn dial(&self, target: &str, account: Option<&str>) -> Result<String, EngineError> {
        let target = dialer::clean(target);
        if target.is_empty() {
            return Err(EngineError::new(ErrorCode::InvalidTarget, "Type a number or a SIP address to call."));
        }
        let account = {
            let settings = lock(&self.settings);
            if settings.accounts.is_empty() {
                return Err(EngineError::new(
                    ErrorCode::NoAccount,
                    format!("No SIP account is set up yet, so {target} cannot be called. Add your company's SIP account in Settings."),
                ));
            }
            match account {
                Some(id) => settings.account(id).map(|a| a.id.clone()).ok_or_else(|| unknown_account(id))?,
                None => settings.default_account.clone().ok_or_else(|| EngineError::new(ErrorCode::NoAccount, "Choose the account to call from."))?,
            }
        };
        // tel:/sip: wrappers are gone after cleaning; a SIP URI stays whole.
        let target = target.strip_prefix("sips:").or_else(|| target.strip_prefix("sip:")).unwrap_or(&target).to_owned();
        self.telephony.dial(&account, &target).await
    }

    pub async fn calls(&self) -> Vec<CallView> {
        self.telephony.calls().await
    }

    pub async fn answer(&self, call: &str) -> Result<(), EngineError> {
        self.telephony.answer(call).await
    }

    /// Decline an incoming call (`busy`: 486 Busy Here, else 603 Decline).
    pub async fn reject(&self, call: &str, busy: bool) -> Result<(), EngineError> {
        self.telephony.reject(call, busy).await
    }

    pub async fn hangup(&self, call: &str) -> Result<(), EngineError> {
        self.telephony.hangup(call).await
    }

    pub async fn hold(&self, call: &str, on: bool) -> Result<(), EngineError> {
        self.telephony.hold(call, on).await
    }

    pub async fn mute(&self, call: &str, on: bool) -> Result<(), EngineError> {
        self.telephony.mute(call, on).await
    }

    pub async fn send_dtmf(&self, call: &str, digits: &str) -> Result<(), EngineError> {
        self.telephony.send_dtmf(call, digits).await
    }

    /// Blind transfer of `call` to `target`.
    pub async fn transfer(&self, call: &str, target: &str) -> Result<(), EngineError> {
        self.telephony.transfer(call, &dialer::clean(target)).await
    }

    /// Attended transfer: connect the other parties of two calls.
    pub async fn transfer_to_call(&self, call: &str, to_call: &str) -> Result<(), EngineError> {
        self.telephony.transfer_to_call(call, to_call).await
    }

    /// Do Not Disturb: incoming calls are turned away busy and reported as missed.
    pub async fn set_do_not_disturb(&self, on: bool) -> Result<(), EngineError> {
        lock(&self.settings).do_not_disturb = on;
        self.save_settings()?;
        self.telephony.set_do_not_disturb(on).await;
        Ok(())
    }

    /// The echo test call: your own voice back through Opus after about a
    /// second, for ten seconds, no server needed (system default devices).
    /// Start and end arrive as `Notice` events; a second start replaces the first.
    pub async fn start_echo_test(&self) -> Result<String, EngineError> {
        crate::media_options::start_echo_test(None, None, self.events.clone()).await
    }

    /// End the echo test early. `false`: none was running.
    pub fn stop_echo_test(&self) -> bool {
        crate::media_options::stop_echo_test()
    }

    fn lock_dial(&self) -> std::sync::MutexGuard<'_, DialString> {
        lock(&self.dial)
    }

    fn edit_dial(&self, edit: impl FnOnce(&mut DialString)) -> DialerView {
        let view = {
            let mut dial = self.lock_dial();
            edit(&mut dial);
            dial.view()
        };
        let _ = self.events.send(EngineEvent::DialerChanged(view.clone()));
        view
    }
}

fn unknown_account(id: &str) -> EngineError {
    EngineError::new(ErrorCode::UnknownAccount, format!("There is no account {id}."))
}

/// Every lock here guards plain data that a panic cannot leave half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dialer_edits_are_published_as_events() {
        let engine = Engine::new();
        let mut rx = engine.subscribe();
        assert!(matches!(rx.recv().await, Ok(EngineEvent::Ready { .. })));
        let view = engine.dialer_press("5");
        assert_eq!(view.text, "5");
        assert_eq!(rx.recv().await.ok(), Some(EngineEvent::DialerChanged(view)));
    }

    #[tokio::test]
    async fn dialing_without_an_account_says_so() {
        let engine = Engine::new();
        let err = engine.dial("+49 30 1234", None).await.err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::NoAccount));
        let err = engine.dial("  ", None).await.err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::InvalidTarget));
    }
}
