//! The media loops: frames → RTP on a 20 ms tick, RTP → frames as packets arrive.

use crate::config::{PayloadKind, SessionConfig};
use crate::handler::{Conn, Shared};
use crate::sdp_map::RtpMap;
use crate::session::SessionEvent;
use bytes::Bytes;
use homeline_media::dtmf::{DtmfReceiver, DtmfSender};
use homeline_media::frame::NullSink;
use homeline_media::jitter::{JitterConfig, Playout};
use homeline_media::pipeline::{SendChain, SeqVerdict, SequenceTracker};
use homeline_media::{CodecKind, FrameEncoder, FRAME_SAMPLES};
use rtc::rtp;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

pub(crate) fn codec_index(k: CodecKind) -> u64 {
    CodecKind::ALL
        .iter()
        .position(|c| *c == k)
        .map(|i| i as u64 + 1)
        .unwrap_or(0)
}

pub(crate) fn codec_from_index(i: u64) -> Option<CodecKind> {
    CodecKind::ALL.get((i as usize).checked_sub(1)?).copied()
}

/// A random-enough 32-bit value (SSRC, initial sequence and timestamp) without a rand crate.
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// What the sender negotiated: codec and payload type, and telephone-event's payload type
/// with the clock its durations count in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendFormat {
    pub codec: CodecKind,
    pub pt: u8,
    pub te: Option<(u8, u32)>,
}

/// Picks the first codec of the negotiated send list (the other side's order and numbers)
/// that we can encode, and the telephone-event the other side declared at that codec's
/// clock — or, if webrtc-rs collapsed it away, the one it kept, counted in the clock the
/// other side's description gives that payload type.
pub(crate) async fn negotiated_format(
    sender: &Arc<dyn RtpSender>,
    config: &SessionConfig,
    remote: &[RtpMap],
) -> Option<SendFormat> {
    let params = sender.get_parameters().await.ok()?;
    let codecs = &params.rtp_parameters.codecs;
    let (codec, pt) = codecs.iter().find_map(|c| {
        let k = CodecKind::from_name(&c.rtp_codec.mime_type)?;
        config.codecs.contains(&k).then_some((k, c.payload_type))
    })?;
    let allowed: Vec<u8> = codecs
        .iter()
        .filter(|c| {
            c.rtp_codec
                .mime_type
                .eq_ignore_ascii_case("audio/telephone-event")
        })
        .map(|c| c.payload_type)
        .collect();
    let declared = |p: u8| remote.iter().find(|m| m.pt == p).map(|m| m.clock);
    let te = remote
        .iter()
        .find(|m| {
            m.kind() == Some(PayloadKind::TelephoneEvent)
                && m.clock == codec.clock_rate()
                && allowed.contains(&m.pt)
        })
        .map(|m| (m.pt, m.clock))
        .or_else(|| {
            allowed
                .first()
                .map(|p| (*p, declared(*p).unwrap_or(codec.clock_rate())))
        });
    Some(SendFormat { codec, pt, te })
}

pub(crate) struct SendLoop {
    pub shared: Arc<Shared>,
    pub sender: Arc<dyn RtpSender>,
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    pub chain: SendChain,
    pub dtmf_rx: mpsc::Receiver<String>,
    pub stop: watch::Receiver<bool>,
}

