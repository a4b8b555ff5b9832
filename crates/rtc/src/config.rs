use homeline_media::CodecKind;
use std::path::PathBuf;
use std::time::Duration;

/// A STUN or TURN server. `turn:` goes over UDP unless it says
/// `?transport=tcp`; `turns:` is TURN over TLS (both bridged, see `turn_tcp`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port[?transport=udp|tcp]` or `turns:host[:port]`.
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
    /// For `turns:`: a PEM file of CA certificates trusted besides the
    /// system roots (the account's CA file).
    pub ca_file: Option<PathBuf>,
}

/// RTP payload type we register for `telephone-event/8000` (G.711 calls).
pub const TELEPHONE_EVENT_8K_PT: u8 = 126;
/// RTP payload type we register for `telephone-event/48000` (Opus calls).
pub const TELEPHONE_EVENT_48K_PT: u8 = 110;
/// RTP payload type we register for Opus.
pub const OPUS_PT: u8 = 111;

/// How one media session is set up.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub ice_servers: Vec<IceServer>,
    /// Enabled codecs in preference order; every offer lists all of them and telephone-event.
    pub codecs: Vec<CodecKind>,
    /// Local UDP addresses to bind. `0.0.0.0:0` binds every non-loopback interface.
    pub udp_addrs: Vec<String>,
    /// Offer loopback host candidates (tests on one machine); off in real use.
    pub include_loopback_candidate: bool,
    /// Longest wait for candidates when creating an offer or answer.
    pub gather_timeout: Duration,
    /// Longest wait from negotiation to connected before the session reports `Failed`.
    /// webrtc-rs never marks the connection failed when DTLS fails (a wrong fingerprint
    /// leaves it "connecting"), so this watchdog is what ends such a call.
    pub connect_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            codecs: CodecKind::ALL.to_vec(),
            udp_addrs: vec!["0.0.0.0:0".to_owned()],
            include_loopback_candidate: false,
            gather_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl SessionConfig {
    /// A configuration for two sessions talking over loopback in one process (tests).
    pub fn loopback() -> Self {
        Self {
            udp_addrs: vec!["127.0.0.1:0".to_owned()],
            include_loopback_candidate: true,
            ..Self::default()
        }
    }

    pub(crate) fn payload_type(kind: CodecKind) -> u8 {
        match kind {
            CodecKind::Opus => OPUS_PT,
            CodecKind::Pcmu => 0,
            CodecKind::Pcma => 8,
        }
    }

    /// What an incoming payload type means (our media engine's numbering: webrtc-rs maps
    /// remote codecs onto the payload types registered here).
    pub(crate) fn payload_kind(&self, pt: u8) -> Option<PayloadKind> {
        if pt == TELEPHONE_EVENT_8K_PT || pt == TELEPHONE_EVENT_48K_PT {
            return Some(PayloadKind::TelephoneEvent);
        }
        CodecKind::ALL
            .into_iter()
            .find(|k| Self::payload_type(*k) == pt)
            .map(PayloadKind::Audio)
    }

    /// STUN/TURN URLs as the session uses them: `turn:` over UDP unless it
    /// asks for TCP, `turns:` over TLS (both kept for the bridge, see
    /// `turn_tcp`); `turns:…?transport=udp` (DTLS) is left out.
    pub(crate) fn ice_servers_udp_only(&self) -> Vec<IceServer> {
        self.ice_servers
            .iter()
            .map(|s| IceServer {
                urls: s
                    .urls
                    .iter()
                    .filter_map(|u| {
                        if crate::turn_tcp::StreamTurnServer::parse(u).is_some() {
                            Some(u.clone())
                        } else if u.starts_with("turns:") {
                            None
                        } else if u.starts_with("turn:") {
                            let base = u.split('?').next().unwrap_or(u);
                            Some(format!("{base}?transport=udp"))
                        } else {
                            Some(u.clone())
                        }
                    })
                    .collect(),
                ..s.clone()
            })
            .filter(|s| !s.urls.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadKind {
    Audio(CodecKind),
    TelephoneEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_over_tcp_and_tls_are_kept_for_the_bridge_other_turn_goes_udp_and_dtls_is_dropped() {
        let c = SessionConfig {
            ice_servers: vec![IceServer {
                urls: vec![
                    "stun:127.0.0.1:3478".into(),
                    "turn:127.0.0.1:3478?transport=tcp".into(),
                    "turn:127.0.0.1:3479".into(),
                    "turns:127.0.0.1:5349".into(),
                    "turns:127.0.0.1:5349?transport=udp".into(),
                ],
                username: "u".into(),
                credential: "p".into(),
                ca_file: None,
            }],
            ..SessionConfig::default()
        };
        let s = c.ice_servers_udp_only();
        assert_eq!(
            s[0].urls,
            vec![
                "stun:127.0.0.1:3478",
                "turn:127.0.0.1:3478?transport=tcp",
                "turn:127.0.0.1:3479?transport=udp",
                "turns:127.0.0.1:5349"
            ]
        );
    }

    #[test]
    fn payload_types_map_back() {
        let c = SessionConfig::default();
        assert_eq!(c.payload_kind(0), Some(PayloadKind::Audio(CodecKind::Pcmu)));
        assert_eq!(
            c.payload_kind(111),
            Some(PayloadKind::Audio(CodecKind::Opus))
        );
        assert_eq!(c.payload_kind(126), Some(PayloadKind::TelephoneEvent));
        assert_eq!(c.payload_kind(99), None);
    }
}
