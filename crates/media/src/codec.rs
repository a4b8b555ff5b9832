//! Audio codecs behind one trait: Opus (48 kHz, 20 ms, in-band FEC) and G.711 µ-law/A-law.

use crate::g711;
use crate::{MediaError, Result};

/// Which codec, with the facts the RTP/SDP layer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    Opus,
    Pcmu,
    Pcma,
}

impl CodecKind {
    /// All codecs this build can encode and decode, in the default preference order.
    pub const ALL: [CodecKind; 3] = [CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma];

    /// PCM sample rate the codec works at.
    pub fn sample_rate(self) -> u32 {
        match self {
            CodecKind::Opus => 48_000,
            CodecKind::Pcmu | CodecKind::Pcma => 8_000,
        }
    }
    /// RTP clock rate (the SDP `rtpmap` rate).
    pub fn clock_rate(self) -> u32 {
        self.sample_rate()
    }
    /// PCM samples in one 20 ms frame at [`Self::sample_rate`].
    pub fn frame_samples(self) -> usize {
        self.sample_rate() as usize / 50
    }
    /// RTP timestamp increase per 20 ms frame.
    pub fn timestamp_step(self) -> u32 {
        self.clock_rate() / 50
    }
    /// Name in SDP `rtpmap` (case-insensitive there).
    pub fn sdp_name(self) -> &'static str {
        match self {
            CodecKind::Opus => "opus",
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
        }
    }
    /// MIME type as WebRTC stacks name it (`audio/opus`).
    pub fn mime_type(self) -> &'static str {
        match self {
            CodecKind::Opus => "audio/opus",
            CodecKind::Pcmu => "audio/PCMU",
            CodecKind::Pcma => "audio/PCMA",
        }
    }
    /// Finds a codec by MIME type or SDP name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.rsplit('/').next().unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|c| c.sdp_name().eq_ignore_ascii_case(n))
    }
    /// Static RTP payload type, where RFC 3551 assigns one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::Opus => None,
        }
    }
    /// A new codec instance (one per direction: encoders and decoders keep state).
    pub fn create(self) -> Result<Box<dyn Codec>> {
        Ok(match self {
            CodecKind::Opus => Box::new(OpusCodec::new()?),
            CodecKind::Pcmu => Box::new(PcmuCodec::default()),
            CodecKind::Pcma => Box::new(PcmaCodec::default()),
        })
    }
}

impl std::fmt::Display for CodecKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sdp_name())
    }
}

/// One codec instance. PCM is mono `i16` at [`CodecKind::sample_rate`].
pub trait Codec: Send {
    fn kind(&self) -> CodecKind;
    /// Encodes exactly one 20 ms frame (`kind().frame_samples()` samples), appending the payload.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()>;
    /// Decodes one payload, appending PCM; returns the number of samples appended.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize>;
    /// Produces one 20 ms frame standing in for a lost packet, appending it to `out`.
    /// `next` is the packet after the gap if it has arrived (Opus recovers the lost frame
    /// from its in-band FEC data).
    fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<usize>;
    /// Hook for loss adaptation: the loss the encoder should expect, in percent.
    fn set_packet_loss_perc(&mut self, _percent: u8) -> Result<()> {
        Ok(())
    }
    /// Hook for rate adaptation, in bits per second (ignored by fixed-rate codecs).
    fn set_bitrate(&mut self, _bps: u32) -> Result<()> {
        Ok(())
    }
    /// The most the other side accepts (Opus `maxaveragebitrate`, RFC 7587), in bits per
    /// second: every bitrate set before or after is capped by it.
    fn set_max_bitrate(&mut self, _bps: u32) -> Result<()> {
        Ok(())
    }
}

fn check_len(kind: CodecKind, pcm: &[i16]) -> Result<()> {
    if pcm.len() != kind.frame_samples() {
        return Err(MediaError::FrameSize {
            expected: kind.frame_samples(),
            got: pcm.len(),
        });
    }
    Ok(())
}

/// Opus at 48 kHz mono, 20 ms frames, VoIP mode, in-band FEC on.
pub struct OpusCodec {
    enc: opus::Encoder,
    dec: opus::Decoder,
    scratch: Vec<u8>,
    pcm: Vec<i16>,
    /// The bitrate asked for, and the peer's cap on it.
    bitrate: u32,
    max_bitrate: u32,
}

impl std::fmt::Debug for OpusCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusCodec").finish_non_exhaustive()
    }
}

/// Default Opus bitrate (fullband speech). Measured with the audio bench's speech
/// (examples/opus_offline.rs, wideband PESQ of encode + decode alone, male / female espeak-ng
/// voice): 24 kbit/s 3.65 / 4.13, 32 kbit/s 3.73 / 4.20, 40 kbit/s 3.92 / 4.31,
/// 48 kbit/s 4.09 / 4.42, 64 kbit/s 4.29 / 4.48. The deep male voice is what costs: its many
/// close harmonics need the bits. 48 kbit/s is the least that reaches 4.2 for both on average;
/// the peer's `maxaveragebitrate` caps it.
pub const OPUS_DEFAULT_BITRATE: u32 = 48_000;
/// Opus's own limits for a bitrate (RFC 7587 `maxaveragebitrate` has the same range).
const OPUS_MIN_BITRATE: u32 = 6_000;
const OPUS_MAX_BITRATE: u32 = 510_000;
/// Loss the encoder plans for until told otherwise (makes FEC data non-empty).
pub const OPUS_DEFAULT_LOSS_PERC: u8 = 5;

