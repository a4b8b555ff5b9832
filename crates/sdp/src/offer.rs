//! Making a PBX's offer acceptable to webrtc-rs 0.21: it refuses an offer
//! whose media sections lack `a=mid`, and answers `m=audio 0` when there is
//! no `a=group:BUNDLE` (rtpengine's `generate-mid` adds the mid but never
//! the group; Asterisk and FreeSWITCH often send neither). Offers without
//! ICE and DTLS are refused here with a reason a person can act on.

use serde::Serialize;

use crate::error::AdaptError;
use crate::model::{is_valid_mid, Attributes, Line, MediaSection, SessionDescription};

/// What [`adapt_remote_offer`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OfferChanges {
    /// `(section index, mid)` for each `a=mid` added.
    pub added_mids: Vec<(usize, String)>,
    /// The `a=group:BUNDLE` value added, if one was.
    pub added_bundle: Option<String>,
    /// Sections other than audio that had no ICE/DTLS and were set to port 0
    /// (so the answer declines them instead of failing the whole call).
    pub disabled_sections: Vec<usize>,
    /// Sections whose invalid (empty or spaced) `a=mid` lines were removed.
    pub dropped_invalid_mids: Vec<usize>,
}

impl OfferChanges {
    pub fn is_empty(&self) -> bool {
        self.added_mids.is_empty()
            && self.added_bundle.is_none()
            && self.disabled_sections.is_empty()
            && self.dropped_invalid_mids.is_empty()
    }
}

/// Checks that the offer is WebRTC media and adds what webrtc-rs needs.
/// On error the offer is left unchanged; the error maps to SIP 488.
pub fn adapt_remote_offer(offer: &mut SessionDescription) -> Result<OfferChanges, AdaptError> {
    let audio = offer.audio_index().ok_or(AdaptError::NoAudio)?;
    check_security(offer, audio)?;

    let mut changes = OfferChanges::default();
    for index in 0..offer.media.len() {
        let usable = offer
            .media
            .get(index)
            .is_some_and(|m| m.port() == 0 || check_security(offer, index).is_ok());
        if !usable {
            if let Some(m) = offer.media.get_mut(index) {
                m.set_port(0);
                changes.disabled_sections.push(index);
            }
        }
    }
    add_missing_mids(offer, &mut changes);
    add_missing_bundle(offer, &mut changes);
    Ok(changes)
}

/// Parses, adapts and re-serialises an offer in one go.
pub fn adapt_remote_offer_text(offer: &str) -> Result<(String, OfferChanges), AdaptError> {
    let mut sdp = SessionDescription::parse(offer)?;
    let changes = adapt_remote_offer(&mut sdp)?;
    Ok((sdp.to_sdp_string(), changes))
}

/// Whether a media section carries ICE and DTLS-SRTP, and if not, what the
/// offer has instead, so the reason names the actual problem.
fn check_security(sdp: &SessionDescription, index: usize) -> Result<(), AdaptError> {
    let Some(section) = sdp.media.get(index) else {
        return Err(AdaptError::NoAudio);
    };
    let non_empty = |name| {
        sdp.effective_attribute(index, name)
            .is_some_and(|v| !v.trim().is_empty())
    };
    let has_ice = non_empty("ice-ufrag") && non_empty("ice-pwd");
    let has_fingerprint = non_empty("fingerprint");
    match (has_ice, has_fingerprint) {
        (true, true) => Ok(()),
        (true, false) => Err(AdaptError::MissingFingerprint),
        (false, true) => Err(AdaptError::MissingIce),
        (false, false) if section.has_attribute("crypto") => Err(AdaptError::SdesOnly),
        (false, false) => Err(AdaptError::PlainRtp),
    }
}

