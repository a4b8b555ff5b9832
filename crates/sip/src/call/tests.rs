//! Two user agents wired back to back, no sockets, time injected: every
//! call scenario as the user would notice it (events), plus the wire
//! details that matter (CANCEL, ACK, 491, NOTIFY, Session-Expires).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::account::Secret;
use crate::call::{CallEvent, CallTiming, Command, Identity, Output, Party, Progress, UserAgent};
use crate::message::SipMessage;
use crate::registration::entropy::SeededEntropy;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n";
const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n";
const HELD: &str = "v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\n";

fn ua(user: &str, seed: u64) -> UserAgent {
    let me = Identity {
        user: user.into(),
        domain: "example.com".into(),
        display_name: Some(user.to_uppercase()),
        auth_user: user.into(),
        secret: Secret::new("pw"),
        contact_host: format!("{user}host.invalid"),
        secure: true,
    };
    UserAgent::new(me, Box::new(SeededEntropy(seed)), CallTiming::default(), true)
}

/// A message on the wire between the two, in order.
#[derive(Debug, Clone)]
struct Wire {
    from_a: bool,
    msg: SipMessage,
}

struct Pair {
    a: UserAgent,
    b: UserAgent,
    now: Instant,
    ev_a: Vec<CallEvent>,
    ev_b: Vec<CallEvent>,
    wire: Vec<Wire>,
    /// Messages for which this returns false are lost on the way.
    pass: Box<dyn FnMut(&Wire) -> bool>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            a: ua("alice", 1),
            b: ua("bob", 2),
            now: Instant::now(),
            ev_a: vec![],
            ev_b: vec![],
            wire: vec![],
            pass: Box::new(|_| true),
        }
    }

    /// Delivers everything both sides send until both are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(out) = self.a.poll_output() {
                moved = true;
                match out {
                    Output::Send(text) => {
                        let w = Wire { from_a: true, msg: SipMessage::parse(&text).unwrap() };
                        self.wire.push(w.clone());
                        if (self.pass)(&w) {
                            self.b.handle_message(self.now, &w.msg);
                        }
                    }
                    Output::Event(e) => self.ev_a.push(e),
                }
            }
            while let Some(out) = self.b.poll_output() {
                moved = true;
                match out {
                    Output::Send(text) => {
                        let w = Wire { from_a: false, msg: SipMessage::parse(&text).unwrap() };
                        self.wire.push(w.clone());
                        if (self.pass)(&w) {
                            self.a.handle_message(self.now, &w.msg);
                        }
                    }
                    Output::Event(e) => self.ev_b.push(e),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the two agents never went quiet");
    }

    fn a(&mut self, command: Command) {
        self.a.handle_command(self.now, command).unwrap();
        self.pump();
    }

    fn b(&mut self, command: Command) {
        self.b.handle_command(self.now, command).unwrap();
        self.pump();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
    }

    /// Alice dials bob; returns (alice's call id, bob's).
    fn ring(&mut self) -> (String, String) {
        self.a(Command::Dial { call_id: "c1@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None });
        let Some(CallEvent::IncomingCall { call_id, .. }) = self.ev_b.first().cloned() else { panic!("{:?}", self.ev_b) };
        (String::from("c1@x"), call_id)
    }

    fn connected(&mut self) -> (String, String) {
        let (a, b) = self.ring();
        self.b(Command::Answer { call_id: b.clone(), sdp: ANSWER.into() });
        self.ev_a.clear();
        self.ev_b.clear();
        self.wire.clear();
        (a, b)
    }

    fn sent(&self, from_a: bool, method: &str) -> Vec<SipMessage> {
        self.wire.iter().filter(|w| w.from_a == from_a && w.msg.method() == Some(method)).map(|w| w.msg.clone()).collect()
    }

    fn statuses(&self, from_a: bool) -> Vec<(u16, String)> {
        self.wire
            .iter()
            .filter(|w| w.from_a == from_a)
            .filter_map(|w| Some((w.msg.status()?, w.msg.cseq()?.1.to_string())))
            .collect()
    }
}

fn ended(events: &[CallEvent]) -> Option<(String, Option<u16>, Party)> {
    events.iter().find_map(|e| match e {
        CallEvent::CallEnded { reason, code, by, .. } => Some((reason.clone(), *code, *by)),
        _ => None,
    })
}

#[test]
fn outgoing_call_rings_is_answered_and_hung_up() {
    let mut p = Pair::new();
    let (a, b) = p.ring();
    let invite = &p.sent(true, "INVITE")[0];
    assert_eq!(invite.request_uri(), Some("sip:bob@example.com"));
    assert_eq!(invite.header("Contact"), Some("<sip:alice@alicehost.invalid;transport=ws;ob>"));
    assert!(invite.header("Via").unwrap().starts_with("SIP/2.0/WSS alicehost.invalid;branch=z9hG4bK"));
    assert_eq!(invite.body, OFFER);
    assert_eq!(
        p.ev_a,
        vec![
            CallEvent::CallProgress { call_id: a.clone(), progress: Progress::Trying },
            CallEvent::CallProgress { call_id: a.clone(), progress: Progress::Ringing },
        ]
    );
    let CallEvent::IncomingCall { from_display, from_number, sdp_offer, replaces, .. } = &p.ev_b[0] else { panic!() };
    assert_eq!((from_display.as_deref(), from_number.as_str()), (Some("ALICE"), "alice"));
    assert_eq!((sdp_offer.as_deref(), replaces), (Some(OFFER), &None));

    p.b(Command::Answer { call_id: b.clone(), sdp: ANSWER.into() });
    assert_eq!(
        p.ev_a[2..],
        [CallEvent::CallAnswered { call_id: a.clone(), sdp: ANSWER.into() }, CallEvent::CallConfirmed { call_id: a.clone() }]
    );
    assert_eq!(p.ev_b[1..], [CallEvent::CallConfirmed { call_id: b.clone() }]);
    let ack = &p.sent(true, "ACK")[0];
    assert_eq!(ack.request_uri(), Some("sip:bob@bobhost.invalid;transport=ws;ob"), "ACK goes to bob's Contact");
    assert_ne!(ack.top_branch(), invite.top_branch(), "the 2xx ACK is a new transaction");

    p.a(Command::Hangup { call_id: a.clone() });
    assert_eq!(ended(&p.ev_a), Some(("hung up".into(), None, Party::Local)));
    assert_eq!(ended(&p.ev_b), Some(("hung up".into(), None, Party::Remote)));
    assert!(p.statuses(false).contains(&(200, "BYE".into())));
    assert_eq!((p.a.active_calls(), p.b.active_calls()), (0, 0));
}

#[test]
fn cancel_before_answer() {
    let mut p = Pair::new();
    let (a, _) = p.ring();
    p.a(Command::Hangup { call_id: a.clone() });
    let cancel = &p.sent(true, "CANCEL")[0];
    assert_eq!(cancel.top_branch(), p.sent(true, "INVITE")[0].top_branch(), "CANCEL matches the INVITE's branch");
    assert!(p.statuses(false).contains(&(487, "INVITE".into())));
    assert!(p.statuses(false).contains(&(200, "CANCEL".into())));
    assert_eq!(p.sent(true, "ACK").len(), 1, "the 487 is acknowledged");
    assert_eq!(ended(&p.ev_a), Some(("cancelled".into(), Some(487), Party::Local)));
    assert_eq!(ended(&p.ev_b), Some(("cancelled".into(), Some(487), Party::Remote)));
}

#[test]
fn hangup_before_any_provisional_waits_to_cancel() {
    let mut p = Pair::new();
    p.pass = Box::new(|_| false);
    p.a(Command::Dial { call_id: "c1@x".into(), target: "sip:bob@example.com".into(), sdp: OFFER.into(), replaces: None });
    p.a(Command::Hangup { call_id: "c1@x".into() });
    assert!(p.sent(true, "CANCEL").is_empty(), "no CANCEL before a provisional response (RFC 3261 9.1)");
    // Nothing ever answers: Timer B ends it, as cancelled.
    p.advance(Duration::from_secs(33));
    assert_eq!(ended(&p.ev_a), Some(("cancelled".into(), Some(487), Party::Local)));
}

#[test]
fn rejections_in_words() {
    for (busy, words, code) in [(true, "busy", 486), (false, "declined", 603)] {
        let mut p = Pair::new();
        let (_, b) = p.ring();
        p.b(Command::Reject { call_id: b, busy });
        assert_eq!(ended(&p.ev_a), Some((words.into(), Some(code), Party::Remote)));
        assert_eq!(ended(&p.ev_b), Some((words.into(), Some(code), Party::Local)));
        assert_eq!(p.sent(true, "ACK").len(), 1);
    }
}

#[test]
fn do_not_disturb_answers_busy() {
    let mut p = Pair::new();
    p.b(Command::SetDoNotDisturb(true));
    p.a(Command::Dial { call_id: "c1@x".into(), target: "bob@example.com".into(), sdp: OFFER.into(), replaces: None });
    assert_eq!(ended(&p.ev_a), Some(("busy".into(), Some(486), Party::Remote)));
    assert!(matches!(&p.ev_b[..], [CallEvent::MissedCall { reason, .. }] if reason == "do not disturb"));
}

#[test]
fn incoming_call_hung_up_by_the_caller() {
    let mut p = Pair::new();
    let (a, b) = p.connected();
    p.b(Command::Hangup { call_id: b });
    assert_eq!(ended(&p.ev_a), Some(("hung up".into(), None, Party::Remote)));
    assert!(p.sent(false, "BYE")[0].header("To").unwrap().contains("tag="));
    let _ = a;
}

#[test]
fn answer_never_acknowledged_fails_the_call() {
    let mut p = Pair::new();
    let (_, b) = p.ring();
    p.pass = Box::new(|w| w.msg.method() != Some("ACK"));
    p.b(Command::Answer { call_id: b, sdp: ANSWER.into() });
    p.advance(Duration::from_secs(33));
    let (reason, code, by) = ended(&p.ev_b).unwrap();
    assert!(reason.contains("never confirmed"), "{reason}");
    assert_eq!((code, by), (Some(408), Party::Network));
    assert_eq!(ended(&p.ev_a), Some(("hung up".into(), None, Party::Remote)), "the caller gets our BYE");
}

#[test]
fn unanswered_incoming_call_and_reinvite_time_out() {
    let mut p = Pair::new();
    let (_, b) = p.ring();
    p.advance(Duration::from_secs(121));
    assert_eq!(ended(&p.ev_b), Some(("no answer".into(), Some(480), Party::Network)));
    assert_eq!(ended(&p.ev_a).map(|e| e.0), Some("unavailable".into()));
    let _ = b;

    let mut p = Pair::new();
    let (a, _) = p.connected();
    p.a(Command::Reinvite { call_id: a.clone(), sdp: HOLD.into() });
    p.advance(Duration::from_secs(11));
    assert!(matches!(p.ev_a.last(), Some(CallEvent::ReInviteFailed { code: 488, .. })), "{:?}", p.ev_a);
    assert_eq!((p.a.active_calls(), p.b.active_calls()), (1, 1));
}

#[test]
fn ringing_forever_is_no_answer() {
    let mut p = Pair::new();
    let (a, _) = p.ring();
    // Bob's phone is gone after ringing: nothing reaches him any more.
    p.pass = Box::new(|w| !w.from_a);
    p.b = ua("bob", 4);
    p.advance(Duration::from_secs(181));
    assert_eq!(ended(&p.ev_a), Some(("no answer".into(), Some(408), Party::Network)));
    assert_eq!(p.sent(true, "CANCEL").len(), 1, "Timer C cancels the ringing call");
    let _ = a;
}

#[test]
fn hold_and_resume_both_ways() {
    let mut p = Pair::new();
    let (a, b) = p.connected();
    p.a(Command::Reinvite { call_id: a.clone(), sdp: HOLD.into() });
    assert_eq!(p.ev_b, vec![CallEvent::ReInvite { call_id: b.clone(), sdp: HOLD.into() }]);
    p.b(Command::AnswerReinvite { call_id: b.clone(), sdp: Some(HELD.into()) });
    assert_eq!(p.ev_a, vec![CallEvent::ReInviteAnswered { call_id: a.clone(), sdp: HELD.into() }]);
    assert_eq!(p.sent(true, "ACK").len(), 1);

    // Bob offers a change too; alice refuses it.
    p.b(Command::Reinvite { call_id: b.clone(), sdp: HELD.replace("o=- 2 2", "o=- 2 3") });
    assert!(matches!(p.ev_a.last(), Some(CallEvent::ReInvite { .. })));
    p.a(Command::AnswerReinvite { call_id: a.clone(), sdp: None });
    assert!(matches!(p.ev_b.last(), Some(CallEvent::ReInviteFailed { code: 488, .. })));
    assert_eq!((p.a.active_calls(), p.b.active_calls()), (1, 1), "a refused change keeps the call");
}

#[test]
fn glare_is_resolved_with_491_and_a_retry() {
    let mut p = Pair::new();
    let (a, b) = p.connected();
    // Both offer at once: hold each other's re-INVITE until both are out.
    p.a.handle_command(p.now, Command::Reinvite { call_id: a.clone(), sdp: HOLD.into() }).unwrap();
    p.b.handle_command(p.now, Command::Reinvite { call_id: b.clone(), sdp: HELD.replace("o=- 2 2", "o=- 2 3") }).unwrap();
    p.pump();
    assert_eq!(p.statuses(true).iter().filter(|s| s.0 == 491).count(), 1);
    assert_eq!(p.statuses(false).iter().filter(|s| s.0 == 491).count(), 1);
    assert!(p.ev_a.is_empty() && p.ev_b.is_empty(), "glare is invisible so far");
    // Bob (not the Call-ID's owner) retries within 2 s, alice after 2.1 s.
    p.advance(Duration::from_millis(2050));
    assert!(matches!(p.ev_a.last(), Some(CallEvent::ReInvite { .. })), "{:?}", p.ev_a);
    p.a(Command::AnswerReinvite { call_id: a.clone(), sdp: Some(ANSWER.replace("o=- 1 1", "o=- 1 3")) });
    assert!(matches!(p.ev_b.last(), Some(CallEvent::ReInviteAnswered { .. })));
    p.advance(Duration::from_secs(2));
    assert!(matches!(p.ev_b.last(), Some(CallEvent::ReInvite { .. })), "alice's offer follows: {:?}", p.ev_b);
}

#[test]
fn dtmf_over_info_in_order() {
    let mut p = Pair::new();
    let (a, b) = p.connected();
    for d in ['1', '#', 'a'] {
        p.a.handle_command(p.now, Command::SendDtmf { call_id: a.clone(), digit: d, duration_ms: 160 }).unwrap();
    }
    p.pump();
    let infos = p.sent(true, "INFO");
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0].body, "Signal=1\r\nDuration=160\r\n");
    assert_eq!(infos[0].content_type().as_deref(), Some("application/dtmf-relay"));
    let digits: Vec<char> = p.ev_b.iter().filter_map(|e| if let CallEvent::DtmfReceived { digit, .. } = e { Some(*digit) } else { None }).collect();
    assert_eq!(digits, vec!['1', '#', 'A']);
    assert!(p.a.handle_command(p.now, Command::SendDtmf { call_id: a, digit: 'x', duration_ms: 160 }).is_err());
    let _ = b;
}

