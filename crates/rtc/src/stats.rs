use homeline_media::CodecKind;
use std::time::Duration;

/// A snapshot of one session's media statistics, as plain data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStats {
    /// Codec we send with, once negotiated and connected.
    pub send_codec: Option<CodecKind>,
    /// Codec of the last audio packet received.
    pub recv_codec: Option<CodecKind>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_received: u64,
    pub bytes_received: u64,
    /// Packets missing from the received sequence (our own count).
    pub packets_lost: u64,
    /// Packets that arrived too late or twice and were dropped.
    pub packets_late: u64,
    /// 20 ms frames filled in by concealment.
    pub frames_concealed: u64,
    /// Loss the other side reports about our stream (RTCP RR), 0..1.
    pub remote_fraction_lost: Option<f64>,
    /// Interarrival jitter of what we receive (RTCP/RFC 3550), if known.
    pub jitter: Option<Duration>,
    /// Round-trip time from RTCP or ICE, if measured.
    pub rtt: Option<Duration>,
    pub dtmf_sent: u64,
    pub dtmf_received: u64,
    /// Time from session creation to connected, if connected.
    pub connect_time: Option<Duration>,
}
