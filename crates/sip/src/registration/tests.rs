//! The registration machine driven by hand: no sockets, no clocks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::account::{Account, InstanceId, Secret, TlsTrust, ValidAccount};
use crate::digest::{self, parse_params, AnswerInput, Challenge};
use crate::error::SipError;
use crate::message::SipMessage;
use crate::registration::entropy::SeededEntropy;
use crate::registration::machine::{refresh_after, Input, Output, RegistrationMachine, RegistrationState as S};

const PASSWORD: &str = "pa\"ss word";
const INSTANCE: &str = "8f2c4a1e-0000-4000-8000-00000000abcd";

fn account(server: &str) -> ValidAccount {
    ValidAccount::new(Account {
        address: "sip:alice@example.com".into(),
        auth_user: None,
        display_name: Some("Alice".into()),
        server: server.into(),
        outbound_proxy: None,
        expires: 600,
        tls: TlsTrust::default(),
    })
    .unwrap()
}

fn machine_with_seed(seed: u64) -> RegistrationMachine {
    RegistrationMachine::new(
        account("wss://sip.example.com"),
        Secret::new(PASSWORD),
        InstanceId(INSTANCE.into()),
        Box::new(SeededEntropy(seed)),
    )
}

fn machine() -> RegistrationMachine {
    machine_with_seed(1)
}

fn drain(m: &mut RegistrationMachine) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn states(outs: &[Output]) -> Vec<S> {
    outs.iter().filter_map(|o| if let Output::State(s) = o { Some(s.clone()) } else { None }).collect()
}

fn sent(outs: &[Output]) -> Vec<SipMessage> {
    outs.iter()
        .filter_map(|o| if let Output::Send(t) = o { Some(SipMessage::parse(t).unwrap()) } else { None })
        .collect()
}

fn only_request(outs: &[Output]) -> SipMessage {
    let mut reqs = sent(outs);
    assert_eq!(reqs.len(), 1, "exactly one request expected in {outs:?}");
    reqs.remove(0)
}

fn response(req: &SipMessage, status: u16, reason: &str, extra: &str) -> SipMessage {
    let h = |n| req.header(n).unwrap();
    SipMessage::parse(&format!(
        "SIP/2.0 {status} {reason}\r\nVia: {};received=127.0.0.1\r\nFrom: {}\r\nTo: {};tag=srv\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        h("Via"), h("From"), h("To"), h("Call-ID"), h("CSeq")
    ))
    .unwrap()
}

fn challenge(req: &SipMessage, nonce: &str, stale: bool) -> SipMessage {
    let stale = if stale { ", stale=true" } else { "" };
    response(
        req,
        401,
        "Unauthorized",
        &format!("WWW-Authenticate: Digest realm=\"example.com\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5{stale}\r\n"),
    )
}

fn ok(req: &SipMessage, expires: u32) -> SipMessage {
    let contact = req.header("Contact").unwrap();
    response(req, 200, "OK", &format!("Contact: <sip:bob@10.0.0.9>;expires=999, {contact};expires={expires}\r\n"))
}

/// Checks the Authorization header the way a registrar would.
fn assert_authorized(req: &SipMessage, nonce: &str, nc: u32) {
    let value = req.header("Authorization").expect("REGISTER carries credentials");
    let params = parse_params(value.strip_prefix("Digest").unwrap()).unwrap();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("username"), "alice");
    assert_eq!(get("nonce"), nonce);
    assert_eq!(get("nc"), format!("{nc:08x}"));
    assert_eq!(get("uri"), "sip:example.com");
    let ch = Challenge::parse(&format!("Digest realm=\"example.com\", nonce=\"{nonce}\", qop=auth")).unwrap();
    let cnonce = get("cnonce");
    let input = AnswerInput { username: "alice", password: PASSWORD, method: "REGISTER", uri: "sip:example.com", cnonce: &cnonce, nc };
    assert_eq!(get("response"), digest::response_hash(&ch, &input));
}