#[test]
fn blind_transfer_follows_the_notify_progress() {
    let mut p = Pair::new();
    let (a, b) = p.connected();
    p.a(Command::BlindTransfer { call_id: a.clone(), target: "carol".into() });
    let refer = &p.sent(true, "REFER")[0];
    assert_eq!(refer.header("Refer-To"), Some("<sip:carol@example.com>"));
    assert_eq!(p.ev_b, vec![CallEvent::TransferRequested { call_id: b.clone(), target: "sip:carol@example.com".into(), replaces: None }]);
    assert!(p.statuses(false).contains(&(202, "REFER".into())));
    p.b(Command::TransferResult { call_id: b.clone(), code: 200, reason: "OK".into() });
    let progress: Vec<(u16, bool)> = p
        .ev_a
        .iter()
        .filter_map(|e| if let CallEvent::TransferProgress { code, done, .. } = e { Some((*code, *done)) } else { None })
        .collect();
    assert_eq!(progress, vec![(202, false), (100, false), (200, true)]);
    let notify = p.sent(false, "NOTIFY").pop().unwrap();
    assert!(notify.header("Subscription-State").unwrap().starts_with("terminated"));
    assert!(p.statuses(true).iter().filter(|s| s.1 == "NOTIFY").all(|s| s.0 == 200));
}

