//! Stable payload types across re-INVITEs. RFC 3264 §8.3.2 wants the same
//! payload type for the same codec for the life of a session, and several
//! PBXs (Asterisk among them) reject or mis-decode a re-offer whose dynamic
//! numbers moved; webrtc-rs, asked for a fresh offer, may renumber. This
//! puts the previously negotiated numbers back.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::codec::{dynamic_pts, is_dynamic_pt, line_payload_type, Codec};
use crate::model::{Line, MediaSection, SessionDescription};

/// One payload type renumbered by [`keep_payload_types`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadRemap {
    pub section: usize,
    pub from: u8,
    pub to: u8,
}

/// Renumbers `new`'s dynamic payload types to the ones `previous` used for
/// the same codec (name, clock rate, channels). Sections are matched by
/// `a=mid`, else by position and media type. Payload types that would
/// collide with a restored number move to a free dynamic number.
pub fn keep_payload_types(
    previous: &SessionDescription,
    new: &mut SessionDescription,
) -> Vec<PayloadRemap> {
    let mut remaps = Vec::new();
    for index in 0..new.media.len() {
        let Some(prev) = matching_section(previous, new, index) else {
            continue;
        };
        let prev_codecs = prev.codecs();
        let prev_used = prev.used_payload_types();
        let Some(section) = new.media.get_mut(index) else {
            continue;
        };
        let map = plan(&prev_codecs, &prev_used, section);
        if map.is_empty() {
            continue;
        }
        apply(section, &map);
        remaps.extend(map.into_iter().map(|(from, to)| PayloadRemap {
            section: index,
            from,
            to,
        }));
    }
    remaps
}

fn matching_section<'a>(
    previous: &'a SessionDescription,
    new: &SessionDescription,
    index: usize,
) -> Option<&'a MediaSection> {
    let section = new.media.get(index)?;
    if let Some(mid) = section.mid() {
        if let Some(p) = previous.media.iter().find(|p| p.mid() == Some(mid)) {
            return Some(p);
        }
    }
    previous
        .media
        .get(index)
        .filter(|p| p.media().eq_ignore_ascii_case(section.media()))
}

/// The renumbering for one section: old payload type → new one.
fn plan(prev_codecs: &[Codec], prev_used: &[u8], section: &MediaSection) -> BTreeMap<u8, u8> {
    let codecs = section.codecs();
    let mut claimed = vec![false; prev_codecs.len()];
    // Where each matched payload type must end up (identity included).
    let mut target: BTreeMap<u8, u8> = BTreeMap::new();
    for c in codecs.iter().filter(|c| c.is_dynamic()) {
        let found = prev_codecs.iter().enumerate().find(|(i, p)| {
            !claimed.get(*i).copied().unwrap_or(true) && is_dynamic_pt(p.pt) && p.same_codec(c)
        });
        if let Some((i, p)) = found {
            if let Some(slot) = claimed.get_mut(i) {
                *slot = true;
            }
            target.insert(c.pt, p.pt);
        }
    }
    let used = section.used_payload_types();
    let mut reserved: Vec<u8> = target.values().copied().collect();
    reserved.extend(prev_used.iter().copied());
    reserved.extend(used.iter().copied());
    for pt in used.iter().copied().filter(|pt| is_dynamic_pt(*pt)) {
        if target.contains_key(&pt) {
            continue;
        }
        // An unmatched payload type sitting on a restored number must move.
        if target.values().any(|t| *t == pt) {
            let free = dynamic_pts().find(|n| !reserved.contains(n));
            if let Some(free) = free {
                reserved.push(free);
                target.insert(pt, free);
            }
        }
    }
    target.retain(|from, to| from != to);
    target
}

fn apply(section: &mut MediaSection, map: &BTreeMap<u8, u8>) {
    let codecs = section.codecs();
    let name_of = |pt: u8| codecs.iter().find(|c| c.pt == pt).map(|c| c.name.clone());
    let remap = |pt: u8| map.get(&pt).copied().unwrap_or(pt);
    let formats = section
        .formats()
        .iter()
        .map(|f| match f.parse::<u8>() {
            Ok(pt) => remap(pt).to_string(),
            Err(_) => f.clone(),
        })
        .collect();
    section.set_formats(formats);
    for line in section.lines.iter_mut() {
        let Some(pt) = line_payload_type(line) else {
            continue;
        };
        let Some(name) = line.attr_name().map(str::to_owned) else {
            continue;
        };
        let value = line.attr_value().unwrap_or("");
        let rest = value.split_once(' ').map_or("", |(_, r)| r);
        let rest = if name.eq_ignore_ascii_case("fmtp") {
            let is_red = name_of(pt).is_some_and(|n| n.eq_ignore_ascii_case("red"));
            rewrite_fmtp_references(rest, is_red, &remap)
        } else {
            rest.to_owned()
        };
        let new_value = if rest.is_empty() && !value.contains(' ') {
            remap(pt).to_string()
        } else {
            format!("{} {}", remap(pt), rest)
        };
        *line = Line::attribute(&name, Some(&new_value));
    }
}