fn opus_err(e: opus::Error) -> MediaError {
    MediaError::Opus(e.to_string())
}

impl OpusCodec {
    pub fn new() -> Result<Self> {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(opus_err)?;
        enc.set_inband_fec(true).map_err(opus_err)?;
        enc.set_packet_loss_perc(OPUS_DEFAULT_LOSS_PERC as i32)
            .map_err(opus_err)?;
        enc.set_bitrate(opus::Bitrate::Bits(OPUS_DEFAULT_BITRATE as i32))
            .map_err(opus_err)?;
        let dec = opus::Decoder::new(48_000, opus::Channels::Mono).map_err(opus_err)?;
        Ok(Self {
            enc,
            dec,
            scratch: vec![0; 1500],
            pcm: vec![0; 5760],
            bitrate: OPUS_DEFAULT_BITRATE,
            max_bitrate: OPUS_MAX_BITRATE,
        })
    }

    /// The bitrate the encoder runs at: the one asked for, capped by the peer's maximum.
    pub fn bitrate(&self) -> u32 {
        self.bitrate.min(self.max_bitrate)
    }

    fn apply_bitrate(&mut self) -> Result<()> {
        let bps = self.bitrate() as i32;
        self.enc
            .set_bitrate(opus::Bitrate::Bits(bps))
            .map_err(opus_err)
    }
}

impl Codec for OpusCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Opus
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        check_len(CodecKind::Opus, pcm)?;
        let n = self.enc.encode(pcm, &mut self.scratch).map_err(opus_err)?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize> {
        // Up to 120 ms per packet.
        let n = self
            .dec
            .decode(payload, &mut self.pcm, false)
            .map_err(opus_err)?;
        out.extend_from_slice(&self.pcm[..n]);
        Ok(n)
    }
    fn conceal(&mut self, next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<usize> {
        let frame = CodecKind::Opus.frame_samples();
        let n = match next {
            // FEC: decode the redundancy carried by the next packet, asking for one frame.
            Some(p) if !p.is_empty() => self
                .dec
                .decode(p, &mut self.pcm[..frame], true)
                .map_err(opus_err)?,
            _ => self
                .dec
                .decode(&[], &mut self.pcm[..frame], false)
                .map_err(opus_err)?,
        };
        out.extend_from_slice(&self.pcm[..n]);
        Ok(n)
    }
    fn set_packet_loss_perc(&mut self, percent: u8) -> Result<()> {
        self.enc
            .set_packet_loss_perc(percent.min(100) as i32)
            .map_err(opus_err)
    }
    fn set_bitrate(&mut self, bps: u32) -> Result<()> {
        self.bitrate = bps.clamp(OPUS_MIN_BITRATE, OPUS_MAX_BITRATE);
        self.apply_bitrate()
    }
    fn set_max_bitrate(&mut self, bps: u32) -> Result<()> {
        self.max_bitrate = bps.clamp(OPUS_MIN_BITRATE, OPUS_MAX_BITRATE);
        self.apply_bitrate()
    }
}

/// G.711 concealment: repeat the last frame, fading out over a few lost frames.
#[derive(Debug, Default)]
struct G711Plc {
    last: Vec<i16>,
    lost_in_a_row: u32,
}

impl G711Plc {
    fn remember(&mut self, pcm: &[i16]) {
        self.last.clear();
        self.last.extend_from_slice(pcm);
        self.lost_in_a_row = 0;
    }
    fn conceal(&mut self, out: &mut Vec<i16>) -> usize {
        self.lost_in_a_row += 1;
        let gain = match self.lost_in_a_row {
            1 => 0.8,
            2 => 0.5,
            3 => 0.2,
            _ => 0.0,
        };
        let n = 160;
        if self.last.len() != n {
            out.extend(std::iter::repeat_n(0, n));
        } else {
            out.extend(self.last.iter().map(|&s| (s as f32 * gain) as i16));
        }
        n
    }
}

/// G.711 µ-law (PCMU), 8 kHz.
#[derive(Debug, Default)]
pub struct PcmuCodec {
    plc: G711Plc,
}

/// G.711 A-law (PCMA), 8 kHz.
#[derive(Debug, Default)]
pub struct PcmaCodec {
    plc: G711Plc,
}

impl Codec for PcmuCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Pcmu
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        check_len(CodecKind::Pcmu, pcm)?;
        out.extend(pcm.iter().map(|&s| g711::linear_to_ulaw(s)));
        Ok(())
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize> {
        let start = out.len();
        out.extend(payload.iter().map(|&b| g711::ulaw_to_linear(b)));
        self.plc.remember(&out[start..]);
        Ok(payload.len())
    }
    fn conceal(&mut self, _next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<usize> {
        Ok(self.plc.conceal(out))
    }
}

