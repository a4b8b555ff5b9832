//! The engine facade: the commands the shell and the CLI call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homeline_sip::InstanceId;
use homeline_store::{AppDirs, CallRecord, Direction, History, HistoryEntry, HistoryFilter, Keychain, SettingsFile};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::accounts::{account_id, AccountInput, AccountView};
use crate::media_options::MediaOptions;
use crate::telephony::{CallOutcome, CallState, CallView, Telephony};
use crate::dialer::{self, DialString, DialerView};
use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;
use crate::settings::{AccountEntry, AccountNetwork, Settings};

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
    pub(crate) events: broadcast::Sender<EngineEvent>,
    pub(crate) settings: Mutex<Settings>,
    settings_file: Option<SettingsFile>,
    keychain: Keychain,
    pub(crate) telephony: Arc<Telephony>,
    /// Call history (`history.sqlite` in the data folder; in memory for an
    /// ephemeral engine; `None` when it could not be opened at all).
    history: Option<Arc<History>>,
    /// Contacts and favorites (commands in `contacts.rs`).
    pub(crate) contacts: crate::contacts::ContactBook,
    /// Said once to the first subscriber (for example: unreadable settings).
    startup_notice: Mutex<Option<String>>,
    /// Settings → Audio's microphone meter outside calls (`mic_meter.rs`).
    pub(crate) mic_meter: crate::mic_meter::MicMeter,
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
    pub fn open(mut config: EngineConfig) -> Self {
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
        let (history, history_notice) = open_history(config.dirs.as_ref());
        let notice = match (notice, history_notice) {
            (Some(a), Some(b)) => Some(format!("{a} {b}")),
            (a, b) => a.or(b),
        };
        config.media.processing.set(settings.audio.into());
        // The codec order from the settings, unless the caller chose one (the CLI's --codecs).
        if config.media.codecs.is_empty() && !settings.codecs.is_empty() {
            match MediaOptions::parse_codecs(&settings.codecs.join(",")) {
                Ok(codecs) => config.media.codecs = codecs,
                Err(e) => tracing::info!(error = %e, "ignoring the codecs in the settings"),
            }
        }
        config.media.events = Some(events.clone());
        let telephony = Telephony::new(events.clone(), config.media);
        // Do Not Disturb saved on stays on across restarts, before any account starts.
        if settings.do_not_disturb {
            telephony.set_do_not_disturb_at_start();
        }
        if let Some(history) = &history {
            let (history, events) = (history.clone(), events.clone());
            // A call's row is written when it starts and completed when it ends.
            let rows: Mutex<HashMap<String, i64>> = Mutex::new(HashMap::new());
            telephony.set_call_history_hook(Arc::new(move |outcome| {
                let written = match &outcome {
                    CallOutcome::Started { view, started_at } => history.start(&started_record(view, *started_at)).map(|id| {
                        lock(&rows).insert(view.call.clone(), id);
                    }),
                    CallOutcome::Connected { view } => match (lock(&rows).get(&view.call), view.connected_at) {
                        (Some(id), Some(at)) => history.mark_connected(*id, at),
                        _ => Ok(()),
                    },
                    CallOutcome::Ended { view, .. } => {
                        let row = lock(&rows).remove(&view.call);
                        let record = history_record(outcome.clone());
                        match row {
                            Some(id) => history.complete(id, &record).map(drop),
                            None => history.record(&record).map(drop),
                        }
                    }
                    CallOutcome::Missed { .. } => history.record(&history_record(outcome.clone())).map(drop),
                };
                match written {
                    Ok(()) => {
                        let _ = events.send(EngineEvent::HistoryChanged);
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }));
        }
        let engine = Self {
            dial: Mutex::new(DialString::new()),
            events: events.clone(),
            settings: Mutex::new(settings),
            settings_file,
            keychain: config.keychain,
            telephony,
            history,
            contacts: crate::contacts::ContactBook::open(config.dirs.as_ref()),
            startup_notice: Mutex::new(notice),
            mic_meter: crate::mic_meter::MicMeter::default(),
        };
        if let Some(message) = engine.apply_audio_devices() {
            let mut notice = lock(&engine.startup_notice);
            *notice = Some(notice.take().map_or(message.clone(), |n| format!("{n} {message}")));
        }
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
                network: entry.network.clone(),
                has_turn_password: matches!(self.keychain.get(&crate::accounts::turn_secret_id(&entry.id)), Ok(Some(_))),
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
        // STUN/TURN are kept as they were (`set_account_network` changes them).
        let network = lock(&self.settings).account(&id).map(|a| a.network.clone()).unwrap_or_default();
        let entry = AccountEntry { id: id.clone(), enabled: true, account: input.account, network };
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

    /// Set an account's STUN/TURN servers; `turn_password` `None` keeps the
    /// one in the keychain. New calls use them at once; the account
    /// registers again (its flow is unchanged, so this is quick).
    pub async fn set_account_network(&self, id: &str, network: AccountNetwork, turn_password: Option<&str>) -> Result<AccountView, EngineError> {
        network.validate().map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e))?;
        if let Some(password) = turn_password.filter(|p| !p.is_empty()) {
            let turn_id = crate::accounts::turn_secret_id(id);
            self.keychain.set(&turn_id, password).map_err(|e| EngineError::new(ErrorCode::Keychain, e.to_string()))?;
        }
        let entry = {
            let mut settings = lock(&self.settings);
            let entry = settings.accounts.iter_mut().find(|a| a.id == id).ok_or_else(|| unknown_account(id))?;
            entry.network = network;
            entry.clone()
        };
        self.save_settings()?;
        self.telephony.set_account_ice_servers(&entry.id, account_ice_servers(&entry, &self.keychain));
        let _ = self.events.send(EngineEvent::AccountsChanged);
        self.accounts()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| EngineError::new(ErrorCode::Internal, "The account vanished while it was saved."))
    }

    /// The pre-call network check for account `id` (or the default one):
    /// server reach, NAT kind, TURN — in words.
    pub async fn network_check(&self, id: Option<&str>) -> Result<crate::network_check::NetworkReport, EngineError> {
        let entry = {
            let settings = lock(&self.settings);
            let id = id.map(str::to_owned).or_else(|| settings.default_account.clone()).ok_or_else(|| {
                EngineError::new(ErrorCode::NoAccount, "There is no account to check: add one in Settings → Accounts.")
            })?;
            settings.account(&id).cloned().ok_or_else(|| unknown_account(&id))?
        };
        let mut servers = self.telephony.engine_ice_servers();
        servers.extend(account_ice_servers(&entry, &self.keychain));
        Ok(crate::network_check::check(&entry.account, &servers).await)
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
        let _ = self.keychain.delete(&crate::accounts::turn_secret_id(id));
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
        self.telephony.set_account_ice_servers(&entry.id, account_ice_servers(entry, &self.keychain));
        if let Err(e) = self.telephony.start_account(&entry.id, &entry.account, &self.keychain, &instance).await {
            let state = homeline_sip::RegistrationState::Failed { reason: e.message };
            let _ = self.events.send(EngineEvent::RegistrationChanged { account: entry.id.clone(), state });
        }
    }

    pub(crate) fn save_settings(&self) -> Result<(), EngineError> {
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

    /// Merge calls into one local conference (with the one running, if any):
    /// each party hears the others and us. Returns the calls in the conference;
    /// a `ConferenceChanged` event says the same.
    pub async fn merge(&self, calls: &[String]) -> Result<Vec<String>, EngineError> {
        self.telephony.merge(calls).await
    }

    /// Take one call out of the conference (it goes on hold; the others go on talking).
    pub async fn split(&self, call: &str) -> Result<(), EngineError> {
        self.telephony.split(call).await
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
    /// Whether Do Not Disturb is on (calls are turned away as busy).
    pub fn do_not_disturb(&self) -> bool {
        lock(&self.settings).do_not_disturb
    }

    pub async fn set_do_not_disturb(&self, on: bool) -> Result<(), EngineError> {
        lock(&self.settings).do_not_disturb = on;
        self.save_settings()?;
        self.telephony.set_do_not_disturb(on).await;
        Ok(())
    }

    /// The echo test call: your own voice back through Opus after about a
    /// second, for ten seconds, no server needed, on the devices calls would use
    /// now (the first present of each saved preference, else the system default).
    /// Start and end arrive as `Notice` and `EchoTest` events; a second start replaces the first.
    pub async fn start_echo_test(&self) -> Result<String, EngineError> {
        let processing = self.telephony.media_options().processing.get();
        let chosen = self.audio_devices();
        let (input, output) = tokio::task::spawn_blocking(move || {
            let present = homeline_media::device::list_devices().unwrap_or_default();
            let pick = |list: &[String], devices: &[homeline_media::device::DeviceInfo]| {
                homeline_media::device::prefs::pick(list, |id| devices.iter().any(|d| d.id == id))
            };
            (pick(&chosen.input, &present.inputs), pick(&chosen.output, &present.outputs))
        })
        .await
        .unwrap_or_default();
        crate::media_options::start_echo_test(input, output, processing, self.events.clone()).await
    }

    /// End the echo test early. `false`: none was running.
    pub fn stop_echo_test(&self) -> bool {
        crate::media_options::stop_echo_test()
    }

    /// Whether the echo test runs now (it has the microphone open).
    pub fn echo_test_running(&self) -> bool {
        crate::media_options::echo_test_running()
    }

    /// Past calls, newest first (`limit` is capped at 1000).
    pub fn history(&self, filter: HistoryFilter, search: Option<&str>, limit: u32) -> Result<Vec<HistoryEntry>, EngineError> {
        self.history_db()?.list(filter, search, limit).map_err(history_error)
    }

    /// Forget one call of the history.
    pub fn delete_history(&self, id: i64) -> Result<(), EngineError> {
        self.history_db()?.delete(id).map_err(history_error)?;
        let _ = self.events.send(EngineEvent::HistoryChanged);
        Ok(())
    }

    /// Forget the whole call history.
    pub fn clear_history(&self) -> Result<(), EngineError> {
        self.history_db()?.clear().map_err(history_error)?;
        let _ = self.events.send(EngineEvent::HistoryChanged);
        Ok(())
    }

    fn history_db(&self) -> Result<&History, EngineError> {
        self.history.as_deref().ok_or_else(|| EngineError::new(ErrorCode::History, "The call history is not available in this run."))
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

fn history_error(e: homeline_store::HistoryError) -> EngineError {
    EngineError::new(ErrorCode::History, e.to_string())
}

/// The history file in the data folder (a memory one without folders), and
/// a sentence for the user when the old one was unreadable.
fn open_history(dirs: Option<&AppDirs>) -> (Option<Arc<History>>, Option<String>) {
    let opened = match dirs {
        Some(dirs) => History::open(&dirs.data().join("history.sqlite")).map(|l| (l.value, l.warning)),
        None => History::in_memory().map(|h| (h, None)),
    };
    match opened {
        Ok((history, warning)) => (Some(Arc::new(history)), warning),
        Err(e) => {
            tracing::warn!("{e}");
            (None, Some(format!("Calls will not be kept in the history this time: {e}.")))
        }
    }
}

/// The row of a call that has just started (completed when it ends).
fn started_record(view: &CallView, started_at: u64) -> CallRecord {
    CallRecord {
        call_id: view.call.clone(),
        account: view.account.clone(),
        remote: view.remote.clone(),
        remote_name: view.remote_name.clone(),
        direction: if view.outgoing { Direction::Out } else { Direction::In },
        started_at,
        connected_at: view.connected_at,
        ended_at: started_at,
        end_reason: String::new(),
        end_code: None,
        missed: !view.outgoing && view.connected_at.is_none(),
    }
}

/// The row a finished call becomes. Missed: incoming and never answered, or
/// turned away by Do Not Disturb.
fn history_record(outcome: CallOutcome) -> CallRecord {
    match outcome {
        CallOutcome::Started { view, started_at } => started_record(&view, started_at),
        CallOutcome::Connected { view } => started_record(&view, view.connected_at.unwrap_or_default()),
        CallOutcome::Ended { view, started_at, ended_at } => {
            let (end_reason, end_code) = match view.state {
                CallState::Ended { reason, code, .. } => (reason, code),
                _ => (String::new(), None),
            };
            CallRecord {
                call_id: view.call,
                account: view.account,
                remote: view.remote,
                remote_name: view.remote_name,
                direction: if view.outgoing { Direction::Out } else { Direction::In },
                started_at,
                connected_at: view.connected_at,
                ended_at,
                end_reason,
                end_code,
                missed: !view.outgoing && view.connected_at.is_none(),
            }
        }
        CallOutcome::Missed { account, from, from_name, reason, at } => CallRecord {
            call_id: String::new(),
            account,
            remote: from,
            remote_name: from_name,
            direction: Direction::In,
            started_at: at,
            connected_at: None,
            ended_at: at,
            end_reason: reason,
            end_code: None,
            missed: true,
        },
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

    #[test]
    fn ended_calls_become_history_rows_and_unanswered_incoming_ones_are_missed() {
        let view = |outgoing: bool, connected_at: Option<u64>| CallView {
            call: "c".into(),
            account: "a@b".into(),
            remote: "bob".into(),
            remote_name: Some("Bob".into()),
            outgoing,
            muted: false,
            connected_at,
            state: CallState::Ended { reason: "declined".into(), code: Some(603), by: "local".into() },
        };
        let row = |outgoing, connected_at| history_record(CallOutcome::Ended { view: view(outgoing, connected_at), started_at: 1, ended_at: 9 });
        let missed = row(false, None);
        assert!(missed.missed && missed.direction == Direction::In && missed.end_code == Some(603) && missed.end_reason == "declined");
        assert!(!row(false, Some(5)).missed, "answered");
        assert!(!row(true, None).missed, "our own unanswered call is not missed");
        let dnd = history_record(CallOutcome::Missed { account: "a@b".into(), from: "bob".into(), from_name: None, reason: "Do Not Disturb".into(), at: 7 });
        assert!(dnd.missed && dnd.started_at == 7 && dnd.direction == Direction::In);
    }

    #[test]
    fn an_ephemeral_engine_keeps_history_in_memory() {
        let engine = Engine::new();
        assert_eq!(engine.history(HistoryFilter::All, None, 10).map(|h| h.len()).ok(), Some(0));
        assert!(engine.clear_history().is_ok());
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

/// The STUN/TURN servers an account's calls use (besides any given to the
/// whole engine), its TURN password read from the keychain.
fn account_ice_servers(entry: &AccountEntry, keychain: &Keychain) -> Vec<homeline_rtc::IceServer> {
    let mut servers = Vec::new();
    if let Some(stun) = &entry.network.stun {
        servers.push(homeline_rtc::IceServer { urls: vec![stun.clone()], ..Default::default() });
    }
    if let Some(turn) = &entry.network.turn {
        let credential = keychain.get(&crate::accounts::turn_secret_id(&entry.id)).ok().flatten().unwrap_or_default();
        servers.push(homeline_rtc::IceServer {
            urls: vec![turn.clone()],
            username: entry.network.turn_user.clone().unwrap_or_default(),
            credential,
            // A `turns:` server is trusted as the account's SIP server is: system roots + its CA file.
            ca_file: entry.account.tls.ca_file.clone(),
        });
    }
    servers
}
