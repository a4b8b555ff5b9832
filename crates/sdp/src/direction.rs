//! Hold and resume: the direction attributes (RFC 3264 §5.1, §8.4) on the
//! audio section, and reading the other side's hold state, including the
//! pre-RFC 3264 form `c=IN IP4 0.0.0.0` that older PBXs and phones still send.

use serde::Serialize;

use crate::error::AdaptError;
use crate::model::{Attributes, Line, SessionDescription};

/// A media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ];

    /// The attribute name: `sendrecv`, `sendonly`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_attr(name: &str) -> Option<Direction> {
        Direction::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// The direction the answerer uses for this offered one (RFC 3264 §6.1).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether the side that wrote this direction has stopped listening:
    /// it has put the call on hold.
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }

    fn of_lines(lines: &[Line]) -> Option<Direction> {
        lines
            .iter()
            .filter_map(Line::attr_name)
            .find_map(Direction::from_attr)
    }
}

/// What the other side's SDP says about its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RemoteMedia {
    /// The direction in the remote's own terms, after legacy hold is applied.
    pub direction: Direction,
    /// The remote used `c=0.0.0.0` (RFC 2543 hold) rather than an attribute.
    pub legacy_zero_address: bool,
}

impl RemoteMedia {
    /// The remote has put us on hold.
    pub fn is_hold(&self) -> bool {
        self.direction.is_hold()
    }
}

/// Sets the direction of the first audio section, for a hold (`SendOnly`,
/// or `Inactive` when the other side holds too) or resume (`SendRecv`)
/// re-offer. The attribute is set at media level, which overrides any
/// session-level one.
pub fn set_audio_direction(
    sdp: &mut SessionDescription,
    direction: Direction,
) -> Result<(), AdaptError> {
    let index = sdp.audio_index().ok_or(AdaptError::NoAudio)?;
    let Some(section) = sdp.media.get_mut(index) else {
        return Err(AdaptError::NoAudio);
    };
    let existing = section
        .lines
        .iter()
        .position(|l| l.attr_name().and_then(Direction::from_attr).is_some());
    // Replace in place so the rest of the section keeps its order.
    section
        .lines
        .retain(|l| l.attr_name().and_then(Direction::from_attr).is_none());
    let line = Line::attribute(direction.as_str(), None);
    match existing {
        Some(at) if at <= section.lines.len() => section.lines.insert(at, line),
        _ => section.lines.push(line),
    }
    Ok(())
}

/// The other side's audio direction from its offer or answer.
///
/// Media-level attributes win over session-level ones (RFC 8866 §6.7).
/// `c=0.0.0.0` counts as hold only without ICE candidates and with a real
/// port: WebRTC stacks put `c=IN IP4 0.0.0.0` and port 9 in every offer
/// made before candidates are gathered, which is not a hold.
pub fn remote_media(sdp: &SessionDescription) -> Result<RemoteMedia, AdaptError> {
    let index = sdp.audio_index().ok_or(AdaptError::NoAudio)?;
    let section = sdp.media.get(index).ok_or(AdaptError::NoAudio)?;
    let declared = Direction::of_lines(&section.lines)
        .or_else(|| Direction::of_lines(&sdp.session.lines))
        .unwrap_or(Direction::SendRecv);
    let zero = sdp
        .effective_connection(index)
        .is_some_and(|a| a == "0.0.0.0" || a == "::");
    let legacy = zero && !section.has_attribute("candidate") && section.port() != 9;
    let direction = if legacy {
        // The remote asks us not to send; it may still send (music on hold).
        match declared {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    } else {
        declared
    };
    Ok(RemoteMedia {
        direction,
        legacy_zero_address: legacy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(text: &str) -> SessionDescription {
        SessionDescription::parse(text).unwrap()
    }

    const BASE: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=ptime:20\r\n";

    #[test]
    fn hold_and_resume_replace_the_attribute_in_place() {
        let mut s = sdp(BASE);
        set_audio_direction(&mut s, Direction::SendOnly).unwrap();
        assert_eq!(s.to_sdp_string(), BASE.replace("a=sendrecv", "a=sendonly"));
        set_audio_direction(&mut s, Direction::SendRecv).unwrap();
        assert_eq!(s.to_sdp_string(), BASE);
    }

    #[test]
    fn direction_added_when_missing_and_duplicates_collapse() {
        let mut s = sdp(&BASE.replace("a=sendrecv\r\n", ""));
        set_audio_direction(&mut s, Direction::Inactive).unwrap();
        assert!(s.to_sdp_string().ends_with("a=ptime:20\r\na=inactive\r\n"));
        let mut s = sdp(&BASE.replace("a=sendrecv\r\n", "a=sendrecv\r\na=recvonly\r\n"));
        set_audio_direction(&mut s, Direction::SendOnly).unwrap();
        assert_eq!(s.media[0].attributes("sendonly").count(), 1);
        assert!(!s.media[0].has_attribute("recvonly"));
    }

    #[test]
    fn no_audio_is_an_error() {
        let mut s = sdp("v=0\r\nm=video 4000 RTP/AVP 96\r\n");
        assert_eq!(
            set_audio_direction(&mut s, Direction::SendOnly),
            Err(AdaptError::NoAudio)
        );
        assert_eq!(remote_media(&s), Err(AdaptError::NoAudio));
    }

    #[test]
    fn remote_direction_media_level_beats_session_level() {
        let s = sdp(&BASE
            .replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
            .replace("a=sendrecv", "a=sendonly"));
        let r = remote_media(&s).unwrap();
        assert_eq!(r.direction, Direction::SendOnly);
        assert!(r.is_hold());
        let s = sdp(&BASE
            .replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
            .replace("a=sendrecv\r\n", ""));
        assert_eq!(remote_media(&s).unwrap().direction, Direction::Inactive);
        let s = sdp(&BASE.replace("a=sendrecv\r\n", ""));
        assert_eq!(remote_media(&s).unwrap().direction, Direction::SendRecv);
    }

    #[test]
    fn legacy_zero_address_hold() {
        let s = sdp(&BASE.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0"));
        let r = remote_media(&s).unwrap();
        assert!(r.legacy_zero_address);
        assert_eq!(r.direction, Direction::SendOnly);
        assert!(r.is_hold());
        let s = sdp(&BASE
            .replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0")
            .replace("a=sendrecv", "a=recvonly"));
        assert_eq!(remote_media(&s).unwrap().direction, Direction::Inactive);
    }

    #[test]
    fn webrtc_placeholder_address_is_not_hold() {
        let s = sdp(
            "v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n",
        );
        let r = remote_media(&s).unwrap();
        assert!(!r.legacy_zero_address);
        assert!(!r.is_hold());
    }

    #[test]
    fn reversal_for_answers() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    }
}
