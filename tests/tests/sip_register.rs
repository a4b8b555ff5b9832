//! REGISTER over WS and WSS against the harness Kamailio: the challenge, the
//! right password, a wrong password, the certificate check, SHA-256 digest,
//! and an INVITE routed between two WebSocket users.

// A failed expectation is the test failing, with its message.
#![allow(clippy::expect_used, clippy::panic)]

use std::time::Duration;

use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::sip_probe::{ack_for_failure, DigestAlgorithm, ProbeError, SipMessage, SipProbe};

const TIMEOUT: Duration = Duration::from_secs(3);

fn kamailio_with_users() -> Kamailio {
    let opts = KamailioOptions::new().user("alice", "alice-secret").user("bob", "b:o\\b pass");
    kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"))
}

fn ws_probe(k: &Kamailio) -> SipProbe {
    SipProbe::connect_ws(&k.ws_url(), TIMEOUT)
        .unwrap_or_else(|e| panic!("WS connect to {}: {e}\n{}", k.ws_url(), k.log_tail(30)))
}

fn wss_probe(k: &Kamailio) -> SipProbe {
    SipProbe::connect_wss(&k.wss_url(), k.ca_pem(), TIMEOUT)
        .unwrap_or_else(|e| panic!("WSS connect to {}: {e}\n{}", k.wss_url(), k.log_tail(30)))
}

/// The `expires` Kamailio granted to `contact` in a 200 OK to REGISTER.
fn granted_expires(ok: &SipMessage, contact: &str) -> Option<u32> {
    ok.headers_named("Contact").flat_map(|v| v.split(',')).find(|c| c.contains(contact)).and_then(|c| {
        c.split(';').find_map(|p| p.trim().strip_prefix("expires=")).and_then(|v| v.trim().parse().ok())
    })
}

fn assert_challenge(response: &SipMessage, k: &Kamailio) {
    assert_eq!(response.status(), Some(401), "expected a 401 challenge, got {response:?}\n{}", k.log_tail(30));
    let challenge = response.digest_challenge().expect("the 401 carries a digest challenge");
    assert_eq!(challenge.realm, k.domain());
    assert!(!challenge.nonce.is_empty());
    assert!(challenge.qop.iter().any(|q| q == "auth"), "qop=auth offered: {challenge:?}");
}

#[test]
fn ws_register_without_credentials_is_challenged() {
    let k = kamailio_with_users();
    let mut probe = ws_probe(&k);
    let request = probe.register_request("alice", k.domain(), 300);
    let response = probe.transact(&request).expect("Kamailio answers REGISTER");
    assert_challenge(&response, &k);
    assert_eq!(response.digest_challenge().expect("challenge").algorithm, DigestAlgorithm::Md5);
}

#[test]
fn ws_register_with_right_password_is_accepted() {
    let k = kamailio_with_users();
    let mut probe = ws_probe(&k);
    let outcome = probe.register("alice", "alice-secret", k.domain(), 300).expect("REGISTER exchange");
    assert_challenge(&outcome.challenge, &k);
    let ok = outcome.final_response.expect("a second answer after the credentials");
    assert_eq!(ok.status(), Some(200), "expected 200 OK, got {ok:?}\n{}", k.log_tail(30));
    let contact = probe.contact_uri("alice");
    assert_eq!(granted_expires(&ok, &contact), Some(300), "Contact {contact} with expires=300 echoed in {ok:?}");
}

#[test]
fn ws_register_with_wrong_password_is_rejected() {
    let k = kamailio_with_users();
    let mut probe = ws_probe(&k);
    let outcome = probe.register("alice", "not-the-password", k.domain(), 300).expect("REGISTER exchange");
    assert_challenge(&outcome.challenge, &k);
    let rejected = outcome.final_response.expect("an answer to the credentials");
    assert!(matches!(rejected.status(), Some(401 | 403)), "wrong password must be refused, got {rejected:?}");
}

#[test]
fn ws_register_password_with_db_text_separators_is_accepted() {
    // bob's password holds ':' and '\', which db_text must get escaped.
    let k = kamailio_with_users();
    let mut probe = ws_probe(&k);
    let outcome = probe.register("bob", "b:o\\b pass", k.domain(), 60).expect("REGISTER exchange");
    assert_eq!(outcome.status(), Some(200), "{outcome:?}\n{}", k.log_tail(30));
}

#[test]
fn ws_unregister_removes_the_contact() {
    let k = kamailio_with_users();
    let mut probe = ws_probe(&k);
    let outcome = probe.register("alice", "alice-secret", k.domain(), 300).expect("REGISTER");
    assert_eq!(outcome.status(), Some(200));
    let outcome = probe.register("alice", "alice-secret", k.domain(), 0).expect("REGISTER expires=0");
    let ok = outcome.final_response.unwrap_or(outcome.challenge);
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    assert_eq!(granted_expires(&ok, &probe.contact_uri("alice")), None, "contact still bound: {ok:?}");
}