impl SendLoop {
    pub async fn run(mut self) {
        // Wait for the connection: writes fail until DTLS is up.
        let mut conn = self.shared.conn.subscribe();
        loop {
            if *self.stop.borrow() {
                return;
            }
            match *conn.borrow_and_update() {
                Conn::Connected => break,
                Conn::Failed | Conn::Closed => return,
                Conn::New => {}
            }
            tokio::select! {
                r = conn.changed() => if r.is_err() { return },
                _ = self.stop.changed() => return,
            }
        }
        let remote = self
            .shared
            .negotiated
            .borrow()
            .as_ref()
            .map(|n| n.remote.clone())
            .unwrap_or_default();
        let Some(fmt) = negotiated_format(&self.sender, &self.shared.config, &remote).await else {
            self.shared.emit(SessionEvent::Failed {
                reason: "The other side accepted none of our audio codecs.".to_owned(),
            });
            return;
        };
        let counters = &self.shared.counters;
        counters
            .send_codec
            .store(codec_index(fmt.codec), Ordering::Relaxed);
        counters.te_pt.store(
            fmt.te.map(|(p, _)| p as u64 + 1).unwrap_or(0),
            Ordering::Relaxed,
        );
        let mut encoder = match FrameEncoder::new(fmt.codec) {
            Ok(e) => e,
            Err(e) => {
                self.shared.emit(SessionEvent::Failed {
                    reason: e.to_string(),
                });
                return;
            }
        };
        // The other side's `maxaveragebitrate` caps whatever bitrate is set later.
        let max_bitrate = remote
            .iter()
            .find(|m| m.pt == fmt.pt)
            .and_then(|m| m.max_bitrate);
        if let Some(max) = max_bitrate {
            let _ = encoder.codec_mut().set_max_bitrate(max);
        }
        self.shared
            .emit(SessionEvent::SendingAudio { codec: fmt.codec });
        tracing::debug!(?fmt, "sending audio");

        let step = fmt.codec.timestamp_step();
        let (te_pt, te_clock) = fmt.te.unwrap_or((0, fmt.codec.clock_rate()));
        let te_step = te_clock / 50;
        let mut seq = random_u32() as u16;
        let mut ts = random_u32();
        let mut first = true;
        let mut dtmf = DtmfSender::default();
        let mut dtmf_out = Vec::with_capacity(4);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut payload = Vec::with_capacity(1500);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.stop.changed() => break,
            }
            if *self.stop.borrow() {
                break;
            }
            while let Ok(digits) = self.dtmf_rx.try_recv() {
                // Keys were validated by send_dtmf.
                let _ = dtmf.push(&digits);
            }
            let controls = &self.shared.controls;
            self.chain.muted = controls.muted.load(Ordering::Relaxed);
            let loss = controls.loss_perc.swap(0, Ordering::Relaxed);
            if loss > 0 {
                let _ = encoder.codec_mut().set_packet_loss_perc((loss - 1) as u8);
            }
            let bps = controls.bitrate.swap(0, Ordering::Relaxed);
            if bps > 0 {
                let _ = encoder.codec_mut().set_bitrate(bps as u32);
            }
            self.chain.next_frame(&mut frame);
            dtmf_out.clear();
            // Event timestamps are the stream's; durations count in telephone-event's clock.
            let is_event = fmt.te.is_some() && dtmf.tick(ts, te_step, te_clock, &mut dtmf_out);
            if is_event {
                for p in &dtmf_out {
                    write(
                        &self.shared,
                        &self.track,
                        self.ssrc,
                        Hdr {
                            pt: te_pt,
                            seq,
                            ts: p.timestamp,
                            marker: p.marker,
                        },
                        Bytes::copy_from_slice(&p.payload),
                    )
                    .await;
                    seq = seq.wrapping_add(1);
                }
                // A digit starts with the marker bit.
                let started = dtmf_out.iter().filter(|p| p.marker).count() as u64;
                counters.dtmf_sent.fetch_add(started, Ordering::Relaxed);
            } else {
                payload.clear();
                if let Err(e) = encoder.encode(&frame, &mut payload) {
                    tracing::warn!("encode failed: {e}");
                } else {
                    write(
                        &self.shared,
                        &self.track,
                        self.ssrc,
                        Hdr {
                            pt: fmt.pt,
                            seq,
                            ts,
                            marker: first,
                        },
                        Bytes::copy_from_slice(&payload),
                    )
                    .await;
                    seq = seq.wrapping_add(1);
                    first = false;
                }
            }
            ts = ts.wrapping_add(step);
        }
    }
}

/// The header fields that change per packet.
struct Hdr {
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
}

