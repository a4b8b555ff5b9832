//! A call's statistics once a second, as the quality indicator shows them:
//! the media session's running counters turned into rates over the last
//! second and an E-model MOS.

use std::time::Instant;

use homeline_rtc::{e_model_mos, SessionStats};
use serde::Serialize;

/// One second of one call (the `callStats` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStats {
    pub call: String,
    /// The codec we send with (or receive, before we send), as SDP names it: `opus`, `PCMU`, `PCMA`.
    pub codec: Option<String>,
    /// What we sent over the last second, RTP payload only.
    pub bitrate_kbps: f64,
    /// Since the call started.
    pub packets_sent: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// Of what should have arrived over the last second.
    pub loss_percent: f64,
    pub jitter_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    /// Listening quality estimate, 1 (bad) to 4.5 (best), once a codec is known.
    pub mos: Option<f64>,
    /// What the receiving jitter buffer is doing.
    pub buffer: BufferStats,
}

/// The jitter buffer's side of [`CallStats`]: how much it holds and what it had to do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BufferStats {
    /// Audio waiting to be played.
    pub delay_ms: f64,
    /// The delay it steers to (grows with jitter, shrinks when the network calms).
    pub target_ms: f64,
    /// Since the call started: frames made up (loss, underrun) and packets that came too late.
    pub concealed_percent: f64,
    pub late_percent: f64,
    /// Since the call started: frames lengthened or made up to grow the delay, and frames
    /// shortened or dropped to shrink it.
    pub expansions: u64,
    pub accelerations: u64,
}

/// 20 ms frames: what packetisation adds to the mouth-to-ear delay.
const PACKET_MS: f64 = 20.0;
/// The least a jitter buffer holds, whatever the measured jitter.
const MIN_BUFFER_MS: f64 = 20.0;

/// Turns successive snapshots of one session into [`CallStats`].
#[derive(Debug, Default)]
pub struct StatsMeter {
    last: Option<(Instant, SessionStats)>,
}

