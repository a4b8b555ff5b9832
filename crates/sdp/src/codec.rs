//! Codecs of an RTP media section: rtpmap parsing, RFC 3551 static payload
//! types, and the per-payload-type attribute lines (rtpmap, fmtp, rtcp-fb).

use serde::Serialize;

use crate::model::{Attributes, Line, MediaSection};

/// First dynamic RTP payload type (RFC 3551).
pub const DYNAMIC_PT_MIN: u8 = 96;
/// Last dynamic RTP payload type.
pub const DYNAMIC_PT_MAX: u8 = 127;

/// Whether a payload type is assigned per session: 96–127, and the
/// unassigned 35–63 that Chromium uses once those run out (red is 63).
/// 64–95 are left alone: with rtcp-mux they clash with RTCP (RFC 5761 §4).
pub fn is_dynamic_pt(pt: u8) -> bool {
    (DYNAMIC_PT_MIN..=DYNAMIC_PT_MAX).contains(&pt) || (35..=63).contains(&pt)
}

/// Free dynamic payload types in the order we hand them out.
pub fn dynamic_pts() -> impl Iterator<Item = u8> {
    (DYNAMIC_PT_MIN..=DYNAMIC_PT_MAX).chain(35..=63)
}

/// One payload type of a media section, resolved to its codec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Codec {
    pub pt: u8,
    pub name: String,
    pub clock_rate: u32,
    pub channels: u16,
}

impl Codec {
    /// Same codec regardless of payload type: name (any case), clock, channels.
    pub fn same_codec(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// Not a voice codec: DTMF, comfort noise, redundancy, retransmission, FEC.
    pub fn is_auxiliary(&self) -> bool {
        [
            "telephone-event",
            "CN",
            "red",
            "rtx",
            "ulpfec",
            "flexfec-03",
        ]
        .iter()
        .any(|n| self.name.eq_ignore_ascii_case(n))
    }

    pub fn is_dynamic(&self) -> bool {
        is_dynamic_pt(self.pt)
    }
}

/// RFC 3551 static audio payload types a PBX may list without an rtpmap.
pub fn static_codec(pt: u8) -> Option<(&'static str, u32, u16)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        13 => ("CN", 8000, 1),
        18 => ("G729", 8000, 1),
        _ => return None,
    })
}

/// Parses an rtpmap value `111 opus/48000/2`.
pub fn parse_rtpmap(value: &str) -> Option<Codec> {
    let (pt, encoding) = value.trim().split_once(' ')?;
    let pt = pt.parse::<u8>().ok()?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.trim();
    if name.is_empty() {
        return None;
    }
    let clock_rate = parts.next()?.trim().parse::<u32>().ok()?;
    let channels = match parts.next() {
        Some(c) => c.trim().parse::<u16>().ok()?,
        None => 1,
    };
    Some(Codec {
        pt,
        name: name.to_owned(),
        clock_rate,
        channels,
    })
}

/// The payload type an rtpmap/fmtp/rtcp-fb line is about (`None` for
/// other lines and for `a=rtcp-fb:*`).
pub fn line_payload_type(line: &Line) -> Option<u8> {
    if !(line.is_attr("rtpmap") || line.is_attr("fmtp") || line.is_attr("rtcp-fb")) {
        return None;
    }
    let value = line.attr_value()?;
    let pt = value.split_ascii_whitespace().next()?;
    pt.parse::<u8>().ok()
}

impl MediaSection {
    /// The codecs of this section in m= line order. Formats that are not
    /// payload types, or dynamic ones with no rtpmap, are skipped.
    pub fn codecs(&self) -> Vec<Codec> {
        let maps: Vec<Codec> = self.attributes("rtpmap").filter_map(parse_rtpmap).collect();
        self.formats()
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter_map(|pt| {
                if let Some(c) = maps.iter().find(|c| c.pt == pt) {
                    return Some(c.clone());
                }
                static_codec(pt).map(|(name, clock_rate, channels)| Codec {
                    pt,
                    name: name.to_owned(),
                    clock_rate,
                    channels,
                })
            })
            .collect()
    }

    /// The fmtp value for a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes("fmtp").find_map(|v| {
            let (p, rest) = v.split_once(' ').unwrap_or((v, ""));
            (p.parse::<u8>().ok() == Some(pt)).then_some(rest)
        })
    }

    /// Payload types already in use (m= line and attribute lines).
    pub fn used_payload_types(&self) -> Vec<u8> {
        let mut used: Vec<u8> = self
            .formats()
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .chain(self.lines.iter().filter_map(line_payload_type))
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// Removes a payload type: from the m= line and its rtpmap/fmtp/rtcp-fb lines.
    pub fn remove_payload_type(&mut self, pt: u8) {
        let text = pt.to_string();
        let formats = self
            .formats()
            .iter()
            .filter(|f| **f != text)
            .cloned()
            .collect();
        self.set_formats(formats);
        self.lines.retain(|l| line_payload_type(l) != Some(pt));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionDescription;

    #[test]
    fn rtpmap_parsing() {
        let c = parse_rtpmap("111 opus/48000/2").unwrap();
        assert_eq!(
            (c.pt, c.name.as_str(), c.clock_rate, c.channels),
            (111, "opus", 48000, 2)
        );
        assert_eq!(parse_rtpmap("0 PCMU/8000").unwrap().channels, 1);
        assert!(parse_rtpmap("300 PCMU/8000").is_none());
        assert!(parse_rtpmap("0 PCMU").is_none());
        assert!(parse_rtpmap("x").is_none());
        assert!(parse_rtpmap("0 /8000").is_none());
    }

    #[test]
    fn codecs_resolve_static_and_dynamic_in_mline_order() {
        let sdp = SessionDescription::parse(
            "v=0\r\nm=audio 9 RTP/AVP 8 101 0 96\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        )
        .unwrap();
        let names: Vec<_> = sdp.media[0].codecs().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["PCMA", "telephone-event", "PCMU"]);
        assert_eq!(sdp.media[0].fmtp(101), Some("0-16"));
        assert_eq!(sdp.media[0].used_payload_types(), [0, 8, 96, 101]);
    }

    #[test]
    fn remove_payload_type_drops_its_lines() {
        let mut sdp = SessionDescription::parse(
            "v=0\r\nm=audio 9 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtcp-fb:* nack\r\n",
        )
        .unwrap();
        sdp.media[0].remove_payload_type(101);
        assert_eq!(
            sdp.to_sdp_string(),
            "v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtcp-fb:* nack\r\n"
        );
    }
}
