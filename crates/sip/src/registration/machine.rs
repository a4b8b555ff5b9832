//! The registration protocol as a sans-IO state machine (the str0m model):
//! inputs and the current `Instant` go in, outputs (connect, send, state
//! changes) and the next deadline come out. No sockets, no clocks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::account::{InstanceId, Secret, ValidAccount};
use crate::digest::{self, AnswerInput, Challenge, ChallengeKind, Credentials};
use crate::error::SipError;
use crate::message::{header_param, write_request, SipMessage};
use crate::registration::entropy::{token, Entropy};

/// The registration's state as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RegistrationState {
    Registering,
    Registered { expires: u32 },
    Failed { reason: String },
    Retrying { in_seconds: u32 },
    Unregistered,
}

#[derive(Debug)]
pub enum Input<'a> {
    /// Begin registering.
    Start,
    /// The deadline from `poll_timeout` has passed.
    Timeout,
    /// The WebSocket is open.
    Connected,
    /// Opening the WebSocket failed.
    ConnectFailed(SipError),
    /// The open WebSocket closed or broke.
    ConnectionLost,
    /// A SIP message arrived.
    Received(&'a SipMessage),
    /// The user changed the account (or re-typed the password): try at once.
    AccountEdited(Box<ValidAccount>, Secret),
    /// Something arrived on the WebSocket (a message, a pong, a CRLF): the
    /// connection is alive.
    Alive,
    /// The machine's addresses changed, or it woke from sleep: the connection
    /// may be dead without knowing it. Reconnect and re-register now.
    NetworkChanged,
    /// Unregister and finish (quit, account removed).
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open the WebSocket to `account().connect_to`.
    Connect,
    /// Close the WebSocket.
    Disconnect,
    /// Send this SIP message (one WebSocket text frame).
    Send(String),
    /// Send an RFC 5626 keep-alive (CRLF CRLF) and a WebSocket ping; an
    /// answer must arrive within `Timing::liveness_timeout` (`Input::Alive`).
    KeepAlive,
    State(RegistrationState),
    /// Unregistered after `Stop`: the driver can end.
    Stopped,
}

/// Tunables; the defaults follow RFC 3261/5626 and the product's rules.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Give up on a REGISTER without a final response (Timer F = 64·T1).
    pub response_timeout: Duration,
    pub keepalive_interval: Duration,
    /// A keep-alive with nothing received for this long: the connection is
    /// dead (a NAT dropped it, the laptop changed network).
    pub liveness_timeout: Duration,
    /// Slow retry after a wrong password or a permanent refusal.
    pub failed_retry: Duration,
    pub backoff_cap: Duration,
    /// How long `Stop` waits for the unregister's answer.
    pub unregister_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            response_timeout: Duration::from_secs(32),
            keepalive_interval: Duration::from_secs(25),
            liveness_timeout: Duration::from_secs(10),
            failed_retry: Duration::from_secs(60),
            backoff_cap: Duration::from_secs(60),
            unregister_timeout: Duration::from_secs(4),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    /// REGISTER in flight.
    Waiting { deadline: Instant },
    Registered { refresh_at: Instant },
    Backoff { until: Instant },
    Failed { retry_at: Instant },
    Unregistering { deadline: Instant },
    Done,
}

/// How the credentials in the REGISTER in flight were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    NoCredentials,
    /// For a nonce the server gave in its last answer: a 401 now means a wrong password.
    FreshNonce,
    /// For a nonce remembered from earlier: a 401 may just mean it expired.
    CachedNonce,
}

pub struct RegistrationMachine {
    account: ValidAccount,
    secret: Secret,
    instance: InstanceId,
    entropy: Box<dyn Entropy>,
    timing: Timing,

    phase: Phase,
    connected: bool,
    stopping: bool,
    outputs: VecDeque<Output>,
    last_state: Option<RegistrationState>,
    keepalive_at: Option<Instant>,
    /// A keep-alive went out and nothing came back yet: dead after this.
    alive_deadline: Option<Instant>,

    // Per-registration constants (RFC 3261 §10.2: one Call-ID per registration).
    call_id: String,
    from_tag: String,
    contact_host: String,
    cseq: u32,
    expires: u32,

