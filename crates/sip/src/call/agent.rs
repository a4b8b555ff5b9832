//! The call side of a user agent as one sans-IO machine: SIP messages,
//! engine commands and the current `Instant` go in; messages to send, call
//! events and the next deadline come out. It owns the client transactions
//! and the calls (dialog + invite state + session timer + transfer state)
//! and dispatches every received message by branch, Call-ID and tags.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::account::{Secret, ValidAccount};
use crate::call::content::{parse_dtmf, parse_refer_to, parse_session_expires, parse_sipfrag, percent_encode, valid_dtmf};
use crate::call::events::{failure_words, CallEvent, Party, Progress};
use crate::call::session::SessionTimer;
use crate::dialog::{Dialog, Replaces};
use crate::digest::{self, AnswerInput, Challenge, ChallengeKind};
use crate::error::SipError;
use crate::message::{display_name, uri_of, uri_user, write_message, write_response_with, SipMessage};
use crate::registration::entropy::{token, Entropy};
use crate::transaction::{ClientInput, ClientOutput, ClientTransaction, ServerInput, ServerOutput, ServerTransaction, TxKind, TxTiming};

/// More simultaneous calls than this are turned away (bounded state).
pub const MAX_CALLS: usize = 16;
const MAX_QUEUED_DTMF: usize = 64;
/// Our Min-SE (RFC 4028 §5): shorter session intervals get a 422.
pub const MIN_SESSION_EXPIRES: u32 = 90;
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE";
const SUPPORTED: &str = "timer, replaces, outbound";
const USER_AGENT: &str = concat!("Homeline/", env!("CARGO_PKG_VERSION"));

/// Who we are on this account's flow.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub domain: String,
    pub display_name: Option<String>,
    pub auth_user: String,
    pub secret: Secret,
    /// The RFC 7118 `<random>.invalid` host of our Contact and Via.
    pub contact_host: String,
    /// WSS (true) or WS: the Via transport.
    pub secure: bool,
}

impl Identity {
    pub fn new(account: &ValidAccount, secret: Secret, contact_host: String) -> Identity {
        Identity {
            user: account.address.user.clone(),
            domain: account.address.domain.clone(),
            display_name: account.account.display_name.clone().filter(|d| !d.trim().is_empty()),
            auth_user: account.auth_user().to_string(),
            secret,
            contact_host,
            secure: account.connect_to.secure,
        }
    }

    fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    fn name_addr(&self) -> String {
        match &self.display_name {
            Some(name) => format!("\"{}\" <{}>", name.replace(['"', '\\', '\r', '\n'], ""), self.aor()),
            None => format!("<{}>", self.aor()),
        }
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{};transport=ws;ob>", self.user, self.contact_host)
    }
}

/// What the engine asks of its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Call `target` (a number, `user@host` or a SIP URI) with this SDP offer.
    Dial { call_id: String, target: String, sdp: String, replaces: Option<String> },
    Answer { call_id: String, sdp: String },
    /// 486 Busy Here (`busy`) or 603 Decline.
    Reject { call_id: String, busy: bool },
    /// CANCEL, reject or BYE, whichever fits the call's state.
    Hangup { call_id: String },
    /// A new offer in the call (hold, resume, any change).
    Reinvite { call_id: String, sdp: String },
    /// The answer to the peer's re-INVITE; None refuses it (488).
    AnswerReinvite { call_id: String, sdp: Option<String> },
    SendDtmf { call_id: String, digit: char, duration_ms: u32 },
    BlindTransfer { call_id: String, target: String },
    /// Transfer the peer of `call_id` to the peer of `replacing`.
    AttendedTransfer { call_id: String, replacing: String },
    /// How the call a received REFER asked for went (NOTIFY sipfrag).
    TransferResult { call_id: String, code: u16, reason: String },
    SetDoNotDisturb(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// One SIP message for the account's WebSocket.
    Send(String),
    Event(CallEvent),
}

#[derive(Debug, Clone)]
pub struct CallTiming {
    pub tx: TxTiming,
    /// An incoming call nobody answers gets 480 after this long (before
    /// the caller's own Timer C).
    pub ring_timeout: Duration,
    /// The engine's answer to a re-INVITE must come sooner than the
    /// peer's 32 s; otherwise we refuse it (488) and keep the call.
    pub reinvite_answer_timeout: Duration,
}