async fn write(shared: &Shared, track: &TrackLocalStaticRTP, ssrc: u32, h: Hdr, payload: Bytes) {
    {
        let Hdr {
            pt,
            seq,
            ts,
            marker,
        } = h;
        let len = payload.len() as u64;
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                marker,
                payload_type: pt,
                sequence_number: seq,
                timestamp: ts,
                ssrc,
                ..Default::default()
            },
            payload,
        };
        // Fails harmlessly while DTLS is not up, and after close.
        if track.write_rtp(packet).await.is_ok() {
            shared.counters.packets_sent.fetch_add(1, Ordering::Relaxed);
            shared.counters.bytes_sent.fetch_add(len, Ordering::Relaxed);
        }
    }
}

/// How often the receive loop copies the jitter buffer's stats for `Session::stats`.
const STATS_EVERY_TICKS: u32 = 10;

/// Feeds one remote audio track into the jitter buffer and plays a frame into the session's
/// sink every 20 ms, until the track ends (then what is still buffered is played out).
pub(crate) async fn receive_loop(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    let mut sink = shared
        .take_sink()
        .unwrap_or_else(|| Box::new(NullSink::default()));
    let mut playout = Playout::new(JitterConfig::default());
    let mut seq = SequenceTracker::default();
    let mut dtmf = DtmfReceiver::default();
    let counters = &shared.counters;
    let mut announced: Option<CodecKind> = None;
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut ticks = 0u32;
    let publish = |playout: &Playout, seq: &SequenceTracker| {
        let js = playout.stats();
        counters.late.store(js.packets_late, Ordering::Relaxed);
        counters.concealed.store(js.frames_concealed, Ordering::Relaxed);
        // A reordered packet first counts as lost, then as late: count it once.
        counters
            .lost
            .store(seq.lost.saturating_sub(seq.late), Ordering::Relaxed);
        if let Ok(mut j) = counters.jitter.lock() {
            *j = js;
        }
    };
    loop {
        let ev = tokio::select! {
            ev = track.poll() => ev,
            _ = tick.tick() => {
                playout.next_frame(start.elapsed(), &mut frame);
                sink.write_frame(&frame);
                ticks += 1;
                if ticks.is_multiple_of(STATS_EVERY_TICKS) {
                    publish(&playout, &seq);
                }
                continue;
            }
        };
        let packet = match ev {
            Some(TrackRemoteEvent::OnRtpPacket(p)) => p,
            Some(TrackRemoteEvent::OnEnded) | None => break,
            Some(_) => continue,
        };
        counters.packets_received.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes_received
            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        let pt = packet.header.payload_type;
        let from_sdp = shared
            .negotiated
            .borrow()
            .as_ref()
            .and_then(|n| n.local.iter().find(|m| m.pt == pt).map(RtpMap::kind));
        let kind = match from_sdp {
            Some(k) => k,
            None => shared.config.payload_kind(pt),
        };
        let Some(kind) = kind else {
            counters.unknown_payload.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let verdict = seq.on_packet(packet.header.sequence_number);
        match kind {
            PayloadKind::TelephoneEvent => {
                if verdict == SeqVerdict::Late {
                    continue;
                }
                if let Some(digit) = dtmf.on_packet(packet.header.timestamp, &packet.payload) {
                    counters.dtmf_received.fetch_add(1, Ordering::Relaxed);
                    shared.emit(SessionEvent::DtmfReceived { digit });
                }
            }
            PayloadKind::Audio(codec) => {
                if announced != Some(codec) {
                    announced = Some(codec);
                    counters
                        .recv_codec
                        .store(codec_index(codec), Ordering::Relaxed);
                    shared.emit(SessionEvent::ReceivingAudio { codec });
                }
                // Late and reordered packets too: the jitter buffer sorts them out.
                playout.insert(
                    packet.header.sequence_number,
                    packet.header.timestamp,
                    codec,
                    &packet.payload,
                    start.elapsed(),
                );
            }
        }
    }
    // Play out what is still buffered (bounded: the buffer holds at most a second).
    let mut left = 60;
    while playout.has_packets() && left > 0 {
        playout.next_frame(start.elapsed() + Duration::from_secs(3600), &mut frame);
        sink.write_frame(&frame);
        left -= 1;
    }
    publish(&playout, &seq);
    sink.finish();
    shared.put_sink(sink);
}