fn add_missing_mids(offer: &mut SessionDescription, changes: &mut OfferChanges) {
    let existing: Vec<String> = offer
        .media
        .iter()
        .filter_map(|m| m.mid().map(str::to_owned))
        .collect();
    // A Plan-B-era offer may name its sections in the group but not in a=mid:
    // reuse those names so the existing group stays right.
    let mut unclaimed: Vec<String> = bundle_groups(offer)
        .into_iter()
        .flatten()
        .filter(|t| is_valid_mid(t) && !existing.contains(t))
        .collect();
    unclaimed.reverse();
    let mut taken = existing;
    for (index, section) in offer.media.iter_mut().enumerate() {
        let before = section.lines.len();
        section
            .lines
            .retain(|l| !(l.is_attr("mid") && l.attr_value().is_some_and(|v| !is_valid_mid(v))));
        if section.lines.len() != before {
            changes.dropped_invalid_mids.push(index);
        }
        if section.mid().is_some() {
            continue;
        }
        let mid = if section.port() != 0 {
            unclaimed.pop()
        } else {
            None
        }
        .unwrap_or_else(|| free_numeric_mid(index, &taken));
        section.insert_attribute_first(Line::attribute("mid", Some(&mid)));
        taken.push(mid.clone());
        changes.added_mids.push((index, mid));
    }
}

/// The smallest number from `start` up that is not a mid yet.
fn free_numeric_mid(start: usize, taken: &[String]) -> String {
    (start..)
        .map(|n| n.to_string())
        .find(|m| !taken.contains(m))
        .unwrap_or_default()
}

/// The mid lists of every `a=group:BUNDLE` at session level.
pub(crate) fn bundle_groups(sdp: &SessionDescription) -> Vec<Vec<String>> {
    sdp.session
        .attributes("group")
        .filter_map(|v| {
            let mut parts = v.split_ascii_whitespace();
            let semantics = parts.next()?;
            semantics
                .eq_ignore_ascii_case("BUNDLE")
                .then(|| parts.map(str::to_owned).collect())
        })
        .collect()
}

fn add_missing_bundle(offer: &mut SessionDescription, changes: &mut OfferChanges) {
    let mids: Vec<&str> = offer.media.iter().filter_map(MediaSection::mid).collect();
    let groups = bundle_groups(offer);
    if groups.iter().flatten().any(|t| mids.contains(&t.as_str())) {
        return;
    }
    // A group naming no section of this offer is useless: replace it.
    if !groups.is_empty() {
        offer.session.lines.retain(|l| {
            !(l.is_attr("group")
                && l.attr_value()
                    .and_then(|v| v.split_ascii_whitespace().next())
                    .is_some_and(|s| s.eq_ignore_ascii_case("BUNDLE")))
        });
    }
    let Some(anchor) = offer.media.iter().position(|m| m.port() != 0) else {
        return;
    };
    let mids: Vec<String> = offer
        .media
        .iter()
        .enumerate()
        .filter(|(i, m)| m.port() != 0 && (*i == anchor || can_bundle(offer, anchor, *i)))
        .filter_map(|(_, m)| m.mid().map(str::to_owned))
        .collect();
    if mids.is_empty() {
        return;
    }
    let value = format!("BUNDLE {}", mids.join(" "));
    offer
        .session
        .insert_attribute_first(Line::attribute("group", Some(&value)));
    changes.added_bundle = Some(value);
}

