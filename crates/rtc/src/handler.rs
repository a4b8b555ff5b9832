//! The PeerConnection event handler: turns webrtc-rs callbacks into our plain state.
//! It holds no reference to the PeerConnection (no cycle, nothing outlives `close`).

use crate::config::SessionConfig;
use crate::media;
use crate::sdp_map::RtpMap;
use crate::session::SessionEvent;
use homeline_media::AudioSink;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceCandidateType, RTCIceGatheringState,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};

/// Candidates gathered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gather {
    pub host: u32,
    pub srflx: u32,
    pub relay: u32,
    pub complete: bool,
}

/// Connection state as the media loops need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conn {
    New,
    Connected,
    Failed,
    Closed,
}

/// Counters written by the media loops, read by `stats()`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub lost: AtomicU64,
    pub late: AtomicU64,
    pub concealed: AtomicU64,
    pub unknown_payload: AtomicU64,
    pub dtmf_sent: AtomicU64,
    pub dtmf_received: AtomicU64,
    pub events_dropped: AtomicU64,
    /// `CodecKind` index + 1 of what we send (0 = none yet).
    pub send_codec: AtomicU64,
    pub recv_codec: AtomicU64,
    /// Negotiated telephone-event payload type + 1 (0 = none or not yet known).
    pub te_pt: AtomicU64,
    /// The receive loop's jitter buffer, copied every 200 ms.
    pub jitter: std::sync::Mutex<homeline_media::jitter::JitterStats>,
}

/// Controls the application sets and the send loop reads every frame (no locks).
#[derive(Debug, Default)]
pub(crate) struct Controls {
    pub muted: std::sync::atomic::AtomicBool,
    /// Expected loss in percent + 1 for the encoder (0 = no change requested).
    pub loss_perc: AtomicU64,
    /// Encoder bitrate in bit/s (0 = no change requested).
    pub bitrate: AtomicU64,
}

/// The payload types each side's description declares (see `sdp_map`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Negotiated {
    /// From our description: what the other side sends us.
    pub local: Vec<RtpMap>,
    /// From theirs: what they expect from us.
    pub remote: Vec<RtpMap>,
}

pub(crate) struct Shared {
    pub config: SessionConfig,
    pub negotiated: watch::Sender<Option<Negotiated>>,
    pub events: mpsc::Sender<SessionEvent>,
    pub gather: watch::Sender<Gather>,
    pub conn: watch::Sender<Conn>,
    pub sink: Mutex<Option<Box<dyn AudioSink>>>,
    pub counters: Counters,
    pub controls: Controls,
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub created: Instant,
    pub connected_at: Mutex<Option<Instant>>,
    /// Why TURN servers over TCP/TLS could not be used (sentences), said with a failure.
    pub turn_problems: Vec<String>,
}

impl Shared {
    /// Sends an event without ever waiting (the driver calls us; it must not block).
    pub fn emit(&self, ev: SessionEvent) {
        if self.events.try_send(ev).is_err() {
            self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reports `Failed` once (later failures of the same session are not repeated).
    pub fn fail(&self, reason: &str) {
        let mut first = false;
        self.conn.send_if_modified(|c| {
            if matches!(*c, Conn::Failed | Conn::Closed) {
                false
            } else {
                *c = Conn::Failed;
                first = true;
                true
            }
        });
        if first {
            let reason = std::iter::once(reason).chain(self.turn_problems.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
            self.emit(SessionEvent::Failed { reason });
        }
    }

    pub fn push_task(&self, h: tokio::task::JoinHandle<()>) {
        match self.tasks.lock() {
            Ok(mut t) => t.push(h),
            Err(p) => p.into_inner().push(h),
        }
    }

    pub fn take_tasks(&self) -> Vec<tokio::task::JoinHandle<()>> {
        match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    pub fn take_sink(&self) -> Option<Box<dyn AudioSink>> {
        match self.sink.lock() {
            Ok(mut s) => s.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    pub fn put_sink(&self, sink: Box<dyn AudioSink>) {
        match self.sink.lock() {
            Ok(mut s) => *s = Some(sink),
            Err(p) => *p.into_inner() = Some(sink),
        }
    }
}

pub(crate) struct Handler {
    pub shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let typ = event.candidate.typ;
        self.shared.gather.send_modify(|g| match typ {
            RTCIceCandidateType::Host => g.host += 1,
            RTCIceCandidateType::Srflx | RTCIceCandidateType::Prflx => g.srflx += 1,
            RTCIceCandidateType::Relay => g.relay += 1,
            _ => {}
        });
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.shared.gather.send_modify(|g| g.complete = true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(?state, "peer connection state");
        match state {
            RTCPeerConnectionState::Connected => {
                let now = Instant::now();
                match self.shared.connected_at.lock() {
                    Ok(mut c) => *c = Some(now),
                    Err(p) => *p.into_inner() = Some(now),
                }
                self.shared.conn.send_replace(Conn::Connected);
                self.shared.emit(SessionEvent::Connected);
            }
            RTCPeerConnectionState::Disconnected => {
                let ever_connected = match self.shared.connected_at.lock() {
                    Ok(c) => c.is_some(),
                    Err(p) => p.into_inner().is_some(),
                };
                if ever_connected {
                    self.shared.emit(SessionEvent::Disconnected);
                } else {
                    self.shared.fail(
                        "The media connection broke off before the call connected: the \
                         encryption handshake (DTLS) or the network path failed.",
                    );
                }
            }
            RTCPeerConnectionState::Failed => {
                self.shared.fail(
                    "The media connection failed: no network path to the other side \
                     worked, or the encryption handshake (DTLS) did not complete.",
                );
            }
            RTCPeerConnectionState::Closed => {
                self.shared.conn.send_replace(Conn::Closed);
            }
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let shared = self.shared.clone();
        let h = tokio::spawn(media::receive_loop(track, shared));
        self.shared.push_task(h);
    }
}