#[test]
fn attended_transfer_replaces_the_matching_dialog() {
    // alice talks to bob (call 1) and to bob again (call 2, standing in for
    // carol); she transfers call 1 to call 2's party.
    let mut p = Pair::new();
    let (a1, _) = p.connected();
    p.a(Command::Dial { call_id: "c2@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None });
    let b2 = p.ev_b.iter().find_map(|e| if let CallEvent::IncomingCall { call_id, .. } = e { Some(call_id.clone()) } else { None }).unwrap();
    p.b(Command::Answer { call_id: b2.clone(), sdp: ANSWER.into() });
    p.ev_b.clear();
    p.a(Command::AttendedTransfer { call_id: a1.clone(), replacing: "c2@x".into() });
    let Some(CallEvent::TransferRequested { target, replaces: Some(replaces), .. }) = p.ev_b.first().cloned() else { panic!("{:?}", p.ev_b) };
    assert_eq!(target, "sip:bob@example.com");
    // Bob (as transferee) calls the target with Replaces; the target is bob
    // himself here, so bob's own agent must match the dialog of call 2... the
    // Replaces names call 2 from bob's side: to-tag = bob's tag.
    p.a(Command::Dial { call_id: "c3@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: Some(replaces.clone()) });
    let incoming = p.ev_b.iter().rev().find_map(|e| if let CallEvent::IncomingCall { replaces, .. } = e { Some(replaces.clone()) } else { None });
    assert_eq!(incoming, Some(Some(b2)), "the new call says which one it replaces");
    // A Replaces that names nothing is refused.
    p.a(Command::Dial { call_id: "c4@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: Some("nope;to-tag=1;from-tag=2".into()) });
    assert_eq!(p.ev_a.iter().find_map(|e| match e { CallEvent::CallEnded { call_id, code, .. } if call_id == "c4@x" => *code, _ => None }), Some(481));
}

#[test]
fn session_timer_refreshes_and_expires() {
    let mut p = Pair::new();
    // The caller's INVITE reaches bob with a Session-Expires header.
    let invite_text = {
        p.a.handle_command(p.now, Command::Dial { call_id: "c1@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None }).unwrap();
        let Some(Output::Send(t)) = p.a.poll_output() else { panic!() };
        t.replacen("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nSession-Expires: 120;refresher=uac\r\n", 1)
    };
    p.b.handle_message(p.now, &SipMessage::parse(&invite_text).unwrap());
    p.pump();
    let b = "c1@x".to_string();
    p.b(Command::Answer { call_id: b.clone(), sdp: ANSWER.into() });
    let ok = p.wire.iter().find(|w| !w.from_a && w.msg.status() == Some(200)).unwrap();
    assert_eq!(ok.msg.header("Session-Expires"), Some("120;refresher=uac"));
    assert_eq!(ok.msg.header("Require"), Some("timer"));
    // Alice refreshes at half time with UPDATE (bob allows it).
    p.advance(Duration::from_secs(61));
    assert_eq!(p.sent(true, "UPDATE").len(), 1);
    assert!(p.statuses(false).contains(&(200, "UPDATE".into())));
    // Alice stops refreshing: bob hangs up before the interval runs out.
    p.pass = Box::new(|w| w.msg.method() != Some("UPDATE"));
    p.advance(Duration::from_secs(61));
    p.advance(Duration::from_secs(60));
    assert_eq!(ended(&p.ev_b), Some(("session expired".into(), Some(408), Party::Network)));
}

#[test]
fn a_too_short_session_interval_gets_422_and_the_caller_retries() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, Command::Dial { call_id: "c1@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None }).unwrap();
    let Some(Output::Send(t)) = p.a.poll_output() else { panic!() };
    let invite = SipMessage::parse(&t.replacen("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nSession-Expires: 30\r\n", 1)).unwrap();
    p.b.handle_message(p.now, &invite);
    let Some(Output::Send(resp)) = p.b.poll_output() else { panic!() };
    let resp = SipMessage::parse(&resp).unwrap();
    assert_eq!((resp.status(), resp.header("Min-SE")), (Some(422), Some("90")));
    p.a.handle_message(p.now, &resp);
    p.pump();
    let retry = p.sent(true, "INVITE").pop().unwrap();
    assert_eq!((retry.header("Session-Expires"), retry.header("Min-SE")), (Some("90"), Some("90")));
    assert_eq!(retry.cseq(), Some((2, "INVITE")));
    assert!(matches!(p.ev_b.first(), Some(CallEvent::IncomingCall { .. })));
}

#[test]
fn proxy_challenge_is_answered_once() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, Command::Dial { call_id: "c1@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None }).unwrap();
    let Some(Output::Send(t)) = p.a.poll_output() else { panic!() };
    let invite = SipMessage::parse(&t).unwrap();
    let challenge = |inv: &SipMessage| {
        SipMessage::parse(&crate::message::write_response_with(
            inv,
            407,
            "Proxy Authentication Required",
            "p1",
            &[("Proxy-Authenticate", "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"".into())],
            None,
        ))
        .unwrap()
    };
    p.a.handle_message(p.now, &challenge(&invite));
    let outs: Vec<Output> = std::iter::from_fn(|| p.a.poll_output()).collect();
    let sent: Vec<SipMessage> = outs.iter().filter_map(|o| if let Output::Send(t) = o { Some(SipMessage::parse(t).unwrap()) } else { None }).collect();
    assert_eq!(sent[0].method(), Some("ACK"));
    let retry = &sent[1];
    assert_eq!(retry.cseq(), Some((2, "INVITE")));
    assert!(retry.header("Proxy-Authorization").unwrap().contains("username=\"alice\""));
    assert_eq!(retry.tag("From"), invite.tag("From"));
    // The same nonce refused again: a wrong password, said so, no loop.
    p.a.handle_message(p.now, &challenge(retry));
    let outs: Vec<Output> = std::iter::from_fn(|| p.a.poll_output()).collect();
    assert!(outs.iter().any(|o| matches!(o, Output::Event(CallEvent::CallEnded { reason, code: Some(407), .. }) if reason.contains("password"))));
    assert_eq!(outs.iter().filter(|o| matches!(o, Output::Send(t) if t.starts_with("INVITE"))).count(), 0);
}

#[test]
fn out_of_dialog_requests_are_answered() {
    let mut b = ua("bob", 3);
    let now = Instant::now();
    let req = |method: &str, to_tag: &str| {
        SipMessage::parse(&format!(
            "{method} sip:bob@x SIP/2.0\r\nVia: SIP/2.0/WSS p;branch=z9hG4bK{method}\r\nFrom: <sip:a@x>;tag=f\r\nTo: <sip:bob@x>{to_tag}\r\n\
             Call-ID: q\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap()
    };
    for (method, to_tag, status) in
        [("OPTIONS", "", 200), ("MESSAGE", "", 405), ("BYE", ";tag=t", 481), ("INFO", ";tag=t", 481), ("NOTIFY", "", 481), ("CANCEL", "", 481)]
    {
        b.handle_message(now, &req(method, to_tag));
        let Some(Output::Send(text)) = b.poll_output() else { panic!("{method}: no answer") };
        assert_eq!(SipMessage::parse(&text).unwrap().status(), Some(status), "{method}");
    }
    b.handle_message(now, &req("ACK", ";tag=t"));
    assert!(b.poll_output().is_none(), "a stray ACK is dropped");
}

#[test]
fn offerless_invite_gets_our_offer_and_the_ack_answers() {
    let mut p = Pair::new();
    p.a.handle_command(p.now, Command::Dial { call_id: "c1@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None }).unwrap();
    let Some(Output::Send(t)) = p.a.poll_output() else { panic!() };
    // Strip the offer: bob sees an INVITE without SDP.
    let head = t.split("\r\n\r\n").next().unwrap().replace("Content-Type: application/sdp\r\n", "");
    let head: String = head.lines().filter(|l| !l.starts_with("Content-Length")).map(|l| format!("{l}\r\n")).collect();
    p.b.handle_message(p.now, &SipMessage::parse(&format!("{head}Content-Length: 0\r\n\r\n")).unwrap());
    p.pump();
    assert!(matches!(p.ev_b.first(), Some(CallEvent::IncomingCall { sdp_offer: None, .. })), "{:?}", p.ev_b);
    p.b(Command::Answer { call_id: "c1@x".into(), sdp: ANSWER.into() });
    // Our agent (as caller) sends no SDP in the ACK: bob ends the call, said why.
    let (reason, ..) = ended(&p.ev_b).unwrap();
    assert!(reason.contains("no media description"), "{reason}");
}

#[test]
fn failure_words_cover_the_usual_codes() {
    use crate::call::failure_words;
    let words: Vec<String> = [486, 404, 480, 603, 487, 408, 503, 415].iter().map(|c| failure_words(*c, "Unsupported Media Type")).collect();
    assert_eq!(words, ["busy", "not found", "unavailable", "declined", "cancelled", "no answer", "server trouble", "failed (415 Unsupported Media Type)"]);
}

/// Random and mutated messages into a ringing and a connected agent: no
/// panic, and state stays bounded.
#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut p = Pair::new();
    let (a, _) = p.connected();
    p.a(Command::Dial { call_id: "c9@x".into(), target: "bob".into(), sdp: OFFER.into(), replaces: None });
    let templates: Vec<String> = p.wire.iter().map(|w| crate::message::write_message(
        &match &w.msg.start {
            crate::message::StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0"),
            crate::message::StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}"),
        },
        &w.msg.headers.iter().filter(|(n, _)| n != "Content-Length" && n != "Content-Type").map(|(n, v)| (n.as_str(), v.clone())).collect::<Vec<_>>(),
        None,
    )).collect();
    assert!(!templates.is_empty());
    let pieces = ["INVITE", "BYE", "REFER", "NOTIFY", "INFO", "ACK", "CANCEL", "SIP/2.0 200 OK", "SIP/2.0 491 x", "SIP/2.0 183 x", "\r\n", ";tag=", "z9hG4bK", "Refer-To: <sip:x?Replaces=a%3B>", "Session-Expires: 0", "Replaces: a;to-tag=;from-tag=", "CSeq: 4294967295 INVITE", "Content-Type: application/sdp", "é", ":", "<", ">"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for i in 0..20_000 {
        let text = if i % 2 == 0 {
            let t = &templates[rng.random_range(0..templates.len())];
            let mut t = t.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=t.len());
                if t.is_char_boundary(at) {
                    t.insert_str(at, pieces[rng.random_range(0..pieces.len())]);
                }
            }
            t
        } else {
            (0..rng.random_range(0..20)).map(|_| pieces[rng.random_range(0..pieces.len())]).collect::<Vec<_>>().join("\r\n")
        };
        if let Ok(msg) = SipMessage::parse(&text) {
            p.a.handle_message(p.now, &msg);
            p.b.handle_message(p.now, &msg);
        }
        while p.a.poll_output().is_some() {}
        while p.b.poll_output().is_some() {}
        if i % 1000 == 0 {
            p.now += Duration::from_secs(7);
            p.a.handle_timeout(p.now);
            p.b.handle_timeout(p.now);
        }
    }
    assert!(p.a.active_calls() <= crate::call::agent::MAX_CALLS && p.b.active_calls() <= crate::call::agent::MAX_CALLS);
    let _ = a;
}