impl Default for CallTiming {
    fn default() -> Self {
        CallTiming {
            tx: TxTiming::default(),
            ring_timeout: Duration::from_secs(120),
            reinvite_answer_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outgoing: INVITE sent, maybe ringing.
    Calling,
    /// Incoming: ringing here, waiting for the user.
    Ringing,
    /// Incoming: answered, waiting for the ACK.
    Answering,
    Confirmed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    No,
    /// Hung up before any provisional response: CANCEL when one comes.
    Wanted,
    Sent,
}

/// Why a client transaction was started, so its answer goes to the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Invite,
    Reinvite { from_engine: bool, sdp: String },
    Cancel,
    Bye,
    Info,
    Refer,
    Update,
    Notify,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTransaction,
    call_id: String,
    purpose: Purpose,
}

#[derive(Debug)]
struct IncomingReinvite {
    request: SipMessage,
    tx: ServerTransaction,
    /// The peer's session before this offer: it stays if we refuse.
    previous_sdp: Option<String>,
}

#[derive(Debug)]
struct Call {
    id: String,
    outgoing: bool,
    state: State,
    dialog: Option<Dialog>,
    /// Outgoing: our INVITE (for CANCEL and auth retries); incoming: theirs.
    invite: SipMessage,
    invite_branch: Option<String>,
    invite_server: Option<ServerTransaction>,
    /// The ACK we sent for the 2xx, repeated if the 2xx comes again.
    ack: Option<String>,
    reinvite_in: Option<IncomingReinvite>,
    reinvite_out: bool,
    /// An offer waiting for the pending re-INVITE (or the glare backoff).
    reinvite_wanted: Option<(String, bool)>,
    glare_retry_at: Option<Instant>,
    local_sdp: String,
    remote_sdp: Option<String>,
    cancel: Cancel,
    auth_tries: u32,
    session_retries: u32,
    /// The caller's Session-Expires: (interval, we refresh).
    session_expires: Option<(u32, bool)>,
    session: Option<SessionTimer>,
    peer_allows_update: bool,
    trying_seen: bool,
    last_early_sdp: Option<String>,
    dtmf_queue: VecDeque<(char, u32)>,
    info_in_flight: bool,
    /// A REFER we received: its NOTIFYs go out until the result.
    refer_in_active: bool,
    /// The engine must answer the ringing INVITE or the re-INVITE by then.
    answer_by: Option<Instant>,
}

impl Call {
    fn new(id: String, outgoing: bool, state: State, invite: SipMessage, local_sdp: String) -> Call {
        Call {
            id,
            outgoing,
            state,
            dialog: None,
            invite,
            invite_branch: None,
            invite_server: None,
            ack: None,
            reinvite_in: None,
            reinvite_out: false,
            reinvite_wanted: None,
            glare_retry_at: None,
            local_sdp,
            remote_sdp: None,
            cancel: Cancel::No,
            auth_tries: 0,
            session_retries: 0,
            session_expires: None,
            session: None,
            peer_allows_update: false,
            trying_seen: false,
            last_early_sdp: None,
            dtmf_queue: VecDeque::new(),
            info_in_flight: false,
            refer_in_active: false,
            answer_by: None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        [
            self.invite_server.as_ref().and_then(ServerTransaction::poll_timeout),
            self.reinvite_in.as_ref().and_then(|r| r.tx.poll_timeout()),
            self.session.as_ref().map(SessionTimer::deadline),
            self.glare_retry_at,
            self.answer_by,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

pub struct UserAgent {
    me: Identity,
    entropy: Box<dyn Entropy>,
    timing: CallTiming,
    accept_calls: bool,
    dnd: bool,
    calls: HashMap<String, Call>,
    /// Keyed by (branch, method): a CANCEL shares its INVITE's branch.
    client_txs: HashMap<(String, String), ClientEntry>,
    outputs: VecDeque<Output>,
}

impl std::fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgent")
            .field("user", &self.me.user)
            .field("calls", &self.calls.len())
            .field("transactions", &self.client_txs.len())
            .finish_non_exhaustive()
    }
}

impl UserAgent {
    /// `accept_calls: false` turns incoming calls away with 480 (a flow
    /// without anyone to ring, e.g. the registration-only handle).
    pub fn new(me: Identity, entropy: Box<dyn Entropy>, timing: CallTiming, accept_calls: bool) -> UserAgent {
        UserAgent {
            me,
            entropy,
            timing,
            accept_calls,
            dnd: false,
            calls: HashMap::new(),
            client_txs: HashMap::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The user edited the account (password, display name).
    pub fn set_identity(&mut self, me: Identity) {
        self.me = me;
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// A fresh Call-ID for `Command::Dial`.
    pub fn new_call_id(&mut self) -> String {
        format!("{}@{}", token(self.entropy.as_mut(), 20), self.me.contact_host)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let txs = self.client_txs.values().filter_map(|e| e.tx.poll_timeout());
        let calls = self.calls.values().filter_map(Call::deadline);
        txs.chain(calls).min()
    }

    /// Quit or account removed: end every call as the user would.
    pub fn hang_up_all(&mut self, now: Instant) {
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for id in ids {
            let _ = self.hangup(now, &id);
        }
    }

    // ---- inputs ---------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(String, String)> = self
            .client_txs
            .iter()
            .filter(|(_, e)| e.tx.poll_timeout().is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.drive_client(now, &key, None);
        }
        let due: Vec<String> =
            self.calls.values().filter(|c| c.deadline().is_some_and(|d| d <= now)).map(|c| c.id.clone()).collect();
        for id in due {
            self.call_timeout(now, &id);
        }
    }

    pub fn handle_message(&mut self, now: Instant, msg: &SipMessage) {
        if msg.status().is_some() {
            self.on_response(now, msg);
        } else {
            self.on_request(now, msg);
        }
    }

    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), SipError> {
        match command {
            Command::Dial { call_id, target, sdp, replaces } => self.dial(now, call_id, &target, sdp, replaces),
            Command::Answer { call_id, sdp } => self.answer(now, &call_id, sdp),
            Command::Reject { call_id, busy } => self.reject(now, &call_id, busy),
            Command::Hangup { call_id } => self.hangup(now, &call_id),
            Command::Reinvite { call_id, sdp } => self.reinvite(now, &call_id, sdp, true),
            Command::AnswerReinvite { call_id, sdp } => self.answer_reinvite(now, &call_id, sdp),
            Command::SendDtmf { call_id, digit, duration_ms } => self.send_dtmf(now, &call_id, digit, duration_ms),
            Command::BlindTransfer { call_id, target } => {
                let target = self.target_uri(&target)?;
                self.refer(now, &call_id, format!("<{target}>"))
            }
            Command::AttendedTransfer { call_id, replacing } => {
                let other = self.calls.get(&replacing).ok_or_else(|| SipError::NoSuchCall(replacing.clone()))?;
                let dialog = other.dialog.as_ref().filter(|_| other.state == State::Confirmed).ok_or(SipError::CallState("be transferred to"))?;
                let target = uri_of(&dialog.remote_uri).to_string();
                let replaces = percent_encode(&dialog.replaces_for_peer().to_header());
                self.refer(now, &call_id, format!("<{target}?Replaces={replaces}>"))
            }
            Command::TransferResult { call_id, code, reason } => self.transfer_result(now, &call_id, code, &reason),
            Command::SetDoNotDisturb(on) => {
                self.dnd = on;
                Ok(())
            }
        }
    }

    // ---- commands ---------------------------------------------------------

    fn dial(&mut self, now: Instant, call_id: String, target: &str, sdp: String, replaces: Option<String>) -> Result<(), SipError> {
        if self.calls.len() >= MAX_CALLS {
            return Err(SipError::TooManyCalls);
        }
        if self.calls.contains_key(&call_id) || call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(SipError::CallState("be placed with this id"));
        }
        let uri = self.target_uri(target)?;
        let replaces = replaces.filter(|r| Replaces::parse(r).is_some());
        let from_tag = token(self.entropy.as_mut(), 10);
        let mut headers: Vec<(&str, String)> = vec![
            ("From", format!("{};tag={from_tag}", self.me.name_addr())),
            ("To", format!("<{uri}>")),
            ("Call-ID", call_id.clone()),
            ("CSeq", "1 INVITE".into()),
            ("Contact", self.me.contact()),
            ("Allow", ALLOW.into()),
            ("Supported", SUPPORTED.into()),
        ];
        if let Some(r) = replaces {
            headers.push(("Replaces", r));
        }
        let text = self.build_request("INVITE", &uri, headers, Some(("application/sdp", &sdp)));
        let Some(invite) = self.start_client(now, &call_id, Purpose::Invite, text) else {
            return Err(SipError::BadTarget(target.to_string()));
        };
        let mut call = Call::new(call_id.clone(), true, State::Calling, invite, sdp);
        call.invite_branch = call.invite.top_branch().map(str::to_string);
        self.calls.insert(call_id, call);
        Ok(())
    }

    fn answer(&mut self, now: Instant, call_id: &str, sdp: String) -> Result<(), SipError> {
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        if call.state != State::Ringing {
            return Err(SipError::CallState("be answered"));
        }
        let tag = call.dialog.as_ref().map(|d| d.local_tag.clone()).unwrap_or_default();
        let mut extra = vec![("Contact", self.me.contact()), ("Allow", ALLOW.into()), ("Supported", SUPPORTED.into())];
        if let Some((secs, we_refresh)) = call.session_expires {
            let who = if we_refresh { "uas" } else { "uac" };
            extra.push(("Session-Expires", format!("{secs};refresher={who}")));
            extra.push(("Require", "timer".into()));
            call.session = Some(SessionTimer::start(now, secs, we_refresh));
        }
        let text = write_response_with(&call.invite, 200, "OK", &tag, &extra, Some(("application/sdp", &sdp)));
        call.local_sdp = sdp;
        call.state = State::Answering;
        call.answer_by = None;
        if let Some(tx) = call.invite_server.as_mut() {
            tx.handle_input(now, ServerInput::Respond { status: 200, text });
        }
        self.drain_server(now, call_id);
        Ok(())
    }

    fn reject(&mut self, now: Instant, call_id: &str, busy: bool) -> Result<(), SipError> {
        let call = self.calls.get(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        if call.state != State::Ringing {
            return Err(SipError::CallState("be rejected"));
        }
        let (code, phrase) = if busy { (486, "Busy Here") } else { (603, "Decline") };
        self.fail_incoming(now, call_id, code, phrase);
        self.end(call_id, failure_words(code, phrase), Some(code), Party::Local);
        Ok(())
    }

    fn hangup(&mut self, now: Instant, call_id: &str) -> Result<(), SipError> {
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        match call.state {
            State::Calling => {
                if call.cancel != Cancel::No {
                    return Ok(());
                }
                let rang = call
                    .invite_branch
                    .as_ref()
                    .and_then(|b| self.client_txs.get(&(b.clone(), "INVITE".to_string())))
                    .is_some_and(|e| e.tx.has_response());
                // RFC 3261 §9.1: no CANCEL before a provisional response.
                if rang {
                    self.send_cancel(now, call_id);
                } else if let Some(call) = self.calls.get_mut(call_id) {
                    call.cancel = Cancel::Wanted;
                }
                Ok(())
            }
            State::Ringing => self.reject(now, call_id, false),
            State::Answering | State::Confirmed => {
                self.send_bye(now, call_id);
                self.end(call_id, "hung up".into(), None, Party::Local);
                Ok(())
            }
        }
    }

    fn reinvite(&mut self, now: Instant, call_id: &str, sdp: String, from_engine: bool) -> Result<(), SipError> {
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        let may_reoffer = call.state == State::Confirmed || (call.state == State::Answering && !from_engine);
        if !may_reoffer {
            return Err(SipError::CallState("change its media"));
        }
        if call.reinvite_out || call.reinvite_in.is_some() || call.glare_retry_at.is_some() {
            // One offer at a time (RFC 3261 §14.1): send it when the pending one ends.
            call.reinvite_wanted = Some((sdp, from_engine));
            return Ok(());
        }
        call.reinvite_out = true;
        let mut extra = vec![("Contact", self.me.contact()), ("Allow", ALLOW.into()), ("Supported", SUPPORTED.into())];
        if let Some(t) = &call.session {
            let who = if t.we_refresh { "uac" } else { "uas" };
            extra.push(("Session-Expires", format!("{};refresher={who}", t.interval)));
        }
        let purpose = Purpose::Reinvite { from_engine, sdp: sdp.clone() };
        self.send_in_dialog(now, call_id, purpose, "INVITE", extra, Some(("application/sdp", &sdp)));
        Ok(())
    }

    fn answer_reinvite(&mut self, now: Instant, call_id: &str, sdp: Option<String>) -> Result<(), SipError> {
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        let Some(pending) = call.reinvite_in.as_mut().filter(|r| r.tx.is_pending()) else {
            return Err(SipError::CallState("answer a re-INVITE (none is waiting)"));
        };
        let tag = call.dialog.as_ref().map(|d| d.local_tag.clone()).unwrap_or_default();
        let text = match &sdp {
            Some(sdp) => {
                let mut extra = vec![("Contact", self.me.contact()), ("Allow", ALLOW.into()), ("Supported", SUPPORTED.into())];
                if let Some(t) = &call.session {
                    let who = if t.we_refresh { "uas" } else { "uac" };
                    extra.push(("Session-Expires", format!("{};refresher={who}", t.interval)));
                }
                write_response_with(&pending.request, 200, "OK", &tag, &extra, Some(("application/sdp", sdp)))
            }
            None => write_response_with(&pending.request, 488, "Not Acceptable Here", &tag, &[], None),
        };
        let status = if sdp.is_some() { 200 } else { 488 };
        pending.tx.handle_input(now, ServerInput::Respond { status, text });
        if status != 200 {
            call.remote_sdp = pending.previous_sdp.take();
        }
        call.answer_by = None;
        if let Some(sdp) = sdp {
            call.local_sdp = sdp;
        }
        self.drain_server(now, call_id);
        Ok(())
    }

    fn send_dtmf(&mut self, now: Instant, call_id: &str, digit: char, duration_ms: u32) -> Result<(), SipError> {
        if !valid_dtmf(digit) {
            return Err(SipError::BadDtmf(digit));
        }
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        if !matches!(call.state, State::Confirmed | State::Answering) {
            return Err(SipError::CallState("send DTMF"));
        }
        if call.dtmf_queue.len() >= MAX_QUEUED_DTMF {
            return Err(SipError::CallState("queue more DTMF"));
        }
        call.dtmf_queue.push_back((digit.to_ascii_uppercase(), duration_ms.clamp(40, 10_000)));
        self.next_dtmf(now, call_id);
        Ok(())
    }

    fn next_dtmf(&mut self, now: Instant, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.info_in_flight {
            return; // RFC 6086: one INFO at a time, in order
        }
        let Some((digit, duration)) = call.dtmf_queue.pop_front() else { return };
        call.info_in_flight = true;
        let body = format!("Signal={digit}\r\nDuration={duration}\r\n");
        self.send_in_dialog(now, call_id, Purpose::Info, "INFO", vec![], Some(("application/dtmf-relay", &body)));
    }

    fn refer(&mut self, now: Instant, call_id: &str, refer_to: String) -> Result<(), SipError> {
        let call = self.calls.get(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        if call.state != State::Confirmed {
            return Err(SipError::CallState("be transferred"));
        }
        let extra = vec![("Refer-To", refer_to), ("Referred-By", format!("<{}>", self.me.aor())), ("Contact", self.me.contact())];
        self.send_in_dialog(now, call_id, Purpose::Refer, "REFER", extra, None);
        Ok(())
    }

    fn transfer_result(&mut self, now: Instant, call_id: &str, code: u16, reason: &str) -> Result<(), SipError> {
        let call = self.calls.get_mut(call_id).ok_or_else(|| SipError::NoSuchCall(call_id.to_string()))?;
        if !call.refer_in_active {
            return Err(SipError::CallState("report a transfer (none was asked for)"));
        }
        let done = code >= 200;
        call.refer_in_active = !done;
        let code = code.clamp(100, 699);
        let reason: String = reason.chars().filter(|c| !c.is_control()).take(64).collect();
        self.send_refer_notify(now, call_id, code, &reason, done);
        Ok(())
    }

    // ---- requests we receive ---------------------------------------------

    fn on_request(&mut self, now: Instant, msg: &SipMessage) {
        let Some(method) = msg.method().map(str::to_string) else { return };
        let well_formed = ["Call-ID", "CSeq", "From", "To", "Via"].iter().all(|h| msg.has_single(h) || (*h == "Via" && msg.header("Via").is_some()))
            && msg.cseq().is_some_and(|(_, m)| m == method)
            && msg.tag("From").is_some();
        if !well_formed {
            if method != "ACK" && msg.header("Via").is_some() {
                self.respond_stateless(msg, 400, "Bad Request", &[]);
            }
            tracing::debug!(%method, "dropping a malformed request");
            return;
        }
        match method.as_str() {
            "ACK" => self.on_ack(now, msg),
            "CANCEL" => self.on_cancel(now, msg),
            _ if msg.tag("To").is_some() => self.on_in_dialog(now, msg, &method),
            "INVITE" => self.on_invite(now, msg),
            "OPTIONS" => {
                let extra = [("Allow", ALLOW.to_string()), ("Supported", SUPPORTED.to_string()), ("Accept", "application/sdp".to_string())];
                self.respond_stateless(msg, 200, "OK", &extra);
            }
            "BYE" | "INFO" | "NOTIFY" | "REFER" | "UPDATE" | "PRACK" => {
                self.respond_stateless(msg, 481, "Call/Transaction Does Not Exist", &[]);
            }
            _ => self.respond_stateless(msg, 405, "Method Not Allowed", &[("Allow", ALLOW.to_string())]),
        }
    }

    fn on_invite(&mut self, now: Instant, msg: &SipMessage) {
        let Some(call_id) = msg.header("Call-ID").map(str::to_string) else { return };
        if self.calls.contains_key(&call_id) {
            // Same Call-ID without a To tag: a retransmission or a merged fork.
            let same = self.calls.get(&call_id).is_some_and(|c| !c.outgoing && c.invite.top_branch() == msg.top_branch());
            if same {
                if let Some(tx) = self.calls.get_mut(&call_id).and_then(|c| c.invite_server.as_mut()) {
                    tx.handle_input(now, ServerInput::Retransmission);
                }
                self.drain_server(now, &call_id);
            } else {
                self.respond_stateless(msg, 482, "Loop Detected", &[]);
            }
            return;
        }
        if !self.accept_calls {
            return self.respond_stateless(msg, 480, "Temporarily Unavailable", &[]);
        }
        if self.calls.len() >= MAX_CALLS {
            return self.respond_stateless(msg, 486, "Busy Here", &[]);
        }
        let unsupported: Vec<&str> = msg
            .header_values("Require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|o| !o.is_empty() && !["timer", "replaces", "outbound"].iter().any(|s| s.eq_ignore_ascii_case(o)))
            .collect();
        if !unsupported.is_empty() {
            let list = unsupported.join(", ");
            return self.respond_stateless(msg, 420, "Bad Extension", &[("Unsupported", list)]);
        }
        if msg.sdp().is_none() && !msg.body.trim().is_empty() {
            return self.respond_stateless(msg, 415, "Unsupported Media Type", &[("Accept", "application/sdp".into())]);
        }
        // None: an offerless INVITE; our 200 carries the offer, the ACK the answer.
        let sdp = msg.sdp().map(str::to_string);
        let session_expires = match msg.header("Session-Expires").map(parse_session_expires) {
            Some(Some((secs, _))) if secs < MIN_SESSION_EXPIRES => {
                return self.respond_stateless(msg, 422, "Session Interval Too Small", &[("Min-SE", MIN_SESSION_EXPIRES.to_string())]);
            }
            // The caller may pick the refresher; when it does not, we refresh.
            Some(Some((secs, refresher))) => Some((secs.min(86_400), refresher.as_deref() != Some("uac"))),
            _ => None,
        };
        let replaces = match msg.header("Replaces") {
            Some(value) => {
                let found = Replaces::parse(value).and_then(|r| {
                    self.calls.values().find(|c| c.dialog.as_ref().is_some_and(|d| d.matches_replaces(&r))).map(|c| c.id.clone())
                });
                match found {
                    Some(id) => Some(id),
                    None => return self.respond_stateless(msg, 481, "Call/Transaction Does Not Exist", &[]),
                }
            }
            None => None,
        };
        let from = msg.header("From").unwrap_or_default();
        let from_uri = uri_of(from).to_string();
        let from_display = display_name(from);
        let from_number = uri_user(&from_uri).to_string();
        if self.dnd && replaces.is_none() {
            self.respond_stateless(msg, 486, "Busy Here", &[]);
            let reason = "do not disturb".to_string();
            self.outputs.push_back(Output::Event(CallEvent::MissedCall { call_id, from_display, from_number, reason }));
            return;
        }
        let tag = token(self.entropy.as_mut(), 10);
        let Some(dialog) = Dialog::as_callee(msg, &tag) else {
            return self.respond_stateless(msg, 400, "Bad Request", &[]);
        };
        let mut call = Call::new(call_id.clone(), false, State::Ringing, msg.clone(), String::new());
        call.dialog = Some(dialog);
        call.remote_sdp = sdp.clone();
        call.session_expires = session_expires;
        call.peer_allows_update = allows_update(msg);
        call.answer_by = Some(now + self.timing.ring_timeout);
        let mut tx = ServerTransaction::new(TxKind::Invite, self.timing.tx.clone());
        let trying = write_response_with(msg, 100, "Trying", "", &[], None);
        tx.handle_input(now, ServerInput::Respond { status: 100, text: trying });
        let ringing = write_response_with(msg, 180, "Ringing", &tag, &[("Contact", self.me.contact())], None);
        tx.handle_input(now, ServerInput::Respond { status: 180, text: ringing });
        call.invite_server = Some(tx);
        self.calls.insert(call_id.clone(), call);
        self.drain_server(now, &call_id);
        self.outputs.push_back(Output::Event(CallEvent::IncomingCall {
            call_id,
            from_display,
            from_number,
            from_uri,
            sdp_offer: sdp,
            replaces,
        }));
    }

    fn on_ack(&mut self, now: Instant, msg: &SipMessage) {
        let Some(call_id) = msg.header("Call-ID").map(str::to_string) else { return };
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let cseq = msg.cseq().map(|(n, _)| n);
        let answer = msg.sdp().map(str::to_string);
        if let Some(r) = call.reinvite_in.as_mut().filter(|r| r.request.cseq().map(|(n, _)| n) == cseq) {
            r.tx.handle_input(now, ServerInput::Ack);
            // An offerless re-INVITE: the ACK answers the offer our 200 made.
            if let Some(sdp) = answer.filter(|_| r.request.sdp().is_none()) {
                call.remote_sdp = Some(sdp.clone());
                self.outputs.push_back(Output::Event(CallEvent::ReInviteAnswered { call_id: call_id.clone(), sdp }));
            }
        } else if let Some(tx) = call.invite_server.as_mut().filter(|_| call.invite.cseq().map(|(n, _)| n) == cseq) {
            if call.remote_sdp.is_none() {
                // An offerless INVITE: the ACK must carry the answer, else there is no media.
                let Some(sdp) = answer else {
                    tx.handle_input(now, ServerInput::Ack);
                    self.drain_server(now, &call_id);
                    self.send_bye(now, &call_id);
                    return self.end(&call_id, "failed (the caller sent no media description)".into(), Some(488), Party::Remote);
                };
                call.remote_sdp = Some(sdp.clone());
                self.outputs.push_back(Output::Event(CallEvent::CallAnswered { call_id: call_id.clone(), sdp }));
            }
            tx.handle_input(now, ServerInput::Ack);
        }
        self.drain_server(now, &call_id);
    }

    fn on_cancel(&mut self, now: Instant, msg: &SipMessage) {
        let call_id = msg.header("Call-ID").unwrap_or_default().to_string();
        let ringing = self
            .calls
            .get(&call_id)
            .is_some_and(|c| !c.outgoing && c.state == State::Ringing && c.invite.top_branch() == msg.top_branch());
        if !ringing {
            return self.respond_stateless(msg, 481, "Call/Transaction Does Not Exist", &[]);
        }
        self.respond_stateless(msg, 200, "OK", &[]);
        self.fail_incoming(now, &call_id, 487, "Request Terminated");
        self.end(&call_id, "cancelled".into(), Some(487), Party::Remote);
    }

    fn on_in_dialog(&mut self, now: Instant, msg: &SipMessage, method: &str) {
        let call_id = msg.header("Call-ID").unwrap_or_default().to_string();
        let matched = self
            .calls
            .get(&call_id)
            .and_then(|c| c.dialog.as_ref())
            .is_some_and(|d| d.matches_request(msg));
        if !matched {
            return self.respond_stateless(msg, 481, "Call/Transaction Does Not Exist", &[]);
        }
        let cseq = msg.cseq().map(|(n, _)| n).unwrap_or(0);
        let in_order = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.dialog.as_mut())
            .is_some_and(|d| d.accept_remote_cseq(cseq));
        if !in_order {
            return self.respond_in_dialog(msg, &call_id, 500, "Server Internal Error", &[], None);
        }
        match method {
            "BYE" => {
                self.respond_in_dialog(msg, &call_id, 200, "OK", &[], None);
                // Anything pending on our side of the dialog ends with it.
                if let Some(r) = self.calls.get_mut(&call_id).and_then(|c| c.reinvite_in.take()) {
                    if r.tx.is_pending() {
                        self.respond_in_dialog(&r.request, &call_id, 487, "Request Terminated", &[], None);
                    }
                }
                self.end(&call_id, "hung up".into(), None, Party::Remote);
            }
            "INVITE" => self.on_reinvite(now, msg, &call_id),
            "UPDATE" => {
                if msg.sdp().is_some() {
                    // Media changes come by re-INVITE from the PBXs we meet.
                    return self.respond_in_dialog(msg, &call_id, 488, "Not Acceptable Here", &[], None);
                }
                if let Some(d) = self.calls.get_mut(&call_id).and_then(|c| c.dialog.as_mut()) {
                    d.refresh_target(msg);
                }
                let extra = self.take_session_refresh(now, msg, &call_id);
                self.respond_in_dialog(msg, &call_id, 200, "OK", &extra, None);
            }
            "INFO" => {
                let content_type = msg.content_type().unwrap_or_default();
                if msg.body.trim().is_empty() {
                    return self.respond_in_dialog(msg, &call_id, 200, "OK", &[], None);
                }
                match parse_dtmf(&content_type, &msg.body) {
                    Some((digit, duration_ms)) => {
                        self.respond_in_dialog(msg, &call_id, 200, "OK", &[], None);
                        self.outputs.push_back(Output::Event(CallEvent::DtmfReceived { call_id, digit, duration_ms }));
                    }
                    None => self.respond_in_dialog(
                        msg,
                        &call_id,
                        415,
                        "Unsupported Media Type",
                        &[("Accept", "application/dtmf-relay, application/dtmf".into())],
                        None,
                    ),
                }
            }
            "OPTIONS" => {
                let extra = [("Allow", ALLOW.to_string()), ("Supported", SUPPORTED.to_string())];
                self.respond_in_dialog(msg, &call_id, 200, "OK", &extra, None);
            }
            "REFER" => self.on_refer(now, msg, &call_id),
            "NOTIFY" => self.on_notify(msg, &call_id),
            _ => self.respond_in_dialog(msg, &call_id, 405, "Method Not Allowed", &[("Allow", ALLOW.to_string())], None),
        }
    }

    fn on_reinvite(&mut self, now: Instant, msg: &SipMessage, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.reinvite_out {
            // Glare (RFC 3261 §14.2): both sides offered at once.
            return self.respond_in_dialog(msg, call_id, 491, "Request Pending", &[], None);
        }
        if call.reinvite_in.is_some() || call.state != State::Confirmed {
            let wait = (self.entropy.next_u64() % 10).to_string();
            return self.respond_in_dialog(msg, call_id, 500, "Server Internal Error", &[("Retry-After", wait)], None);
        }
        if let Some(d) = call.dialog.as_mut() {
            d.refresh_target(msg);
        }
        call.peer_allows_update = allows_update(msg) || call.peer_allows_update;
        let offer = msg.sdp().map(str::to_string);
        let tx = ServerTransaction::new(TxKind::Invite, self.timing.tx.clone());
        call.reinvite_in = Some(IncomingReinvite { request: msg.clone(), tx, previous_sdp: call.remote_sdp.clone() });
        let extra = self.take_session_refresh(now, msg, call_id);
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let unchanged = match (&offer, &call.remote_sdp) {
            (None, _) => true,
            (Some(new), Some(old)) => origin(new).is_some() && origin(new) == origin(old),
            (Some(_), None) => false,
        };
        if unchanged {
            // A session refresh (or an offerless re-INVITE): our current
            // session answers it without bothering the engine.
            let tag = call.dialog.as_ref().map(|d| d.local_tag.clone()).unwrap_or_default();
            let mut extra = extra;
            extra.push(("Contact", self.me.contact()));
            let sdp = call.local_sdp.clone();
            if let Some(r) = call.reinvite_in.as_mut() {
                let text = write_response_with(msg, 200, "OK", &tag, &extra, Some(("application/sdp", &sdp)));
                r.tx.handle_input(now, ServerInput::Respond { status: 200, text });
            }
            self.drain_server(now, call_id);
            return;
        }
        let sdp = offer.unwrap_or_default();
        call.remote_sdp = Some(sdp.clone());
        call.answer_by = Some(now + self.timing.reinvite_answer_timeout);
        self.outputs.push_back(Output::Event(CallEvent::ReInvite { call_id: call_id.to_string(), sdp }));
    }

    fn on_refer(&mut self, now: Instant, msg: &SipMessage, call_id: &str) {
        let parsed = if msg.header_values("Refer-To").count() == 1 { msg.header("Refer-To").and_then(parse_refer_to) } else { None };
        let Some((target, replaces)) = parsed else {
            return self.respond_in_dialog(msg, call_id, 400, "Bad Request", &[], None);
        };
        self.respond_in_dialog(msg, call_id, 202, "Accepted", &[("Contact", self.me.contact())], None);
        if let Some(call) = self.calls.get_mut(call_id) {
            call.refer_in_active = true;
        }
        // RFC 3515: the first NOTIFY says the subscription exists.
        self.send_refer_notify(now, call_id, 100, "Trying", false);
        self.outputs.push_back(Output::Event(CallEvent::TransferRequested { call_id: call_id.to_string(), target, replaces }));
    }

    fn on_notify(&mut self, msg: &SipMessage, call_id: &str) {
        let event = msg.header("Event").unwrap_or_default();
        if !event.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("refer") {
            return self.respond_in_dialog(msg, call_id, 489, "Bad Event", &[], None);
        }
        self.respond_in_dialog(msg, call_id, 200, "OK", &[], None);
        let terminated = msg.header("Subscription-State").is_some_and(|s| s.trim_start().to_ascii_lowercase().starts_with("terminated"));
        if let Some((code, reason)) = parse_sipfrag(&msg.body) {
            let done = terminated || code >= 200;
            self.outputs.push_back(Output::Event(CallEvent::TransferProgress { call_id: call_id.to_string(), code, reason, done }));
        }
    }

    // ---- responses we receive --------------------------------------------

    fn on_response(&mut self, now: Instant, msg: &SipMessage) {
        let key = match (msg.top_branch(), msg.cseq()) {
            (Some(branch), Some((_, method))) => (branch.to_string(), method.to_string()),
            _ => return tracing::debug!("dropping a response without branch or CSeq"),
        };
        if !self.client_txs.contains_key(&key) {
            return tracing::debug!(status = msg.status(), "dropping a response that answers no request of ours");
        }
        self.drive_client(now, &key, Some(msg));
    }

    /// Feeds a client transaction a response (or its timeout) and acts on what it says.
    fn drive_client(&mut self, now: Instant, key: &(String, String), msg: Option<&SipMessage>) {
        let Some(entry) = self.client_txs.get_mut(key) else { return };
        match msg {
            Some(m) => entry.tx.handle_input(now, ClientInput::Response(m)),
            None => entry.tx.handle_input(now, ClientInput::Timeout),
        }
        let mut outs = Vec::new();
        while let Some(o) = entry.tx.poll_output() {
            outs.push(o);
        }
        let call_id = entry.call_id.clone();
        let purpose = entry.purpose.clone();
        if entry.tx.is_terminated() {
            self.client_txs.remove(key);
        }
        for out in outs {
            match (out, msg) {
                (ClientOutput::Send(text), _) => self.outputs.push_back(Output::Send(text)),
                (ClientOutput::Provisional(status) | ClientOutput::Final(status), Some(m)) => {
                    self.on_answer(now, &call_id, &purpose, status, m);
                }
                (ClientOutput::TimedOut { ringing }, _) => self.on_no_answer(now, &call_id, &purpose, ringing),
                _ => {}
            }
        }
    }

    fn on_answer(&mut self, now: Instant, call_id: &str, purpose: &Purpose, status: u16, msg: &SipMessage) {
        if !self.calls.contains_key(call_id) {
            if *purpose == Purpose::Invite && (200..300).contains(&status) {
                self.ack_and_bye_stray(now, msg);
            }
            return;
        }
        match purpose {
            Purpose::Invite => self.on_invite_answer(now, call_id, status, msg),
            Purpose::Reinvite { from_engine, sdp } => self.on_reinvite_answer(now, call_id, status, msg, *from_engine, sdp),
            Purpose::Info => {
                if status >= 200 {
                    if let Some(call) = self.calls.get_mut(call_id) {
                        call.info_in_flight = false;
                    }
                    if matches!(status, 408 | 481) {
                        return self.lost(now, call_id, status);
                    }
                    self.next_dtmf(now, call_id);
                }
            }
            Purpose::Refer => {
                if (200..300).contains(&status) {
                    let reason = "accepted".to_string();
                    self.outputs.push_back(Output::Event(CallEvent::TransferProgress { call_id: call_id.to_string(), code: status, reason, done: false }));
                } else if status >= 300 {
                    let reason = failure_words(status, msg.reason());
                    self.outputs.push_back(Output::Event(CallEvent::TransferProgress { call_id: call_id.to_string(), code: status, reason, done: true }));
                }
            }
            Purpose::Update => {
                if (200..300).contains(&status) {
                    self.arm_session_from_response(now, call_id, msg);
                } else if matches!(status, 408 | 481) {
                    self.lost(now, call_id, status);
                }
            }
            Purpose::Cancel | Purpose::Bye | Purpose::Notify => {}
        }
    }

    fn on_invite_answer(&mut self, now: Instant, call_id: &str, status: u16, msg: &SipMessage) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let cancelled = call.cancel != Cancel::No;
        match status {
            100 => {
                if !call.trying_seen {
                    call.trying_seen = true;
                    self.event(CallEvent::CallProgress { call_id: call_id.to_string(), progress: Progress::Trying });
                }
            }
            101..=199 => {
                if msg.tag("To").is_some() && call.state == State::Calling {
                    call.dialog = Dialog::as_caller(&call.invite, msg).or(call.dialog.take());
                }
                let progress = match msg.sdp() {
                    Some(sdp) if call.last_early_sdp.as_deref() != Some(sdp) => {
                        call.last_early_sdp = Some(sdp.to_string());
                        Some(Progress::EarlyMedia { sdp: sdp.to_string() })
                    }
                    Some(_) => None,
                    None if status == 180 => Some(Progress::Ringing),
                    None => None,
                };
                let wanted = call.cancel == Cancel::Wanted;
                if let Some(progress) = progress.filter(|_| !cancelled) {
                    self.event(CallEvent::CallProgress { call_id: call_id.to_string(), progress });
                }
                if wanted {
                    self.send_cancel(now, call_id);
                }
            }
            200..=299 => {
                if call.state == State::Confirmed {
                    // The same 2xx again, or another fork's: acknowledge; a second dialog is hung up.
                    let same = call.dialog.as_ref().is_some_and(|d| msg.tag("To") == Some(d.remote_tag.as_str()));
                    match (same, call.ack.clone()) {
                        (true, Some(ack)) => self.outputs.push_back(Output::Send(ack)),
                        _ => self.ack_and_bye_stray(now, msg),
                    }
                    return;
                }
                let Some(dialog) = Dialog::as_caller(&call.invite, msg) else {
                    tracing::info!("a 2xx to our INVITE could not form a dialog");
                    self.ack_and_bye_stray(now, msg);
                    return self.end(call_id, failure_words(502, "Bad Answer"), Some(status), Party::Network);
                };
                call.dialog = Some(dialog);
                call.state = State::Confirmed;
                call.peer_allows_update = allows_update(msg);
                self.send_ack(call_id, msg);
                if cancelled {
                    // The answer crossed our CANCEL: the user hung up, so end it.
                    self.send_bye(now, call_id);
                    return self.end(call_id, "cancelled".into(), Some(487), Party::Local);
                }
                let Some(sdp) = msg.sdp().map(str::to_string) else {
                    self.send_bye(now, call_id);
                    return self.end(call_id, "failed (the answer carried no media description)".into(), Some(status), Party::Remote);
                };
                if let Some(call) = self.calls.get_mut(call_id) {
                    call.remote_sdp = Some(sdp.clone());
                }
                self.arm_session_from_response(now, call_id, msg);
                self.event(CallEvent::CallAnswered { call_id: call_id.to_string(), sdp });
                self.event(CallEvent::CallConfirmed { call_id: call_id.to_string() });
            }
            401 | 407 if !cancelled => self.retry_with_credentials(now, call_id, status, msg),
            422 if !cancelled => self.retry_with_session_expires(now, call_id, msg),
            _ => {
                let (reason, by) = if cancelled {
                    ("cancelled".to_string(), Party::Local)
                } else {
                    let by = if matches!(status, 408 | 500..=599) { Party::Network } else { Party::Remote };
                    (failure_words(status, msg.reason()), by)
                };
                self.end(call_id, reason, Some(status), by);
            }
        }
    }

    fn on_reinvite_answer(&mut self, now: Instant, call_id: &str, status: u16, msg: &SipMessage, from_engine: bool, sdp: &str) {
        if status < 200 {
            return;
        }
        let Some(call) = self.calls.get_mut(call_id) else { return };
        call.reinvite_out = false;
        match status {
            200..=299 => {
                if let Some(d) = call.dialog.as_mut() {
                    d.refresh_target(msg);
                }
                call.local_sdp = sdp.to_string();
                let answer = msg.sdp().map(str::to_string);
                if let Some(a) = &answer {
                    call.remote_sdp = Some(a.clone());
                }
                self.send_ack(call_id, msg);
                self.arm_session_from_response(now, call_id, msg);
                if from_engine {
                    let sdp = answer.unwrap_or_default();
                    self.event(CallEvent::ReInviteAnswered { call_id: call_id.to_string(), sdp });
                }
            }
            491 => {
                // Glare: retry after a random pause; the Call-ID's owner waits longer (§14.1).
                let ms = if call.outgoing { 2100 + self.entropy.next_u64() % 1900 } else { self.entropy.next_u64() % 2000 };
                call.glare_retry_at = Some(now + Duration::from_millis(ms));
                if call.reinvite_wanted.is_none() {
                    call.reinvite_wanted = Some((sdp.to_string(), from_engine));
                }
                return;
            }
            408 | 481 => return self.lost(now, call_id, status),
            _ => {
                if from_engine {
                    let reason = failure_words(status, msg.reason());
                    self.event(CallEvent::ReInviteFailed { call_id: call_id.to_string(), code: status, reason });
                }
            }
        }
        self.send_wanted_reinvite(now, call_id);
    }

    fn on_no_answer(&mut self, now: Instant, call_id: &str, purpose: &Purpose, ringing: bool) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        match purpose {
            Purpose::Invite => {
                let cancelled = call.cancel != Cancel::No;
                if ringing && !cancelled {
                    self.send_cancel(now, call_id);
                }
                let reason = if cancelled { "cancelled" } else { "no answer" };
                let by = if cancelled { Party::Local } else { Party::Network };
                self.end(call_id, reason.into(), Some(if cancelled { 487 } else { 408 }), by);
            }
            Purpose::Reinvite { from_engine, .. } => {
                call.reinvite_out = false;
                if *from_engine {
                    let event = CallEvent::ReInviteFailed { call_id: call_id.to_string(), code: 408, reason: "no answer".into() };
                    self.event(event);
                }
                self.lost(now, call_id, 408);
            }
            Purpose::Info => {
                call.info_in_flight = false;
                self.lost(now, call_id, 408);
            }
            Purpose::Refer => {
                let event = CallEvent::TransferProgress { call_id: call_id.to_string(), code: 408, reason: "no answer".into(), done: true };
                self.event(event);
            }
            Purpose::Update => self.lost(now, call_id, 408),
            Purpose::Cancel | Purpose::Bye | Purpose::Notify => {}
        }
    }

    // ---- timers -----------------------------------------------------------

    fn call_timeout(&mut self, now: Instant, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if let Some(tx) = call.invite_server.as_mut() {
            tx.handle_input(now, ServerInput::Timeout);
        }
        if let Some(r) = call.reinvite_in.as_mut() {
            r.tx.handle_input(now, ServerInput::Timeout);
        }
        self.drain_server(now, call_id);
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.answer_by.is_some_and(|t| t <= now) {
            call.answer_by = None;
            if call.state == State::Ringing {
                // Nobody took the call: the caller hears "unavailable", the user sees it missed.
                self.fail_incoming(now, call_id, 480, "Temporarily Unavailable");
                return self.end(call_id, "no answer".into(), Some(480), Party::Network);
            }
            // The engine never answered the re-INVITE: refuse it, keep the call.
            let _ = self.answer_reinvite(now, call_id, None);
        }
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.glare_retry_at.is_some_and(|t| t <= now) {
            call.glare_retry_at = None;
            self.send_wanted_reinvite(now, call_id);
        }
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let Some(timer) = call.session.as_mut().filter(|t| t.deadline() <= now) else { return };
        if timer.we_refresh {
            timer.refreshed(now);
            let allows_update = call.peer_allows_update;
            let extra = vec![("Session-Expires", format!("{};refresher=uac", timer.interval)), ("Contact", self.me.contact())];
            if allows_update {
                self.send_in_dialog(now, call_id, Purpose::Update, "UPDATE", extra, None);
            } else {
                let sdp = call.local_sdp.clone();
                let _ = self.reinvite(now, call_id, sdp, false);
            }
        } else {
            // RFC 4028 §10: the refresh did not come, the session is gone.
            self.send_bye(now, call_id);
            self.end(call_id, "session expired".into(), Some(408), Party::Network);
        }
    }

    // ---- actions ----------------------------------------------------------

    fn event(&mut self, event: CallEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Removes the call and tells the engine.
    fn end(&mut self, call_id: &str, reason: String, code: Option<u16>, by: Party) {
        if self.calls.remove(call_id).is_some() {
            tracing::info!(call_id, %reason, ?code, ?by, "call ended");
            self.event(CallEvent::CallEnded { call_id: call_id.to_string(), reason, code, by });
        }
    }

    /// The dialog is gone on the other side (408/481 to an in-dialog request).
    fn lost(&mut self, now: Instant, call_id: &str, status: u16) {
        if status == 408 {
            self.send_bye(now, call_id);
        }
        self.end(call_id, "the connection to the other party was lost".into(), Some(status), Party::Network);
    }

    fn fail_incoming(&mut self, now: Instant, call_id: &str, code: u16, phrase: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let tag = call.dialog.as_ref().map(|d| d.local_tag.clone()).unwrap_or_default();
        let text = write_response_with(&call.invite, code, phrase, &tag, &[], None);
        match call.invite_server.as_mut() {
            Some(tx) => tx.handle_input(now, ServerInput::Respond { status: code, text }),
            None => self.outputs.push_back(Output::Send(text)),
        }
        self.drain_server(now, call_id);
    }

    fn send_wanted_reinvite(&mut self, now: Instant, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.glare_retry_at.is_some() {
            return;
        }
        if let Some((sdp, from_engine)) = call.reinvite_wanted.take() {
            let _ = self.reinvite(now, call_id, sdp, from_engine);
        }
    }

    fn send_cancel(&mut self, now: Instant, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        call.cancel = Cancel::Sent;
        let invite = &call.invite;
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some(via) = invite.header("Via") {
            headers.push(("Via", via.to_string()));
        }
        headers.push(("Max-Forwards", "70".into()));
        for route in invite.header_values("Route") {
            headers.push(("Route", route.to_string()));
        }
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = invite.header(name) {
                headers.push((name, v.to_string()));
            }
        }
        headers.push(("CSeq", format!("{} CANCEL", invite.cseq().map(|(n, _)| n).unwrap_or(1))));
        let uri = invite.request_uri().unwrap_or("sip:invalid").to_string();
        let text = write_message(&format!("CANCEL {uri} SIP/2.0"), &headers, None);
        self.start_client(now, call_id, Purpose::Cancel, text);
    }

    fn send_bye(&mut self, now: Instant, call_id: &str) {
        self.send_in_dialog(now, call_id, Purpose::Bye, "BYE", vec![], None);
    }

    /// The end-to-end ACK for a 2xx (RFC 3261 §13.2.2.4): a new branch, the
    /// INVITE's CSeq number, sent along the route set.
    fn send_ack(&mut self, call_id: &str, response: &SipMessage) {
        let branch = self.new_branch();
        let via = self.via(&branch);
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let Some(dialog) = call.dialog.as_ref() else { return };
        let cseq = response.cseq().map(|(n, _)| n).unwrap_or(1);
        let (uri, mut dialog_headers) = dialog.request_headers("ACK", cseq);
        let mut headers: Vec<(&str, String)> = vec![("Via", via), ("Max-Forwards", "70".into())];
        headers.append(&mut dialog_headers);
        let text = write_message(&format!("ACK {uri} SIP/2.0"), &headers, None);
        call.ack = Some(text.clone());
        self.outputs.push_back(Output::Send(text));
    }

    /// A 2xx for a dialog we do not want (a second fork, or after the call
    /// ended): acknowledge it and hang it up at once.
    fn ack_and_bye_stray(&mut self, _now: Instant, response: &SipMessage) {
        let Some(call_id) = response.header("Call-ID") else { return };
        let (Some(to), Some(from)) = (response.header("To"), response.header("From")) else { return };
        let mut routes: Vec<String> = response.header_values("Record-Route").flat_map(crate::message::split_list).map(str::to_string).collect();
        routes.reverse();
        routes.truncate(crate::dialog::MAX_ROUTES);
        let target = response.contacts().first().map(|c| uri_of(c).to_string());
        let Some(target) = target.filter(|t| t.starts_with("sip") && !t.contains(char::is_whitespace)) else { return };
        let cseq = response.cseq().map(|(n, _)| n).unwrap_or(1);
        for (method, number) in [("ACK", cseq), ("BYE", cseq.wrapping_add(1))] {
            let branch = self.new_branch();
            let mut headers: Vec<(&str, String)> = vec![("Via", self.via(&branch)), ("Max-Forwards", "70".into())];
            headers.extend(routes.iter().map(|r| ("Route", r.clone())));
            headers.push(("From", from.to_string()));
            headers.push(("To", to.to_string()));
            headers.push(("Call-ID", call_id.to_string()));
            headers.push(("CSeq", format!("{number} {method}")));
            self.outputs.push_back(Output::Send(write_message(&format!("{method} {target} SIP/2.0"), &headers, None)));
        }
    }

    fn retry_with_credentials(&mut self, now: Instant, call_id: &str, status: u16, msg: &SipMessage) {
        let (header, kind) = if status == 407 { ("Proxy-Authenticate", ChallengeKind::Proxy) } else { ("WWW-Authenticate", ChallengeKind::Www) };
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let challenge = Challenge::pick(msg.header_values(header));
        // A second challenge for a fresh nonce means the password is wrong;
        // a stale one is answered again (bounded).
        let stale = challenge.as_ref().is_some_and(|c| c.stale);
        let allowed = call.auth_tries == 0 || (stale && call.auth_tries < 3);
        let Some(challenge) = challenge.filter(|_| allowed) else {
            let reason = if call.auth_tries > 0 { "failed (the server rejected the password)" } else { "failed (unsupported authentication)" };
            return self.end(call_id, reason.into(), Some(status), Party::Network);
        };
        call.auth_tries += 1;
        let uri = call.invite.request_uri().unwrap_or_default().to_string();
        let cnonce = token(self.entropy.as_mut(), 16);
        let input = AnswerInput {
            username: &self.me.auth_user,
            password: self.me.secret.expose(),
            method: "INVITE",
            uri: &uri,
            cnonce: &cnonce,
            nc: 1,
        };
        let creds = digest::answer(&challenge, kind, &input);
        let mut drop_auth = vec!["Authorization", "Proxy-Authorization"];
        drop_auth.push(creds.kind.answer_header());
        self.resend_invite(now, call_id, &drop_auth, vec![(creds.kind.answer_header(), creds.value)]);
    }

    fn retry_with_session_expires(&mut self, now: Instant, call_id: &str, msg: &SipMessage) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let min_se = msg.seconds("Min-SE").filter(|s| (1..=86_400).contains(s));
        let Some(min_se) = min_se.filter(|_| call.session_retries < 2) else {
            return self.end(call_id, failure_words(422, msg.reason()), Some(422), Party::Network);
        };
        call.session_retries += 1;
        let extra = vec![("Session-Expires", min_se.to_string()), ("Min-SE", min_se.to_string())];
        self.resend_invite(now, call_id, &["Session-Expires", "Min-SE"], extra);
    }

    /// Sends the call's INVITE again with a new branch and CSeq, with the
    /// `remove` headers replaced by `add` (credentials, session interval).
    fn resend_invite(&mut self, now: Instant, call_id: &str, remove: &[&str], add: Vec<(&'static str, String)>) {
        let branch = self.new_branch();
        let via = self.via(&branch);
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let cseq = call.invite.cseq().map(|(n, _)| n).unwrap_or(1).wrapping_add(1);
        let mut headers: Vec<(&str, String)> = vec![("Via", via)];
        for (name, value) in &call.invite.headers {
            let skip = ["Via", "CSeq", "Content-Length", "Content-Type"].iter().chain(remove).any(|h| h.eq_ignore_ascii_case(name));
            if !skip {
                headers.push((name.as_str(), value.clone()));
            }
        }
        headers.push(("CSeq", format!("{cseq} INVITE")));
        headers.extend(add);
        let uri = call.invite.request_uri().unwrap_or_default().to_string();
        let sdp = call.local_sdp.clone();
        let text = write_message(&format!("INVITE {uri} SIP/2.0"), &headers, Some(("application/sdp", &sdp)));
        let Some(invite) = self.start_client(now, call_id, Purpose::Invite, text) else { return };
        if let Some(call) = self.calls.get_mut(call_id) {
            call.invite = invite;
            call.invite_branch = Some(branch);
            call.trying_seen = false;
        }
    }

    fn send_refer_notify(&mut self, now: Instant, call_id: &str, code: u16, reason: &str, done: bool) {
        let state = if done { "terminated;reason=noresource".to_string() } else { "active;expires=60".to_string() };
        let extra = vec![("Event", "refer".to_string()), ("Subscription-State", state), ("Contact", self.me.contact())];
        let body = format!("SIP/2.0 {code} {reason}\r\n");
        self.send_in_dialog(now, call_id, Purpose::Notify, "NOTIFY", extra, Some(("message/sipfrag;version=2.0", &body)));
    }

    /// Builds and sends a request inside the call's dialog.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        call_id: &str,
        purpose: Purpose,
        method: &str,
        extra: Vec<(&'static str, String)>,
        body: Option<(&str, &str)>,
    ) {
        let Some(dialog) = self.calls.get_mut(call_id).and_then(|c| c.dialog.as_mut()) else { return };
        let cseq = dialog.next_cseq();
        let (uri, mut headers) = dialog.request_headers(method, cseq);
        headers.extend(extra);
        let text = self.build_request(method, &uri, headers, body);
        self.start_client(now, call_id, purpose, text);
    }

    /// A request with Via, Max-Forwards and User-Agent added.
    fn build_request(&mut self, method: &str, uri: &str, headers: Vec<(&str, String)>, body: Option<(&str, &str)>) -> String {
        let branch = self.new_branch();
        let mut all: Vec<(&str, String)> = vec![("Via", self.via(&branch)), ("Max-Forwards", "70".into())];
        all.extend(headers);
        all.push(("User-Agent", USER_AGENT.into()));
        write_message(&format!("{method} {uri} SIP/2.0"), &all, body)
    }

    /// Sends `text` under a new client transaction; returns it as read back
    /// (None when it could not be, e.g. a target that breaks the start line).
    fn start_client(&mut self, now: Instant, call_id: &str, purpose: Purpose, text: String) -> Option<SipMessage> {
        let request = SipMessage::parse(&text).ok()?;
        let branch = request.top_branch()?.to_string();
        let method = request.method()?.to_string();
        tracing::debug!(call_id, %method, "sending a request");
        let tx = ClientTransaction::new(now, request.clone(), self.timing.tx.clone());
        self.client_txs.insert((branch, method), ClientEntry { tx, call_id: call_id.to_string(), purpose });
        self.outputs.push_back(Output::Send(text));
        Some(request)
    }

    fn drain_server(&mut self, now: Instant, call_id: &str) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let mut outs = Vec::new();
        if let Some(tx) = call.invite_server.as_mut() {
            while let Some(o) = tx.poll_output() {
                outs.push((false, o));
            }
            if tx.is_terminated() {
                call.invite_server = None;
            }
        }
        if let Some(r) = call.reinvite_in.as_mut() {
            while let Some(o) = r.tx.poll_output() {
                outs.push((true, o));
            }
            if r.tx.is_terminated() {
                call.reinvite_in = None;
            }
        }
        for (reinvite, out) in outs {
            match out {
                ServerOutput::Send(text) => self.outputs.push_back(Output::Send(text)),
                ServerOutput::Acknowledged if !reinvite => {
                    if let Some(call) = self.calls.get_mut(call_id) {
                        call.state = State::Confirmed;
                    }
                    self.event(CallEvent::CallConfirmed { call_id: call_id.to_string() });
                }
                ServerOutput::Acknowledged => {}
                ServerOutput::AckTimedOut { status } if (200..300).contains(&status) => {
                    // Our 200 was never acknowledged: the caller is gone.
                    self.send_bye(now, call_id);
                    self.end(call_id, "failed (the caller never confirmed the answer)".into(), Some(408), Party::Network);
                    return;
                }
                ServerOutput::AckTimedOut { .. } => {}
            }
        }
        if let Some(call) = self.calls.get(call_id) {
            if call.reinvite_in.is_none() && call.reinvite_wanted.is_some() {
                self.send_wanted_reinvite(now, call_id);
            }
        }
    }

    /// Responds outside any transaction we keep (Timer J is zero on WS).
    fn respond_stateless(&mut self, request: &SipMessage, status: u16, phrase: &str, extra: &[(&str, String)]) {
        let tag = if request.tag("To").is_some() { String::new() } else { token(self.entropy.as_mut(), 10) };
        self.outputs.push_back(Output::Send(write_response_with(request, status, phrase, &tag, extra, None)));
    }

    fn respond_in_dialog(&mut self, request: &SipMessage, _call_id: &str, status: u16, phrase: &str, extra: &[(&str, String)], body: Option<(&str, &str)>) {
        // In-dialog requests carry our tag in To already.
        self.outputs.push_back(Output::Send(write_response_with(request, status, phrase, "", extra, body)));
    }

    /// Session-Expires in a request (re-INVITE/UPDATE) we received: re-arm the
    /// timer and return the headers to echo in our 2xx.
    fn take_session_refresh(&mut self, now: Instant, msg: &SipMessage, call_id: &str) -> Vec<(&'static str, String)> {
        let Some(call) = self.calls.get_mut(call_id) else { return vec![] };
        let Some((secs, refresher)) = msg.header("Session-Expires").and_then(parse_session_expires) else {
            if let Some(t) = call.session.as_mut() {
                t.refreshed(now);
            }
            return vec![];
        };
        let secs = secs.clamp(MIN_SESSION_EXPIRES, 86_400);
        // The requester is the UAC here: "uas" makes us the refresher.
        let who = refresher.unwrap_or_else(|| "uac".into());
        call.session = Some(SessionTimer::start(now, secs, who == "uas"));
        vec![("Session-Expires", format!("{secs};refresher={who}")), ("Require", "timer".into())]
    }

    fn arm_session_from_response(&mut self, now: Instant, call_id: &str, msg: &SipMessage) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        match msg.header("Session-Expires").and_then(parse_session_expires) {
            Some((secs, refresher)) => {
                let secs = secs.clamp(MIN_SESSION_EXPIRES, 86_400);
                // We sent the request, so "uac" (or no choice) means us.
                let we_refresh = refresher.as_deref() != Some("uas");
                call.session = Some(SessionTimer::start(now, secs, we_refresh));
            }
            None => {
                if let Some(t) = call.session.as_mut() {
                    t.refreshed(now);
                }
            }
        }
    }

