//! Call signalling (`homeline-sip`'s `AccountFlow`) against the harness
//! Kamailio: alice is our user agent over WS, bob is the synchronous
//! `sip_probe` over WS in a thread of his own. Each test checks what a user
//! would notice (the events and their reasons in words) and what bob sees
//! on the wire (ACK, CANCEL, BYE, re-INVITE with a=sendonly, INFO, REFER).

// A failed expectation is the test failing, with its message.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::thread::JoinHandle;
use std::time::Duration;

use homeline_sip::{Account, AccountFlow, CallEvent, FlowEvent, FlowEvents, InstanceId, Party, Progress, RegistrationState, Secret, TlsTrust};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::sip_probe::{ack_for_failure, uri_of, SipMessage, SipProbe};

const ALICE_PASSWORD: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-secret";
const INSTANCE: &str = "5b0f5c4e-7a43-4b7e-9d7c-2f1c8a3e9b10";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
const HOLD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
const HELD: &str = "v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\n";
const WAIT: Duration = Duration::from_secs(10);

const CAROL_PASSWORD: &str = "carol-secret";

fn kamailio() -> Kamailio {
    let opts = KamailioOptions::new().user("alice", ALICE_PASSWORD).user("bob", BOB_PASSWORD).user("carol", CAROL_PASSWORD);
    kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"))
}

/// Alice, our user agent, registered over WS.
async fn alice(k: &Kamailio) -> (AccountFlow, FlowEvents) {
    engine(k, "alice", ALICE_PASSWORD).await
}

/// One of our user agents (an engine instance) for `user`, registered over WS.
async fn engine(k: &Kamailio, user: &str, password: &str) -> (AccountFlow, FlowEvents) {
    let instance = match user {
        "alice" => INSTANCE.to_string(),
        "bob" => INSTANCE.replace("5b0f", "b0b0"),
        _ => INSTANCE.replace("5b0f", "ca70"),
    };
    let account = Account {
        address: format!("{user}@{}", k.domain()),
        auth_user: None,
        display_name: Some(user.to_uppercase()),
        server: k.ws_url(),
        outbound_proxy: None,
        expires: 300,
        tls: TlsTrust::default(),
    };
    let (flow, mut events) =
        AccountFlow::start(account, Secret::new(password), InstanceId(instance)).expect("the account is valid");
    loop {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(FlowEvent::Registration(r))) if matches!(r.state, RegistrationState::Registered { .. }) => break,
            Ok(Some(FlowEvent::Registration(r))) if matches!(r.state, RegistrationState::Failed { .. }) => {
                panic!("{user} could not register: {r:?}\n{}", k.log_tail(30))
            }
            Ok(Some(_)) => {}
            other => panic!("{user} did not register: {other:?}\n{}", k.log_tail(30)),
        }
    }
    (flow, events)
}

/// Bob, the probe, registered over WS.
fn bob(k: &Kamailio) -> SipProbe {
    let mut bob = SipProbe::connect_ws(&k.ws_url(), WAIT).expect("bob connects");
    let outcome = bob.register("bob", BOB_PASSWORD, k.domain(), 300).expect("bob registers");
    assert_eq!(outcome.status(), Some(200), "{outcome:?}");
    bob
}

/// The next call event (registration events are skipped).
async fn next_call_event(events: &mut FlowEvents, k: &Kamailio) -> CallEvent {
    loop {
        match tokio::time::timeout(WAIT, events.next()).await {
            Ok(Some(FlowEvent::Call(e))) => return e,
            Ok(Some(FlowEvent::Registration(_))) => {}
            Ok(None) => panic!("alice's event stream ended"),
            Err(_) => panic!("no call event within {WAIT:?}\n{}", k.log_tail(40)),
        }
    }
}

