//! Real-shaped SDP from each PBX and client Homeline meets, through the
//! adaptation functions, with the assertions a user would care about.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_sdp::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture as it travels in SIP: CRLF line ends.
fn crlf(text: &str) -> String {
    text.lines().map(|l| format!("{l}\r\n")).collect()
}

fn parse(name: &str) -> SessionDescription {
    SessionDescription::parse(&fixture(name)).unwrap()
}

const ALL: [&str; 8] = [
    "kamailio_rtpengine_offer.sdp",
    "kamailio_rtpengine_icelite_hold.sdp",
    "jssip_chromium_offer.sdp",
    "asterisk_pjsip_webrtc_offer.sdp",
    "asterisk11_sdes_offer.sdp",
    "freeswitch_sofia_webrtc_offer.sdp",
    "baresip_legacy_offer.sdp",
    "linphone_legacy_hold.sdp",
];

/// Our own local offer as webrtc-rs makes it (opus, G.711, telephone-event).
const OURS: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn ours() -> SessionDescription {
    SessionDescription::parse(OURS).unwrap()
}

/// The lines added by an adaptation, given the text before and after.
fn added_lines(before: &str, after: &str) -> Vec<String> {
    let mut before: Vec<&str> = before.lines().collect();
    after
        .lines()
        .filter(|l| match before.iter().position(|b| b == l) {
            Some(i) => {
                before.remove(i);
                false
            }
            None => true,
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_fixture_round_trips_byte_identical() {
    for name in ALL {
        let text = fixture(name);
        let sdp = SessionDescription::parse(&text).unwrap();
        assert_eq!(sdp.to_sdp_string(), crlf(&text), "{name}");
    }
}

#[test]
fn rtpengine_offer_gets_bundle_for_its_generated_mid() {
    let before = crlf(&fixture("kamailio_rtpengine_offer.sdp"));
    let (after, changes) = adapt_remote_offer_text(&before).unwrap();
    // rtpengine's generate-mid gave the mid "1": kept, and the group names it.
    assert!(changes.added_mids.is_empty());
    assert_eq!(changes.added_bundle.as_deref(), Some("BUNDLE 1"));
    assert_eq!(added_lines(&before, &after), ["a=group:BUNDLE 1"]);
    assert!(after.contains("t=0 0\r\na=group:BUNDLE 1\r\nm=audio"));
    let sdp = SessionDescription::parse(&after).unwrap();
    assert_eq!(sdp.media[0].formats(), ["9", "0", "8", "101"]);
    let s = summarize(&sdp, Some(&ours()));
    // G722 is first in rtpengine's list but we do not offer it: PCMU wins.
    assert_eq!(s.codec.map(|c| c.name), Some("PCMU".to_owned()));
    assert_eq!(s.telephone_event, Some(101));
    assert_eq!(s.setup.as_deref(), Some("actpass"));
    assert_eq!(s.candidates, 2);
    assert!(s.rtcp_mux && !s.ice_lite);
    assert_eq!(s.direction, Some(Direction::SendRecv));
}

#[test]
fn rtpengine_hold_reinvite_is_seen_as_hold() {
    let mut sdp = parse("kamailio_rtpengine_icelite_hold.sdp");
    let remote = remote_media(&sdp).unwrap();
    assert!(remote.is_hold());
    assert_eq!(remote.direction, Direction::SendOnly);
    assert!(!remote.legacy_zero_address);
    assert_eq!(remote.direction.reversed(), Direction::RecvOnly);
    adapt_remote_offer(&mut sdp).unwrap();
    let s = summarize(&sdp, None);
    assert!(s.ice_lite && s.on_hold);
    assert_eq!(s.bundle, Some(vec!["1".to_owned()]));
}

#[test]
fn chromium_offer_needs_nothing_and_stays_byte_identical() {
    let before = crlf(&fixture("jssip_chromium_offer.sdp"));
    let (after, changes) = adapt_remote_offer_text(&before).unwrap();
    assert!(changes.is_empty());
    assert_eq!(after, before);
    let sdp = SessionDescription::parse(&after).unwrap();
    let s = summarize(&sdp, Some(&ours()));
    assert_eq!(
        s.codec.as_ref().map(|c| (c.name.as_str(), c.pt)),
        Some(("opus", 111))
    );
    // telephone-event at opus's clock rate.
    assert_eq!(s.telephone_event, Some(110));
    assert_eq!(s.telephone_events.len(), 2);
    assert_eq!(s.fingerprint_algorithm.as_deref(), Some("sha-256"));
    assert_eq!(s.candidates, 3);
    assert_eq!(s.mids, [Some("0".to_owned())]);
    assert_eq!(s.ice_ufrag.as_deref(), Some("Zk3v"));
}

#[test]
fn chromium_offer_with_g711_only_setting() {
    let mut sdp = parse("jssip_chromium_offer.sdp");
    let prefs = CodecPreferences {
        order: vec!["PCMA".into(), "PCMU".into()],
        dtmf: true,
    };
    apply_codec_preferences(&mut sdp, &prefs).unwrap();
    assert_eq!(sdp.media[0].formats(), ["8", "0", "126"]);
    let text = sdp.to_sdp_string();
    assert!(!text.contains("opus") && !text.contains("red/") && !text.contains("a=fmtp:63"));
    // Everything that is not about a codec is still there.
    for keep in [
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=ssrc:2780915523 cname:",
        "a=mid:0",
        "a=group:BUNDLE 0",
    ] {
        assert!(text.contains(keep), "{keep}");
    }
}

#[test]
fn asterisk_webrtc_offer_gets_mid_and_bundle_codecs_kept() {
    let before = crlf(&fixture("asterisk_pjsip_webrtc_offer.sdp"));
    let (after, changes) = adapt_remote_offer_text(&before).unwrap();
    assert_eq!(changes.added_mids, [(0, "0".to_owned())]);
    assert_eq!(
        added_lines(&before, &after),
        ["a=group:BUNDLE 0", "a=mid:0"]
    );
    let sdp = SessionDescription::parse(&after).unwrap();
    assert_eq!(sdp.media[0].formats(), ["111", "0", "8", "101"]);
    let s = summarize(&sdp, Some(&ours()));
    // Asterisk writes the hash name in capitals.
    assert_eq!(s.fingerprint_algorithm.as_deref(), Some("sha-256"));
    assert_eq!(s.codec.map(|c| c.name), Some("opus".to_owned()));
    assert_eq!(s.telephone_event, Some(101));
}

#[test]
fn asterisk11_sdes_offer_is_refused_in_words() {
    let err = adapt_remote_offer_text(&fixture("asterisk11_sdes_offer.sdp")).unwrap_err();
    assert_eq!(err, AdaptError::SdesOnly);
    assert_eq!(err.sip_status(), 488);
    assert_eq!(err.sip_warning_code(), 302);
    assert!(err
        .to_string()
        .contains("SDES keys (a=crypto) but no ICE or DTLS"));
}

#[test]
fn freeswitch_rtp_savpf_offer_is_accepted_and_bundled() {
    let before = crlf(&fixture("freeswitch_sofia_webrtc_offer.sdp"));
    let (after, changes) = adapt_remote_offer_text(&before).unwrap();
    // FreeSWITCH says RTP/SAVPF (not UDP/TLS/RTP/SAVPF) even with DTLS.
    assert_eq!(changes.added_bundle.as_deref(), Some("BUNDLE 0"));
    let sdp = SessionDescription::parse(&after).unwrap();
    assert_eq!(sdp.media[0].proto(), "RTP/SAVPF");
    assert_eq!(sdp.media[0].mid(), Some("0"));
    // The group goes after t= and before FreeSWITCH's msid-semantic.
    assert!(after.contains("t=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic:"));
    let s = summarize(&sdp, Some(&ours()));
    assert_eq!(s.codec.as_ref().map(|c| c.pt), Some(102));
    assert_eq!(s.telephone_event, Some(103));
    assert_eq!(s.candidates, 2);
}

#[test]
fn freeswitch_reinvite_keeps_our_payload_types() {
    // Our answer to FreeSWITCH used its numbers (opus 102, te 101); a later
    // re-offer from webrtc-rs numbers opus 111 and te 126: put them back.
    let previous = SessionDescription::parse(
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 102 101\r\na=mid:0\r\na=rtpmap:102 opus/48000/2\r\na=fmtp:102 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n",
    )
    .unwrap();
    let mut new = SessionDescription::parse(
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=sendonly\r\n",
    )
    .unwrap();
    let remaps = keep_payload_types(&previous, &mut new);
    assert_eq!(remaps.len(), 2);
    assert_eq!(new.media[0].formats(), ["102", "0", "101"]);
    assert_eq!(new.media[0].fmtp(102), Some("minptime=10;useinbandfec=1"));
    assert!(new
        .to_sdp_string()
        .contains("a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"));
}

#[test]
fn legacy_baresip_offer_is_refused_with_the_gateway_advice() {
    let err = adapt_remote_offer_text(&fixture("baresip_legacy_offer.sdp")).unwrap_err();
    assert_eq!(err, AdaptError::PlainRtp);
    assert_eq!(err.sip_status(), 488);
    assert_eq!(
        err.to_string(),
        "The other side offered unencrypted RTP without ICE or DTLS; Homeline needs a WebRTC-capable gateway (e.g. rtpengine) in front of legacy phones."
    );
}

#[test]
fn linphone_zero_address_hold_is_detected() {
    let sdp = parse("linphone_legacy_hold.sdp");
    let remote = remote_media(&sdp).unwrap();
    assert!(remote.legacy_zero_address);
    assert!(remote.is_hold());
    assert_eq!(remote.direction, Direction::SendOnly);
}

#[test]
fn hold_and_resume_on_our_offer() {
    let mut sdp = ours();
    set_audio_direction(&mut sdp, Direction::SendOnly).unwrap();
    assert_eq!(summarize(&sdp, None).direction, Some(Direction::SendOnly));
    set_audio_direction(&mut sdp, Direction::SendRecv).unwrap();
    assert!(sdp
        .to_sdp_string()
        .ends_with("a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"));
}

#[test]
fn our_offer_with_default_preferences_carries_everything() {
    // webrtc-rs by default offers only the sending track's codec.
    let mut sdp = SessionDescription::parse(
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
    )
    .unwrap();
    let changes = apply_codec_preferences(&mut sdp, &CodecPreferences::default()).unwrap();
    let te: Vec<u32> = changes.added.iter().map(|c| c.clock_rate).collect();
    assert_eq!(te, [48000, 8000]);
}
