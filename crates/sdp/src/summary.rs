//! One look at an SDP for logs, stats and call decisions: which codec
//! won, whether RFC 4733 DTMF is possible, hold state, ICE and DTLS facts.

use serde::Serialize;

use crate::codec::Codec;
use crate::direction::{remote_media, Direction};
use crate::model::{Attributes, SessionDescription};
use crate::offer::bundle_groups;

/// Facts about an SDP's audio (and its transport).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The first voice codec in this SDP's order that the other SDP has
    /// too (or simply the first voice codec when there is no other SDP).
    pub codec: Option<Codec>,
    /// telephone-event's payload type, at the codec's clock rate if offered.
    pub telephone_event: Option<u8>,
    pub telephone_events: Vec<Codec>,
    /// The direction this SDP's writer declared (legacy c=0.0.0.0 applied).
    pub direction: Option<Direction>,
    pub on_hold: bool,
    pub proto: Option<String>,
    pub ice_ufrag: Option<String>,
    #[serde(skip_serializing)]
    pub ice_pwd: Option<String>,
    pub ice_lite: bool,
    /// Lower-case hash name of the DTLS fingerprint: `sha-256`, `sha-1`, …
    pub fingerprint_algorithm: Option<String>,
    /// `actpass`, `active` or `passive`.
    pub setup: Option<String>,
    /// ICE candidates in the audio section.
    pub candidates: usize,
    pub rtcp_mux: bool,
    /// Every section's mid, in order (`None` where it has none).
    pub mids: Vec<Option<String>>,
    /// The mids of the first BUNDLE group.
    pub bundle: Option<Vec<String>>,
}

/// Summarises `sdp`. Pass `ours` (our side of the exchange) to get the
/// negotiated codec: the first of `sdp`'s voice codecs that `ours` has.
pub fn summarize(sdp: &SessionDescription, ours: Option<&SessionDescription>) -> Summary {
    let mut s = Summary {
        mids: sdp
            .media
            .iter()
            .map(|m| m.mid().map(str::to_owned))
            .collect(),
        bundle: bundle_groups(sdp).into_iter().next(),
        ice_lite: sdp.session.has_attribute("ice-lite"),
        ..Summary::default()
    };
    let Some(index) = sdp.audio_index() else {
        return s;
    };
    let Some(section) = sdp.media.get(index) else {
        return s;
    };
    let our_codecs = ours
        .and_then(|o| o.audio_index().and_then(|i| o.media.get(i)))
        .map(|m| m.codecs());
    let codecs = section.codecs();
    s.codec = codecs
        .iter()
        .filter(|c| !c.is_auxiliary())
        .find(|c| {
            our_codecs
                .as_ref()
                .is_none_or(|ours| ours.iter().any(|o| o.same_codec(c)))
        })
        .cloned();
    s.telephone_events = codecs
        .iter()
        .filter(|c| c.is_telephone_event())
        .cloned()
        .collect();
    let clock = s.codec.as_ref().map(|c| c.clock_rate);
    s.telephone_event = s
        .telephone_events
        .iter()
        .find(|t| Some(t.clock_rate) == clock)
        .or_else(|| s.telephone_events.first())
        .map(|t| t.pt);
    if let Ok(remote) = remote_media(sdp) {
        s.direction = Some(remote.direction);
        s.on_hold = remote.is_hold();
    }
    let attr = |name| {
        sdp.effective_attribute(index, name)
            .map(|v| v.trim().to_owned())
    };
    s.proto = Some(section.proto().to_owned());
    s.ice_ufrag = attr("ice-ufrag");
    s.ice_pwd = attr("ice-pwd");
    s.setup = attr("setup").map(|v| v.to_ascii_lowercase());
    s.fingerprint_algorithm = attr("fingerprint").and_then(|v| {
        v.split_ascii_whitespace()
            .next()
            .map(str::to_ascii_lowercase)
    });
    s.candidates = section.attributes("candidate").count();
    s.rtcp_mux = section.has_attribute("rtcp-mux");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiated_codec_is_first_common() {
        let remote = SessionDescription::parse(
            "v=0\r\na=ice-lite\r\nm=audio 9 UDP/TLS/RTP/SAVPF 9 0 8 101\r\na=mid:a\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:SHA-256 AA\r\na=setup:actpass\r\na=rtpmap:101 telephone-event/8000\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\na=rtcp-mux\r\na=recvonly\r\n",
        )
        .unwrap();
        let ours = SessionDescription::parse(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\na=rtpmap:111 opus/48000/2\r\n",
        )
        .unwrap();
        let s = summarize(&remote, Some(&ours));
        assert_eq!(s.codec.as_ref().map(|c| c.name.as_str()), Some("PCMU"));
        assert_eq!(s.telephone_event, Some(101));
        assert_eq!(s.direction, Some(Direction::RecvOnly));
        assert!(!s.on_hold);
        assert_eq!(s.fingerprint_algorithm.as_deref(), Some("sha-256"));
        assert_eq!(s.setup.as_deref(), Some("actpass"));
        assert_eq!(s.ice_ufrag.as_deref(), Some("u"));
        assert_eq!(s.candidates, 1);
        assert!(s.ice_lite && s.rtcp_mux);
        assert_eq!(s.mids, [Some("a".to_owned())]);
        assert_eq!(
            summarize(&remote, None).codec.map(|c| c.name),
            Some("G722".to_owned())
        );
    }

    #[test]
    fn ice_password_is_not_serialised() {
        let sdp =
            SessionDescription::parse("v=0\r\nm=audio 9 RTP/SAVPF 0\r\na=ice-pwd:secretish\r\n")
                .unwrap();
        let s = summarize(&sdp, None);
        assert_eq!(s.ice_pwd.as_deref(), Some("secretish"));
        // The summary goes to logs and the UI as JSON; the password does not.
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("secretish"));
        assert!(json.contains("\"candidates\":0"));
    }

    #[test]
    fn no_audio_gives_an_empty_summary() {
        let sdp = SessionDescription::parse("v=0\r\nm=video 9 RTP/SAVPF 96\r\n").unwrap();
        let s = summarize(&sdp, None);
        assert!(s.codec.is_none() && s.direction.is_none());
        assert_eq!(s.mids, [None]);
    }
}