impl StatsMeter {
    pub fn next(&mut self, call: &str, now: Instant, s: &SessionStats) -> CallStats {
        let (seconds, sent_bytes, received, lost) = match &self.last {
            Some((then, before)) => (
                now.saturating_duration_since(*then).as_secs_f64(),
                s.bytes_sent.saturating_sub(before.bytes_sent),
                s.packets_received.saturating_sub(before.packets_received),
                s.packets_lost.saturating_sub(before.packets_lost),
            ),
            None => (0.0, 0, s.packets_received, s.packets_lost),
        };
        self.last = Some((now, s.clone()));
        let bitrate_kbps = if seconds > 0.0 { sent_bytes as f64 * 8.0 / seconds / 1000.0 } else { 0.0 };
        let expected = received + lost;
        let loss_percent = if expected > 0 { lost as f64 * 100.0 / expected as f64 } else { 0.0 };
        let jitter_ms = s.jitter.map(|j| j.as_secs_f64() * 1000.0);
        let rtt_ms = s.rtt.map(|r| r.as_secs_f64() * 1000.0);
        let codec = s.send_codec.or(s.recv_codec);
        // Mouth to ear: half the round trip, packetisation, and what the jitter buffer
        // holds (about twice the jitter until it says).
        let held = s.jitter_buffer.current_delay_ms;
        let buffer_ms = if held.is_finite() && held > 0.0 { held } else { (2.0 * jitter_ms.unwrap_or(0.0)).max(MIN_BUFFER_MS) };
        let one_way_ms = rtt_ms.unwrap_or(0.0) / 2.0 + PACKET_MS + buffer_ms;
        CallStats {
            call: call.to_owned(),
            codec: codec.map(|c| c.sdp_name().to_owned()),
            bitrate_kbps: round2(bitrate_kbps),
            packets_sent: s.packets_sent,
            packets_received: s.packets_received,
            packets_lost: s.packets_lost,
            loss_percent: round2(loss_percent),
            jitter_ms: jitter_ms.map(round2),
            rtt_ms: rtt_ms.map(round2),
            mos: codec.map(|c| round2(e_model_mos(c, loss_percent, one_way_ms))),
            buffer: BufferStats {
                delay_ms: round2(s.jitter_buffer.current_delay_ms),
                target_ms: round2(s.jitter_buffer.target_delay_ms),
                concealed_percent: round2(s.jitter_buffer.concealed_percent()),
                late_percent: round2(s.jitter_buffer.late_percent()),
                expansions: s.jitter_buffer.expansions,
                accelerations: s.jitter_buffer.accelerations,
            },
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeline_rtc::CodecKind;
    use std::time::Duration;

    fn snapshot(sent: u64, received: u64, lost: u64) -> SessionStats {
        SessionStats {
            send_codec: Some(CodecKind::Opus),
            packets_sent: sent,
            bytes_sent: sent * 80,
            packets_received: received,
            packets_lost: lost,
            jitter: Some(Duration::from_millis(4)),
            rtt: Some(Duration::from_millis(2)),
            ..SessionStats::default()
        }
    }

    #[test]
    fn rates_and_loss_are_over_the_last_second_and_counts_are_totals() {
        let mut meter = StatsMeter::default();
        let t0 = Instant::now();
        let first = meter.next("c", t0, &snapshot(50, 50, 0));
        assert_eq!(first.bitrate_kbps, 0.0, "no interval yet");
        assert!(first.mos.is_some_and(|m| m > 4.3), "{first:?}");
        // 50 packets of 80 bytes in 1 s = 32 kbit/s; 5 of 50 lost.
        let second = meter.next("c", t0 + Duration::from_secs(1), &snapshot(100, 95, 5));
        assert_eq!(second.bitrate_kbps, 32.0);
        assert_eq!((second.packets_sent, second.packets_received, second.packets_lost), (100, 95, 5));
        assert_eq!(second.loss_percent, 10.0);
        assert_eq!(second.codec.as_deref(), Some("opus"));
        assert_eq!((second.jitter_ms, second.rtt_ms), (Some(4.0), Some(2.0)));
        assert!(second.mos.is_some_and(|m| m < first.mos.unwrap_or(0.0) && m > 3.0), "{second:?}");
    }

    #[test]
    fn the_jitter_buffer_says_what_it_holds_and_what_it_had_to_do() {
        let mut s = snapshot(50, 50, 0);
        s.jitter_buffer.current_delay_ms = 60.0;
        s.jitter_buffer.target_delay_ms = 40.0;
        s.jitter_buffer.frames = 200;
        s.jitter_buffer.frames_concealed = 3;
        s.jitter_buffer.packets_received = 50;
        s.jitter_buffer.packets_late = 1;
        s.jitter_buffer.expansions = 4;
        s.jitter_buffer.accelerations = 2;
        let b = StatsMeter::default().next("c", Instant::now(), &s).buffer;
        assert_eq!(b, BufferStats { delay_ms: 60.0, target_ms: 40.0, concealed_percent: 1.5, late_percent: 2.0, expansions: 4, accelerations: 2 });
        let wire = serde_json::to_value(&b).unwrap_or_default();
        assert_eq!(wire["concealedPercent"], 1.5, "{wire}");
    }

    #[test]
    fn a_deep_jitter_buffer_lowers_the_mos() {
        let shallow = snapshot(50, 50, 0);
        let mut deep = shallow.clone();
        deep.jitter_buffer.current_delay_ms = 300.0;
        let mos = |s: &SessionStats| StatsMeter::default().next("c", Instant::now(), s).mos.unwrap_or(0.0);
        assert!(mos(&deep) < 3.9 && mos(&shallow) > 4.3, "{} {}", mos(&deep), mos(&shallow));
    }

    #[test]
    fn before_a_codec_is_known_there_is_no_mos() {
        let stats = StatsMeter::default().next("c", Instant::now(), &SessionStats::default());
        assert_eq!((stats.mos, stats.codec, stats.loss_percent), (None, None, 0.0));
    }
}