/// Start, connect, answer the challenge, get 200: returns the machine registered.
fn registered(t0: Instant, expires: u32) -> RegistrationMachine {
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    drain(&mut m);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&challenge(&first, "n1", false)));
    let second = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&ok(&second, expires)));
    assert_eq!(states(&drain(&mut m)), vec![S::Registered { expires }]);
    m
}

#[test]
fn registers_with_digest_and_rfc7118_headers() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    assert_eq!(drain(&mut m), vec![Output::State(S::Registering), Output::Connect]);
    assert_eq!(m.poll_timeout(), None);

    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    assert_eq!(first.method(), Some("REGISTER"));
    assert!(first.header("Authorization").is_none());
    let via = first.header("Via").unwrap();
    assert!(via.starts_with("SIP/2.0/WSS ") && via.contains(".invalid;branch=z9hG4bK"), "{via}");
    let contact = first.header("Contact").unwrap();
    assert!(contact.starts_with("<sip:alice@") && contact.contains(".invalid;transport=ws;ob>"), "{contact}");
    assert!(contact.contains(&format!("+sip.instance=\"<urn:uuid:{INSTANCE}>\";reg-id=1")), "{contact}");
    assert_eq!(first.header("Expires"), Some("600"));
    assert_eq!(first.header("From").map(|f| f.starts_with("\"Alice\" <sip:alice@example.com>;tag=")), Some(true));
    assert_eq!(first.header("Supported"), Some("path, outbound"));

    m.handle_input(t0, Input::Received(&challenge(&first, "n1", false)));
    let second = only_request(&drain(&mut m));
    assert_authorized(&second, "n1", 1);
    assert_eq!(second.header("Call-ID"), first.header("Call-ID"), "one Call-ID per registration");
    assert_eq!(second.cseq().unwrap().0, first.cseq().unwrap().0 + 1);

    m.handle_input(t0, Input::Received(&ok(&second, 300)));
    assert_eq!(states(&drain(&mut m)), vec![S::Registered { expires: 300 }]);
    assert_eq!(m.registers_sent(), 2);
    // Refresh at 255 s (85 %), keep-alive at 25 s comes first.
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(25)));
}

#[test]
fn refresh_timing() {
    assert_eq!(refresh_after(3600), Duration::from_secs(3060));
    assert_eq!(refresh_after(300), Duration::from_secs(255));
    assert_eq!(refresh_after(120), Duration::from_secs(90));
    assert_eq!(refresh_after(10), Duration::from_secs(5));
    assert_eq!(refresh_after(4), Duration::from_secs(2));
}

#[test]
fn keepalives_every_25_seconds_while_connected() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    for i in 1..=3u64 {
        let t = t0 + Duration::from_secs(25 * i);
        assert_eq!(m.poll_timeout(), Some(t));
        m.handle_input(t, Input::Timeout);
        assert_eq!(drain(&mut m), vec![Output::KeepAlive]);
        m.handle_input(t, Input::Alive); // the server answers the keep-alive
    }
}

#[test]
fn refresh_reuses_the_nonce_and_answers_a_stale_one_quietly() {
    let t0 = Instant::now();
    let mut m = registered(t0, 120);
    let t = t0 + refresh_after(120);
    m.handle_input(t, Input::Timeout);
    let outs = drain(&mut m);
    let refresh = only_request(&outs);
    assert_authorized(&refresh, "n1", 2);
    assert!(states(&outs).is_empty(), "a refresh does not leave Registered");

    m.handle_input(t, Input::Received(&challenge(&refresh, "n2", true)));
    let outs = drain(&mut m);
    assert!(states(&outs).is_empty());
    let again = only_request(&outs);
    assert_authorized(&again, "n2", 1);
    m.handle_input(t, Input::Received(&ok(&again, 120)));
    assert!(drain(&mut m).is_empty(), "same expiry: no event");
    assert_eq!(m.state(), Some(&S::Registered { expires: 120 }));
}