impl Codec for PcmaCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Pcma
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<()> {
        check_len(CodecKind::Pcma, pcm)?;
        out.extend(pcm.iter().map(|&s| g711::linear_to_alaw(s)));
        Ok(())
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize> {
        let start = out.len();
        out.extend(payload.iter().map(|&b| g711::alaw_to_linear(b)));
        self.plc.remember(&out[start..]);
        Ok(payload.len())
    }
    fn conceal(&mut self, _next: Option<&[u8]>, out: &mut Vec<i16>) -> Result<usize> {
        Ok(self.plc.conceal(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{goertzel_power, mean_power};

    fn tone(rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin() * 12000.0)
                    as i16
            })
            .collect()
    }

    #[test]
    fn every_codec_carries_a_tone() {
        for kind in CodecKind::ALL {
            let mut enc = kind.create().unwrap();
            let mut dec = kind.create().unwrap();
            let x = tone(kind.sample_rate(), kind.frame_samples() * 50);
            let mut y = Vec::new();
            for frame in x.chunks(kind.frame_samples()) {
                let mut p = Vec::new();
                enc.encode(frame, &mut p).unwrap();
                assert!(!p.is_empty());
                dec.decode(&p, &mut y).unwrap();
            }
            assert_eq!(y.len(), x.len(), "{kind}");
            let tail = &y[y.len() / 2..];
            let p = goertzel_power(tail, kind.sample_rate(), 440.0);
            assert!(p > 0.8 * mean_power(&x), "{kind}: {p}");
        }
    }

    #[test]
    fn opus_conceals_with_fec_and_plc() {
        let mut enc = OpusCodec::new().unwrap();
        let mut dec = OpusCodec::new().unwrap();
        let x = tone(48000, 960 * 20);
        let packets: Vec<Vec<u8>> = x
            .chunks(960)
            .map(|f| {
                let mut p = Vec::new();
                enc.encode(f, &mut p).unwrap();
                p
            })
            .collect();
        let mut y = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if i == 10 {
                assert_eq!(
                    dec.conceal(packets.get(11).map(|p| p.as_slice()), &mut y)
                        .unwrap(),
                    960
                );
            } else if i == 15 {
                assert_eq!(dec.conceal(None, &mut y).unwrap(), 960);
            } else {
                dec.decode(p, &mut y).unwrap();
            }
        }
        assert_eq!(y.len(), x.len());
        let recovered = &y[960 * 10..960 * 11];
        assert!(
            mean_power(recovered) > 0.3 * mean_power(&x),
            "FEC frame is too quiet"
        );
        enc.set_packet_loss_perc(20).unwrap();
        enc.set_bitrate(24_000).unwrap();
    }

    #[test]
    fn the_peers_maximum_caps_every_bitrate() {
        let mut c = OpusCodec::new().unwrap();
        assert_eq!(c.bitrate(), OPUS_DEFAULT_BITRATE);
        c.set_max_bitrate(20_000).unwrap();
        assert_eq!(c.bitrate(), 20_000, "the default is capped");
        c.set_bitrate(64_000).unwrap();
        assert_eq!(c.bitrate(), 20_000, "so is a later rise");
        c.set_bitrate(12_000).unwrap();
        assert_eq!(c.bitrate(), 12_000, "less than the cap goes through");
        c.set_max_bitrate(1).unwrap();
        assert_eq!(c.bitrate(), 6_000, "within Opus's range");
        // The encoder really runs at the capped rate: 20 kbit/s is 50 bytes a frame.
        let mut c = OpusCodec::new().unwrap();
        c.set_max_bitrate(20_000).unwrap();
        let x = tone(48000, 960 * 50);
        let mut bytes = 0;
        for f in x.chunks(960) {
            let mut p = Vec::new();
            c.encode(f, &mut p).unwrap();
            bytes += p.len();
        }
        assert!(bytes / 50 <= 60, "{} bytes a frame", bytes / 50);
    }

    #[test]
    fn wrong_frame_size_is_an_error_not_a_panic() {
        let mut c = CodecKind::Pcmu.create().unwrap();
        assert!(c.encode(&[0; 100], &mut Vec::new()).is_err());
        let mut o = CodecKind::Opus.create().unwrap();
        assert!(o.encode(&[0; 100], &mut Vec::new()).is_err());
        // Garbage must not panic (it may decode to something or fail).
        let _ = o.decode(&[0xff, 0xff, 0xff], &mut Vec::new());
    }

    #[test]
    fn names_round_trip() {
        for k in CodecKind::ALL {
            assert_eq!(CodecKind::from_name(k.mime_type()), Some(k));
            assert_eq!(CodecKind::from_name(&k.sdp_name().to_lowercase()), Some(k));
        }
        assert_eq!(CodecKind::from_name("audio/telephone-event"), None);
    }
}
