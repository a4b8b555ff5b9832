//! The running phone: one SIP flow per account (registration and calls on
//! one WebSocket) and one WebRTC media session per call.
//!
//! SIP events arrive on one task per account and drive the calls here; the
//! engine's commands (dial, answer, hold, …) come from the UI or the CLI.
//! Calls are keyed by their SIP Call-ID, which is also the id the UI sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homeline_rtc::{Session, SessionEvent};

type SessionEvents = tokio::sync::mpsc::Receiver<SessionEvent>;
use homeline_sip::{Account, AccountFlow, CallEvent, FlowEvent, InstanceId, Party, Progress, RegistrationEvent, RegistrationState, Secret};
use homeline_store::Keychain;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::call_stats::StatsMeter;
use crate::conference::{AudioRouter, LegId};
use crate::error::{EngineError, ErrorCode};
use crate::loss_policy::LossFollower;
use crate::events::EngineEvent;
use crate::media_options::MediaOptions;

mod media_recovery;
use media_recovery::{ice_credentials_changed, MediaRecovery};

/// Where a call stands, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Our INVITE is out.
    Dialing,
    /// The other phone rings.
    Ringing,
    /// The far end plays its own tones or announcements.
    EarlyMedia,
    /// Someone calls us: answer or decline.
    Incoming,
    /// Talking.
    Active,
    /// On hold (`by_me`: we put it on hold; otherwise the other side did).
    Held { by_me: bool },
    Ended { reason: String, code: Option<u16>, by: String },
}

/// One call as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub call: String,
    pub account: String,
    pub remote: String,
    pub remote_name: Option<String>,
    pub outgoing: bool,
    /// Our microphone is muted in this call.
    pub muted: bool,
    /// When the call first connected (ms since the Unix epoch), for the call timer.
    pub connected_at: Option<u64>,
    #[serde(flatten)]
    pub state: CallState,
}

struct CallEntry {
    view: CallView,
    session: Arc<Session>,
    /// The other side's offer, until we answer.
    pending_offer: Option<String>,
    /// The SDP we last sent (a hold re-offer is derived from it).
    local_sdp: Option<String>,
    /// The other side's last SDP (telephone-event support is read from it).
    remote_sdp: Option<String>,
    answer_applied: bool,
    held_by_me: bool,
    /// Its audio in the router (for merging into a conference).
    leg: LegId,
}

/// Accounts' flows and their calls. Shared with the per-account event tasks.
pub struct Telephony {
    flows: tokio::sync::Mutex<HashMap<String, Arc<AccountFlow>>>,
    registration_states: Mutex<HashMap<String, RegistrationState>>,
    calls: tokio::sync::Mutex<HashMap<String, CallEntry>>,
    events: broadcast::Sender<EngineEvent>,
    media: MediaOptions,
    /// Every call's audio, and the local conference.
    router: Arc<AudioRouter>,
    /// A session made before the user dials (see `spare_session`).
    spare: tokio::sync::Mutex<Option<spare_session::Spare>>,
    spare_kept: std::sync::atomic::AtomicBool,
    /// When each live call was first seen (ms) and whether its connection
    /// was reported, for the history.
    started: Mutex<HashMap<String, (u64, bool)>>,
    /// Calls whose media must be re-established after a network change.
    recovery: Mutex<MediaRecovery>,
    /// Each account's own STUN/TURN servers, added to the engine's for its calls.
    account_ice: Mutex<HashMap<String, Vec<homeline_rtc::IceServer>>>,
    /// The network watch runs once per engine, from the first account.
    network_watch_started: std::sync::atomic::AtomicBool,
    /// Do Not Disturb, for flows started later too (at launch, an added account).
    do_not_disturb: std::sync::atomic::AtomicBool,
    on_call_history: Mutex<Option<CallHistoryHook>>,
    /// Ringtone and ringback, driven by every call's state (see `emit`).
    ringing: crate::ringing::Ringing,
}

/// A call started, connected, ended (or was turned away by Do Not Disturb), for the history.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    /// The call's first event.
    Started { view: CallView, started_at: u64 },
    /// The call was answered (`view.connected_at` is set).
    Connected { view: CallView },
    /// `view.state` is `Ended`.
    Ended { view: CallView, started_at: u64, ended_at: u64 },
    Missed { account: String, from: String, from_name: Option<String>, reason: String, at: u64 },
}

/// Told of every [`CallOutcome`], synchronously, before the event goes out.
pub type CallHistoryHook = Arc<dyn Fn(CallOutcome) + Send + Sync>;

impl std::fmt::Debug for Telephony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telephony").finish_non_exhaustive()
    }
}

fn call_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::new(ErrorCode::CallFailed, e.to_string())
}

fn unknown_call(call: &str) -> EngineError {
    EngineError::new(ErrorCode::UnknownCall, format!("There is no call {call}."))
}

impl Telephony {
    /// Where calls' audio comes from and goes to (the voice processing switches live here).
    pub(crate) fn media_options(&self) -> &MediaOptions {
        &self.media
    }

    /// Ringtone and ringback (the ringer device and the ringtone are set here).
    pub(crate) fn ringing(&self) -> &crate::ringing::Ringing {
        &self.ringing
    }

