//! Mutation testing without extra dependencies: a seeded xorshift generator
//! truncates, flips bytes, duplicates, drops and swaps lines of every
//! fixture; parse and every adaptation must never panic, round trips must
//! hold, and adapting an adapted offer must change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_sdp::*;

const FIXTURES: [&str; 8] = [
    "kamailio_rtpengine_offer.sdp",
    "kamailio_rtpengine_icelite_hold.sdp",
    "jssip_chromium_offer.sdp",
    "asterisk_pjsip_webrtc_offer.sdp",
    "asterisk11_sdes_offer.sdp",
    "freeswitch_sofia_webrtc_offer.sdp",
    "baresip_legacy_offer.sdp",
    "linphone_legacy_hold.sdp",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const JUNK: [&str; 12] = [
    "m=audio 0 RTP/AVP",
    "a=rtpmap:999 x/y/z",
    "a=fmtp:",
    "a=group:BUNDLE",
    "a=mid:",
    "c=IN IP4",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:63 96/96/300",
    "a=fmtp:97 apt=",
    "a=ice-ufrag:",
    "m=video 65535/0 UDP/TLS/RTP/SAVPF 96 97 abc",
    "a=candidate:1 1 udp 1 ::1 9 typ host",
];

fn mutate(rng: &mut XorShift, input: &str) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(7) {
            0 => bytes.truncate(rng.below(bytes.len() + 1)),
            1 => {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                let n = lines.len();
                match rng.below(4) {
                    0 if n > 0 => {
                        let i = rng.below(n);
                        let l = lines[i].clone();
                        lines.insert(rng.below(n + 1), l);
                    }
                    1 if n > 0 => {
                        lines.remove(rng.below(n));
                    }
                    2 if n > 1 => {
                        let (a, b) = (rng.below(n), rng.below(n));
                        lines.swap(a, b);
                    }
                    _ => lines.insert(rng.below(n + 1), JUNK[rng.below(JUNK.len())].to_owned()),
                }
                bytes = lines.join("\r\n").into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Everything a call does with an SDP, on one (possibly broken) input.
fn exercise(original: &SessionDescription, text: &str) {
    let Ok(sdp) = SessionDescription::parse(text) else {
        return;
    };
    // Round trip: serialise → parse → serialise is stable.
    let once = sdp.to_sdp_string();
    let again = SessionDescription::parse(&once).unwrap_or_else(|e| panic!("{e}\n{once}"));
    assert_eq!(again.to_sdp_string(), once);

    let _ = summarize(&sdp, Some(original));
    let _ = remote_media(&sdp);

    let mut offer = sdp.clone();
    if adapt_remote_offer(&mut offer).is_ok() {
        let adapted = offer.to_sdp_string();
        let mut reparsed = SessionDescription::parse(&adapted).unwrap();
        let second = adapt_remote_offer(&mut reparsed).unwrap();
        assert!(
            second.is_empty(),
            "adapting twice changed {second:?}\n{adapted}"
        );
        assert!(offer.media.iter().all(|m| m.mid().is_some()));
    }

    let mut held = sdp.clone();
    if set_audio_direction(&mut held, Direction::SendOnly).is_ok() {
        assert!(
            remote_media(&held).unwrap().is_hold()
                || remote_media(&held).unwrap().legacy_zero_address
        );
    }

    let mut prefs = sdp.clone();
    if apply_codec_preferences(&mut prefs, &CodecPreferences::default()).is_ok() {
        SessionDescription::parse(&prefs.to_sdp_string()).unwrap();
    }

    let mut renumbered = sdp.clone();
    let _ = keep_payload_types(original, &mut renumbered);
    let _ = keep_payload_types(&renumbered.clone(), &mut renumbered);
    SessionDescription::parse(&renumbered.to_sdp_string()).unwrap();
}

#[test]
fn mutated_fixtures_never_panic_and_round_trip() {
    // SDP_MUTATIONS and SDP_SEED let a developer run a longer or different search.
    let rounds: usize = std::env::var("SDP_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("SDP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let mut rng = XorShift(seed.max(1));
    let mut parsed = 0usize;
    for name in FIXTURES {
        let text = fixture(name);
        let original = SessionDescription::parse(&text).unwrap();
        exercise(&original, &text);
        for _ in 0..rounds {
            let mutated = mutate(&mut rng, &text);
            if SessionDescription::parse(&mutated).is_ok() {
                parsed += 1;
            }
            exercise(&original, &mutated);
        }
    }
    // The mutations must not all be rejected outright, or nothing was tested.
    assert!(parsed > rounds * 2, "only {parsed} mutants parsed");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let original = SessionDescription::parse(&fixture("jssip_chromium_offer.sdp")).unwrap();
    for _ in 0..5000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => b"\r\n="[rng.below(3)],
                1 => b"vmac"[rng.below(4)],
                _ => rng.next() as u8,
            })
            .collect();
        let text = format!("v=0\r\n{}", String::from_utf8_lossy(&bytes));
        exercise(&original, &text);
    }
}

#[test]
fn oversized_inputs_are_refused_quickly() {
    let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_SDP_BYTES / 5 + 1));
    assert!(matches!(
        SessionDescription::parse(&huge),
        Err(ParseError::TooLarge { .. })
    ));
    let long_line = format!("v=0\r\na={}\r\n", "x".repeat(MAX_SDP_BYTES - 20));
    assert!(SessionDescription::parse(&long_line).is_ok());
}