/// fmtp values that name other payload types: RED's `111/111` (RFC 2198)
/// and RTX's `apt=96` (RFC 4588).
fn rewrite_fmtp_references(value: &str, is_red: bool, remap: &dyn Fn(u8) -> u8) -> String {
    if is_red && value.split('/').all(|p| p.trim().parse::<u8>().is_ok()) {
        return value
            .split('/')
            .map(|p| {
                p.trim()
                    .parse::<u8>()
                    .map_or_else(|_| p.to_owned(), |pt| remap(pt).to_string())
            })
            .collect::<Vec<_>>()
            .join("/");
    }
    value
        .split(';')
        .map(|param| {
            let trimmed = param.trim_start();
            match trimmed.strip_prefix("apt=").map(|n| n.trim().parse::<u8>()) {
                Some(Ok(pt)) => {
                    let lead = &param[..param.len() - trimmed.len()];
                    format!("{lead}apt={}", remap(pt))
                }
                _ => param.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attributes;

    fn sdp(text: &str) -> SessionDescription {
        SessionDescription::parse(text).unwrap()
    }

    const PREV: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 0 126\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n";

    #[test]
    fn renumbered_offer_gets_old_numbers_back() {
        let new_text = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96 97 0 101\r\na=mid:0\r\na=rtpmap:96 opus/48000/2\r\na=rtcp-fb:96 transport-cc\r\na=fmtp:96 minptime=10;useinbandfec=1\r\na=rtpmap:97 red/48000/2\r\na=fmtp:97 96/96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let mut new = sdp(new_text);
        let remaps = keep_payload_types(&sdp(PREV), &mut new);
        assert!(remaps.contains(&PayloadRemap {
            section: 0,
            from: 96,
            to: 111
        }));
        assert!(remaps.contains(&PayloadRemap {
            section: 0,
            from: 97,
            to: 63
        }));
        assert!(remaps.contains(&PayloadRemap {
            section: 0,
            from: 101,
            to: 126
        }));
        let text = new.to_sdp_string();
        assert!(
            text.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0 126\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"));
        assert!(
            text.contains("a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:126 telephone-event/8000\r\n"));
    }

    #[test]
    fn unchanged_numbers_mean_no_change() {
        let mut new = sdp(PREV);
        assert!(keep_payload_types(&sdp(PREV), &mut new).is_empty());
        assert_eq!(new.to_sdp_string(), PREV);
    }

    #[test]
    fn swapped_numbers_are_swapped_back() {
        let prev = sdp("v=0\r\nm=audio 9 RTP/SAVPF 96 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\n");
        let mut new = sdp("v=0\r\nm=audio 9 RTP/SAVPF 97 96\r\na=rtpmap:97 opus/48000/2\r\na=rtpmap:96 telephone-event/48000\r\n");
        keep_payload_types(&prev, &mut new);
        assert_eq!(new.media[0].formats(), ["96", "97"]);
        assert_eq!(
            new.media[0].attributes("rtpmap").collect::<Vec<_>>(),
            ["96 opus/48000/2", "97 telephone-event/48000"]
        );
    }

    #[test]
    fn newcomer_on_a_restored_number_moves_to_a_free_one() {
        let prev = sdp("v=0\r\nm=audio 9 RTP/SAVPF 101\r\na=rtpmap:101 telephone-event/8000\r\n");
        let mut new = sdp("v=0\r\nm=audio 9 RTP/SAVPF 101 96\r\na=rtpmap:101 G7221/16000\r\na=fmtp:101 bitrate=24000\r\na=rtpmap:96 telephone-event/8000\r\n");
        keep_payload_types(&prev, &mut new);
        let codecs = new.media[0].codecs();
        let te = codecs.iter().find(|c| c.is_telephone_event()).unwrap();
        let g = codecs.iter().find(|c| c.name == "G7221").unwrap();
        assert_eq!(te.pt, 101);
        assert_ne!(g.pt, 101);
        assert_eq!(new.media[0].fmtp(g.pt), Some("bitrate=24000"));
    }

    #[test]
    fn rtx_apt_follows_its_codec() {
        let prev = sdp("v=0\r\nm=video 9 RTP/SAVPF 100 101\r\na=rtpmap:100 VP8/90000\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\n");
        let mut new = sdp("v=0\r\nm=video 9 RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n");
        keep_payload_types(&prev, &mut new);
        assert_eq!(new.media[0].fmtp(101), Some("apt=100"));
    }

    #[test]
    fn sections_matched_by_mid_not_position() {
        let prev = sdp("v=0\r\nm=video 0 RTP/SAVPF 96\r\na=mid:v\r\nm=audio 9 RTP/SAVPF 120\r\na=mid:a\r\na=rtpmap:120 opus/48000/2\r\n");
        let mut new =
            sdp("v=0\r\nm=audio 9 RTP/SAVPF 96\r\na=mid:a\r\na=rtpmap:96 opus/48000/2\r\n");
        keep_payload_types(&prev, &mut new);
        assert_eq!(new.media[0].formats(), ["120"]);
    }
}