    pub fn new(events: broadcast::Sender<EngineEvent>, media: MediaOptions) -> Arc<Self> {
        Arc::new(Self {
            ringing: crate::ringing::Ringing::new(events.clone(), &media),
            flows: tokio::sync::Mutex::new(HashMap::new()),
            registration_states: Mutex::new(HashMap::new()),
            calls: tokio::sync::Mutex::new(HashMap::new()),
            events,
            media,
            router: AudioRouter::new(),
            spare: tokio::sync::Mutex::new(None),
            spare_kept: std::sync::atomic::AtomicBool::new(false),
            started: Mutex::new(HashMap::new()),
            recovery: Mutex::new(MediaRecovery::default()),
            account_ice: Mutex::new(HashMap::new()),
            network_watch_started: std::sync::atomic::AtomicBool::new(false),
            do_not_disturb: std::sync::atomic::AtomicBool::new(false),
            on_call_history: Mutex::new(None),
        })
    }

    /// Who hears of calls starting, connecting and ending (the engine's history).
    pub fn set_call_history_hook(&self, hook: CallHistoryHook) {
        *lock(&self.on_call_history) = Some(hook);
    }

    pub fn registration_state(&self, id: &str) -> Option<RegistrationState> {
        lock(&self.registration_states).get(id).cloned()
    }

    fn emit(&self, event: EngineEvent) {
        self.track(&event);
        // Ringing follows the call's state, told after it (its events come after the state's).
        let call = match &event {
            EngineEvent::CallChanged(view) => Some(view.clone()),
            _ => None,
        };
        let _ = self.events.send(event);
        if let Some(view) = call {
            self.ringing.on_call(&view);
        }
    }

    /// Every call's events pass here: report its start, its connection and its end.
    fn track(&self, event: &EngineEvent) {
        let outcome = match event {
            EngineEvent::CallChanged(view) => {
                let mut started = lock(&self.started);
                let now = unix_millis();
                let connected = view.connected_at.is_some();
                let first = !started.contains_key(&view.call);
                let seen = started.entry(view.call.clone()).or_insert((now, connected));
                let started_at = seen.0;
                if matches!(view.state, CallState::Ended { .. }) {
                    started.remove(&view.call);
                    CallOutcome::Ended { view: view.clone(), started_at, ended_at: now }
                } else if first {
                    CallOutcome::Started { view: view.clone(), started_at }
                } else if connected && !seen.1 {
                    seen.1 = true;
                    CallOutcome::Connected { view: view.clone() }
                } else {
                    return;
                }
            }
            EngineEvent::MissedCall { account, from, from_name, reason } => CallOutcome::Missed {
                account: account.clone(),
                from: from.clone(),
                from_name: from_name.clone(),
                reason: reason.clone(),
                at: unix_millis(),
            },
            _ => return,
        };
        let hook = lock(&self.on_call_history).clone();
        if let Some(hook) = hook {
            hook(outcome);
        }
    }

    // ----- accounts -------------------------------------------------------