/// Two sections can share one transport when they use the same ICE
/// credentials and either already share an address and port or both
/// multiplex RTCP (so one port carries everything).
fn can_bundle(sdp: &SessionDescription, a: usize, b: usize) -> bool {
    let same = |name| sdp.effective_attribute(a, name) == sdp.effective_attribute(b, name);
    if !(same("ice-ufrag") && same("ice-pwd")) {
        return false;
    }
    let (Some(ma), Some(mb)) = (sdp.media.get(a), sdp.media.get(b)) else {
        return false;
    };
    let same_port =
        ma.port() == mb.port() && sdp.effective_connection(a) == sdp.effective_connection(b);
    let muxed = |m: &MediaSection| m.has_attribute("rtcp-mux");
    same_port || (muxed(ma) && muxed(mb))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
    const AUDIO: &str = "m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=rtcp-mux\r\n";

    fn adapt(text: &str) -> Result<(SessionDescription, OfferChanges), AdaptError> {
        let mut sdp = SessionDescription::parse(text)?;
        let changes = adapt_remote_offer(&mut sdp)?;
        Ok((sdp, changes))
    }

    #[test]
    fn adds_mid_and_bundle_after_timing_line() {
        let (sdp, changes) = adapt(&format!("{HEAD}{AUDIO}")).unwrap();
        let text = sdp.to_sdp_string();
        assert!(
            text.contains("t=0 0\r\na=group:BUNDLE 0\r\nm=audio"),
            "{text}"
        );
        assert!(
            text.contains("m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=ice-ufrag"),
            "{text}"
        );
        assert_eq!(changes.added_mids, [(0, "0".to_owned())]);
        assert_eq!(changes.added_bundle.as_deref(), Some("BUNDLE 0"));
    }

    /// Found by the fuzzer (fuzz/corpus/sdp_adapt/crash-group-invalid-mid.sdp):
    /// a BUNDLE group naming a token with control or non-ASCII space
    /// characters was reused as the section's mid, which names nothing.
    #[test]
    fn invalid_names_in_a_group_are_not_reused_as_mids() {
        for group in ["a=group:BUNDLE a\u{2}b\r\n", "a=group:BUNDLE x\u{a0}y\r\n"] {
            let (sdp, changes) = adapt(&format!("{HEAD}{group}{AUDIO}")).unwrap();
            assert_eq!(sdp.media[0].mid(), Some("0"), "{group:?}");
            assert_eq!(changes.added_mids, [(0, "0".to_owned())]);
            let mut again = SessionDescription::parse(&sdp.to_sdp_string()).unwrap();
            assert!(
                adapt_remote_offer(&mut again).unwrap().is_empty(),
                "{group:?}"
            );
        }
    }

    #[test]
    fn existing_mid_is_kept_and_bundled() {
        let (sdp, changes) = adapt(&format!("{HEAD}{AUDIO}a=mid:1\r\n")).unwrap();
        assert!(changes.added_mids.is_empty());
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 1"));
    }

    #[test]
    fn complete_offer_is_untouched() {
        let text = format!("{HEAD}a=group:BUNDLE 0\r\n{AUDIO}a=mid:0\r\n");
        let (sdp, changes) = adapt(&text).unwrap();
        assert!(changes.is_empty());
        assert_eq!(sdp.to_sdp_string(), text);
    }

    #[test]
    fn group_names_without_mids_are_reused() {
        let (sdp, changes) = adapt(&format!("{HEAD}a=group:BUNDLE audio\r\n{AUDIO}")).unwrap();
        assert_eq!(sdp.media[0].mid(), Some("audio"));
        assert_eq!(changes.added_bundle, None);
    }

    #[test]
    fn empty_or_dangling_group_is_replaced() {
        let (sdp, changes) = adapt(&format!("{HEAD}a=group:BUNDLE\r\n{AUDIO}a=mid:a\r\n")).unwrap();
        assert_eq!(
            sdp.session.attributes("group").collect::<Vec<_>>(),
            ["BUNDLE a"]
        );
        assert_eq!(changes.added_bundle.as_deref(), Some("BUNDLE a"));
        let (sdp, _) = adapt(&format!("{HEAD}a=group:BUNDLE x y\r\n{AUDIO}a=mid:a\r\n")).unwrap();
        assert_eq!(
            sdp.session.attributes("group").collect::<Vec<_>>(),
            ["BUNDLE a"]
        );
    }

    #[test]
    fn empty_mid_is_replaced() {
        let (sdp, changes) = adapt(&format!("{HEAD}{AUDIO}a=mid:\r\n")).unwrap();
        assert_eq!(sdp.media[0].attributes("mid").collect::<Vec<_>>(), ["0"]);
        assert_eq!(changes.dropped_invalid_mids, [0]);
        let (sdp, _) = adapt(&format!("{HEAD}{AUDIO}a=mid:a b\r\n")).unwrap();
        assert_eq!(sdp.media[0].attributes("mid").collect::<Vec<_>>(), ["0"]);
    }

    #[test]
    fn numeric_mid_avoids_collisions() {
        let video = AUDIO
            .replace("m=audio", "m=video")
            .replace(" 0\r\n", " 96\r\n")
            + "a=mid:0\r\n";
        let (sdp, _) = adapt(&format!("{HEAD}{AUDIO}{video}")).unwrap();
        assert_eq!(sdp.media[0].mid(), Some("1"));
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 1 0"));
    }

    #[test]
    fn sections_with_other_credentials_stay_out_of_the_bundle() {
        let video = AUDIO
            .replace("m=audio 4000", "m=video 4002")
            .replace("abcd", "wxyz");
        let (sdp, _) = adapt(&format!("{HEAD}{AUDIO}{video}")).unwrap();
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 0"));
        assert_eq!(sdp.media[1].mid(), Some("1"));
    }

    #[test]
    fn sections_without_rtcp_mux_bundle_only_on_the_same_port() {
        let audio = AUDIO.replace("a=rtcp-mux\r\n", "");
        let other_port = audio.replace("m=audio 4000", "m=video 4002");
        let (sdp, _) = adapt(&format!("{HEAD}{audio}{other_port}")).unwrap();
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 0"));
        let same_port = audio.replace("m=audio", "m=video");
        let (sdp, _) = adapt(&format!("{HEAD}{audio}{same_port}")).unwrap();
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 0 1"));
    }

    #[test]
    fn session_level_credentials_count() {
        let text = format!(
            "{HEAD}a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:sha-256 AA:BB\r\nm=audio 4000 RTP/SAVPF 0\r\n"
        );
        assert!(adapt(&text).is_ok());
    }

    #[test]
    fn rejections_name_what_is_missing() {
        let plain = format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n");
        let err = adapt(&plain).unwrap_err();
        assert_eq!(err, AdaptError::PlainRtp);
        assert_eq!(err.sip_status(), 488);
        assert!(err
            .to_string()
            .contains("unencrypted RTP without ICE or DTLS"));
        assert!(err.to_string().contains("rtpengine"));

        let sdes = format!(
            "{HEAD}m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"
        );
        assert_eq!(adapt(&sdes).unwrap_err(), AdaptError::SdesOnly);

        let no_fp = format!(
            "{HEAD}{}",
            AUDIO.replace("a=fingerprint:sha-256 AA:BB\r\n", "")
        );
        assert_eq!(adapt(&no_fp).unwrap_err(), AdaptError::MissingFingerprint);
        let no_ice = format!(
            "{HEAD}{}",
            AUDIO.replace("a=ice-pwd:0123456789abcdefghijkl\r\n", "")
        );
        assert_eq!(adapt(&no_ice).unwrap_err(), AdaptError::MissingIce);

        let video_only = format!("{HEAD}{}", AUDIO.replace("m=audio", "m=video"));
        assert_eq!(adapt(&video_only).unwrap_err(), AdaptError::NoAudio);

        let unreadable = adapt_remote_offer_text("hello").unwrap_err();
        assert_eq!(unreadable.sip_status(), 400);
    }

    #[test]
    fn rejection_leaves_the_offer_unchanged() {
        let plain = format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n");
        let mut sdp = SessionDescription::parse(&plain).unwrap();
        assert!(adapt_remote_offer(&mut sdp).is_err());
        assert_eq!(sdp.to_sdp_string(), plain);
    }

    #[test]
    fn insecure_extra_section_is_declined_not_fatal() {
        let video = "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let (sdp, changes) = adapt(&format!("{HEAD}{AUDIO}{video}")).unwrap();
        assert_eq!(changes.disabled_sections, [1]);
        assert_eq!(sdp.media[1].port(), 0);
        assert_eq!(sdp.media[1].mid(), Some("1"));
        assert_eq!(sdp.session.attribute("group"), Some("BUNDLE 0"));
    }
}