    fn target_uri(&self, target: &str) -> Result<String, SipError> {
        let t = target.trim();
        let bad = || SipError::BadTarget(target.to_string());
        if t.is_empty() || t.len() > 256 || t.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c)) {
            return Err(bad());
        }
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("sip:") || lower.starts_with("sips:") {
            return if t.contains('@') || t.len() > 5 { Ok(t.to_string()) } else { Err(bad()) };
        }
        if let Some(number) = lower.strip_prefix("tel:") {
            let number = &t[t.len() - number.len()..];
            return Ok(format!("sip:{number}@{};user=phone", self.me.domain));
        }
        if t.contains('@') {
            return Ok(format!("sip:{t}"));
        }
        Ok(format!("sip:{t}@{}", self.me.domain))
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bK{}", token(self.entropy.as_mut(), 16))
    }

    fn via(&self, branch: &str) -> String {
        let ws = if self.me.secure { "WSS" } else { "WS" };
        format!("SIP/2.0/{ws} {};branch={branch};rport", self.me.contact_host)
    }
}

fn allows_update(msg: &SipMessage) -> bool {
    msg.header_values("Allow").flat_map(|v| v.split(',')).any(|m| m.trim().eq_ignore_ascii_case("UPDATE"))
}

/// The SDP `o=` line: unchanged means the same session version (a refresh).
fn origin(sdp: &str) -> Option<&str> {
    sdp.lines().find(|l| l.starts_with("o=")).map(str::trim)
}
