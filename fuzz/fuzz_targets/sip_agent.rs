#![no_main]
//! A script of server messages, user commands and clock jumps, run against
//! one account's call `UserAgent` and `RegistrationMachine` through their
//! sans-IO inputs with a fake clock, routed as the flow task routes them
//! (REGISTER responses to the registration, the rest to the calls).
//!
//! Input: records `@@ OP ARGS\n PAYLOAD`, separated by `\n@@ ` (at most 64):
//! - `msg` + a SIP message: delivered after replacing `$B` `$C` `$F` `$T` `$N`
//!   with the branch, Call-ID, From tag, To tag and CSeq number of the last
//!   message we sent (so a script can answer what it cannot predict);
//! - `reply CODE [sdp]`: the peer's response to the last request we sent;
//! - `cmd NAME [ARG]`: dial, answer, reject, busy, hangup, hold, resume,
//!   answer-reinvite, refuse-reinvite, dtmf, blind, attended,
//!   transfer-result, dnd, hangup-all;
//! - `time MS` / `time next`: move the clock, fire the timers;
//! - `reg connected|lost|failed|stop|edited|start`.
//!
//! Checked: no panic; everything we send parses, and our requests have
//! Via (with a z9hG4bK branch), From, To, Call-ID, CSeq and Max-Forwards; one input makes a bounded number of outputs; at most
//! MAX_CALLS calls; and after hanging up and letting every timer run out,
//! no call and no transaction is left.

use std::time::{Duration, Instant};

use homeline_sip::call::agent::MAX_CALLS;
use homeline_sip::call::{CallEvent, CallTiming, Command, Identity, Output as UaOutput, UserAgent};
use homeline_sip::message::{write_response_with, SipMessage};
use homeline_sip::registration::machine::{Input, Output as RegOutput, RegistrationMachine};
use homeline_sip::{Account, InstanceId, Secret, SeededEntropy, SipError, TlsTrust, ValidAccount};
use libfuzzer_sys::fuzz_target;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n";
const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n";
const MAX_RECORDS: usize = 64;

/// `SIP_AGENT_TRACE=1` prints what the script makes happen (for writing seeds).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SIP_AGENT_TRACE").is_some())
}
/// What one input may make us send or report (a flood must not be amplified).
const MAX_OUTPUTS_PER_INPUT: usize = 64;

fn account() -> Option<ValidAccount> {
    ValidAccount::new(Account {
        address: "sip:alice@example.com".into(),
        auth_user: None,
        display_name: Some("Alice".into()),
        server: "wss://sip.example.com".into(),
        outbound_proxy: None,
        expires: 600,
        tls: TlsTrust::default(),
    })
    .ok()
}

