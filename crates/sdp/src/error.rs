//! The crate's error types: one for reading SDP, one for adapting it.

use thiserror::Error;

/// Why a piece of text could not be read as SDP.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("The session description is empty.")]
    Empty,
    #[error("The session description is {len} bytes long; Homeline accepts at most {max}.")]
    TooLarge { len: usize, max: usize },
    #[error("The session description has more than {max} lines.")]
    TooManyLines { max: usize },
    #[error("The session description has more than {max} media sections.")]
    TooManyMedia { max: usize },
    #[error("The session description does not start with \"v=0\".")]
    MissingVersion,
    #[error("Line {line} of the session description is not of the form \"x=value\".")]
    MalformedLine { line: usize },
    #[error("Line {line} of the session description is a media line (m=) that cannot be read: {reason}.")]
    MalformedMedia { line: usize, reason: &'static str },
}

/// Why an SDP could not be adapted. Every variant maps to a SIP status
/// (see [`AdaptError::sip_status`]) and reads as a sentence a user understands.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdaptError {
    #[error("The other side offered unencrypted RTP without ICE or DTLS; Homeline needs a WebRTC-capable gateway (e.g. rtpengine) in front of legacy phones.")]
    PlainRtp,
    #[error("The other side offered SRTP with SDES keys (a=crypto) but no ICE or DTLS; Homeline needs a WebRTC-capable gateway (e.g. rtpengine) in front of it.")]
    SdesOnly,
    #[error("The other side's offer has no ICE credentials (a=ice-ufrag and a=ice-pwd); Homeline needs ICE, so the PBX must run WebRTC media (ICE, DTLS-SRTP) towards it.")]
    MissingIce,
    #[error("The other side's offer has no DTLS fingerprint (a=fingerprint); Homeline needs DTLS-SRTP, so the PBX must run WebRTC media towards it.")]
    MissingFingerprint,
    #[error("The other side's offer has no audio stream Homeline can use.")]
    NoAudio,
    #[error("The other side's session description could not be read: {0}")]
    Unreadable(#[from] ParseError),
    #[error("None of the codecs enabled in the settings ({enabled}) is available for this call.")]
    NoCommonCodec { enabled: String },
}

impl AdaptError {
    /// The SIP response code to send when this error ends an offer/answer:
    /// 400 for SDP we cannot read, 488 Not Acceptable Here for every
    /// media incompatibility.
    pub fn sip_status(&self) -> u16 {
        match self {
            AdaptError::Unreadable(_) => 400,
            _ => 488,
        }
    }

    /// The RFC 3261 Warning code that best describes the problem
    /// (302 incompatible transport, 304 media type unavailable,
    /// 305 incompatible media format).
    pub fn sip_warning_code(&self) -> u16 {
        match self {
            AdaptError::PlainRtp
            | AdaptError::SdesOnly
            | AdaptError::MissingIce
            | AdaptError::MissingFingerprint => 302,
            AdaptError::NoAudio => 304,
            AdaptError::Unreadable(_) => 399,
            AdaptError::NoCommonCodec { .. } => 305,
        }
    }

    /// A stable, machine-readable code for the UI and logs.
    pub fn code(&self) -> &'static str {
        match self {
            AdaptError::PlainRtp => "sdp.plain_rtp",
            AdaptError::SdesOnly => "sdp.sdes_only",
            AdaptError::MissingIce => "sdp.missing_ice",
            AdaptError::MissingFingerprint => "sdp.missing_fingerprint",
            AdaptError::NoAudio => "sdp.no_audio",
            AdaptError::Unreadable(_) => "sdp.unreadable",
            AdaptError::NoCommonCodec { .. } => "sdp.no_common_codec",
        }
    }
}