#[test]
fn a_new_nonce_after_a_cached_one_is_not_a_wrong_password() {
    let t0 = Instant::now();
    let mut m = registered(t0, 120);
    let t = t0 + refresh_after(120);
    m.handle_input(t, Input::Timeout);
    let refresh = only_request(&drain(&mut m));
    // No stale flag, but our nonce was an old one: answer once more.
    m.handle_input(t, Input::Received(&challenge(&refresh, "n9", false)));
    assert_authorized(&only_request(&drain(&mut m)), "n9", 1);
}

#[test]
fn stale_challenge_after_fresh_credentials_is_answered_not_failed() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&challenge(&first, "n1", false)));
    let second = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&challenge(&second, "n2", true)));
    let outs = drain(&mut m);
    assert!(states(&outs).is_empty(), "{outs:?}");
    let third = only_request(&outs);
    assert_authorized(&third, "n2", 1);
    m.handle_input(t0, Input::Received(&ok(&third, 600)));
    assert_eq!(states(&drain(&mut m)), vec![S::Registered { expires: 600 }]);
}

fn wrong_password_machine(t0: Instant, final_status: u16) -> RegistrationMachine {
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&challenge(&first, "n1", false)));
    let second = only_request(&drain(&mut m));
    let refusal = if final_status == 401 { challenge(&second, "n2", false) } else { response(&second, 403, "Forbidden", "") };
    m.handle_input(t0, Input::Received(&refusal));
    let outs = drain(&mut m);
    assert!(sent(&outs).is_empty(), "no retry right away: {outs:?}");
    assert_eq!(
        states(&outs),
        vec![S::Failed { reason: "The server rejected the password for alice@example.com.".into() }]
    );
    m
}

#[test]
fn wrong_password_fails_in_words_and_retries_once_a_minute() {
    let t0 = Instant::now();
    let mut m = wrong_password_machine(t0, 401);
    // Keep-alives go on, but no REGISTER before a minute has passed.
    while let Some(next) = m.poll_timeout() {
        if next >= t0 + Duration::from_secs(60) {
            break;
        }
        m.handle_input(next, Input::Timeout);
        assert!(sent(&drain(&mut m)).is_empty());
        m.handle_input(next, Input::Alive); // the server answers the keep-alive
    }
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let t = t0 + Duration::from_secs(60);
    m.handle_input(t, Input::Timeout);
    let outs = drain(&mut m);
    assert_eq!(states(&outs), vec![S::Registering]);
    let retry = only_request(&outs);
    assert!(retry.header("Authorization").is_none(), "the rejected nonce is forgotten");
    assert_eq!(m.registers_sent(), 3);
}

#[test]
fn forbidden_after_credentials_is_a_wrong_password() {
    wrong_password_machine(Instant::now(), 403);
}

#[test]
fn editing_the_account_retries_at_once() {
    let t0 = Instant::now();
    let mut m = wrong_password_machine(t0, 401);
    let t = t0 + Duration::from_secs(3);
    m.handle_input(t, Input::AccountEdited(Box::new(account("wss://sip.example.com")), Secret::new("new")));
    let outs = drain(&mut m);
    assert_eq!(states(&outs), vec![S::Registering]);
    only_request(&outs);

    // A different server: close the old flow and open a new one.
    m.handle_input(t, Input::AccountEdited(Box::new(account("wss://other.example.com")), Secret::new("new")));
    let outs = drain(&mut m);
    assert_eq!(outs.first(), Some(&Output::Disconnect));
    assert!(outs.contains(&Output::Connect));
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&response(&first, 423, "Interval Too Brief", "Min-Expires: 1800\r\n")));
    let second = only_request(&drain(&mut m));
    assert_eq!(second.header("Expires"), Some("1800"));
    m.handle_input(t0, Input::Received(&response(&second, 423, "Interval Too Brief", "Min-Expires: 1800\r\n")));
    assert!(matches!(states(&drain(&mut m)).as_slice(), [S::Failed { .. }]));
}

