#![no_main]
//! Any bytes: parse, and on success round-trip and run every adaptation.

use homeline_sdp::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sdp) = SessionDescription::parse(text) else {
        return;
    };
    let once = sdp.to_sdp_string();
    let again = SessionDescription::parse(&once).map(|s| s.to_sdp_string());
    assert_eq!(again.as_deref(), Ok(once.as_str()));

    let mut offer = sdp.clone();
    if adapt_remote_offer(&mut offer).is_ok() {
        let mut twice = offer.clone();
        assert!(adapt_remote_offer(&mut twice)
            .map(|c| c.is_empty())
            .unwrap_or(false));
    }
    let _ = summarize(&sdp, None);
    let _ = remote_media(&sdp);
    let mut held = sdp.clone();
    let _ = set_audio_direction(&mut held, Direction::Inactive);
    let mut prefs = sdp.clone();
    let _ = apply_codec_preferences(&mut prefs, &CodecPreferences::default());
    let mut renumbered = sdp.clone();
    let _ = keep_payload_types(&sdp, &mut renumbered);
});
