//! Payload-type maps read from the negotiated SDP itself.
//!
//! webrtc-rs matches codecs by MIME type and fmtp only — never by clock rate — so two
//! telephone-events (8000 and 48000) collapse into one, and its internal codec lists can
//! carry another side's numbers. The descriptions on the wire are the truth: the payload
//! types in *our* description are what the other side sends us; those in *theirs* are what
//! it expects from us.

use crate::config::PayloadKind;
use homeline_media::CodecKind;

/// One `a=rtpmap` of the first audio section: payload type, encoding name, clock rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RtpMap {
    pub pt: u8,
    pub name: String,
    pub clock: u32,
}

impl RtpMap {
    pub fn kind(&self) -> Option<PayloadKind> {
        if self.name.eq_ignore_ascii_case("telephone-event") {
            return Some(PayloadKind::TelephoneEvent);
        }
        let k = CodecKind::from_name(&self.name)?;
        (k.clock_rate() == self.clock).then_some(PayloadKind::Audio(k))
    }
}

/// The rtpmaps of the first `m=audio` section, first occurrence of each payload type.
/// Static payload types without an rtpmap (0, 8) are filled in from the m-line.
pub(crate) fn audio_rtpmaps(sdp: &str) -> Vec<RtpMap> {
    let mut in_audio = false;
    let mut formats: Vec<u8> = Vec::new();
    let mut maps: Vec<RtpMap> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            if in_audio {
                break;
            }
            if m.starts_with("audio ") {
                in_audio = true;
                formats = m
                    .split_whitespace()
                    .skip(3)
                    .filter_map(|f| f.parse().ok())
                    .collect();
            }
            continue;
        }
        if !in_audio {
            continue;
        }
        let Some(rest) = line.strip_prefix("a=rtpmap:") else {
            continue;
        };
        let mut it = rest.splitn(2, ' ');
        let (Some(pt), Some(enc)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(pt) = pt.trim().parse::<u8>() else {
            continue;
        };
        let mut parts = enc.trim().split('/');
        let name = parts.next().unwrap_or_default().to_owned();
        let clock = parts.next().and_then(|c| c.parse().ok()).unwrap_or(8000);
        if !maps.iter().any(|m| m.pt == pt) {
            maps.push(RtpMap { pt, name, clock });
        }
    }
    for pt in formats {
        if maps.iter().any(|m| m.pt == pt) {
            continue;
        }
        let name = match pt {
            0 => "PCMU",
            8 => "PCMA",
            9 => "G722",
            _ => continue,
        };
        maps.push(RtpMap {
            pt,
            name: name.to_owned(),
            clock: 8000,
        });
    }
    maps
}

/// Removes repeated payload types from the audio m-line and their repeated
/// `a=rtpmap`/`a=fmtp` lines (webrtc-rs writes `110 110` when two telephone-events collapse).
pub(crate) fn tidy_sdp(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    let mut seen_map: Vec<String> = Vec::new();
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let eol = &line[body.len()..];
        if let Some(m) = body.strip_prefix("m=") {
            seen_map.clear();
            let mut fields: Vec<&str> = m.split(' ').collect();
            if fields.len() > 3 {
                let mut fmts: Vec<&str> = Vec::new();
                for f in fields.drain(3..) {
                    if !fmts.contains(&f) {
                        fmts.push(f);
                    }
                }
                fields.extend(fmts);
            }
            out.push_str("m=");
            out.push_str(&fields.join(" "));
            out.push_str(eol);
            continue;
        }
        if body.starts_with("a=rtpmap:") || body.starts_with("a=fmtp:") {
            if seen_map.iter().any(|s| s == body) {
                continue;
            }
            seen_map.push(body.to_owned());
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109 0 8 101 101\r\na=rtpmap:109 opus/48000/2\r\n\
a=fmtp:109 minptime=10;useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn reads_the_audio_section_only_with_static_types() {
        let m = audio_rtpmaps(SDP);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0],
            RtpMap {
                pt: 109,
                name: "opus".into(),
                clock: 48000
            }
        );
        assert_eq!(m[0].kind(), Some(PayloadKind::Audio(CodecKind::Opus)));
        assert_eq!(m[1].kind(), Some(PayloadKind::TelephoneEvent));
        assert!(m
            .iter()
            .any(|x| x.pt == 0 && x.kind() == Some(PayloadKind::Audio(CodecKind::Pcmu))));
        assert!(m
            .iter()
            .any(|x| x.pt == 8 && x.kind() == Some(PayloadKind::Audio(CodecKind::Pcma))));
        assert!(!m.iter().any(|x| x.pt == 96));
    }

    #[test]
    fn tidy_removes_duplicate_formats_and_lines() {
        let t = tidy_sdp(SDP);
        assert!(
            t.contains("m=audio 9 UDP/TLS/RTP/SAVPF 109 0 8 101\r\n"),
            "{t}"
        );
        assert_eq!(t.matches("a=rtpmap:101 telephone-event/8000").count(), 1);
        assert_eq!(t.matches("a=fmtp:101 0-16").count(), 1);
        assert!(t.contains("a=rtpmap:96 VP8/90000"));
    }
}