#[test]
fn wss_register_trusting_the_test_ca_is_accepted() {
    let k = kamailio_with_users();
    let mut probe = wss_probe(&k);
    let outcome = probe.register("alice", "alice-secret", k.domain(), 120).expect("REGISTER over WSS");
    assert_challenge(&outcome.challenge, &k);
    let ok = outcome.final_response.expect("a second answer after the credentials");
    assert_eq!(ok.status(), Some(200), "{ok:?}\n{}", k.log_tail(30));
    assert_eq!(granted_expires(&ok, &probe.contact_uri("alice")), Some(120), "{ok:?}");
    assert!(
        ok.header("Via").is_some_and(|v| v.starts_with("SIP/2.0/WSS ")),
        "Via keeps transport WSS: {:?}",
        ok.header("Via")
    );

    let outcome = probe.register("alice", "wrong", k.domain(), 120).expect("REGISTER over WSS");
    assert!(matches!(outcome.status(), Some(401 | 403)), "{outcome:?}");
}

#[test]
fn wss_without_the_test_ca_fails_certificate_verification() {
    let k = kamailio_with_users();
    let no_roots = homeline_tests::sip_probe::tls_builder()
        .expect("ring provider")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    match SipProbe::connect_wss_with(&k.wss_url(), std::sync::Arc::new(no_roots), TIMEOUT) {
        Err(ProbeError::Tls(message)) => assert!(message.contains("UnknownIssuer"), "{message}"),
        other => panic!("an untrusted certificate must fail the TLS handshake, got {other:?}"),
    }
}

#[test]
fn sha256_digest_register_is_accepted() {
    let opts = KamailioOptions::new().user("carol", "carol-secret").digest_algorithm(DigestAlgorithm::Sha256);
    let k = kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let mut probe = ws_probe(&k);
    let outcome = probe.register("carol", "carol-secret", k.domain(), 60).expect("REGISTER exchange");
    let challenge = outcome.challenge.digest_challenge().expect("digest challenge");
    assert_eq!(challenge.algorithm, DigestAlgorithm::Sha256, "{:?}", outcome.challenge);
    assert_eq!(outcome.status(), Some(200), "{outcome:?}\n{}", k.log_tail(30));
}

#[test]
fn custom_realm_register_is_accepted() {
    let opts = KamailioOptions::new().user("dave", "dave-secret").domain("homeline.test");
    let k = kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let mut probe = ws_probe(&k);
    let outcome = probe.register("dave", "dave-secret", "homeline.test", 60).expect("REGISTER exchange");
    assert_challenge(&outcome.challenge, &k);
    assert_eq!(outcome.status(), Some(200), "{outcome:?}\n{}", k.log_tail(30));
}

/// alice (WS) calls bob (WSS): Kamailio challenges the INVITE, then routes it
/// over bob's WebSocket with a Record-Route; bob's 486 reaches alice.
#[test]
fn ws_invite_is_routed_to_a_registered_wss_user() {
    let k = kamailio_with_users();
    let mut alice = ws_probe(&k);
    let mut bob = wss_probe(&k);
    assert_eq!(alice.register("alice", "alice-secret", k.domain(), 300).expect("alice registers").status(), Some(200));
    assert_eq!(bob.register("bob", "b:o\\b pass", k.domain(), 300).expect("bob registers").status(), Some(200));

    let bob_uri = format!("sip:bob@{}", k.domain());
    let first = alice.invite("alice", k.domain(), &bob_uri, OFFER);
    let challenge = alice.transact(&first).expect("INVITE answered");
    assert_eq!(challenge.status(), Some(407), "INVITE from a local user is challenged: {challenge:?}");
    alice.send(&ack_for_failure(&first, &challenge)).expect("ACK the 407");

    let mut invite = alice.invite("alice", k.domain(), &bob_uri, OFFER);
    alice.add_credentials(&mut invite, &challenge, "alice", "alice-secret").expect("credentials");
    alice.send(&invite).expect("send authenticated INVITE");

    let incoming = bob.recv_request().unwrap_or_else(|e| panic!("bob gets the INVITE: {e}\n{}", k.log_tail(40)));
    assert_eq!(incoming.method(), Some("INVITE"));
    assert!(
        incoming.request_uri().is_some_and(|uri| uri.contains(".invalid")),
        "R-URI is bob's registered contact: {:?}",
        incoming.start
    );
    assert!(incoming.header("Record-Route").is_some(), "Kamailio record-routes: {incoming:?}");
    assert!(incoming.header("Proxy-Authorization").is_none(), "credentials consumed: {incoming:?}");
    assert_eq!(incoming.body, OFFER, "without rtpengine the SDP passes untouched");

    bob.send(&SipProbe::response_to(&incoming, 486, "Busy Here", Some("bobtag"))).expect("bob answers");
    let answer = alice.recv_final().unwrap_or_else(|e| panic!("alice gets bob's answer: {e}\n{}", k.log_tail(40)));
    assert_eq!(answer.status(), Some(486), "{answer:?}");
    alice.send(&ack_for_failure(&invite, &answer)).expect("ACK the 486");
}

const OFFER: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

#[test]
fn restarted_kamailio_serves_again_on_the_same_ports() {
    let mut k = kamailio_with_users();
    let url = k.ws_url();
    k.stop();
    assert!(SipProbe::connect_ws(&url, TIMEOUT).is_err(), "a stopped Kamailio still accepts connections");
    k.restart().unwrap_or_else(|e| panic!("restart: {e}"));
    assert_eq!(k.ws_url(), url, "the restart keeps the ports");
    let mut probe = ws_probe(&k);
    let outcome = probe.register("alice", "alice-secret", k.domain(), 300).expect("REGISTER after restart");
    let ok = outcome.final_response.expect("a second answer after the credentials");
    assert_eq!(ok.status(), Some(200), "{}", k.log_tail(30));
}
