//! The user's codec order applied to an audio m-line: reorder, drop what is
//! disabled, and make sure telephone-event is offered. webrtc-rs offers only
//! the sending track's codec and no telephone-event by default; a PBX or a
//! G.711-only desk phone behind it then has nothing in common with us, or
//! no RFC 4733 DTMF.

use serde::{Deserialize, Serialize};

use crate::codec::{dynamic_pts, Codec};
use crate::error::AdaptError;
use crate::model::{Line, MediaSection, SessionDescription};

/// The codec setting: enabled codecs by encoding name, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodecPreferences {
    /// e.g. `["opus", "PCMU", "PCMA", "G722", "telephone-event"]`; names
    /// compare without case. Codecs not listed are removed from the offer.
    pub order: Vec<String>,
    /// RFC 4733 DTMF: keep telephone-event (even if not listed) and add it
    /// when missing.
    pub dtmf: bool,
}

impl Default for CodecPreferences {
    fn default() -> Self {
        CodecPreferences {
            order: ["opus", "PCMU", "PCMA", "G722", "telephone-event"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            dtmf: true,
        }
    }
}

/// What [`apply_codec_preferences`] did to the audio section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PreferenceChanges {
    pub removed: Vec<Codec>,
    pub added: Vec<Codec>,
}

/// telephone-event's preferred numbers: 101 is what most PBXs use for
/// /8000, 110 is Chromium's for /48000.
const TE_8000_PT: u8 = 101;
const TE_48000_PT: u8 = 110;

/// Reorders and filters the first audio section's codecs by `prefs` and
/// adds telephone-event/8000 (and /48000 with opus) when DTMF is on. Fails,
/// changing nothing, when no enabled voice codec would remain.
pub fn apply_codec_preferences(
    sdp: &mut SessionDescription,
    prefs: &CodecPreferences,
) -> Result<PreferenceChanges, AdaptError> {
    let index = sdp.audio_index().ok_or(AdaptError::NoAudio)?;
    let section = sdp.media.get_mut(index).ok_or(AdaptError::NoAudio)?;
    let codecs = section.codecs();
    let rank = |c: &Codec| -> Option<usize> {
        let listed = prefs
            .order
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&c.name));
        if c.is_telephone_event() {
            return prefs.dtmf.then_some(listed.unwrap_or(usize::MAX));
        }
        listed
    };
    let mut kept: Vec<(usize, &Codec)> = codecs
        .iter()
        .filter_map(|c| rank(c).map(|r| (r, c)))
        .collect();
    let voice_clocks: Vec<u32> = kept
        .iter()
        .filter(|(_, c)| !c.is_auxiliary())
        .map(|(_, c)| c.clock_rate)
        .collect();
    if voice_clocks.is_empty() {
        return Err(AdaptError::NoCommonCodec {
            enabled: prefs.order.join(", "),
        });
    }
    // telephone-event is only usable at a clock rate a kept voice codec has
    // (RFC 4733 §2.1); telephone-event/8000 is always kept for G.711 peers.
    kept.retain(|(_, c)| {
        !c.is_telephone_event() || c.clock_rate == 8000 || voice_clocks.contains(&c.clock_rate)
    });
    kept.sort_by_key(|(r, _)| *r);

    let mut changes = PreferenceChanges::default();
    let kept_pts: Vec<u8> = kept.iter().map(|(_, c)| c.pt).collect();
    // Formats we could not resolve to a codec are dropped too.
    let mut formats: Vec<String> = kept_pts.iter().map(u8::to_string).collect();
    for c in codecs.iter().filter(|c| !kept_pts.contains(&c.pt)) {
        section.remove_payload_type(c.pt);
        changes.removed.push(c.clone());
    }

    if prefs.dtmf {
        let has_opus = kept
            .iter()
            .any(|(_, c)| c.name.eq_ignore_ascii_case("opus"));
        let mut wanted = Vec::new();
        if has_opus {
            wanted.push((48000, TE_48000_PT));
        }
        wanted.push((8000, TE_8000_PT));
        for (clock, preferred) in wanted {
            let present = kept
                .iter()
                .any(|(_, c)| c.is_telephone_event() && c.clock_rate == clock);
            if present {
                continue;
            }
            let Some(pt) = free_pt(section, &formats, preferred) else {
                continue;
            };
            add_telephone_event(section, pt, clock);
            formats.push(pt.to_string());
            changes.added.push(Codec {
                pt,
                name: "telephone-event".to_owned(),
                clock_rate: clock,
                channels: 1,
            });
        }
    }
    section.set_formats(formats);
    Ok(changes)
}