    /// Start (or restart with new details) the flow of account `id`.
    pub async fn start_account(self: &Arc<Self>, id: &str, account: &Account, keychain: &Keychain, instance: &InstanceId) -> Result<(), EngineError> {
        let password = keychain
            .get(id)
            .map_err(|e| EngineError::new(ErrorCode::Keychain, e.to_string()))?
            .ok_or_else(|| EngineError::new(ErrorCode::NoPassword, format!("No password is saved for {id}: enter it in Settings → Accounts.")))?;
        let secret = Secret::new(password);
        let mut flows = self.flows.lock().await;
        if let Some(existing) = flows.get(id) {
            return existing.account_edited(account.clone(), secret).map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()));
        }
        let (flow, mut stream) =
            AccountFlow::start(account.clone(), secret, instance.clone()).map_err(|e| EngineError::new(ErrorCode::InvalidAccount, e.to_string()))?;
        let flow = Arc::new(flow);
        flows.insert(id.to_owned(), flow.clone());
        drop(flows);
        if self.do_not_disturb.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = flow.set_do_not_disturb(true).await;
        }
        self.watch_network();

        let (me, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                match event {
                    FlowEvent::Registration(RegistrationEvent { state, .. }) => {
                        lock(&me.registration_states).insert(id.clone(), state.clone());
                        let registered = matches!(state, RegistrationState::Registered { .. });
                        me.emit(EngineEvent::RegistrationChanged { account: id.clone(), state });
                        if registered {
                            me.after_registered(&id).await;
                        }
                    }
                    FlowEvent::Call(event) => me.on_call_event(&id, event).await,
                }
            }
        });
        // With an account running, keep a session ready for the first dial.
        self.keep_spare_session();
        Ok(())
    }

    /// Hang up the account's calls, unregister, and wait (bounded by the SIP layer).
    pub async fn stop_account(&self, id: &str) {
        let flow = self.flows.lock().await.remove(id);
        if let Some(flow) = flow {
            match Arc::try_unwrap(flow) {
                Ok(flow) => flow.stop().await,
                // A command is using it right now: dropping unregisters in the background.
                Err(shared) => drop(shared),
            }
        }
    }

    pub async fn stop_all(&self) {
        self.stop_spare().await;
        let ids: Vec<String> = self.flows.lock().await.keys().cloned().collect();
        for id in ids {
            self.stop_account(&id).await;
        }
    }

    async fn flow(&self, account: &str) -> Result<Arc<AccountFlow>, EngineError> {
        self.flows.lock().await.get(account).cloned().ok_or_else(|| {
            EngineError::new(ErrorCode::NoAccount, format!("The account {account} is not running: check it in Settings → Accounts."))
        })
    }

    // ----- commands -------------------------------------------------------

    /// The live calls, oldest first.
    pub async fn calls(&self) -> Vec<CallView> {
        let mut calls: Vec<CallView> = self.calls.lock().await.values().map(|c| c.view.clone()).collect();
        let started = lock(&self.started);
        calls.sort_by_cached_key(|c| (started.get(&c.call).map(|s| s.0), c.call.clone()));
        calls
    }

    /// Call `target` from `account`. Returns the call id.
    pub async fn dial(self: &Arc<Self>, account: &str, target: &str) -> Result<String, EngineError> {
        let flow = self.flow(account).await?;
        let dialed = std::time::Instant::now();
        // The spare session gathered with the engine's servers only.
        let spare = if self.has_own_ice_servers(account) { None } else { self.take_spare().await };
        let (session, session_events, leg) = match spare {
            Some(spare) => (spare.session, spare.events, spare.leg),
            None => self.new_session(Some(account)).await?,
        };
        // Candidates were being gathered since the session was made; the offer
        // goes out with what is known after at most 500 ms.
        let offer = match session.create_offer().await {
            Ok(offer) => offer,
            Err(e) => {
                self.discard_session(&session, leg).await;
                return Err(call_error(e));
            }
        };
        // The calls lock is held across the INVITE so the call's first SIP
        // events (100 Trying) find it in the table.
        let mut calls = self.calls.lock().await;
        // One call talks at a time: the others wait on hold.
        self.hold_others(&mut calls, &[]).await;
        let call = match flow.dial(target, &offer).await {
            Ok(call) => call,
            Err(e) => {
                drop(calls);
                self.discard_session(&session, leg).await;
                return Err(call_error(e));
            }
        };
        tracing::debug!(call, ms = dialed.elapsed().as_secs_f64() * 1000.0, "dial → INVITE sent");
        let view = CallView {
            call: call.clone(),
            account: account.to_owned(),
            remote: target.to_owned(),
            remote_name: None,
            outgoing: true,
            muted: false,
            connected_at: None,
            state: CallState::Dialing,
        };
        // The microphone opens now that there is a call (the INVITE did not wait for it).
        self.attach_media(leg, &call);
        self.watch_session(&call, &session, session_events);
        calls.insert(
            call.clone(),
            CallEntry { view: view.clone(), session, pending_offer: None, local_sdp: Some(offer), remote_sdp: None, answer_applied: false, held_by_me: false, leg },
        );
        drop(calls);
        self.emit(EngineEvent::CallChanged(view));
        Ok(call)
    }

    pub async fn answer(&self, call: &str) -> Result<(), EngineError> {
        let mut calls = self.calls.lock().await;
        if !calls.contains_key(call) {
            return Err(unknown_call(call));
        }
        self.ringing.answering(call);
        self.hold_others(&mut calls, &[call.to_owned()]).await;
        let entry = calls.get_mut(call).ok_or_else(|| unknown_call(call))?;
        // Ringing left the microphone closed; answering opens it.
        self.attach_media(entry.leg, call);
        let flow = self.flow(&entry.view.account).await?;
        let local = match entry.pending_offer.take() {
            Some(offer) => {
                let adapted = adapt_offer(&offer)?;
                let answer = entry.session.accept_offer(&adapted).await.map_err(call_error)?;
                entry.remote_sdp = Some(adapted);
                entry.answer_applied = true;
                answer
            }
            // The caller sent no offer: ours goes in the 200, theirs comes with the ACK.
            None => entry.session.create_offer().await.map_err(call_error)?,
        };
        flow.answer(call, &local).await.map_err(call_error)?;
        entry.local_sdp = Some(local);
        Ok(())
    }

    pub async fn reject(&self, call: &str, busy: bool) -> Result<(), EngineError> {
        let account = self.account_of(call).await?;
        self.flow(&account).await?.reject(call, busy).await.map_err(call_error)
    }

    pub async fn hangup(&self, call: &str) -> Result<(), EngineError> {
        let account = self.account_of(call).await?;
        self.flow(&account).await?.hangup(call).await.map_err(call_error)
    }

    /// Hold (`true`) or resume. The re-offer tells the other side to stop or
    /// restart sending; our own sending is muted meanwhile. A conference is
    /// held and resumed as a whole; resuming one call holds the others.
    pub async fn hold(&self, call: &str, on: bool) -> Result<(), EngineError> {
        let mut calls = self.calls.lock().await;
        if !calls.contains_key(call) {
            return Err(unknown_call(call));
        }
        let mut together = self.conference_calls(&calls);
        if !together.iter().any(|c| c == call) {
            together = vec![call.to_owned()];
        }
        if !on {
            self.hold_others(&mut calls, &together).await;
        }
        for one in &together {
            if let Some(entry) = calls.get_mut(one) {
                self.set_hold(entry, on).await?;
            }
        }
        self.settle_mutes(&calls);
        Ok(())
    }

    async fn set_hold(&self, entry: &mut CallEntry, on: bool) -> Result<(), EngineError> {
        let call = entry.view.call.clone();
        let local = entry
            .local_sdp
            .clone()
            .ok_or_else(|| EngineError::new(ErrorCode::CallFailed, "The call is not set up yet, so it cannot be put on hold."))?;
        let direction = if on { homeline_sdp::Direction::SendOnly } else { homeline_sdp::Direction::SendRecv };
        let offer = redirect(&local, direction)?;
        let flow = self.flow(&entry.view.account).await?;
        flow.update_media(&call, &offer).await.map_err(call_error)?;
        entry.session.set_muted(on || entry.view.muted);
        entry.held_by_me = on;
        entry.local_sdp = Some(offer);
        entry.view.state = if on { CallState::Held { by_me: true } } else { CallState::Active };
        self.emit(EngineEvent::CallChanged(entry.view.clone()));
        Ok(())
    }

    /// Puts every talking call on hold but those in `keep`.
    async fn hold_others(&self, calls: &mut HashMap<String, CallEntry>, keep: &[String]) {
        for entry in calls.values_mut() {
            if entry.view.state == CallState::Active && !keep.contains(&entry.view.call) {
                if let Err(e) = self.set_hold(entry, true).await {
                    tracing::warn!("call {} could not be put on hold: {}", entry.view.call, e.message);
                }
            }
        }
    }

    /// Mixes `calls` (and the conference running, if any) into one local
    /// conference: every party hears the others and us, we hear them all.
    /// Held calls are resumed, other calls held.
    pub async fn merge(&self, merge: &[String]) -> Result<Vec<String>, EngineError> {
        let mut calls = self.calls.lock().await;
        let mut together = self.conference_calls(&calls);
        for call in merge {
            let entry = calls.get(call).ok_or_else(|| unknown_call(call))?;
            if !matches!(entry.view.state, CallState::Active | CallState::Held { .. }) {
                return Err(EngineError::new(
                    ErrorCode::CallFailed,
                    format!("The call with {} is not connected yet, so it cannot join a conference.", entry.view.remote),
                ));
            }
            if !together.contains(call) {
                together.push(call.clone());
            }
        }
        if together.len() < 2 {
            return Err(EngineError::new(ErrorCode::CallFailed, "A conference needs at least two calls."));
        }
        self.hold_others(&mut calls, &together).await;
        for call in &together {
            if let Some(entry) = calls.get_mut(call) {
                if entry.held_by_me {
                    self.set_hold(entry, false).await?;
                }
            }
        }
        let legs: Vec<LegId> = together.iter().filter_map(|c| calls.get(c).map(|e| e.leg)).collect();
        self.router.merge(&legs);
        // One mute for the whole conference: muted if we were muted in any of its calls.
        let muted = together.iter().any(|c| calls.get(c).is_some_and(|e| e.view.muted));
        for call in &together {
            if let Some(entry) = calls.get_mut(call) {
                if entry.view.muted != muted {
                    entry.view.muted = muted;
                    self.emit(EngineEvent::CallChanged(entry.view.clone()));
                }
            }
        }
        self.settle_mutes(&calls);
        let members = self.conference_calls(&calls);
        self.emit(EngineEvent::ConferenceChanged { calls: members.clone() });
        Ok(members)
    }

    /// Takes `call` out of the conference; it goes on hold and the others keep
    /// talking (a conference of one is an ordinary call again).
    pub async fn split(&self, call: &str) -> Result<(), EngineError> {
        let mut calls = self.calls.lock().await;
        let leg = calls.get(call).ok_or_else(|| unknown_call(call))?.leg;
        if self.router.split(leg).is_none() {
            return Err(EngineError::new(ErrorCode::CallFailed, "That call is not in a conference."));
        }
        if let Some(entry) = calls.get_mut(call) {
            if entry.view.state == CallState::Active {
                self.set_hold(entry, true).await?;
            }
        }
        self.settle_mutes(&calls);
        self.emit(EngineEvent::ConferenceChanged { calls: self.conference_calls(&calls) });
        Ok(())
    }

    /// The calls in the conference, in the order they joined.
    fn conference_calls(&self, calls: &HashMap<String, CallEntry>) -> Vec<String> {
        self.router
            .members()
            .iter()
            .filter_map(|leg| calls.values().find(|e| e.leg == *leg).map(|e| e.view.call.clone()))
            .collect()
    }

    /// Mute or unmute our microphone in the call (the other side hears silence).
    /// In a conference it mutes us for every party.
    pub async fn mute(&self, call: &str, on: bool) -> Result<(), EngineError> {
        let mut calls = self.calls.lock().await;
        if !calls.contains_key(call) {
            return Err(unknown_call(call));
        }
        let mut together = self.conference_calls(&calls);
        if !together.iter().any(|c| c == call) {
            together = vec![call.to_owned()];
        }
        for one in &together {
            if let Some(entry) = calls.get_mut(one) {
                if entry.view.muted != on {
                    entry.view.muted = on;
                    self.emit(EngineEvent::CallChanged(entry.view.clone()));
                }
            }
        }
        self.settle_mutes(&calls);
        Ok(())
    }

    /// Who sends our microphone: a call alone is muted by its session (and
    /// while on hold whatever the mute button says); in a conference every
    /// member's session sends the mix, and the mute silences us in the mix.
    fn settle_mutes(&self, calls: &HashMap<String, CallEntry>) {
        let members = self.router.members();
        let mut conference_muted = false;
        for entry in calls.values() {
            let in_conference = members.contains(&entry.leg);
            conference_muted |= in_conference && entry.view.muted;
            entry.session.set_muted(entry.held_by_me || (!in_conference && entry.view.muted));
        }
        self.router.set_mic_muted(conference_muted);
    }

    /// Touch tones: in the media (RFC 4733) when the other side takes them,
    /// else as SIP INFO.
    pub async fn send_dtmf(&self, call: &str, digits: &str) -> Result<(), EngineError> {
        let calls = self.calls.lock().await;
        let entry = calls.get(call).ok_or_else(|| unknown_call(call))?;
        let in_media = entry
            .remote_sdp
            .as_deref()
            .and_then(|sdp| homeline_sdp::SessionDescription::parse(sdp).ok())
            .is_some_and(|sdp| homeline_sdp::summarize(&sdp, None).telephone_event.is_some());
        if in_media {
            return entry.session.send_dtmf(digits).map_err(call_error);
        }
        let flow = self.flow(&entry.view.account).await?;
        for digit in digits.chars().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
            flow.send_dtmf(call, digit, 160).await.map_err(call_error)?;
        }
        Ok(())
    }

    /// Blind transfer: the other side is asked to call `target`.
    pub async fn transfer(&self, call: &str, target: &str) -> Result<(), EngineError> {
        let account = self.account_of(call).await?;
        self.flow(&account).await?.blind_transfer(call, target).await.map_err(call_error)
    }

    /// Attended transfer: connect the other sides of `call` and `to_call`.
    pub async fn transfer_to_call(&self, call: &str, to_call: &str) -> Result<(), EngineError> {
        let account = self.account_of(call).await?;
        self.flow(&account).await?.attended_transfer(call, to_call).await.map_err(call_error)
    }

    /// Do Not Disturb as saved, before any account's flow exists.
    pub fn set_do_not_disturb_at_start(&self) {
        self.do_not_disturb.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub async fn set_do_not_disturb(&self, on: bool) {
        self.do_not_disturb.store(on, std::sync::atomic::Ordering::Relaxed);
        let flows: Vec<Arc<AccountFlow>> = self.flows.lock().await.values().cloned().collect();
        for flow in flows {
            let _ = flow.set_do_not_disturb(on).await;
        }
    }

    async fn account_of(&self, call: &str) -> Result<String, EngineError> {
        self.calls.lock().await.get(call).map(|c| c.view.account.clone()).ok_or_else(|| unknown_call(call))
    }

    /// A media session with no devices yet (`attach_media` gives it them when
    /// the call starts), gathering from now on, with its event stream (handed
    /// to `watch_session` once the call id is known).
    async fn new_session(&self, account: Option<&str>) -> Result<(Arc<Session>, SessionEvents, LegId), EngineError> {
        let (leg, io) = self.router.add_silent_leg();
        let mut config = self.media.session_config();
        if let Some(own) = account.and_then(|a| lock(&self.account_ice).get(a).cloned()) {
            config.ice_servers.extend(own);
        }
        let (session, events) = match Session::new(config, io).await {
            Ok(made) => made,
            Err(e) => {
                self.router.remove_leg(leg);
                return Err(call_error(e));
            }
        };
        let session = Arc::new(session);
        if let Err(e) = session.prepare().await {
            tracing::warn!("gathering could not start early: {e}");
        }
        Ok((session, events, leg))
    }

    /// Opens the call's microphone and speaker (or files) and puts them in its
    /// session's audio path, off the caller's path: opening a device waits for
    /// the sound server, and nothing the call signals needs to wait for that
    /// (the first frames are silence). What cannot be opened is said in a notice.
    fn attach_media(&self, leg: LegId, call: &str) {
        let (media, router, events, call) = (self.media.clone(), self.router.clone(), self.events.clone(), call.to_owned());
        tokio::task::spawn_blocking(move || {
            let (io, problems) = media.media_io(&call);
            for message in problems {
                let _ = events.send(EngineEvent::Notice { message });
            }
            router.attach(leg, io);
        });
    }

    /// Closes a session that never became a call.
    async fn discard_session(&self, session: &Session, leg: LegId) {
        session.close().await;
        self.router.remove_leg(leg);
    }

    // ----- SIP events -----------------------------------------------------

    async fn on_call_event(self: &Arc<Self>, account: &str, event: CallEvent) {
        match event {
            CallEvent::IncomingCall { call_id, from_display, from_number, sdp_offer, .. } => {
                let (session, session_events, leg) = match self.new_session(Some(account)).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("incoming call {call_id} refused: {e}");
                        if let Ok(flow) = self.flow(account).await {
                            let _ = flow.reject(&call_id, false).await;
                        }
                        return;
                    }
                };
                // An offer we cannot use is refused now (488 with the reason), not after "Answer".
                if let Some(offer) = &sdp_offer {
                    if let Err(e) = adapt_offer(offer) {
                        tracing::warn!("incoming call {call_id}: {}", e.message);
                        self.discard_session(&session, leg).await;
                        if let Ok(flow) = self.flow(account).await {
                            let _ = flow.reject(&call_id, false).await;
                        }
                        return;
                    }
                }
                let view = CallView {
                    call: call_id.clone(),
                    account: account.to_owned(),
                    remote: from_number,
                    remote_name: from_display,
                    outgoing: false,
                    muted: false,
                    connected_at: None,
                    state: CallState::Incoming,
                };
                self.watch_session(&call_id, &session, session_events);
                self.calls.lock().await.insert(
                    call_id,
                    CallEntry { view: view.clone(), session, pending_offer: sdp_offer, local_sdp: None, remote_sdp: None, answer_applied: false, held_by_me: false, leg },
                );
                self.emit(EngineEvent::CallChanged(view));
            }
            CallEvent::MissedCall { from_display, from_number, reason, .. } => {
                self.emit(EngineEvent::MissedCall { account: account.to_owned(), from: from_number, from_name: from_display, reason });
            }
            CallEvent::CallProgress { call_id, progress } => {
                let mut calls = self.calls.lock().await;
                let Some(entry) = calls.get_mut(&call_id) else { return };
                let state = match progress {
                    Progress::Trying => return,
                    Progress::Ringing => CallState::Ringing,
                    Progress::EarlyMedia { sdp } => {
                        if !entry.answer_applied {
                            match entry.session.accept_answer(&adapt_answer(&sdp)).await {
                                Ok(()) => {
                                    entry.answer_applied = true;
                                    entry.remote_sdp = Some(sdp);
                                }
                                Err(e) => tracing::warn!("early media of {call_id} unusable: {e}"),
                            }
                        }
                        CallState::EarlyMedia
                    }
                };
                entry.view.state = state;
                self.emit(EngineEvent::CallChanged(entry.view.clone()));
            }
            CallEvent::CallAnswered { call_id, sdp } => {
                let failure = {
                    let mut calls = self.calls.lock().await;
                    let Some(entry) = calls.get_mut(&call_id) else { return };
                    let mut failure = None;
                    if !entry.answer_applied {
                        match entry.session.accept_answer(&adapt_answer(&sdp)).await {
                            Ok(()) => entry.answer_applied = true,
                            Err(e) => failure = Some(e.to_string()),
                        }
                    }
                    entry.remote_sdp = Some(sdp);
                    failure
                };
                if let Some(reason) = failure {
                    tracing::warn!("call {call_id}: the answer is unusable: {reason}");
                    let _ = self.hangup(&call_id).await;
                }
            }
            CallEvent::CallConfirmed { call_id } => {
                self.set_state(&call_id, CallState::Active).await;
            }
            CallEvent::ReInvite { call_id, sdp } => self.on_reinvite(account, &call_id, &sdp).await,
            CallEvent::ReInviteAnswered { call_id, sdp } => self.on_reinvite_answered(&call_id, &sdp).await,
            CallEvent::ReInviteFailed { .. } => {}
            CallEvent::DtmfReceived { call_id, digit, .. } => self.emit(EngineEvent::DtmfReceived { call: call_id, digit }),
            CallEvent::TransferRequested { call_id, target, replaces } => {
                let me = self.clone();
                let account = account.to_owned();
                tokio::spawn(async move { me.follow_transfer(&account, &call_id, &target, replaces).await });
            }
            CallEvent::TransferProgress { call_id, code, reason, done } => {
                self.emit(EngineEvent::TransferProgress { call: call_id, code, reason, done });
            }
            CallEvent::CallEnded { call_id, reason, code, by } => {
                let entry = self.calls.lock().await.remove(&call_id);
                if let Some(mut entry) = entry {
                    entry.session.close().await;
                    if self.router.remove_leg(entry.leg).is_some() {
                        let calls = self.calls.lock().await;
                        self.settle_mutes(&calls);
                        self.emit(EngineEvent::ConferenceChanged { calls: self.conference_calls(&calls) });
                    }
                    let by = match by {
                        Party::Local => "local",
                        Party::Remote => "remote",
                        Party::Network => "network",
                    };
                    // We hung up because the media path died: say that, not "hung up".
                    let (reason, by) = match self.take_connection_lost(&call_id) {
                        Some(lost) => (lost, "network"),
                        None => (reason, by),
                    };
                    entry.view.state = CallState::Ended { reason, code, by: by.to_owned() };
                    self.emit(EngineEvent::CallChanged(entry.view));
                }
            }
        }
    }

    /// The other side changed the session: hold, resume or a refresh.
    async fn on_reinvite(&self, account: &str, call: &str, sdp: &str) {
        let Ok(flow) = self.flow(account).await else { return };
        let mut calls = self.calls.lock().await;
        let Some(entry) = calls.get_mut(call) else {
            let _ = flow.answer_reinvite(call, None).await;
            return;
        };
        let Some(local) = entry.local_sdp.clone() else {
            let _ = flow.answer_reinvite(call, None).await;
            return;
        };
        if ice_credentials_changed(entry.remote_sdp.as_deref(), sdp) {
            // The other side moved to a new network and restarted ICE.
            match entry.session.accept_restart_offer(sdp).await {
                Ok(answer) => {
                    let _ = flow.answer_reinvite(call, Some(&answer)).await;
                    entry.local_sdp = Some(answer);
                    entry.remote_sdp = Some(sdp.to_owned());
                }
                Err(e) => {
                    tracing::info!(%call, error = %e, "could not follow the other side's ICE restart");
                    let _ = flow.answer_reinvite(call, None).await;
                }
            }
            return;
        }
        let their = homeline_sdp::SessionDescription::parse(sdp)
            .ok()
            .and_then(|s| homeline_sdp::remote_media(&s).ok())
            .map_or(homeline_sdp::Direction::SendRecv, |r| r.direction);
        let ours = answer_direction(their, entry.held_by_me);
        match redirect(&local, ours) {
            Ok(answer) => {
                let _ = flow.answer_reinvite(call, Some(&answer)).await;
                // Held by them (we answer recvonly/inactive): they must not hear us.
                let we_send = matches!(ours, homeline_sdp::Direction::SendRecv | homeline_sdp::Direction::SendOnly);
                entry.session.set_muted(entry.view.muted || entry.held_by_me || !we_send);
                entry.local_sdp = Some(answer);
                entry.remote_sdp = Some(sdp.to_owned());
                let held_by_them = their.is_hold();
                let state = if entry.held_by_me {
                    CallState::Held { by_me: true }
                } else if held_by_them {
                    CallState::Held { by_me: false }
                } else {
                    CallState::Active
                };
                if entry.view.state != state {
                    entry.view.state = state;
                    self.emit(EngineEvent::CallChanged(entry.view.clone()));
                }
            }
            Err(_) => {
                let _ = flow.answer_reinvite(call, None).await;
            }
        }
    }

    /// We were asked (REFER) to call someone else: place that call and
    /// report how it went to the one who asked.
    async fn follow_transfer(self: &Arc<Self>, account: &str, call: &str, target: &str, replaces: Option<String>) {
        let Ok(flow) = self.flow(account).await else { return };
        let result = match self.new_session(Some(account)).await {
            Ok((session, session_events, leg)) => match session.create_offer().await {
                Ok(offer) => {
                    let mut calls = self.calls.lock().await;
                    match flow.dial_replacing(target, &offer, replaces).await {
                        Ok(new_call) => {
                            let view = CallView {
                                call: new_call.clone(),
                                account: account.to_owned(),
                                remote: target.to_owned(),
                                remote_name: None,
                                outgoing: true,
                                muted: false,
                                connected_at: None,
                                state: CallState::Dialing,
                            };
                            self.attach_media(leg, &new_call);
                            self.watch_session(&new_call, &session, session_events);
                            calls.insert(
                                new_call,
                                CallEntry { view: view.clone(), session, pending_offer: None, local_sdp: Some(offer), remote_sdp: None, answer_applied: false, held_by_me: false, leg },
                            );
                            drop(calls);
                            self.emit(EngineEvent::CallChanged(view));
                            (200, "OK")
                        }
                        Err(_) => {
                            drop(calls);
                            self.discard_session(&session, leg).await;
                            (503, "Service Unavailable")
                        }
                    }
                }
                Err(_) => {
                    self.discard_session(&session, leg).await;
                    (500, "Server Internal Error")
                }
            },
            Err(_) => (500, "Server Internal Error"),
        };
        let _ = flow.transfer_result(call, result.0, result.1).await;
    }

    async fn set_state(&self, call: &str, state: CallState) {
        let mut calls = self.calls.lock().await;
        if let Some(entry) = calls.get_mut(call) {
            if state == CallState::Active && entry.view.connected_at.is_none() {
                entry.view.connected_at = Some(unix_millis());
            }
            if entry.view.state != state {
                entry.view.state = state;
                self.emit(EngineEvent::CallChanged(entry.view.clone()));
            }
        }
    }

    // ----- media events ---------------------------------------------------

    /// Forward a session's events (media failure, in-band DTMF) for `call`,
    /// and once connected its statistics every second; Opus follows the loss
    /// the other side reports.
    fn watch_session(self: &Arc<Self>, call: &str, session: &Arc<Session>, mut events: SessionEvents) {
        // Weak: the call table owns the session; this task must not keep it alive.
        let (me, call, session) = (Arc::downgrade(self), call.to_owned(), Arc::downgrade(session));
        tokio::spawn(async move {
            let mut connected = false;
            let mut meter = StatsMeter::default();
            let mut coach = crate::coaching::Coach::new();
            let mut reconnecting = false;
            let mut loss = LossFollower::default();
            let mut tick = tokio::time::interval(STATS_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let event = tokio::select! {
                    event = events.recv() => match event {
                        Some(event) => event,
                        None => break,
                    },
                    _ = tick.tick(), if connected => {
                        let (Some(me), Some(session)) = (me.upgrade(), session.upgrade()) else { break };
                        let stats = session.stats().await;
                        if stats.send_codec == Some(homeline_rtc::CodecKind::Opus) {
                            if let Some(target) = loss.update(stats.remote_fraction_lost) {
                                tracing::debug!(call, ?target, "opus follows the reported loss");
                                session.set_bitrate(target.bitrate_bps);
                                session.set_expected_loss(target.expected_loss_percent);
                            }
                        }
                        let stats = meter.next(&call, std::time::Instant::now(), &stats);
                        if let Some(warnings) = coach.update(&stats) {
                            me.emit(EngineEvent::CallWarnings { call: call.clone(), warnings });
                        }
                        me.emit(EngineEvent::CallStats(stats));
                        continue;
                    }
                };
                let Some(me) = me.upgrade() else { break };
                match event {
                    SessionEvent::Connected if !connected => {
                        connected = true;
                        tick.reset();
                    }
                    // Connected again: after a lost path, or after an ICE restart.
                    SessionEvent::Connected => {
                        reconnecting = false;
                        me.emit(EngineEvent::CallReconnecting { call: call.clone(), since: None });
                    }
                    SessionEvent::Disconnected if connected && !reconnecting => {
                        reconnecting = true;
                        me.emit(EngineEvent::CallReconnecting { call: call.clone(), since: Some(unix_millis()) });
                    }
                    SessionEvent::DtmfReceived { digit } => me.emit(EngineEvent::DtmfReceived { call: call.clone(), digit }),
                    SessionEvent::Failed { reason } => {
                        if connected {
                            me.note_connection_lost(&call);
                        }
                        me.emit(EngineEvent::Notice { message: format!("The call's audio failed: {reason}") });
                        let _ = me.hangup(&call).await;
                    }
                    SessionEvent::Closed => break,
                    _ => {}
                }
            }
        });
    }
}

