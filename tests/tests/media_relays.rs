//! rtpengine and coturn start and answer, and Kamailio bridges a call through
//! rtpengine: WebRTC SDP towards WebSocket users, plain RTP towards UDP users.

// A failed expectation is the test failing, with its message.
#![allow(clippy::expect_used, clippy::panic)]

use std::net::UdpSocket;
use std::time::Duration;

use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::services::{coturn, rtpengine};
use homeline_tests::sip_probe::{ack_for_failure, SipMessage, SipProbe};

const TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn rtpengine_answers_ng_ping() {
    let a = rtpengine::start().unwrap_or_else(|e| panic!("rtpengine must start: {e}"));
    let b = rtpengine::start().unwrap_or_else(|e| panic!("a second rtpengine must start beside the first: {e}"));
    for engine in [&a, &b] {
        assert!(engine.ping(Duration::from_secs(1)), "no pong from {}\n{}", engine.ng_addr(), engine.log_tail(20));
        let reply = engine.ng_request(b"d7:command4:liste", Duration::from_secs(1)).expect("ng list");
        assert!(reply.starts_with(b"d5:callsle"), "a fresh rtpengine has no calls: {}", String::from_utf8_lossy(&reply));
    }
    assert_ne!(a.ng_addr(), b.ng_addr());
}