fn free_pt(section: &MediaSection, formats: &[String], preferred: u8) -> Option<u8> {
    let mut used = section.used_payload_types();
    used.extend(formats.iter().filter_map(|f| f.parse::<u8>().ok()));
    std::iter::once(preferred)
        .chain(dynamic_pts())
        .find(|pt| !used.contains(pt))
}

/// Adds the rtpmap and fmtp (events 0–16: DTMF digits and flash) after the
/// section's last rtpmap/fmtp line.
fn add_telephone_event(section: &mut MediaSection, pt: u8, clock: u32) {
    let at = section
        .lines
        .iter()
        .rposition(|l| l.is_attr("rtpmap") || l.is_attr("fmtp"))
        .map_or(section.lines.len(), |i| i + 1);
    let rtpmap = Line::attribute("rtpmap", Some(&format!("{pt} telephone-event/{clock}")));
    let fmtp = Line::attribute("fmtp", Some(&format!("{pt} 0-16")));
    section.lines.insert(at, fmtp);
    section.lines.insert(at, rtpmap);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:1 cname:x\r\n";

    fn prefs(order: &[&str], dtmf: bool) -> CodecPreferences {
        CodecPreferences {
            order: order.iter().map(|s| s.to_string()).collect(),
            dtmf,
        }
    }

    #[test]
    fn reorders_and_drops_unlisted() {
        let mut sdp = SessionDescription::parse(CHROME).unwrap();
        let changes =
            apply_codec_preferences(&mut sdp, &prefs(&["PCMU", "opus", "PCMA"], true)).unwrap();
        assert_eq!(sdp.media[0].formats(), ["0", "111", "8", "110", "126"]);
        let removed: Vec<_> = changes.removed.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(removed, ["red", "G722", "CN"]);
        assert!(changes.added.is_empty());
        let text = sdp.to_sdp_string();
        assert!(!text.contains("red/48000"));
        assert!(!text.contains("a=fmtp:63"));
        assert!(text.contains("a=ssrc:1 cname:x"));
    }

    #[test]
    fn telephone_event_48000_goes_with_opus() {
        let mut sdp = SessionDescription::parse(CHROME).unwrap();
        apply_codec_preferences(&mut sdp, &prefs(&["PCMA", "PCMU"], true)).unwrap();
        assert_eq!(sdp.media[0].formats(), ["8", "0", "126"]);
    }

    #[test]
    fn dtmf_off_drops_telephone_event_even_if_listed() {
        let mut sdp = SessionDescription::parse(CHROME).unwrap();
        apply_codec_preferences(&mut sdp, &prefs(&["opus", "telephone-event"], false)).unwrap();
        assert_eq!(sdp.media[0].formats(), ["111"]);
    }

    #[test]
    fn adds_telephone_event_for_8000_and_48000() {
        let mut sdp = SessionDescription::parse(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        )
        .unwrap();
        let changes = apply_codec_preferences(&mut sdp, &CodecPreferences::default()).unwrap();
        assert_eq!(changes.added.len(), 2);
        assert_eq!(sdp.media[0].formats(), ["111", "0", "110", "101"]);
        assert_eq!(
            sdp.to_sdp_string(),
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 110 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-16\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn only_8000_without_opus_and_avoids_taken_numbers() {
        let mut sdp = SessionDescription::parse(
            "v=0\r\nm=audio 9 RTP/SAVPF 0 101\r\na=rtpmap:101 G726-32/8000\r\n",
        )
        .unwrap();
        apply_codec_preferences(&mut sdp, &prefs(&["PCMU", "G726-32"], true)).unwrap();
        let te: Vec<_> = sdp.media[0]
            .codecs()
            .into_iter()
            .filter(|c| c.is_telephone_event())
            .collect();
        assert_eq!(te.len(), 1);
        assert_eq!(te[0].clock_rate, 8000);
        assert_ne!(te[0].pt, 101);
    }

    #[test]
    fn nothing_enabled_is_an_error_and_changes_nothing() {
        let mut sdp = SessionDescription::parse(CHROME).unwrap();
        let err = apply_codec_preferences(&mut sdp, &prefs(&["G729"], true)).unwrap_err();
        assert!(matches!(err, AdaptError::NoCommonCodec { .. }));
        assert!(err.to_string().contains("G729"));
        assert_eq!(sdp.to_sdp_string(), CHROME);
        assert_eq!(err.sip_status(), 488);
    }
}