#[test]
fn transport_loss_backs_off_with_jitter_up_to_a_minute() {
    let run = |seed| {
        let mut m = machine_with_seed(seed);
        let mut t = Instant::now();
        m.handle_input(t, Input::Start);
        drain(&mut m);
        let mut delays = Vec::new();
        for _ in 0..9 {
            m.handle_input(t, Input::ConnectFailed(SipError::Connect { host: "h".into(), why: "refused".into() }));
            let outs = drain(&mut m);
            let st = states(&outs);
            let [S::Retrying { in_seconds }] = st.as_slice() else { panic!("{outs:?}") };
            delays.push(*in_seconds);
            let next = m.poll_timeout().unwrap();
            assert!(next > t);
            t = next;
            m.handle_input(t, Input::Timeout);
            assert_eq!(drain(&mut m), vec![Output::State(S::Registering), Output::Connect]);
        }
        delays
    };
    let delays = run(5);
    for (d, base) in delays.iter().zip([1u32, 2, 4, 8, 16, 32, 60, 60, 60]) {
        assert!((base * 3 / 4..=base).contains(d), "{delays:?}");
    }
    assert_eq!(delays, run(5), "same seed, same jitter");
}

#[test]
fn connection_lost_when_registered_retries_and_success_resets_the_backoff() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    m.handle_input(t0, Input::ConnectionLost);
    assert_eq!(states(&drain(&mut m)), vec![S::Retrying { in_seconds: 1 }]);
    let t = m.poll_timeout().unwrap();
    assert!(t <= t0 + Duration::from_secs(1));
    m.handle_input(t, Input::Timeout);
    assert_eq!(drain(&mut m), vec![Output::State(S::Registering), Output::Connect]);
    m.handle_input(t, Input::Connected);
    let req = only_request(&drain(&mut m));
    assert_authorized(&req, "n1", 2);
    m.handle_input(t, Input::Received(&ok(&req, 300)));
    assert_eq!(states(&drain(&mut m)), vec![S::Registered { expires: 300 }]);
    m.handle_input(t, Input::ConnectionLost);
    assert_eq!(states(&drain(&mut m)), vec![S::Retrying { in_seconds: 1 }]);
}

#[test]
fn no_answer_in_time_drops_the_flow_and_retries() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    drain(&mut m);
    let mut t = t0;
    while let Some(next) = m.poll_timeout() {
        t = next;
        m.handle_input(t, Input::Timeout);
        let outs = drain(&mut m);
        if outs.contains(&Output::Disconnect) {
            assert!(matches!(states(&outs).as_slice(), [S::Retrying { .. }]));
            break;
        }
    }
    assert_eq!(t, t0 + Duration::from_secs(32));
}

#[test]
fn server_trouble_honours_retry_after_and_other_refusals_fail_in_words() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    m.handle_input(t0, Input::Received(&response(&first, 503, "Service Unavailable", "Retry-After: 7\r\n")));
    assert_eq!(states(&drain(&mut m)), vec![S::Retrying { in_seconds: 7 }]);
    let t = t0 + Duration::from_secs(7);
    m.handle_input(t, Input::Timeout);
    let outs = drain(&mut m);
    let again = only_request(&outs);
    m.handle_input(t, Input::Received(&response(&again, 404, "Not Found", "")));
    assert_eq!(
        states(&drain(&mut m)),
        vec![S::Failed { reason: "The server refused the registration of alice@example.com (404 Not Found).".into() }]
    );
}

#[test]
fn bad_certificate_fails_in_words() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    drain(&mut m);
    let err = SipError::Certificate { host: "sip.example.com".into(), why: "has expired".into() };
    m.handle_input(t0, Input::ConnectFailed(err));
    assert_eq!(states(&drain(&mut m)), vec![S::Failed { reason: "The certificate of sip.example.com has expired.".into() }]);
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(60)));
}

#[test]
fn stray_responses_are_ignored() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    m.handle_input(t0, Input::Connected);
    let first = only_request(&drain(&mut m));
    let mut stray = ok(&first, 300);
    stray.headers.retain(|(n, _)| n != "CSeq");
    stray.headers.push(("CSeq".into(), "99 REGISTER".into()));
    m.handle_input(t0, Input::Received(&stray));
    let mut other = ok(&first, 300);
    other.headers.retain(|(n, _)| n != "Call-ID");
    m.handle_input(t0, Input::Received(&other));
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.state(), Some(&S::Registering));
}