#[test]
fn coturn_answers_stun_binding_with_loopback_mapped_address() {
    let turn = coturn::start().unwrap_or_else(|e| panic!("coturn must start: {e}"));
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP socket");
    let mapped = coturn::stun_binding_from(&socket, turn.addr(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("STUN binding to {}: {e}\n{}", turn.addr(), turn.log_tail(20)));
    assert_eq!(mapped, socket.local_addr().expect("local address"), "XOR-MAPPED-ADDRESS is our own address");
    assert!(mapped.ip().is_loopback());

    // TURN needs the long-term credentials: an anonymous Allocate is challenged.
    let (code, realm) = coturn::turn_allocate_unauthenticated(turn.addr(), Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("TURN Allocate to {}: {e}\n{}", turn.addr(), turn.log_tail(20)));
    assert_eq!((code, realm.as_str()), (401, coturn::REALM));
    assert_eq!(turn.stun_url(), format!("stun:{}", turn.addr()));
}

fn kamailio_with_rtpengine(engine: &rtpengine::RtpEngine) -> Kamailio {
    let opts = KamailioOptions::new().user("alice", "alice-pw").user("bob", "bob-pw").with_rtpengine(Some(engine));
    kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio with rtpengine must start: {e}"))
}

fn registered(k: &Kamailio, mut probe: SipProbe, user: &str, password: &str) -> SipProbe {
    let outcome = probe.register(user, password, k.domain(), 300).expect("REGISTER exchange");
    assert_eq!(outcome.status(), Some(200), "{user} registers: {outcome:?}\n{}", k.log_tail(30));
    probe
}

/// Send an INVITE, answer the proxy challenge, and return the authenticated INVITE (sent).
fn send_authenticated_invite(probe: &mut SipProbe, from: &str, password: &str, k: &Kamailio, to: &str, sdp: &str) -> SipMessage {
    let target = format!("sip:{to}@{}", k.domain());
    let first = probe.invite(from, k.domain(), &target, sdp);
    let challenge = probe.transact(&first).expect("INVITE answered");
    assert_eq!(challenge.status(), Some(407), "{challenge:?}");
    probe.send(&ack_for_failure(&first, &challenge)).expect("ACK the 407");
    let mut invite = probe.invite(from, k.domain(), &target, sdp);
    probe.add_credentials(&mut invite, &challenge, from, password).expect("credentials");
    probe.send(&invite).expect("send the INVITE");
    invite
}

/// The media port of the first m-line.
fn media_port(sdp: &str) -> Option<u16> {
    sdp.lines().find_map(|l| l.strip_prefix("m=audio ")).and_then(|rest| rest.split(' ').next()).and_then(|p| p.parse().ok())
}

fn assert_webrtc_sdp(sdp: &str, engine: &rtpengine::RtpEngine, setup: &str) {
    for needle in ["UDP/TLS/RTP/SAVPF", "a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=rtcp-mux", "a=mid:", setup] {
        assert!(sdp.contains(needle), "WebRTC side needs {needle:?}:\n{sdp}");
    }
    assert!(sdp.contains("a=candidate:"), "rtpengine offers its own ICE candidate:\n{sdp}");
    assert!(!sdp.contains("a=crypto:"), "no SDES keys beside DTLS:\n{sdp}");
    let port = media_port(sdp).expect("an audio m-line");
    assert!(engine.media_ports().contains(&port), "media goes through rtpengine ({port}):\n{sdp}");
}

fn assert_plain_sdp(sdp: &str, engine: &rtpengine::RtpEngine) {
    assert!(sdp.contains("m=audio ") && sdp.contains(" RTP/AVP "), "plain side gets RTP/AVP:\n{sdp}");
    for absent in ["a=ice-", "a=fingerprint:", "a=setup:", "a=candidate:", "a=rtcp-mux"] {
        assert!(!sdp.contains(absent), "plain side must not see {absent:?}:\n{sdp}");
    }
    assert!(sdp.contains("c=IN IP4 127.0.0.1"), "{sdp}");
    let port = media_port(sdp).expect("an audio m-line");
    assert!(engine.media_ports().contains(&port), "media goes through rtpengine ({port}):\n{sdp}");
}

/// alice (WebRTC over WS) calls bob (plain SIP over UDP) and hangs up; then
/// bob calls alice. Each side sees SDP of its own kind, all media via rtpengine.
#[test]
fn kamailio_with_rtpengine_bridges_webrtc_and_plain_rtp() {
    let engine = rtpengine::start().unwrap_or_else(|e| panic!("rtpengine must start: {e}"));
    let k = kamailio_with_rtpengine(&engine);
    let alice_ws = SipProbe::connect_ws(&k.ws_url(), TIMEOUT).expect("alice connects over WS");
    let mut alice = registered(&k, alice_ws, "alice", "alice-pw");
    let bob_udp = SipProbe::connect_udp(k.udp_addr(), TIMEOUT).expect("bob's UDP socket");
    let mut bob = registered(&k, bob_udp, "bob", "bob-pw");

    // Call 1: WebRTC offer → bob sees plain RTP; bob's plain answer → alice sees WebRTC.
    let invite = send_authenticated_invite(&mut alice, "alice", "alice-pw", &k, "bob", WEBRTC_OFFER);
    let incoming = bob.recv_request().unwrap_or_else(|e| panic!("bob gets the INVITE: {e}\n{}", k.log_tail(40)));
    assert_eq!(incoming.method(), Some("INVITE"));
    assert_plain_sdp(&incoming.body, &engine);

    let ok = SipProbe::response_to(&incoming, 200, "OK", Some("bob1"))
        .with_header("Contact", format!("<{}>", bob.contact_uri("bob")))
        .with_body("application/sdp", PLAIN_ANSWER);
    bob.send(&ok).expect("bob answers");
    let answer = alice.recv_final().unwrap_or_else(|e| panic!("alice gets the 200: {e}\n{}", k.log_tail(40)));
    assert_eq!(answer.status(), Some(200), "{answer:?}");
    // rtpengine is DTLS-passive towards WebRTC clients.
    assert_webrtc_sdp(&answer.body, &engine, "a=setup:passive");

    let ack = alice.caller_in_dialog("ACK", &invite, &answer, 2);
    alice.send(&ack).expect("ACK the 200");
    let acked = bob.recv_method("ACK").unwrap_or_else(|e| panic!("bob gets the ACK: {e}\n{}", k.log_tail(40)));
    assert_eq!(acked.method(), Some("ACK"), "{acked:?}");

    let call_id = invite.header("Call-ID").unwrap_or_default();
    let calls = |engine: &rtpengine::RtpEngine| {
        let list = engine.ng_request(b"d7:command4:liste", Duration::from_secs(1)).expect("ng list");
        String::from_utf8_lossy(&list).into_owned()
    };
    assert!(calls(&engine).contains(call_id), "rtpengine holds the call: {}", calls(&engine));

    let bye = alice.caller_in_dialog("BYE", &invite, &answer, 3);
    alice.send(&bye).expect("BYE");
    let incoming_bye = bob.recv_method("BYE").unwrap_or_else(|e| panic!("bob gets the BYE: {e}\n{}", k.log_tail(40)));
    assert_eq!(incoming_bye.method(), Some("BYE"), "{incoming_bye:?}");
    bob.send(&SipProbe::response_to(&incoming_bye, 200, "OK", None)).expect("200 to BYE");
    let bye_ok = alice.recv_final().unwrap_or_else(|e| panic!("alice gets the BYE's 200: {e}\n{}", k.log_tail(40)));
    assert_eq!(bye_ok.status(), Some(200), "{bye_ok:?}");
    let released = homeline_tests::wait_until(Duration::from_secs(2), || !calls(&engine).contains(call_id));
    assert!(released, "rtpengine still holds the call after BYE\n{}", engine.log_tail(20));

    // Call 2: plain offer from bob → alice sees a WebRTC offer; alice declines.
    let offer = send_authenticated_invite(&mut bob, "bob", "bob-pw", &k, "alice", PLAIN_OFFER);
    let incoming = alice.recv_request().unwrap_or_else(|e| panic!("alice gets the INVITE: {e}\n{}", k.log_tail(40)));
    assert_eq!(incoming.method(), Some("INVITE"));
    assert_webrtc_sdp(&incoming.body, &engine, "a=setup:");
    alice.send(&SipProbe::response_to(&incoming, 486, "Busy Here", Some("alice2"))).expect("alice declines");
    let declined = bob.recv_final().unwrap_or_else(|e| panic!("bob gets the 486: {e}\n{}", k.log_tail(40)));
    assert_eq!(declined.status(), Some(486), "{declined:?}");
    bob.send(&ack_for_failure(&offer, &declined)).expect("ACK the 486");
}

/// What a browser offers (one audio m-line, ICE, DTLS, rtcp-mux, BUNDLE).
const WEBRTC_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 40002 UDP/TLS/RTP/SAVPF 111 0 101\r\n\
c=IN IP4 127.0.0.1\r\n\
a=candidate:1 1 udp 2122260223 127.0.0.1 40002 typ host\r\n\
a=ice-ufrag:hlpr\r\n\
a=ice-pwd:homelineprobeicepassword\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 5B:6E:1F:3A:9C:0D:22:41:7A:8B:90:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// What a legacy phone offers and answers.
const PLAIN_OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 40010 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

const PLAIN_ANSWER: &str = "v=0\r\n\
o=- 2 1 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 40020 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";