    challenge: Option<(Challenge, ChallengeKind)>,
    nc: u32,
    /// The next REGISTER answers a challenge that just arrived.
    challenge_is_fresh: bool,
    sent: Sent,
    stale_answers: u32,
    interval_retries: u32,
    failures: u32,
    registers_sent: u64,
}

impl std::fmt::Debug for RegistrationMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationMachine")
            .field("account", &self.account.address)
            .field("phase", &self.phase)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl RegistrationMachine {
    pub fn new(account: ValidAccount, secret: Secret, instance: InstanceId, mut entropy: Box<dyn Entropy>) -> Self {
        let call_id = token(entropy.as_mut(), 24);
        let from_tag = token(entropy.as_mut(), 10);
        let contact_host = format!("{}.invalid", token(entropy.as_mut(), 12));
        let expires = account.account.expires.max(1);
        RegistrationMachine {
            account,
            secret,
            instance,
            entropy,
            timing: Timing::default(),
            phase: Phase::Idle,
            connected: false,
            stopping: false,
            outputs: VecDeque::new(),
            last_state: None,
            keepalive_at: None,
            alive_deadline: None,
            call_id,
            from_tag,
            contact_host,
            cseq: 0,
            expires,
            challenge: None,
            nc: 0,
            challenge_is_fresh: false,
            sent: Sent::NoCredentials,
            stale_answers: 0,
            interval_retries: 0,
            failures: 0,
            registers_sent: 0,
        }
    }

    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    pub fn account(&self) -> &ValidAccount {
        &self.account
    }

    /// The `<random>.invalid` host of our Contact: the calls on this flow use it too.
    pub fn contact_host(&self) -> &str {
        &self.contact_host
    }

    /// How many REGISTER requests went out (tests use it to spot storms).
    pub fn registers_sent(&self) -> u64 {
        self.registers_sent
    }

    pub fn state(&self) -> Option<&RegistrationState> {
        self.last_state.as_ref()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to feed `Input::Timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Waiting { deadline } | Phase::Unregistering { deadline } => Some(deadline),
            Phase::Registered { refresh_at } => Some(refresh_at),
            Phase::Backoff { until } => Some(until),
            Phase::Failed { retry_at } => Some(retry_at),
            Phase::Idle | Phase::Connecting | Phase::Done => None,
        };
        let keepalive = if self.connected { self.keepalive_at } else { None };
        let liveness = if self.connected { self.alive_deadline } else { None };
        [phase, keepalive, liveness].into_iter().flatten().min()
    }

    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        if self.phase == Phase::Done {
            return;
        }
        match input {
            Input::Start => {
                if self.phase == Phase::Idle {
                    self.begin(now);
                }
            }
            Input::Timeout => self.on_timeout(now),
            Input::Connected => self.on_connected(now),
            Input::ConnectFailed(err) => self.on_transport_failure(now, Some(err)),
            Input::ConnectionLost => self.on_transport_failure(now, None),
            Input::Received(msg) => self.on_message(now, msg),
            Input::AccountEdited(account, secret) => self.on_account_edited(now, *account, secret),
            Input::Alive => self.alive_deadline = None,
            Input::NetworkChanged => self.on_network_changed(now),
            Input::Stop => self.on_stop(now),
        }
    }

    // ---- inputs ---------------------------------------------------------

    fn begin(&mut self, now: Instant) {
        self.set_state(RegistrationState::Registering);
        if self.connected {
            self.send_register(now, self.expires, false);
        } else {
            self.phase = Phase::Connecting;
            self.outputs.push_back(Output::Connect);
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.connected && self.alive_deadline.is_some_and(|t| now >= t) {
            tracing::info!(account = %self.account.address, "no answer to the keep-alive: the connection is dead");
            self.disconnect();
            self.on_transport_failure(now, None);
            return;
        }
        if self.connected && self.keepalive_at.is_some_and(|t| now >= t) {
            self.outputs.push_back(Output::KeepAlive);
            self.keepalive_at = Some(now + self.timing.keepalive_interval);
            self.alive_deadline.get_or_insert(now + self.timing.liveness_timeout);
        }
        match self.phase {
            Phase::Waiting { deadline } if now >= deadline => {
                tracing::debug!(account = %self.account.address, "REGISTER got no answer in time");
                self.disconnect();
                self.back_off(now);
            }
            Phase::Unregistering { deadline } if now >= deadline => self.finish(),
            Phase::Registered { refresh_at } if now >= refresh_at => {
                // A refresh keeps the Registered state unless it fails.
                self.send_register(now, self.expires, false);
            }
            Phase::Backoff { until } if now >= until => self.begin(now),
            Phase::Failed { retry_at } if now >= retry_at => self.begin(now),
            _ => {}
        }
    }

    fn on_connected(&mut self, now: Instant) {
        self.connected = true;
        self.keepalive_at = Some(now + self.timing.keepalive_interval);
        if self.stopping {
            self.finish();
        } else if self.phase == Phase::Connecting {
            self.send_register(now, self.expires, false);
        }
    }

    fn on_transport_failure(&mut self, now: Instant, err: Option<SipError>) {
        self.connected = false;
        self.keepalive_at = None;
        self.alive_deadline = None;
        if let Some(e) = &err {
            tracing::info!(account = %self.account.address, error = %e, "could not connect");
        }
        if self.stopping {
            self.finish();
            return;
        }
        match (self.phase, err) {
            // A bad certificate will not fix itself: say why and retry slowly.
            (_, Some(e @ SipError::Certificate { .. })) => self.fail(now, e.to_string()),
            // Already waiting for the slow retry: reconnect then, not now.
            (Phase::Failed { .. } | Phase::Idle | Phase::Backoff { .. }, _) => {}
            _ => self.back_off(now),
        }
    }

    /// A new network (or a wake-up): whatever the old connection's state,
    /// open a new one and register again at once, without backoff.
    fn on_network_changed(&mut self, now: Instant) {
        if self.stopping || matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        tracing::info!(account = %self.account.address, "network changed: reconnecting");
        self.disconnect();
        self.failures = 0;
        self.challenge_is_fresh = false;
        self.begin(now);
    }

    fn on_account_edited(&mut self, now: Instant, account: ValidAccount, secret: Secret) {
        let reconnect = account.connect_to != self.account.connect_to
            || account.account.tls != self.account.account.tls
            || account.fingerprint != self.account.fingerprint;
        self.expires = account.account.expires.max(1);
        self.account = account;
        self.secret = secret;
        self.challenge = None;
        self.failures = 0;
        self.stale_answers = 0;
        self.interval_retries = 0;
        if self.stopping {
            return;
        }
        if reconnect && self.connected {
            self.disconnect();
        }
        self.begin(now);
    }

    fn on_stop(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if self.connected && self.phase != Phase::Idle {
            self.challenge_is_fresh = false;
            self.send_register(now, 0, true);
        } else {
            if self.phase == Phase::Connecting {
                self.outputs.push_back(Output::Disconnect);
            }
            self.finish();
        }
    }

    fn on_message(&mut self, now: Instant, msg: &SipMessage) {
        let Some(status) = msg.status() else {
            return; // requests are the driver's business
        };
        let ours = msg.header("Call-ID") == Some(self.call_id.as_str())
            && msg.cseq() == Some((self.cseq, "REGISTER"));
        let in_flight = matches!(self.phase, Phase::Waiting { .. } | Phase::Unregistering { .. });
        if !ours || !in_flight {
            tracing::debug!(status, "dropping a response that answers no REGISTER in flight");
            return;
        }
        if status < 200 {
            return;
        }
        let unregistering = matches!(self.phase, Phase::Unregistering { .. });
        match status {
            200..=299 if unregistering => self.finish(),
            200..=299 => self.on_registered(now, msg),
            401 | 407 => self.on_challenge(now, msg, status, unregistering),
            _ if unregistering => self.finish(),
            403 if self.sent != Sent::NoCredentials => self.wrong_password(now),
            423 => self.on_interval_too_brief(now, msg),
            408 | 480 | 500..=599 => {
                let retry_after = msg.seconds("Retry-After").filter(|s| (1..=3600).contains(s));
                match retry_after {
                    Some(s) => self.retry_in(now, Duration::from_secs(u64::from(s))),
                    None => self.back_off(now),
                }
            }
            _ => {
                let reason = format!(
                    "The server refused the registration of {} ({} {}).",
                    self.account.address,
                    status,
                    msg.reason()
                );
                self.fail(now, reason);
            }
        }
    }

    fn on_registered(&mut self, now: Instant, msg: &SipMessage) {
        let granted = self.granted_expires(msg).unwrap_or(self.expires);
        let granted = if granted == 0 { self.expires } else { granted };
        self.failures = 0;
        self.stale_answers = 0;
        self.interval_retries = 0;
        self.phase = Phase::Registered { refresh_at: now + refresh_after(granted) };
        self.set_state(RegistrationState::Registered { expires: granted });
    }

    fn on_challenge(&mut self, now: Instant, msg: &SipMessage, status: u16, unregistering: bool) {
        let (header, kind) = if status == 407 {
            ("Proxy-Authenticate", ChallengeKind::Proxy)
        } else {
            ("WWW-Authenticate", ChallengeKind::Www)
        };
        let Some(challenge) = Challenge::pick(msg.header_values(header)) else {
            let reason = format!(
                "The server for {} asked for a kind of authentication Homeline does not support.",
                self.account.address
            );
            if unregistering {
                self.finish();
            } else {
                self.fail(now, reason);
            }
            return;
        };
        let stale = challenge.stale;
        match self.sent {
            Sent::FreshNonce if stale => {
                self.stale_answers += 1;
                if self.stale_answers > 3 {
                    // A server that calls every nonce stale would loop forever.
                    return self.wrong_password_or_finish(now, unregistering);
                }
            }
            Sent::FreshNonce => return self.wrong_password_or_finish(now, unregistering),
            Sent::NoCredentials | Sent::CachedNonce => {}
        }
        self.challenge = Some((challenge, kind));
        self.nc = 0;
        self.challenge_is_fresh = true;
        let expires = if unregistering { 0 } else { self.expires };
        self.send_register(now, expires, unregistering);
    }

    fn wrong_password_or_finish(&mut self, now: Instant, unregistering: bool) {
        if unregistering {
            self.finish();
        } else {
            self.wrong_password(now);
        }
    }

    fn on_interval_too_brief(&mut self, now: Instant, msg: &SipMessage) {
        match msg.seconds("Min-Expires") {
            Some(min) if min > self.expires && self.interval_retries < 2 => {
                self.interval_retries += 1;
                self.expires = min;
                self.challenge_is_fresh = false;
                self.send_register(now, min, false);
            }
            _ => {
                let reason = format!(
                    "The server for {} wants a registration interval Homeline could not agree to.",
                    self.account.address
                );
                self.fail(now, reason);
            }
        }
    }

    // ---- actions --------------------------------------------------------

    fn send_register(&mut self, now: Instant, expires: u32, unregister: bool) {
        self.cseq = self.cseq.wrapping_add(1).max(1);
        let ws = if self.account.connect_to.secure { "WSS" } else { "WS" };
        let branch = format!("z9hG4bK{}", token(self.entropy.as_mut(), 16));
        let addr = self.account.address.clone();
        let aor = addr.aor();
        let request_uri = format!("sip:{}", addr.domain);
        let from = match self.account.account.display_name.as_deref().filter(|d| !d.trim().is_empty()) {
            Some(name) => format!("\"{}\" <{aor}>;tag={}", name.replace(['"', '\\', '\r', '\n'], ""), self.from_tag),
            None => format!("<{aor}>;tag={}", self.from_tag),
        };
        let mut headers: Vec<(&str, String)> = vec![
            ("Via", format!("SIP/2.0/{ws} {};branch={branch};rport", self.contact_host)),
            ("Max-Forwards", "70".into()),
            ("From", from),
            ("To", format!("<{aor}>")),
            ("Call-ID", self.call_id.clone()),
            ("CSeq", format!("{} REGISTER", self.cseq)),
            ("Contact", self.contact()),
            ("Expires", expires.to_string()),
            ("Supported", "path, outbound".into()),
            ("User-Agent", concat!("Homeline/", env!("CARGO_PKG_VERSION")).into()),
        ];
        self.sent = Sent::NoCredentials;
        if let Some(creds) = self.credentials(&request_uri) {
            headers.push((creds.kind.answer_header(), creds.value));
        }
        self.registers_sent += 1;
        let text = write_request("REGISTER", &request_uri, &headers);
        tracing::debug!(account = %addr, cseq = self.cseq, expires, "sending REGISTER");
        self.outputs.push_back(Output::Send(text));
        let wait = if unregister { self.timing.unregister_timeout } else { self.timing.response_timeout };
        self.phase = if unregister {
            Phase::Unregistering { deadline: now + wait }
        } else {
            Phase::Waiting { deadline: now + wait }
        };
    }

    fn contact(&self) -> String {
        format!(
            "<sip:{}@{};transport=ws;ob>;+sip.instance=\"{}\";reg-id=1",
            self.account.address.user,
            self.contact_host,
            self.instance.urn()
        )
    }

    fn credentials(&mut self, uri: &str) -> Option<Credentials> {
        let (challenge, kind) = self.challenge.clone()?;
        self.nc += 1;
        let cnonce = token(self.entropy.as_mut(), 16);
        let input = AnswerInput {
            username: self.account.auth_user(),
            password: self.secret.expose(),
            method: "REGISTER",
            uri,
            cnonce: &cnonce,
            nc: self.nc,
        };
        let creds = digest::answer(&challenge, kind, &input);
        self.sent = if self.challenge_is_fresh { Sent::FreshNonce } else { Sent::CachedNonce };
        self.challenge_is_fresh = false;
        Some(creds)
    }

    /// The lifetime the registrar granted our binding: our Contact's
    /// `expires`, else the Expires header.
    fn granted_expires(&self, msg: &SipMessage) -> Option<u32> {
        let mine = msg.contacts().into_iter().find(|c| {
            c.contains(&self.contact_host)
                || header_param(c, "+sip.instance").is_some_and(|i| i.contains(self.instance.0.trim()))
        });
        mine.and_then(|c| header_param(c, "expires")?.parse().ok())
            .or_else(|| msg.seconds("Expires"))
    }

    fn wrong_password(&mut self, now: Instant) {
        self.challenge = None;
        let reason = format!("The server rejected the password for {}.", self.account.address);
        self.fail(now, reason);
    }

    /// Failed: say why, retry slowly (once a minute) unless the user edits.
    fn fail(&mut self, now: Instant, reason: String) {
        tracing::info!(account = %self.account.address, %reason, "registration failed");
        self.phase = Phase::Failed { retry_at: now + self.timing.failed_retry };
        self.set_state(RegistrationState::Failed { reason });
    }

    /// Transport trouble: jittered exponential backoff, 1 s doubling to the cap.
    fn back_off(&mut self, now: Instant) {
        let base_ms = 1000u64.saturating_mul(1u64 << self.failures.min(16));
        let base_ms = base_ms.min(u64::try_from(self.timing.backoff_cap.as_millis()).unwrap_or(60_000));
        // Up to a quarter earlier, so many clients do not return in lockstep.
        let jitter = self.entropy.next_u64() % (base_ms / 4 + 1);
        self.failures = self.failures.saturating_add(1);
        self.retry_in(now, Duration::from_millis(base_ms - jitter));
    }

    fn retry_in(&mut self, now: Instant, delay: Duration) {
        self.phase = Phase::Backoff { until: now + delay };
        let in_seconds = u32::try_from(delay.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
        self.set_state(RegistrationState::Retrying { in_seconds });
    }

    fn disconnect(&mut self) {
        self.alive_deadline = None;
        if self.connected {
            self.connected = false;
            self.keepalive_at = None;
            self.outputs.push_back(Output::Disconnect);
        }
    }

    fn finish(&mut self) {
        self.disconnect();
        self.phase = Phase::Done;
        self.set_state(RegistrationState::Unregistered);
        self.outputs.push_back(Output::Stopped);
    }

    fn set_state(&mut self, state: RegistrationState) {
        if self.last_state.as_ref() != Some(&state) {
            self.last_state = Some(state.clone());
            self.outputs.push_back(Output::State(state));
        }
    }
}

/// When to refresh a binding of `expires` seconds: at 85 % or 30 s before
/// expiry, whichever is sooner, but not sooner than a few seconds in (and
/// never after expiry for tiny intervals).
pub fn refresh_after(expires: u32) -> Duration {
    let e = u64::from(expires) * 1000;
    let at = (e * 85 / 100).min(e.saturating_sub(30_000));
    let floor = (e / 2).min(5_000);
    Duration::from_millis(at.max(floor))
}
