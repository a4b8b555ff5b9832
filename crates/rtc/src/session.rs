//! One WebRTC session per call.

use crate::config::{IceServer, SessionConfig, TELEPHONE_EVENT_48K_PT, TELEPHONE_EVENT_8K_PT};
use crate::error::RtcError;
use crate::handler::{Conn, Gather, Handler, Negotiated, Shared};
use crate::media::{codec_from_index, random_u32, SendLoop};
use crate::sdp_map::{audio_rtpmaps, tidy_sdp, with_default_candidates};
use crate::stats::SessionStats;
use homeline_media::pipeline::SendChain;
use homeline_media::{AudioSink, AudioSource, CodecKind};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    configure_rtcp_reports, CipherSuiteId, MediaEngine, PeerConnection, PeerConnectionBuilder,
    RTCConfigurationBuilder, RTCIceServer, RTCSessionDescription, Registry, SettingEngineBuilder,
    StatsSelector,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

/// What the session reports, as plain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// ICE and DTLS are up; media can flow.
    Connected,
    /// Connectivity was lost for a moment (ICE may recover).
    Disconnected,
    /// The session cannot carry media; `reason` is a sentence for the user.
    Failed { reason: String },
    /// We started sending audio with this codec.
    SendingAudio { codec: CodecKind },
    /// Audio from the other side started (or changed codec).
    ReceivingAudio { codec: CodecKind },
    /// A touch tone from the other side (RFC 4733).
    DtmfReceived { digit: char },
    /// The session was closed and everything it held released.
    Closed,
}

/// Where the session's audio comes from and goes to.
pub struct MediaIo {
    pub source: Box<dyn AudioSource>,
    pub sink: Box<dyn AudioSink>,
}

impl std::fmt::Debug for MediaIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaIo").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Our offer is set locally and gathering runs.
    Offered,
    /// Negotiation complete.
    Negotiated,
    Closed,
}

/// One call's WebRTC media session. Always end it with [`Session::close`].
pub struct Session {
    pc: Arc<dyn PeerConnection>,
    shared: Arc<Shared>,
    sender: Arc<dyn RtpSender>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    phase: tokio::sync::Mutex<Phase>,
    chain: Mutex<Option<SendChain>>,
    dtmf_tx: mpsc::Sender<String>,
    dtmf_rx: Mutex<Option<mpsc::Receiver<String>>>,
    stop_tx: watch::Sender<bool>,
    offer_started: Mutex<Option<Instant>>,
    /// TURN-over-TCP/TLS servers reached through local bridges; they live as long as the session.
    _turn_bridges: Vec<crate::turn_tcp::TurnTcpBridge>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ssrc", &self.ssrc)
            .finish_non_exhaustive()
    }
}

fn codec_parameters(kind: CodecKind) -> RTCRtpCodecParameters {
    let (channels, fmtp) = match kind {
        CodecKind::Opus => (2, "minptime=10;useinbandfec=1"),
        CodecKind::Pcmu | CodecKind::Pcma => (0, ""),
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: kind.mime_type().to_owned(),
            clock_rate: kind.clock_rate(),
            channels,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: SessionConfig::payload_type(kind),
    }
}

fn telephone_event(rate: u32, pt: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: "audio/telephone-event".to_owned(),
            clock_rate: rate,
            channels: 0,
            sdp_fmtp_line: "0-16".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: pt,
    }
}

/// Every codec we offer, in preference order, followed by telephone-event at the rates of
/// the enabled codecs.
fn offered_codecs(config: &SessionConfig) -> Vec<RTCRtpCodecParameters> {
    let mut v: Vec<_> = config.codecs.iter().map(|k| codec_parameters(*k)).collect();
    if config.codecs.contains(&CodecKind::Opus) {
        v.push(telephone_event(48_000, TELEPHONE_EVENT_48K_PT));
    }
    if config.codecs.iter().any(|k| k.clock_rate() == 8_000) {
        v.push(telephone_event(8_000, TELEPHONE_EVENT_8K_PT));
    }
    v
}