/// How often a connected call's statistics are reported.
const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Our direction in answer to theirs (RFC 3264 §6.1); while we hold, we
/// never agree to receive.
fn answer_direction(their: homeline_sdp::Direction, held_by_me: bool) -> homeline_sdp::Direction {
    use homeline_sdp::Direction::{Inactive, RecvOnly, SendOnly, SendRecv};
    match (their, held_by_me) {
        (SendRecv | RecvOnly, true) => SendOnly,
        (SendOnly | Inactive, true) => Inactive,
        (their, false) => match their {
            SendOnly => RecvOnly,
            RecvOnly => SendOnly,
            other => other,
        },
    }
}

/// A PBX offer made digestible for the WebRTC stack (mid, BUNDLE), or the
/// reason in words why it cannot be.
fn adapt_offer(offer: &str) -> Result<String, EngineError> {
    homeline_sdp::adapt_remote_offer_text(offer)
        .map(|(text, _)| text)
        .map_err(|e| EngineError::new(ErrorCode::CallFailed, e.to_string()))
}

/// Answers get the same repairs; one we cannot repair is passed on as is and
/// the WebRTC stack says what is wrong with it.
fn adapt_answer(answer: &str) -> String {
    homeline_sdp::adapt_remote_offer_text(answer).map(|(text, _)| text).unwrap_or_else(|_| answer.to_owned())
}