#[test]
fn stop_unregisters_the_same_contact() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    m.handle_input(t0, Input::Stop);
    let unregister = only_request(&drain(&mut m));
    assert_eq!(unregister.header("Expires"), Some("0"));
    assert!(unregister.header("Contact").unwrap().contains("reg-id=1"));
    assert_authorized(&unregister, "n1", 2);
    m.handle_input(t0, Input::Received(&challenge(&unregister, "n3", true)));
    let again = only_request(&drain(&mut m));
    assert_eq!(again.header("Expires"), Some("0"));
    m.handle_input(t0, Input::Received(&response(&again, 200, "OK", "")));
    assert_eq!(drain(&mut m), vec![Output::Disconnect, Output::State(S::Unregistered), Output::Stopped]);
    m.handle_input(t0, Input::Start);
    assert!(drain(&mut m).is_empty(), "a stopped machine stays stopped");
}

#[test]
fn stop_gives_up_waiting_after_a_few_seconds() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    m.handle_input(t0, Input::Stop);
    drain(&mut m);
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    m.handle_input(t0 + Duration::from_secs(4), Input::Timeout);
    assert!(drain(&mut m).ends_with(&[Output::State(S::Unregistered), Output::Stopped]));
}

#[test]
fn stop_while_offline_ends_at_once() {
    let t0 = Instant::now();
    let mut m = machine();
    m.handle_input(t0, Input::Start);
    drain(&mut m);
    m.handle_input(t0, Input::Stop);
    assert_eq!(drain(&mut m), vec![Output::Disconnect, Output::State(S::Unregistered), Output::Stopped]);
}

#[test]
fn events_serialize_as_plain_tagged_json() {
    let v = serde_json::to_value(S::Retrying { in_seconds: 4 }).unwrap();
    assert_eq!(v, serde_json::json!({"state": "retrying", "in_seconds": 4}));
    let e = crate::RegistrationEvent { account: "alice@example.com".into(), state: S::Registered { expires: 60 } };
    assert_eq!(
        serde_json::to_value(e).unwrap(),
        serde_json::json!({"account": "alice@example.com", "state": "registered", "expires": 60})
    );
}

#[test]
fn a_keepalive_unanswered_for_10_seconds_means_the_connection_is_dead() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    let t = t0 + Duration::from_secs(25);
    m.handle_input(t, Input::Timeout);
    assert_eq!(drain(&mut m), vec![Output::KeepAlive]);
    // Something comes back: alive, nothing happens at the deadline.
    m.handle_input(t + Duration::from_millis(30), Input::Alive);
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(50)));

    let t = t0 + Duration::from_secs(50);
    m.handle_input(t, Input::Timeout);
    assert_eq!(drain(&mut m), vec![Output::KeepAlive]);
    assert_eq!(m.poll_timeout(), Some(t + Duration::from_secs(10)));
    m.handle_input(t + Duration::from_secs(10), Input::Timeout);
    let outs = drain(&mut m);
    assert_eq!(outs.first(), Some(&Output::Disconnect), "{outs:?}");
    assert!(matches!(states(&outs).as_slice(), [S::Retrying { in_seconds: 1 }]), "{outs:?}");
}

#[test]
fn a_network_change_reconnects_and_registers_at_once() {
    let t0 = Instant::now();
    let mut m = registered(t0, 300);
    let t = t0 + Duration::from_secs(3);
    m.handle_input(t, Input::NetworkChanged);
    let outs = drain(&mut m);
    assert_eq!(outs, vec![Output::Disconnect, Output::State(S::Registering), Output::Connect]);
    m.handle_input(t, Input::Connected);
    let register = only_request(&drain(&mut m));
    assert_eq!(register.method(), Some("REGISTER"));
}

#[test]
fn a_network_change_while_stopped_or_idle_does_nothing() {
    let mut m = machine();
    m.handle_input(Instant::now(), Input::NetworkChanged);
    assert!(drain(&mut m).is_empty());
}
