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
    /// `maxaveragebitrate` of its `a=fmtp` (Opus, RFC 7587): the most it wants to receive.
    pub max_bitrate: Option<u32>,
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
    let mut fmtp_max: Vec<(u8, Option<u32>)> = Vec::new();
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
        if let Some(rest) = line.strip_prefix("a=fmtp:") {
            let mut it = rest.splitn(2, ' ');
            let pt = it.next().and_then(|p| p.trim().parse::<u8>().ok());
            if let (Some(pt), Some(params)) = (pt, it.next()) {
                let max = params.split(';').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("maxaveragebitrate")
                        .then(|| v.trim().parse::<u32>().ok())
                        .flatten()
                });
                if max.is_some() && !fmtp_max.iter().any(|(p, _)| *p == pt) {
                    fmtp_max.push((pt, max));
                }
            }
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
            maps.push(RtpMap {
                pt,
                name,
                clock,
                max_bitrate: None,
            });
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
            max_bitrate: None,
        });
    }
    for m in &mut maps {
        m.max_bitrate = fmtp_max.iter().find(|(p, _)| *p == m.pt).and_then(|(_, b)| *b);
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

/// Puts each media section's default candidate into its `m=` port and `c=`
/// address, as browsers do once gathering is done (RFC 8839 §4.2.1.2; JSEP
/// §5.2.1): relay first, then server-reflexive, then host — UDP, RTP
/// component, literal IP addresses only. webrtc-rs always writes `m=audio 9`
/// and `c=IN IP4 0.0.0.0`; SIP middleboxes read that zero address as an
/// RFC 2543 hold: rtpengine (10.5, Debian 12) then offers the legacy phone
/// behind it `c=0.0.0.0` + `a=sendonly`, and the phone never sends audio.
/// Sections without such a candidate, and rejected ones (port 0), are kept.
pub(crate) fn with_default_candidates(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split_inclusive('\n').collect();
    let body = |line: &str| line.trim_end_matches(['\r', '\n']).to_owned();
    let mut out = String::with_capacity(sdp.len() + 32);
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("m=") {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("m="))
            .unwrap_or(lines.len());
        let section = &lines[i..end];
        let default = section
            .iter()
            .filter_map(|l| default_candidate(&body(l)))
            .min_by_key(|(rank, _, _)| *rank);
        let mline = body(section[0]);
        let mut fields: Vec<&str> = mline.split(' ').collect();
        match default {
            Some((_, ip, port)) if fields.len() > 1 && fields[1] != "0" => {
                let eol = &section[0][mline.len()..];
                let port = port.to_string();
                fields[1] = &port;
                out.push_str(&fields.join(" "));
                out.push_str(eol);
                let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
                let cline = format!("c=IN {family} {ip}{eol}");
                let mut wrote_c = false;
                for line in &section[1..] {
                    if line.starts_with("c=") {
                        out.push_str(&cline);
                        wrote_c = true;
                    } else {
                        // RFC 4566 order: c= comes before b=, k= and a= lines.
                        if !wrote_c && !line.starts_with("i=") {
                            out.push_str(&cline);
                            wrote_c = true;
                        }
                        out.push_str(line);
                    }
                }
                if !wrote_c {
                    out.push_str(&cline);
                }
            }
            _ => section.iter().for_each(|l| out.push_str(l)),
        }
        i = end;
    }
    out
}

/// `a=candidate:F 1 udp PRIO IP PORT typ TYPE ...` → (rank, IP, port); rank 0 is preferred.
fn default_candidate(line: &str) -> Option<(u8, std::net::IpAddr, u16)> {
    let fields: Vec<&str> = line
        .strip_prefix("a=candidate:")?
        .split_whitespace()
        .collect();
    let (component, transport, ip, port) = (
        fields.get(1)?,
        fields.get(2)?,
        fields.get(4)?,
        fields.get(5)?,
    );
    if *component != "1" || !transport.eq_ignore_ascii_case("udp") || fields.get(6) != Some(&"typ")
    {
        return None;
    }
    let rank = match *fields.get(7)? {
        "relay" => 0,
        "srflx" => 1,
        "prflx" => 2,
        "host" => 3,
        _ => return None,
    };
    Some((
        rank,
        ip.parse().ok()?,
        port.parse().ok().filter(|p| *p != 0)?,
    ))
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
                clock: 48000,
                max_bitrate: None,
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
    fn reads_the_maximum_bitrate_the_other_side_accepts() {
        let sdp = SDP.replace(
            "a=fmtp:109 minptime=10;useinbandfec=1",
            "a=fmtp:109 minptime=10; maxaveragebitrate=20000;useinbandfec=1",
        );
        let m = audio_rtpmaps(&sdp);
        assert_eq!(m[0].max_bitrate, Some(20_000));
        assert!(m[1..].iter().all(|x| x.max_bitrate.is_none()));
        let bad = SDP.replace("useinbandfec=1", "maxaveragebitrate=lots");
        assert_eq!(audio_rtpmaps(&bad)[0].max_bitrate, None);
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

    const WEBRTC_RS_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 48731 typ host\r\na=candidate:1 2 udp 2130706431 127.0.0.1 48731 typ host\r\n\
a=candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 48731\r\na=end-of-candidates\r\n";

    #[test]
    fn default_candidate_goes_into_the_m_and_c_lines() {
        let t = with_default_candidates(WEBRTC_RS_OFFER);
        assert!(
            t.contains(
                "m=audio 40000 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 198.51.100.7\r\na=mid:0\r\n"
            ),
            "{t}"
        );
        assert!(!t.contains("c=IN IP4 0.0.0.0"), "{t}");
        let host_only = WEBRTC_RS_OFFER.replace("a=candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 0.0.0.0 rport 48731\r\n", "");
        let t = with_default_candidates(&host_only);
        assert!(
            t.contains("m=audio 48731 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 127.0.0.1\r\n"),
            "{t}"
        );
        assert_eq!(
            t.len(),
            host_only.len() + "48731".len() - 1 + "127.0.0.1".len() - "0.0.0.0".len()
        );
    }

    #[test]
    fn sections_without_candidates_or_rejected_are_kept() {
        let none = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";
        assert_eq!(with_default_candidates(none), none);
        let rejected = WEBRTC_RS_OFFER.replace("m=audio 9 ", "m=audio 0 ");
        assert_eq!(with_default_candidates(&rejected), rejected);
        let mdns = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n\
a=candidate:1 1 udp 2130706431 0f2b7c7e-2d3e.local 5000 typ host\r\n";
        assert_eq!(with_default_candidates(mdns), mdns);
        let no_c = "v=0\r\nm=audio 9 RTP/SAVPF 111\na=candidate:1 1 UDP 5 ::1 7000 typ host\n";
        assert_eq!(with_default_candidates(no_c), "v=0\r\nm=audio 7000 RTP/SAVPF 111\nc=IN IP6 ::1\na=candidate:1 1 UDP 5 ::1 7000 typ host\n");
    }
}