/// Our last SDP with a new audio direction and a bumped version (a re-offer
/// with an unchanged `o=` version may be taken for a refresh and ignored).
fn redirect(local: &str, direction: homeline_sdp::Direction) -> Result<String, EngineError> {
    let mut sdp = homeline_sdp::SessionDescription::parse(local).map_err(|e| EngineError::new(ErrorCode::Internal, e.to_string()))?;
    homeline_sdp::set_audio_direction(&mut sdp, direction).map_err(|e| EngineError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(bump_origin_version(&sdp.to_sdp_string()))
}

fn bump_origin_version(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .map(|line| {
            let Some(rest) = line.strip_prefix("o=") else { return line.to_owned() };
            let fields: Vec<&str> = rest.trim_end().split(' ').collect();
            if fields.len() < 6 {
                return line.to_owned();
            }
            let version = fields[2].parse::<u64>().map(|v| v.wrapping_add(1).to_string()).unwrap_or_else(|_| fields[2].to_owned());
            let ending = &line[line.trim_end().len()..];
            format!("o={} {} {} {}{ending}", fields[0], fields[1], version, fields[3..].join(" "))
        })
        .collect()
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

mod spare_session;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answering_a_hold_and_holding_ourselves() {
        use homeline_sdp::Direction::*;
        assert_eq!(answer_direction(SendOnly, false), RecvOnly, "they hold: we only listen");
        assert_eq!(answer_direction(SendRecv, false), SendRecv);
        assert_eq!(answer_direction(SendRecv, true), SendOnly, "we hold: we do not listen");
        assert_eq!(answer_direction(SendOnly, true), Inactive, "both hold");
    }

    #[test]
    fn origin_version_is_bumped_and_the_rest_kept() {
        let sdp = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n";
        assert_eq!(bump_origin_version(sdp), "v=0\r\no=- 4611731400430051336 3 IN IP4 127.0.0.1\r\ns=-\r\n");
        assert_eq!(bump_origin_version("o=broken\r\n"), "o=broken\r\n");
    }
}