impl Session {
    /// Builds the PeerConnection (sockets bound, nothing sent yet) with one audio
    /// transceiver carrying `media`. Returns the session and its event stream.
    pub async fn new(
        config: SessionConfig,
        media: MediaIo,
    ) -> Result<(Session, mpsc::Receiver<SessionEvent>), RtcError> {
        if config.codecs.is_empty() {
            return Err(RtcError::Setup("no codec is enabled".into()));
        }
        let mut media_engine = MediaEngine::default();
        for c in offered_codecs(&config) {
            media_engine
                .register_codec(c, RtpCodecKind::Audio)
                .map_err(RtcError::setup)?;
        }
        let registry = configure_rtcp_reports(Registry::new());

        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_dtls_cipher_suites(vec![
                CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
                CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
                CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
            ])
            .with_include_loopback_candidate(config.include_loopback_candidate)
            // Defaults check every 200 ms and hold a working srflx/prflx/relay pair back for
            // 0.5/1/2 s hoping for a better one: a call through TURN would wait 2 s for audio.
            // Check at RFC 8445's 50 ms pace (same 1.4 s budget) and accept sooner.
            .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
            .with_host_acceptance_min_wait(Some(Duration::ZERO))
            .with_srflx_acceptance_min_wait(Some(Duration::from_millis(100)))
            .with_prflx_acceptance_min_wait(Some(Duration::from_millis(200)))
            .with_relay_acceptance_min_wait(Some(Duration::from_millis(500)))
            // An ICE restart after a network change must gather on new sockets:
            // the old ones may be bound to an address that is gone.
            .with_discard_local_candidates_during_ice_restart(true)
            .build();

        let (servers, turn_bridges, turn_problems) = bridge_tcp_turn(config.ice_servers_udp_only()).await;
        let ice_servers = servers
            .into_iter()
            .map(|s| RTCIceServer {
                urls: s.urls,
                username: s.username,
                credential: s.credential,
            })
            .collect();
        let rtc_config = RTCConfigurationBuilder::default()
            .with_ice_servers(ice_servers)
            .build();

        let (events_tx, events_rx) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            config: config.clone(),
            negotiated: watch::channel(None).0,
            events: events_tx,
            gather: watch::channel(Gather::default()).0,
            conn: watch::channel(Conn::New).0,
            sink: Mutex::new(Some(media.sink)),
            counters: Default::default(),
            controls: Default::default(),
            tasks: Mutex::new(Vec::new()),
            created: Instant::now(),
            connected_at: Mutex::new(None),
            turn_problems,
        });

        let pc = PeerConnectionBuilder::new()
            .with_configuration(rtc_config)
            .with_media_engine(media_engine)
            .with_setting_engine(setting_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler {
                shared: shared.clone(),
            }))
            .with_udp_addrs(config.udp_addrs.clone())
            .build()
            .await
            .map_err(RtcError::setup)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);

        let ssrc = random_u32();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("homeline-{ssrc:08x}"),
            format!("audio-{ssrc:08x}"),
            "audio".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                // Left empty on purpose: a codec here becomes the transceiver's only codec
                // preference (the offer would list just it), and `set_codec_preferences`
                // matches codecs ignoring the clock rate, so telephone-event/8000 and /48000
                // collapse into one. Empty = every registered codec, in registration order.
                codec: RTCRtpCodec::default(),
                ..Default::default()
            }],
        )));
        let built = async {
            let transceiver = pc
                .add_transceiver_from_track(
                    track.clone() as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendrecv,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .await?;
            let sender = transceiver
                .sender()
                .await?
                .ok_or(webrtc::error::Error::ErrRTPSenderNotExisted)?;
            Ok::<_, webrtc::error::Error>(sender)
        }
        .await;
        let sender = match built {
            Ok(s) => s,
            Err(e) => {
                let _ = pc.close().await;
                return Err(RtcError::setup(e));
            }
        };

        let (dtmf_tx, dtmf_rx) = mpsc::channel(16);
        let session = Session {
            pc,
            shared,
            sender,
            track,
            ssrc,
            phase: tokio::sync::Mutex::new(Phase::Idle),
            chain: Mutex::new(Some(SendChain::new(media.source))),
            dtmf_tx,
            dtmf_rx: Mutex::new(Some(dtmf_rx)),
            stop_tx: watch::channel(false).0,
            offer_started: Mutex::new(None),
            _turn_bridges: turn_bridges,
        };
        Ok((session, events_rx))
    }

    /// Why configured TURN servers over TCP/TLS could not be used, one
    /// sentence each (certificate not trusted, handshake failed, unreachable).
    pub fn turn_problems(&self) -> &[String] {
        &self.shared.turn_problems
    }

    /// Starts gathering candidates for an outgoing call before the user dials: creates our
    /// offer and applies it locally. Idempotent.
    pub async fn prepare(&self) -> Result<(), RtcError> {
        let mut phase = self.phase.lock().await;
        match *phase {
            Phase::Idle => {}
            Phase::Offered => return Ok(()),
            Phase::Negotiated => {
                return Err(RtcError::LocalDescription(
                    "the call is already negotiated".into(),
                ))
            }
            Phase::Closed => return Err(RtcError::Closed),
        }
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        *phase = Phase::Offered;
        Ok(())
    }

    /// Our SDP offer with the candidates gathered so far: host, and the first
    /// server-reflexive/relay one if a server is configured. Returns within
    /// `gather_timeout` (500 ms) whatever gathering is doing.
    pub async fn create_offer(&self) -> Result<String, RtcError> {
        let started = Instant::now();
        set(&self.offer_started, Some(started));
        self.prepare().await?;
        self.wait_for_candidates(started + self.shared.config.gather_timeout)
            .await;
        self.local_sdp().await
    }

    /// Applies the other side's answer to our offer and starts media.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), RtcError> {
        let mut phase = self.phase.lock().await;
        match *phase {
            Phase::Offered => {}
            Phase::Closed => return Err(RtcError::Closed),
            _ => {
                return Err(RtcError::RemoteDescription(
                    "we have no offer outstanding".into(),
                ))
            }
        }
        let answer = RTCSessionDescription::answer(sdp.to_owned())
            .map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        *phase = Phase::Negotiated;
        drop(phase);
        self.record_negotiated().await;
        self.start_sending();
        Ok(())
    }

    /// Applies the other side's offer and returns our answer (with the candidates gathered
    /// within `gather_timeout`), then starts media.
    pub async fn accept_offer(&self, sdp: &str) -> Result<String, RtcError> {
        let started = Instant::now();
        set(&self.offer_started, Some(started));
        let mut phase = self.phase.lock().await;
        match *phase {
            Phase::Idle => {}
            Phase::Offered => {
                // Pre-gathered as a caller; the call turned out to be incoming.
                self.pc
                    .set_local_description(
                        RTCSessionDescription::rollback(None)
                            .map_err(|e| RtcError::LocalDescription(e.to_string()))?,
                    )
                    .await
                    .map_err(|e| RtcError::LocalDescription(e.to_string()))?;
            }
            Phase::Negotiated => {
                return Err(RtcError::RemoteDescription(
                    "the call is already negotiated".into(),
                ))
            }
            Phase::Closed => return Err(RtcError::Closed),
        }
        let offer = RTCSessionDescription::offer(sdp.to_owned())
            .map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        *phase = Phase::Negotiated;
        drop(phase);
        self.record_negotiated().await;
        self.start_sending();
        self.wait_for_candidates(started + self.shared.config.gather_timeout)
            .await;
        self.local_sdp().await
    }

    /// The network changed under a connected call: new ICE credentials and
    /// candidates gathered afresh on new sockets (the old addresses may be
    /// gone). Returns the re-offer for a re-INVITE (within `gather_timeout`);
    /// its answer goes to [`Self::accept_restart_answer`].
    pub async fn restart_ice(&self) -> Result<String, RtcError> {
        let started = Instant::now();
        let phase = self.phase.lock().await;
        match *phase {
            Phase::Negotiated => {}
            Phase::Closed => return Err(RtcError::Closed),
            _ => return Err(RtcError::LocalDescription("the call is not set up yet".into())),
        }
        self.shared.gather.send_replace(Gather::default());
        self.pc.restart_ice().await.map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        let offer = self.pc.create_offer(None).await.map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        self.pc.set_local_description(offer).await.map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        drop(phase);
        self.wait_for_candidates(started + self.shared.config.gather_timeout).await;
        self.local_sdp().await
    }

    /// Applies the answer to the re-offer from [`Self::restart_ice`].
    pub async fn accept_restart_answer(&self, sdp: &str) -> Result<(), RtcError> {
        let _phase = self.phase.lock().await;
        let answer = RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        self.pc.set_remote_description(answer).await.map_err(|e| RtcError::RemoteDescription(e.to_string()))
    }

    /// The other side re-offered with new ICE credentials (its network
    /// changed): restart ICE with it and return our answer.
    pub async fn accept_restart_offer(&self, sdp: &str) -> Result<String, RtcError> {
        let started = Instant::now();
        let phase = self.phase.lock().await;
        if *phase != Phase::Negotiated {
            return Err(RtcError::RemoteDescription("the call is not set up yet".into()));
        }
        self.shared.gather.send_replace(Gather::default());
        let offer = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        self.pc.set_remote_description(offer).await.map_err(|e| RtcError::RemoteDescription(e.to_string()))?;
        let answer = self.pc.create_answer(None).await.map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        self.pc.set_local_description(answer).await.map_err(|e| RtcError::LocalDescription(e.to_string()))?;
        drop(phase);
        self.wait_for_candidates(started + self.shared.config.gather_timeout).await;
        self.local_sdp().await
    }

    /// Queues touch tones ("0-9*#A-D") as RFC 4733 telephone-events.
    pub fn send_dtmf(&self, digits: &str) -> Result<(), RtcError> {
        for c in digits.chars().filter(|c| !c.is_whitespace()) {
            homeline_media::dtmf::event_code(c)?;
        }
        if self.shared.counters.send_codec.load(Ordering::Relaxed) != 0
            && self.shared.counters.te_pt.load(Ordering::Relaxed) == 0
        {
            return Err(RtcError::NoTelephoneEvent);
        }
        self.dtmf_tx
            .try_send(digits.to_owned())
            .map_err(|_| RtcError::Closed)
    }

    /// Sends silence instead of the source while keeping the stream alive.
    pub fn set_muted(&self, muted: bool) {
        self.shared.controls.muted.store(muted, Ordering::Relaxed);
    }

    /// Tells the encoder how much loss to expect (Opus sizes its in-band FEC by it); the
    /// hook for following the loss the other side reports.
    pub fn set_expected_loss(&self, percent: u8) {
        self.shared
            .controls
            .loss_perc
            .store(percent.min(100) as u64 + 1, Ordering::Relaxed);
    }

    /// Sets the encoder bitrate in bit/s (Opus only; fixed-rate codecs ignore it).
    pub fn set_bitrate(&self, bps: u32) {
        self.shared
            .controls
            .bitrate
            .store(bps as u64, Ordering::Relaxed);
    }

    /// The send codecs as webrtc-rs negotiated them: (MIME type, clock rate, payload type),
    /// in the order the other side prefers. For diagnostics.
    pub async fn negotiated_send_codecs(&self) -> Vec<(String, u32, u8)> {
        match self.sender.get_parameters().await {
            Ok(p) => p
                .rtp_parameters
                .codecs
                .iter()
                .map(|c| {
                    (
                        c.rtp_codec.mime_type.clone(),
                        c.rtp_codec.clock_rate,
                        c.payload_type,
                    )
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// A statistics snapshot.
    pub async fn stats(&self) -> SessionStats {
        let c = &self.shared.counters;
        let mut s = SessionStats {
            send_codec: codec_from_index(c.send_codec.load(Ordering::Relaxed)),
            recv_codec: codec_from_index(c.recv_codec.load(Ordering::Relaxed)),
            packets_sent: c.packets_sent.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            packets_received: c.packets_received.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            packets_lost: c.lost.load(Ordering::Relaxed),
            packets_late: c.late.load(Ordering::Relaxed),
            frames_concealed: c.concealed.load(Ordering::Relaxed),
            dtmf_sent: c.dtmf_sent.load(Ordering::Relaxed),
            dtmf_received: c.dtmf_received.load(Ordering::Relaxed),
            connect_time: self.connect_time(),
            jitter_buffer: c.jitter.lock().map(|j| *j).unwrap_or_default(),
            ..Default::default()
        };
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        if let Some(inbound) = report.inbound_rtp_streams().next() {
            // webrtc-rs reports jitter in RTP timestamp units, not seconds as W3C says.
            let j = inbound.received_rtp_stream_stats.jitter;
            let clock = s.recv_codec.map(|c| c.clock_rate()).unwrap_or(48_000) as f64;
            if j.is_finite() && j >= 0.0 {
                s.jitter = Some(Duration::from_secs_f64(j / clock));
            }
        }
        for e in report.iter() {
            if let webrtc::peer_connection::RTCStatsReportEntry::RemoteInboundRtp(r) = e {
                if r.round_trip_time_measurements > 0
                    && r.round_trip_time.is_finite()
                    && r.round_trip_time >= 0.0
                {
                    s.rtt = Some(Duration::from_secs_f64(r.round_trip_time));
                }
                if r.fraction_lost.is_finite() {
                    s.remote_fraction_lost = Some(r.fraction_lost);
                }
            }
        }
        if s.rtt.is_none() {
            if let Some(pair) = report.candidate_pairs().find(|p| p.nominated) {
                let r = pair.current_round_trip_time;
                if r.is_finite() && r > 0.0 {
                    s.rtt = Some(Duration::from_secs_f64(r));
                }
            }
        }
        s
    }

    /// Time from `create_offer`/`accept_offer` to connected, once connected.
    pub fn connect_time(&self) -> Option<Duration> {
        let connected = get(&self.shared.connected_at)?;
        let from = get(&self.offer_started).unwrap_or(self.shared.created);
        Some(connected.saturating_duration_since(from))
    }

    /// Stops media, closes the PeerConnection, finishes the sink and waits for every task
    /// this session started. Idempotent.
    pub async fn close(&self) {
        {
            let mut phase = self.phase.lock().await;
            if *phase == Phase::Closed {
                return;
            }
            *phase = Phase::Closed;
        }
        self.stop_tx.send_replace(true);
        if let Err(e) = self.pc.close().await {
            tracing::debug!("close: {e}");
        }
        self.shared.conn.send_replace(Conn::Closed);
        for h in self.shared.take_tasks() {
            if tokio::time::timeout(Duration::from_secs(2), h)
                .await
                .is_err()
            {
                tracing::warn!("a media task did not stop within 2 s");
            }
        }
        // If no remote track ever arrived the sink is still here: finish it too.
        if let Some(mut sink) = self.shared.take_sink() {
            sink.finish();
        }
        self.shared.emit(SessionEvent::Closed);
    }

    async fn wait_for_candidates(&self, deadline: Instant) {
        let servers = !self.shared.config.ice_servers.is_empty();
        let mut rx = self.shared.gather.subscribe();
        let enough =
            |g: &Gather| g.complete || (g.host > 0 && (!servers || g.srflx > 0 || g.relay > 0));
        let _ = tokio::time::timeout_at(deadline.into(), rx.wait_for(enough)).await;
    }

    async fn local_sdp(&self) -> Result<String, RtcError> {
        self.pc
            .local_description()
            .await
            .map(|d| with_default_candidates(&tidy_sdp(&d.sdp)))
            .ok_or_else(|| RtcError::LocalDescription("no local description".into()))
    }

    async fn record_negotiated(&self) {
        let local = self
            .pc
            .local_description()
            .await
            .map(|d| audio_rtpmaps(&d.sdp))
            .unwrap_or_default();
        let remote = self
            .pc
            .remote_description()
            .await
            .map(|d| audio_rtpmaps(&d.sdp))
            .unwrap_or_default();
        self.shared
            .negotiated
            .send_replace(Some(Negotiated { local, remote }));
    }

    fn start_sending(&self) {
        let chain = take(&self.chain);
        let dtmf_rx = take(&self.dtmf_rx);
        let (Some(chain), Some(dtmf_rx)) = (chain, dtmf_rx) else {
            return;
        };
        let lp = SendLoop {
            shared: self.shared.clone(),
            sender: self.sender.clone(),
            track: self.track.clone(),
            ssrc: self.ssrc,
            chain,
            dtmf_rx,
            stop: self.stop_tx.subscribe(),
        };
        self.shared.push_task(tokio::spawn(lp.run()));
        self.shared.push_task(tokio::spawn(connect_watchdog(
            self.shared.clone(),
            self.stop_tx.subscribe(),
        )));
    }
}

/// Ends a session that negotiated but never connected (see `SessionConfig::connect_timeout`).
async fn connect_watchdog(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limit = shared.config.connect_timeout;
    let mut conn = shared.conn.subscribe();
    let connected = tokio::time::timeout(limit, async {
        loop {
            if *conn.borrow_and_update() != Conn::New {
                return;
            }
            tokio::select! {
                r = conn.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    })
    .await;
    if connected.is_err() && !*stop.borrow() {
        shared.fail(&format!(
            "The call could not connect its audio within {} s: no network path to the other \
             side worked, or the encryption handshake (DTLS) failed.",
            limit.as_secs()
        ));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A dropped session must not leave its driver running (webrtc-rs detaches it).
        if matches!(self.phase.try_lock().map(|p| *p), Ok(Phase::Closed)) {
            return;
        }
        self.stop_tx.send_replace(true);
        let pc = self.pc.clone();
        let tasks = self.shared.take_tasks();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = pc.close().await;
                for t in tasks {
                    t.abort();
                }
            });
        }
    }
}

fn set<T>(m: &Mutex<T>, v: T) {
    match m.lock() {
        Ok(mut g) => *g = v,
        Err(p) => *p.into_inner() = v,
    }
}

fn get<T: Copy>(m: &Mutex<Option<T>>) -> Option<T> {
    match m.lock() {
        Ok(g) => *g,
        Err(p) => *p.into_inner(),
    }
}

fn take<T>(m: &Mutex<Option<T>>) -> Option<T> {
    match m.lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    }
}

/// webrtc-rs speaks TURN over UDP only: each `turn:…?transport=tcp` and
/// `turns:` URL is replaced by a local UDP bridge to that server over TCP or
/// TLS (see `turn_tcp`). A server that cannot be used is left out (the
/// others may still work) and why is kept, in words, for the failure reason.
async fn bridge_tcp_turn(servers: Vec<IceServer>) -> (Vec<IceServer>, Vec<crate::turn_tcp::TurnTcpBridge>, Vec<String>) {
    let mut bridges = Vec::new();
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(servers.len());
    for mut server in servers {
        let mut urls = Vec::with_capacity(server.urls.len());
        for url in std::mem::take(&mut server.urls) {
            let Some(stream_server) = crate::turn_tcp::StreamTurnServer::parse(&url) else {
                urls.push(url);
                continue;
            };
            match crate::turn_tcp::TurnTcpBridge::start(&stream_server, server.ca_file.as_deref()).await {
                Ok(bridge) => {
                    urls.push(format!("turn:{}?transport=udp", bridge.local_addr()));
                    bridges.push(bridge);
                }
                Err(e) => {
                    tracing::info!(%url, error = %e, "TURN over TCP/TLS unavailable");
                    problems.push(match e {
                        crate::RtcError::Setup(words) => words,
                        other => other.to_string(),
                    });
                }
            }
        }
        server.urls = urls;
        if !server.urls.is_empty() {
            out.push(server);
        }
    }
    (out, bridges, problems)
}