/// Client transactions still held, read from the agent's Debug output (the
/// only place it shows them).
fn transactions(ua: &UserAgent) -> usize {
    let debug = format!("{ua:?}");
    debug
        .split("transactions: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct Harness {
    start: Instant,
    now: Instant,
    ua: UserAgent,
    reg: RegistrationMachine,
    /// The last request and the last message we sent.
    last_request: Option<SipMessage>,
    last_sent: Option<SipMessage>,
    /// Calls we know of, most recent last; the call an incoming INVITE or a
    /// re-INVITE made, for `answer`.
    calls: Vec<String>,
    incoming: Option<String>,
    reinvite: Option<String>,
    dialed: u32,
}

impl Harness {
    fn new() -> Option<Harness> {
        let account = account()?;
        let now = Instant::now();
        let mut reg = RegistrationMachine::new(
            account.clone(),
            Secret::new("pw"),
            InstanceId("8f2c4a1e-0000-4000-8000-00000000abcd".into()),
            Box::new(SeededEntropy(1)),
        );
        let me = Identity::new(&account, Secret::new("pw"), reg.contact_host().to_string());
        let ua = UserAgent::new(me, Box::new(SeededEntropy(2)), CallTiming::default(), true);
        reg.handle_input(now, Input::Start);
        reg.handle_input(now, Input::Connected);
        let mut h = Harness {
            start: now,
            now,
            ua,
            reg,
            last_request: None,
            last_sent: None,
            calls: Vec::new(),
            incoming: None,
            reinvite: None,
            dialed: 0,
        };
        h.drain();
        Some(h)
    }

    /// Takes everything both machines produced and checks it.
    fn drain(&mut self) {
        let mut count = 0;
        loop {
            let mut moved = false;
            while let Some(out) = self.ua.poll_output() {
                moved = true;
                count += 1;
                match out {
                    UaOutput::Send(text) => self.sent(&text),
                    UaOutput::Event(event) => self.event(event),
                }
            }
            while let Some(out) = self.reg.poll_output() {
                moved = true;
                count += 1;
                if let RegOutput::Send(text) = out {
                    self.sent(&text);
                }
            }
            assert!(count <= MAX_OUTPUTS_PER_INPUT, "one input made more than {MAX_OUTPUTS_PER_INPUT} outputs");
            if !moved {
                break;
            }
        }
        assert!(self.ua.active_calls() <= MAX_CALLS, "{} calls", self.ua.active_calls());
        // Each call holds a few transactions at most (INVITE, CANCEL, BYE, INFO, REFER, NOTIFY, UPDATE).
        let txs = transactions(&self.ua);
        assert!(txs <= 8 * (MAX_CALLS + 1), "{txs} transactions held");
    }

    fn sent(&mut self, text: &str) {
        if trace() {
            eprintln!("  sent: {}", text.lines().next().unwrap_or_default());
        }
        let msg = SipMessage::parse(text).unwrap_or_else(|e| panic!("we sent a message that does not parse ({e}):\n{text}"));
        if msg.method().is_some() {
            // (A response copies what the request had: a 400 to a request
            // without From has none either.)
            for header in ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"] {
                assert!(msg.header(header).is_some(), "we sent a request without {header}:\n{text}");
            }
            assert!(msg.top_branch().is_some_and(|b| b.starts_with("z9hG4bK")), "no RFC 3261 branch:\n{text}");
            self.last_request = Some(msg.clone());
        }
        self.last_sent = Some(msg);
    }

    fn event(&mut self, event: CallEvent) {
        if trace() {
            eprintln!("  event: {event:?}");
        }
        let id = event.call_id().to_string();
        match &event {
            CallEvent::IncomingCall { .. } => self.incoming = Some(id.clone()),
            CallEvent::ReInvite { .. } => self.reinvite = Some(id.clone()),
            CallEvent::CallEnded { .. } => {
                self.calls.retain(|c| *c != id);
                return;
            }
            _ => {}
        }
        if !self.calls.contains(&id) {
            self.calls.push(id);
        }
        if self.calls.len() > 64 {
            self.calls.remove(0);
        }
    }

    fn substitute(&self, text: &str) -> String {
        let last = self.last_sent.as_ref();
        let request = self.last_request.as_ref();
        let value = |v: Option<&str>| v.unwrap_or("none").to_string();
        text.replace("$B", &value(request.and_then(SipMessage::top_branch)))
            .replace("$C", &value(last.and_then(|m| m.header("Call-ID"))))
            .replace("$F", &value(last.and_then(|m| m.tag("From"))))
            .replace("$T", &value(last.and_then(|m| m.tag("To"))))
            .replace("$N", &request.and_then(SipMessage::cseq).map(|(n, _)| n.to_string()).unwrap_or_default())
    }

    /// One message from the server, routed as the flow routes it.
    fn receive(&mut self, text: &str) {
        let Ok(msg) = SipMessage::parse(text) else {
            return;
        };
        let for_registration = msg.status().is_some() && msg.cseq().is_some_and(|(_, m)| m == "REGISTER");
        if for_registration {
            self.reg.handle_input(self.now, Input::Received(&msg));
        } else {
            self.ua.handle_message(self.now, &msg);
        }
        self.drain();
    }

    /// The peer's (or registrar's) response to the last request we sent.
    fn reply(&mut self, args: &str) {
        let Some(request) = self.last_request.clone() else {
            return;
        };
        let mut words = args.split_whitespace();
        let status: u16 = words.next().and_then(|w| w.parse().ok()).filter(|s| (100..=699).contains(s)).unwrap_or(200);
        let with_sdp = words.next() == Some("sdp");
        let method = request.method().unwrap_or_default().to_string();
        let mut extra: Vec<(&str, String)> = vec![("Contact", "<sip:bob@192.0.2.7:5070;transport=ws>".into())];
        if method == "REGISTER" && status == 200 {
            let contact = request.contacts().first().map(|c| c.to_string()).unwrap_or_default();
            let expires = request.seconds("Expires").unwrap_or(600);
            extra = vec![("Contact", format!("{contact};expires={expires}"))];
        }
        match status {
            401 => extra.push(("WWW-Authenticate", "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"".into())),
            407 => extra.push(("Proxy-Authenticate", "Digest realm=\"example.com\", nonce=\"n2\", algorithm=SHA-256".into())),
            423 => extra.push(("Min-Expires", "1200".into())),
            422 => extra.push(("Min-SE", "1800".into())),
            503 => extra.push(("Retry-After", "5".into())),
            _ => {}
        }
        let tag = if status == 100 { "" } else { "peer1" };
        let body = with_sdp.then_some(("application/sdp", OFFER));
        let text = write_response_with(&request, status, "Fuzz", tag, &extra, body);
        self.receive(&text);
    }

    fn pick(&self, which: Option<&String>) -> String {
        which.or(self.calls.last()).cloned().unwrap_or_else(|| "no-such-call".into())
    }

    fn command(&mut self, args: &str) {
        let mut words = args.split_whitespace();
        let name = words.next().unwrap_or_default();
        let arg = words.next().unwrap_or_default().to_string();
        let last = self.pick(None);
        let command = match name {
            "dial" => {
                self.dialed += 1;
                let call_id = format!("fuzz{}@abc.invalid", self.dialed);
                self.calls.push(call_id.clone());
                let target = if arg.is_empty() { "bob".to_string() } else { arg };
                Command::Dial { call_id, target, sdp: OFFER.into(), replaces: None }
            }
            "answer" => Command::Answer { call_id: self.pick(self.incoming.as_ref()), sdp: OFFER.into() },
            "reject" | "busy" => Command::Reject { call_id: self.pick(self.incoming.as_ref()), busy: name == "busy" },
            "hangup" => Command::Hangup { call_id: last },
            "hold" => Command::Reinvite { call_id: last, sdp: HOLD.into() },
            "resume" => Command::Reinvite { call_id: last, sdp: OFFER.into() },
            "answer-reinvite" => Command::AnswerReinvite { call_id: self.pick(self.reinvite.as_ref()), sdp: Some(HOLD.into()) },
            "refuse-reinvite" => Command::AnswerReinvite { call_id: self.pick(self.reinvite.as_ref()), sdp: None },
            "dtmf" => Command::SendDtmf { call_id: last, digit: arg.chars().next().unwrap_or('5'), duration_ms: 160 },
            "blind" => Command::BlindTransfer { call_id: last, target: if arg.is_empty() { "carol".into() } else { arg } },
            "attended" => {
                let first = self.calls.first().cloned().unwrap_or_default();
                Command::AttendedTransfer { call_id: first, replacing: last }
            }
            "transfer-result" => Command::TransferResult { call_id: last, code: arg.parse().unwrap_or(200), reason: "OK".into() },
            "dnd" => Command::SetDoNotDisturb(arg == "on"),
            "hangup-all" => {
                self.ua.hang_up_all(self.now);
                self.drain();
                return;
            }
            _ => return,
        };
        let _ = self.ua.handle_command(self.now, command);
        self.drain();
    }

    fn registration(&mut self, what: &str) {
        let input = match what.trim() {
            "connected" => Input::Connected,
            "lost" => Input::ConnectionLost,
            "failed" => Input::ConnectFailed(SipError::NotConnected),
            "stop" => Input::Stop,
            "start" => Input::Start,
            "edited" => match account() {
                Some(a) => Input::AccountEdited(Box::new(a), Secret::new("pw2")),
                None => return,
            },
            _ => return,
        };
        self.reg.handle_input(self.now, input);
        self.drain();
    }

    fn advance_to(&mut self, when: Instant) {
        if when > self.now {
            self.now = when;
        }
        self.reg.handle_input(self.now, Input::Timeout);
        self.ua.handle_timeout(self.now);
        self.drain();
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.ua.poll_timeout(), self.reg.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn time(&mut self, args: &str) {
        let args = args.trim();
        if args == "next" {
            if let Some(at) = self.next_deadline() {
                self.advance_to(at);
            }
        } else {
            // At most an hour per step, a day per run.
            let ms: u64 = args.parse().unwrap_or(1000).min(3_600_000);
            let when = (self.now + Duration::from_millis(ms)).min(self.start + Duration::from_secs(86_400));
            self.advance_to(when);
        }
    }

    /// Hang up everything and let every timer run out: nothing may be left.
    fn wind_down(&mut self) {
        self.ua.hang_up_all(self.now);
        self.drain();
        for _ in 0..200 {
            match self.ua.poll_timeout() {
                Some(at) => {
                    let at = at.max(self.now);
                    self.now = at;
                    self.ua.handle_timeout(at);
                    // The peer is gone: whatever we send stays unanswered.
                    self.drain();
                    if self.ua.active_calls() > 0 && self.ua.poll_timeout().is_none() {
                        self.ua.hang_up_all(self.now);
                        self.drain();
                    }
                }
                None => break,
            }
        }
        assert_eq!(self.ua.active_calls(), 0, "calls left after every timer ran out: {:?}", self.ua);
        assert_eq!(transactions(&self.ua), 0, "transactions left after every timer ran out: {:?}", self.ua);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(mut h) = Harness::new() else {
        return;
    };
    let script = text.strip_prefix("@@ ").unwrap_or(&text);
    for record in script.split("\n@@ ").take(MAX_RECORDS) {
        let (head, payload) = record.split_once('\n').unwrap_or((record, ""));
        let (op, args) = head.split_once(' ').unwrap_or((head, ""));
        if trace() {
            eprintln!("@@ {head}");
        }
        match op.trim() {
            "msg" => {
                let message = h.substitute(payload);
                h.receive(&message);
            }
            "reply" => h.reply(args),
            "cmd" => h.command(args),
            "time" => h.time(args),
            "reg" => h.registration(args),
            _ => {}
        }
    }
    h.wind_down();
});