/// Call events up to and including the first one `last` accepts.
async fn events_until(events: &mut FlowEvents, k: &Kamailio, last: impl Fn(&CallEvent) -> bool) -> Vec<CallEvent> {
    let mut seen = Vec::new();
    loop {
        let e = next_call_event(events, k).await;
        let done = last(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn is_ended(e: &CallEvent) -> bool {
    matches!(e, CallEvent::CallEnded { .. })
}

fn ended(e: &CallEvent) -> (String, Option<u16>, Party) {
    match e {
        CallEvent::CallEnded { reason, code, by, .. } => (reason.clone(), *code, *by),
        other => panic!("expected CallEnded, got {other:?}"),
    }
}

fn join<T>(bob: JoinHandle<T>) -> T {
    bob.join().unwrap_or_else(|_| panic!("bob's side failed (see its panic above)"))
}

/// Bob's response with his tag and Contact.
fn bob_says(bob: &SipProbe, request: &SipMessage, status: u16, reason: &str) -> SipMessage {
    SipProbe::response_to(request, status, reason, Some("bobtag")).with_header("Contact", format!("<{}>", bob.contact_uri("bob")))
}

/// Bob takes the next INVITE, rings, answers with ANSWER and waits for the ACK.
/// Returns (INVITE, ACK).
fn bob_answers(bob: &mut SipProbe) -> (SipMessage, SipMessage) {
    let invite = bob.recv_method("INVITE").expect("bob gets the INVITE");
    bob.send(&bob_says(bob, &invite, 180, "Ringing")).unwrap();
    bob.send(&bob_says(bob, &invite, 200, "OK").with_body("application/sdp", ANSWER)).unwrap();
    let ack = bob.recv_method("ACK").expect("bob gets the ACK for his 200");
    (invite, ack)
}

/// A request from bob inside a dialog alice started (bob is the callee):
/// R-URI = alice's Contact, Route = Record-Route as received (RFC 3261 12.1.1).
fn callee_request(bob: &SipProbe, method: &str, invite: &SipMessage, cseq: u32) -> SipMessage {
    let mut request = bob.new_request(method, uri_of(invite.header("Contact").unwrap_or_default()));
    for route in invite.headers_named("Record-Route").flat_map(|v| v.split(',')) {
        request.headers.push(("Route".into(), route.trim().to_string()));
    }
    request
        .with_header("From", format!("{};tag=bobtag", invite.header("To").unwrap_or_default()))
        .with_header("To", invite.header("From").unwrap_or_default())
        .with_header("Call-ID", invite.header("Call-ID").unwrap_or_default())
        .with_header("CSeq", format!("{cseq} {method}"))
}

/// Bob answers the next request of this method with 200; returns it.
fn bob_oks(bob: &mut SipProbe, method: &str) -> SipMessage {
    let request = bob.recv_method(method).unwrap_or_else(|e| panic!("bob gets the {method}: {e}"));
    bob.send(&SipProbe::response_to(&request, 200, "OK", None)).unwrap();
    request
}

/// Alice calls bob, bob answers: returns alice's call id once it is confirmed.
async fn connected_call(flow: &AccountFlow, events: &mut FlowEvents, k: &Kamailio) -> String {
    let call_id = flow.dial("bob", OFFER).await.expect("alice dials");
    let seen = events_until(events, k, |e| matches!(e, CallEvent::CallConfirmed { .. } | CallEvent::CallEnded { .. })).await;
    assert!(matches!(seen.last(), Some(CallEvent::CallConfirmed { .. })), "{seen:?}");
    call_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_call_is_answered_acknowledged_and_hung_up_by_alice() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    let bob = std::thread::spawn(move || {
        let (invite, ack) = bob_answers(&mut bob);
        let bye = bob_oks(&mut bob, "BYE");
        (invite, ack, bye)
    });

    let call_id = flow.dial("bob", OFFER).await.expect("alice dials");
    let seen = events_until(&mut events, &k, |e| matches!(e, CallEvent::CallConfirmed { .. })).await;
    let ringing = CallEvent::CallProgress { call_id: call_id.clone(), progress: Progress::Ringing };
    let answered = CallEvent::CallAnswered { call_id: call_id.clone(), sdp: ANSWER.into() };
    assert!(seen.contains(&ringing), "alice hears ringing: {seen:?}");
    let ringing_at = seen.iter().position(|e| *e == ringing).unwrap();
    let answered_at = seen.iter().position(|e| *e == answered).expect("answered with bob's SDP");
    assert!(ringing_at < answered_at, "{seen:?}");

    flow.hangup(&call_id).await.expect("alice hangs up");
    let end = events_until(&mut events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("hung up".into(), None, Party::Local));

    let (invite, ack, bye) = join(bob);
    assert_eq!(invite.body, OFFER, "the SDP offer passes untouched");
    let contact = invite.header("Contact").unwrap();
    assert!(contact.contains(".invalid") && contact.contains("transport=ws"), "RFC 7118 Contact: {contact}");
    assert!(invite.header("Proxy-Authorization").is_none(), "alice answered Kamailio's 407 and it consumed the credentials");
    assert_eq!(ack.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(ack.header("CSeq").and_then(|c| c.split_whitespace().next()), invite.header("CSeq").and_then(|c| c.split_whitespace().next()));
    assert_eq!(bye.header("Call-ID"), invite.header("Call-ID"));
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_ends_as_cancelled() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    let bob = std::thread::spawn(move || {
        let invite = bob.recv_method("INVITE").expect("bob gets the INVITE");
        bob.send(&bob_says(&bob, &invite, 180, "Ringing")).unwrap();
        let cancel = bob.recv_method("CANCEL").expect("bob gets the CANCEL");
        bob.send(&SipProbe::response_to(&cancel, 200, "OK", Some("bobtag"))).unwrap();
        let terminated = SipProbe::response_to(&invite, 487, "Request Terminated", Some("bobtag"));
        bob.send(&terminated).unwrap();
        bob.recv_method("ACK").expect("the 487 is acknowledged");
        cancel
    });

    let call_id = flow.dial(&format!("sip:bob@{}", k.domain()), OFFER).await.expect("alice dials");
    events_until(&mut events, &k, |e| matches!(e, CallEvent::CallProgress { progress: Progress::Ringing, .. })).await;
    flow.hangup(&call_id).await.expect("alice hangs up while it rings");
    let end = events_until(&mut events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("cancelled".into(), Some(487), Party::Local));
    let cancel = join(bob);
    assert_eq!(cancel.header("Call-ID"), Some(call_id.as_str()));
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_callee_is_reported_as_busy() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    let bob = std::thread::spawn(move || {
        let invite = bob.recv_method("INVITE").expect("bob gets the INVITE");
        bob.send(&SipProbe::response_to(&invite, 486, "Busy Here", Some("bobtag"))).unwrap();
        bob.recv_method("ACK").expect("the 486 is acknowledged");
    });
    flow.dial("bob", OFFER).await.expect("alice dials");
    let end = events_until(&mut events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("busy".into(), Some(486), Party::Remote));
    join(bob);
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_reported_as_not_found() {
    let k = kamailio();
    let (flow, mut events) = alice(&k).await;
    flow.dial("nobody", OFFER).await.expect("alice dials");
    let end = events_until(&mut events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("not found".into(), Some(404), Party::Remote));
    flow.stop().await;
}

/// Bob calls alice (through Kamailio's 407), alice answers, bob sends a DTMF
/// INFO and then hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_call_answered_then_bob_hangs_up() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    let domain = k.domain().to_string();
    let bob = std::thread::spawn(move || {
        let alice_uri = format!("sip:alice@{domain}");
        let first = bob.invite("bob", &domain, &alice_uri, OFFER);
        let challenge = bob.transact(&first).expect("INVITE answered");
        assert_eq!(challenge.status(), Some(407), "{challenge:?}");
        bob.send(&ack_for_failure(&first, &challenge)).unwrap();
        let mut invite = bob.invite("bob", &domain, &alice_uri, OFFER);
        bob.add_credentials(&mut invite, &challenge, "bob", BOB_PASSWORD).unwrap();
        let answer = bob.transact(&invite).expect("alice answers");
        assert_eq!(answer.status(), Some(200), "{answer:?}");
        let cseq: u32 = invite.header("CSeq").and_then(|c| c.split_whitespace().next()?.parse().ok()).unwrap();
        bob.send(&bob.caller_in_dialog("ACK", &invite, &answer, cseq)).unwrap();
        let info = bob
            .caller_in_dialog("INFO", &invite, &answer, cseq + 1)
            .with_body("application/dtmf-relay", "Signal=7\r\nDuration=200\r\n");
        assert_eq!(bob.transact(&info).expect("INFO answered").status(), Some(200));
        let bye = bob.caller_in_dialog("BYE", &invite, &answer, cseq + 2);
        assert_eq!(bob.transact(&bye).expect("BYE answered").status(), Some(200));
        answer
    });

    let incoming = next_call_event(&mut events, &k).await;
    let CallEvent::IncomingCall { call_id, from_number, sdp_offer, replaces, .. } = incoming else {
        panic!("expected IncomingCall, got {incoming:?}")
    };
    assert_eq!((from_number.as_str(), sdp_offer.as_deref(), replaces), ("bob", Some(OFFER), None));
    flow.answer(&call_id, ANSWER).await.expect("alice answers");
    let seen = events_until(&mut events, &k, is_ended).await;
    assert_eq!(seen[0], CallEvent::CallConfirmed { call_id: call_id.clone() }, "{seen:?}");
    assert_eq!(seen[1], CallEvent::DtmfReceived { call_id: call_id.clone(), digit: '7', duration_ms: 200 });
    assert_eq!(ended(seen.last().unwrap()), ("hung up".into(), None, Party::Remote));
    let answer = join(bob);
    assert_eq!(answer.body, ANSWER);
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_reinvite_dtmf_and_blind_transfer_reach_bob() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    let bob = std::thread::spawn(move || {
        let (invite, _) = bob_answers(&mut bob);
        // Hold: a re-INVITE with a=sendonly, answered a=recvonly.
        let reinvite = bob.recv_method("INVITE").expect("bob gets the re-INVITE");
        bob.send(&SipProbe::response_to(&reinvite, 200, "OK", None).with_header("Contact", format!("<{}>", bob.contact_uri("bob"))).with_body("application/sdp", HELD))
            .unwrap();
        bob.recv_method("ACK").expect("the re-INVITE's 200 is acknowledged");
        let info = bob_oks(&mut bob, "INFO");
        // Blind transfer: 202, then the progress as NOTIFY sipfrag.
        let refer = bob.recv_method("REFER").expect("bob gets the REFER");
        bob.send(&SipProbe::response_to(&refer, 202, "Accepted", None)).unwrap();
        let notify = |bob: &SipProbe, cseq: u32, frag: &str, state: &str| {
            callee_request(bob, "NOTIFY", &invite, cseq)
                .with_header("Event", "refer")
                .with_header("Subscription-State", state)
                .with_body("message/sipfrag;version=2.0", format!("{frag}\r\n"))
        };
        let trying = notify(&bob, 1, "SIP/2.0 100 Trying", "active;expires=60");
        assert_eq!(bob.transact(&trying).expect("NOTIFY answered").status(), Some(200));
        let ok = notify(&bob, 2, "SIP/2.0 200 OK", "terminated;reason=noresource");
        assert_eq!(bob.transact(&ok).expect("NOTIFY answered").status(), Some(200));
        let bye = bob_oks(&mut bob, "BYE");
        (reinvite, info, refer, bye)
    });

    let call_id = connected_call(&flow, &mut events, &k).await;
    flow.update_media(&call_id, HOLD).await.expect("alice puts bob on hold");
    let held = next_call_event(&mut events, &k).await;
    assert_eq!(held, CallEvent::ReInviteAnswered { call_id: call_id.clone(), sdp: HELD.into() });
    flow.send_dtmf(&call_id, '5', 160).await.expect("alice sends a DTMF key");
    flow.blind_transfer(&call_id, "carol").await.expect("alice transfers bob to carol");
    let progress = events_until(&mut events, &k, |e| matches!(e, CallEvent::TransferProgress { done: true, .. })).await;
    let codes: Vec<u16> = progress.iter().filter_map(|e| if let CallEvent::TransferProgress { code, .. } = e { Some(*code) } else { None }).collect();
    assert_eq!(codes, vec![202, 100, 200], "{progress:?}");
    flow.hangup(&call_id).await.expect("alice hangs up after the transfer");
    let end = events_until(&mut events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("hung up".into(), None, Party::Local));

    let (reinvite, info, refer, bye) = join(bob);
    assert!(reinvite.body.contains("a=sendonly"), "{}", reinvite.body);
    assert!(reinvite.header("To").is_some_and(|t| t.contains("tag=bobtag")), "in-dialog: {reinvite:?}");
    assert_eq!(info.header("Content-Type"), Some("application/dtmf-relay"));
    assert_eq!(info.body, "Signal=5\r\nDuration=160\r\n");
    assert_eq!(refer.header("Refer-To"), Some(format!("<sip:carol@{}>", k.domain()).as_str()));
    assert!(refer.header("Referred-By").is_some_and(|r| r.contains("alice")));
    assert_eq!(bye.header("Call-ID"), Some(call_id.as_str()));
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_turns_bob_away_busy() {
    let k = kamailio();
    let mut bob = bob(&k);
    let (flow, mut events) = alice(&k).await;
    flow.set_do_not_disturb(true).await.unwrap();
    let domain = k.domain().to_string();
    let bob = std::thread::spawn(move || {
        let alice_uri = format!("sip:alice@{domain}");
        let first = bob.invite("bob", &domain, &alice_uri, OFFER);
        let challenge = bob.transact(&first).expect("INVITE answered");
        bob.send(&ack_for_failure(&first, &challenge)).unwrap();
        let mut invite = bob.invite("bob", &domain, &alice_uri, OFFER);
        bob.add_credentials(&mut invite, &challenge, "bob", BOB_PASSWORD).unwrap();
        let answer = bob.transact(&invite).expect("alice answers");
        bob.send(&ack_for_failure(&invite, &answer)).unwrap();
        answer.status()
    });
    let missed = next_call_event(&mut events, &k).await;
    assert!(matches!(&missed, CallEvent::MissedCall { from_number, reason, .. } if from_number == "bob" && reason == "do not disturb"), "{missed:?}");
    assert_eq!(join(bob), Some(486));
    flow.stop().await;
}

// ---- engine to engine ---------------------------------------------------

/// `from` dials `to_user`; `to` answers. Returns (caller's id, callee's id).
async fn engines_connect(
    k: &Kamailio,
    (from, from_events): (&AccountFlow, &mut FlowEvents),
    (to, to_events): (&AccountFlow, &mut FlowEvents),
    to_user: &str,
) -> (String, String) {
    let caller_id = from.dial(to_user, OFFER).await.expect("dial");
    let incoming = events_until(to_events, k, |e| matches!(e, CallEvent::IncomingCall { .. })).await;
    let callee_id = incoming.last().unwrap().call_id().to_string();
    to.answer(&callee_id, ANSWER).await.expect("answer");
    let seen = events_until(from_events, k, |e| matches!(e, CallEvent::CallConfirmed { .. } | CallEvent::CallEnded { .. })).await;
    assert!(seen.contains(&CallEvent::CallAnswered { call_id: caller_id.clone(), sdp: ANSWER.into() }), "{seen:?}");
    let confirmed = events_until(to_events, k, |e| matches!(e, CallEvent::CallConfirmed { .. })).await;
    assert_eq!(confirmed, vec![CallEvent::CallConfirmed { call_id: callee_id.clone() }]);
    (caller_id, callee_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_hold_resume_dtmf_and_callee_hangs_up() {
    let k = kamailio();
    let (alice, mut alice_events) = alice(&k).await;
    let (bob, mut bob_events) = engine(&k, "bob", BOB_PASSWORD).await;
    let (a, b) = engines_connect(&k, (&alice, &mut alice_events), (&bob, &mut bob_events), "bob").await;

    for (offer, answer, direction) in [(HOLD, HELD, "a=sendonly"), (&*OFFER.replace("o=- 1 1", "o=- 1 3"), &*ANSWER.replace("o=- 7 1", "o=- 7 3"), "a=sendrecv")] {
        alice.update_media(&a, offer).await.expect("alice changes the media");
        let event = next_call_event(&mut bob_events, &k).await;
        assert!(matches!(&event, CallEvent::ReInvite { sdp, .. } if sdp.contains(direction)), "{event:?}");
        bob.answer_reinvite(&b, Some(answer)).await.expect("bob answers the re-INVITE");
        let event = next_call_event(&mut alice_events, &k).await;
        assert_eq!(event, CallEvent::ReInviteAnswered { call_id: a.clone(), sdp: answer.to_string() });
    }
    bob.send_dtmf(&b, '#', 100).await.expect("bob presses #");
    let event = next_call_event(&mut alice_events, &k).await;
    assert_eq!(event, CallEvent::DtmfReceived { call_id: a.clone(), digit: '#', duration_ms: 100 });

    bob.hangup(&b).await.expect("bob hangs up");
    assert_eq!(ended(&next_call_event(&mut bob_events, &k).await), ("hung up".into(), None, Party::Local));
    assert_eq!(ended(&next_call_event(&mut alice_events, &k).await), ("hung up".into(), None, Party::Remote));
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_decline() {
    let k = kamailio();
    let (alice, mut alice_events) = alice(&k).await;
    let (bob, mut bob_events) = engine(&k, "bob", BOB_PASSWORD).await;
    alice.dial("bob", OFFER).await.unwrap();
    let incoming = events_until(&mut bob_events, &k, |e| matches!(e, CallEvent::IncomingCall { .. })).await;
    bob.reject(incoming.last().unwrap().call_id(), false).await.expect("bob declines");
    let end = events_until(&mut alice_events, &k, is_ended).await;
    assert_eq!(ended(end.last().unwrap()), ("declined".into(), Some(603), Party::Remote));
    assert_eq!(ended(&next_call_event(&mut bob_events, &k).await), ("declined".into(), Some(603), Party::Local));
    alice.stop().await;
    bob.stop().await;
}

/// Bob did what a REFER asked (the engine's part): dial the target and report.
async fn bob_follows_the_refer(k: &Kamailio, bob: &AccountFlow, bob_events: &mut FlowEvents, b: &str, carol_events: &mut FlowEvents, carol: &AccountFlow) -> (String, Option<String>) {
    let asked = next_call_event(bob_events, k).await;
    let CallEvent::TransferRequested { call_id, target, replaces } = asked else { panic!("expected TransferRequested, got {asked:?}") };
    assert_eq!(call_id, b);
    assert_eq!(target, format!("sip:carol@{}", k.domain()));
    let new_call = bob.dial_replacing(&target, OFFER, replaces.clone()).await.expect("bob calls carol");
    let incoming = events_until(carol_events, k, |e| matches!(e, CallEvent::IncomingCall { .. })).await;
    let CallEvent::IncomingCall { call_id: at_carol, from_number, replaces: replaced, .. } = incoming.last().cloned().unwrap() else { unreachable!() };
    assert_eq!(from_number, "bob");
    carol.answer(&at_carol, ANSWER).await.expect("carol answers");
    events_until(bob_events, k, |e| matches!(e, CallEvent::CallConfirmed { call_id } if *call_id == new_call)).await;
    bob.transfer_result(b, 200, "OK").await.expect("bob reports the transfer");
    (at_carol, replaced)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_to_a_third_engine() {
    let k = kamailio();
    let (alice, mut alice_events) = alice(&k).await;
    let (bob, mut bob_events) = engine(&k, "bob", BOB_PASSWORD).await;
    let (carol, mut carol_events) = engine(&k, "carol", CAROL_PASSWORD).await;
    let (a, b) = engines_connect(&k, (&alice, &mut alice_events), (&bob, &mut bob_events), "bob").await;
    alice.blind_transfer(&a, "carol").await.expect("alice transfers bob to carol");
    let (_, replaced) = bob_follows_the_refer(&k, &bob, &mut bob_events, &b, &mut carol_events, &carol).await;
    assert_eq!(replaced, None, "a blind transfer replaces nothing");
    let progress = events_until(&mut alice_events, &k, |e| matches!(e, CallEvent::TransferProgress { done: true, .. })).await;
    assert!(matches!(progress.last(), Some(CallEvent::TransferProgress { code: 200, .. })), "{progress:?}");
    // The transfer done, alice leaves; bob and carol talk on.
    alice.hangup(&a).await.unwrap();
    assert_eq!(ended(&next_call_event(&mut bob_events, &k).await), ("hung up".into(), None, Party::Remote));
    alice.stop().await;
    bob.stop().await;
    carol.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attended_transfer_between_three_engines() {
    let k = kamailio();
    let (alice, mut alice_events) = alice(&k).await;
    let (bob, mut bob_events) = engine(&k, "bob", BOB_PASSWORD).await;
    let (carol, mut carol_events) = engine(&k, "carol", CAROL_PASSWORD).await;
    let (a_bob, b) = engines_connect(&k, (&alice, &mut alice_events), (&bob, &mut bob_events), "bob").await;
    let (a_carol, c) = engines_connect(&k, (&alice, &mut alice_events), (&carol, &mut carol_events), "carol").await;
    alice.attended_transfer(&a_bob, &a_carol).await.expect("alice connects bob with carol");
    let (_, replaced) = bob_follows_the_refer(&k, &bob, &mut bob_events, &b, &mut carol_events, &carol).await;
    assert_eq!(replaced, Some(c.clone()), "carol learns which call the new one replaces");
    // Carol's engine drops the replaced call with alice.
    carol.hangup(&c).await.unwrap();
    // Alice sees the transfer succeed and carol's leg end, in either order.
    let (mut transferred, mut carol_left) = (false, None);
    while !(transferred && carol_left.is_some()) {
        match next_call_event(&mut alice_events, &k).await {
            CallEvent::TransferProgress { code: 200, done: true, .. } => transferred = true,
            e @ CallEvent::CallEnded { .. } => carol_left = Some(e),
            _ => {}
        }
    }
    let end = carol_left.unwrap();
    assert_eq!(end.call_id(), a_carol);
    assert_eq!(ended(&end), ("hung up".into(), None, Party::Remote));
    alice.hangup(&a_bob).await.unwrap();
    alice.stop().await;
    bob.stop().await;
    carol.stop().await;
}

// ---- bad input over a real WebSocket --------------------------------------

/// A tiny SIP-over-WS "server" of ours: it accepts alice's REGISTER, then
/// throws malformed and unexpected messages at her flow, then checks that
/// the flow still answers an OPTIONS and rings for a good INVITE.
/// Returns the statuses alice answered with.
fn hostile_server(listener: std::net::TcpListener) -> Vec<u16> {
    use tungstenite::handshake::server::{Request, Response};
    use tungstenite::Message;
    let (tcp, _) = listener.accept().expect("alice connects");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut ws = tungstenite::accept_hdr(tcp, |_: &Request, mut response: Response| {
        response.headers_mut().insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
        Ok(response)
    })
    .expect("WebSocket handshake");
    let read = |ws: &mut tungstenite::WebSocket<std::net::TcpStream>| loop {
        match ws.read().expect("alice's flow stays up") {
            Message::Text(t) if !t.trim().is_empty() => return SipMessage::parse(t.as_str()).expect("alice sends SIP"),
            _ => {}
        }
    };
    let register = read(&mut ws);
    assert_eq!(register.method(), Some("REGISTER"));
    let ok = SipProbe::response_to(&register, 200, "OK", Some("srv"))
        .with_header("Contact", format!("{};expires=300", register.header("Contact").unwrap()));
    ws.send(Message::text(ok.to_wire())).unwrap();

    let head = |method: &str, n: usize| {
        format!(
            "{method} sip:alice@x.invalid;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS srv.invalid;branch=z9hG4bKg{n}\r\n\
             From: <sip:mallory@127.0.0.1>;tag=m{n}\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: bad{n}\r\nCSeq: 1 {method}\r\n"
        )
    };
    let mut garbage: Vec<Message> = vec![
        Message::text("INVITE sip:alice@x SIP/2.0\r\nVia: SIP/2.0/WS srv;branch=z9hG4bKt\r\nFrom: <sip:m@x>;ta"),
        Message::text(format!("{}Content-Length: 500\r\n\r\nv=0\r\n", head("INVITE", 1))),
        Message::text(format!("{}Content-Length: x\r\n\r\n", head("OPTIONS", 2))),
        Message::text(format!("{}Content-Length: 0\r\n\r\n", head("FOOBAR", 3))),
        Message::text("INVITE sip:alice@x SIP/2.0\r\nVia: SIP/2.0/WS srv;branch=z9hG4bKn\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
        Message::text(format!("{}Call-ID: again\r\nContent-Length: 0\r\n\r\n", head("INVITE", 4))),
        Message::text(format!("{}X-Big: {}\r\nContent-Length: 0\r\n\r\n", head("OPTIONS", 5), "a".repeat(70 * 1024))),
        Message::binary(vec![0xff, 0xfe, 0x00, 0x80]),
        Message::text("SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKnothing\r\nCSeq: 1 INVITE\r\nCall-ID: nope\r\n\r\n"),
        Message::text("SIP/2.0 180 Ringing\r\nCSeq: banana\r\n\r\n"),
        Message::text(format!("{}Content-Length: 0\r\n\r\n", head("BYE", 6).replace("To: <sip:alice@127.0.0.1>", "To: <sip:alice@127.0.0.1>;tag=ghost"))),
        Message::text(format!("{}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi", head("INVITE", 7))),
        Message::text("\u{0}\u{1}\r\n\r\n"),
    ];
    // A flood of unexpected (but well-formed) requests.
    garbage.extend((100..600).map(|n| Message::text(format!("{}Content-Length: 0\r\n\r\n", head("MESSAGE", n)))));
    for frame in garbage {
        ws.send(frame).unwrap();
    }
    let options = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", 9000));
    ws.send(Message::text(options)).unwrap();
    let mut statuses = Vec::new();
    loop {
        let m = read(&mut ws);
        statuses.extend(m.status());
        if m.header("Call-ID") == Some("bad9000") {
            assert_eq!(m.status(), Some(200), "the flow still answers OPTIONS");
            break;
        }
    }
    let invite = format!("{}Contact: <sip:mallory@srv.invalid;transport=ws>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}", head("INVITE", 9001), OFFER.len());
    ws.send(Message::text(invite)).unwrap();
    loop {
        let m = read(&mut ws);
        if m.header("Call-ID") == Some("bad9001") && m.status() == Some(180) {
            break;
        }
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_from_the_server_are_answered_or_dropped() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || hostile_server(listener));
    let account = Account {
        address: "alice@127.0.0.1".into(),
        auth_user: None,
        display_name: None,
        server: url,
        outbound_proxy: None,
        expires: 300,
        tls: TlsTrust::default(),
    };
    let (flow, mut events) = AccountFlow::start(account, Secret::new(ALICE_PASSWORD), InstanceId(INSTANCE.into())).unwrap();
    // The first call event is the good INVITE at the end: nothing before it rang.
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(20), events.next()).await {
            Ok(Some(FlowEvent::Call(e))) => break e,
            Ok(Some(FlowEvent::Registration(r))) => {
                assert!(!matches!(r.state, RegistrationState::Retrying { .. }), "the flow never dropped: {r:?}");
            }
            other => panic!("no call event: {other:?}"),
        }
    };
    assert!(matches!(&first, CallEvent::IncomingCall { call_id, from_number, .. } if call_id == "bad9001" && from_number == "mallory"), "{first:?}");
    let statuses = join(server);
    assert!(statuses.contains(&400), "malformed requests get 400: {statuses:?}");
    assert!(statuses.contains(&405), "unknown methods get 405: {statuses:?}");
    assert!(statuses.contains(&481), "requests for no dialog get 481: {statuses:?}");
    assert!(statuses.contains(&415), "an INVITE with a body that is not SDP gets 415: {statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 405).count() >= 500, "the flood is answered, not dropped");
    flow.stop().await;
}
