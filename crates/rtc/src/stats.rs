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
    /// The receive side's jitter buffer: delay, concealed %, late %, expansions, accelerations.
    pub jitter_buffer: homeline_media::jitter::JitterStats,
}

/// Listening quality estimated with the ITU-T G.107 E-model (simplified: default
/// room noise and echo, random loss), as a MOS from 1 to 4.5.
///
/// `loss_percent` is the packet loss the listener suffers, `one_way_delay_ms` mouth to
/// ear (half the RTT plus packetisation and jitter buffer).
pub fn e_model_mos(codec: CodecKind, loss_percent: f64, one_way_delay_ms: f64) -> f64 {
    let (ie, bpl) = equipment_impairment(codec);
    let ppl = if loss_percent.is_finite() { loss_percent.clamp(0.0, 100.0) } else { 0.0 };
    // G.107 §7.5 with BurstR = 1 (random loss).
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = R0_MINUS_IS - delay_impairment(one_way_delay_ms) - ie_eff;
    mos_from_r(r)
}

/// R0 − Is with G.107's default values (94.77 − 1.41, rounded as the standard quotes it).
const R0_MINUS_IS: f64 = 93.2;

/// (Ie, Bpl) per codec. G.711 with packet loss concealment from G.113 Appendix I; Opus is
/// not in G.113 — on the narrowband scale it is taken as transparent as G.711 with a
/// stronger loss robustness (in-band FEC).
fn equipment_impairment(codec: CodecKind) -> (f64, f64) {
    match codec {
        CodecKind::Pcmu | CodecKind::Pcma => (0.0, 25.1),
        CodecKind::Opus => (0.0, 30.0),
    }
}

/// Id from the one-way delay in ms (the usual simplification of G.107's Idd: no
/// impairment worth noting below 177.3 ms, rising steeply after it).
fn delay_impairment(d: f64) -> f64 {
    let d = if d.is_finite() { d.max(0.0) } else { 0.0 };
    0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 }
}

/// G.107 Annex B: the rating factor R as a MOS (conversational quality).
pub fn mos_from_r(r: f64) -> f64 {
    if !r.is_finite() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn r_maps_to_mos_as_g107_annex_b_says() {
        assert!(close(mos_from_r(93.2), 4.41), "{}", mos_from_r(93.2));
        assert!(close(mos_from_r(80.0), 4.02), "{}", mos_from_r(80.0));
        assert!(close(mos_from_r(70.0), 3.60), "{}", mos_from_r(70.0));
        assert!(close(mos_from_r(50.0), 2.58), "{}", mos_from_r(50.0));
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
    }

    #[test]
    fn a_clean_short_g711_call_scores_the_e_model_default_of_4_41() {
        assert!(close(e_model_mos(CodecKind::Pcmu, 0.0, 0.0), 4.41));
        // 20 ms one way costs about half an R point: still 4.4.
        assert!(e_model_mos(CodecKind::Pcmu, 0.0, 20.0) > 4.39);
    }

    #[test]
    fn loss_uses_the_codec_loss_robustness() {
        // G.711 with PLC at 2 % random loss: Ie,eff = 95·2/(2+25.1) = 7.01 → R 86.19.
        assert!(close(e_model_mos(CodecKind::Pcma, 2.0, 0.0), mos_from_r(93.2 - 7.011)));
        let g711 = e_model_mos(CodecKind::Pcmu, 5.0, 0.0);
        let opus = e_model_mos(CodecKind::Opus, 5.0, 0.0);
        assert!(opus > g711 && g711 > 3.9 && g711 < 4.2, "{opus} {g711}");
        assert!(e_model_mos(CodecKind::Opus, 100.0, 0.0) < 1.5, "nothing arrives");
    }

    #[test]
    fn delay_beyond_177_ms_hurts_steeply() {
        // Id(150) = 3.6; Id(300) = 7.2 + 0.11·122.7 = 20.7.
        assert!(close(e_model_mos(CodecKind::Pcmu, 0.0, 150.0), mos_from_r(93.2 - 3.6)));
        assert!(close(e_model_mos(CodecKind::Pcmu, 0.0, 300.0), mos_from_r(93.2 - 20.697)));
        assert!(e_model_mos(CodecKind::Pcmu, 0.0, 400.0) < 3.6);
        assert!(close(e_model_mos(CodecKind::Opus, f64::NAN, f64::INFINITY), 4.41), "nonsense input is ignored");
    }
}
