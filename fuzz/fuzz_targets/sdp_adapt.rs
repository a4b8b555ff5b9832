#![no_main]
//! Any bytes as an SDP body: parse, then everything a call does with it
//! (adapt a remote offer, hold/resume, keep payload types across a
//! re-offer, codec preferences, summary). No panic; serialising is stable;
//! every output parses again; adapting an adapted offer changes nothing.

use homeline_sdp::*;
use libfuzzer_sys::fuzz_target;

fn reparse(sdp: &SessionDescription, what: &str) -> SessionDescription {
    let text = sdp.to_sdp_string();
    match SessionDescription::parse(&text) {
        Ok(again) => again,
        Err(e) => panic!("{what} produced SDP that does not parse ({e}):\n{text}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // SIP bodies reach the SDP layer as &str (the SIP parser takes UTF-8).
    let text = String::from_utf8_lossy(data);
    let Ok(sdp) = SessionDescription::parse(&text) else {
        return;
    };

    // Round trip: serialise → parse → serialise is stable.
    let once = sdp.to_sdp_string();
    let again = reparse(&sdp, "parse");
    assert_eq!(again.to_sdp_string(), once, "round trip changed the SDP");

    let _ = summarize(&sdp, None);
    let _ = remote_media(&sdp);

    // adapt_remote_offer: unchanged on error, idempotent on its own output.
    let mut offer = sdp.clone();
    match adapt_remote_offer(&mut offer) {
        Ok(_) => {
            assert!(offer.media.iter().all(|m| m.mid().is_some()), "a section has no mid after adapting");
            let adapted = offer.to_sdp_string();
            let mut in_memory = offer.clone();
            let second = adapt_remote_offer(&mut in_memory).map(|c| c.is_empty());
            assert_eq!(second, Ok(true), "adapting twice changed something:\n{adapted}");
            let mut reparsed = reparse(&offer, "adapt_remote_offer");
            let second = adapt_remote_offer(&mut reparsed).map(|c| c.is_empty());
            assert_eq!(second, Ok(true), "adapting the re-parsed adapted offer changed something:\n{adapted}");
            assert_eq!(reparsed.to_sdp_string(), adapted);
            let _ = summarize(&offer, Some(&sdp));
        }
        Err(e) => {
            assert_eq!(offer.to_sdp_string(), once, "adapt_remote_offer failed ({e}) but changed the offer");
            let _ = (e.sip_status(), e.sip_warning_code(), e.code(), e.to_string());
        }
    }
    let _ = adapt_remote_offer_text(&text);

    // Hold and resume re-offers.
    for direction in [Direction::SendOnly, Direction::Inactive, Direction::RecvOnly, Direction::SendRecv] {
        let mut held = sdp.clone();
        if set_audio_direction(&mut held, direction).is_ok() {
            let reparsed = reparse(&held, "set_audio_direction");
            let media = remote_media(&reparsed);
            if direction == Direction::SendOnly {
                let media = media.unwrap_or_else(|e| panic!("no remote media after a hold: {e}"));
                assert!(media.is_hold() || media.legacy_zero_address, "sendonly is not a hold");
            }
        }
    }

    // The codec setting, then a re-offer that must keep the payload types.
    let mut prefs = sdp.clone();
    if apply_codec_preferences(&mut prefs, &CodecPreferences::default()).is_ok() {
        reparse(&prefs, "apply_codec_preferences");
    } else {
        assert_eq!(prefs.to_sdp_string(), once, "apply_codec_preferences failed but changed the SDP");
    }
    let only_pcmu = CodecPreferences { order: vec!["PCMU".into()], dtmf: false };
    let mut narrow = sdp.clone();
    let _ = apply_codec_preferences(&mut narrow, &only_pcmu);
    reparse(&narrow, "apply_codec_preferences");

    let mut renumbered = prefs.clone();
    let _ = keep_payload_types(&sdp, &mut renumbered);
    reparse(&renumbered, "keep_payload_types");
    let mut back = sdp.clone();
    let _ = keep_payload_types(&renumbered, &mut back);
    reparse(&back, "keep_payload_types");
    let mut same = sdp.clone();
    let _ = keep_payload_types(&sdp, &mut same);
    reparse(&same, "keep_payload_types");

    let _ = summarize(&sdp, Some(&prefs));
    let _ = summarize(&renumbered, Some(&offer));
});
