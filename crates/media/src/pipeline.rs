//! The stages between frames and payloads.
//!
//! Send: [`SendChain`] (source → processors → mute) gives 48 kHz frames; [`FrameEncoder`]
//! turns each into one payload of the negotiated codec. Receive: [`SequenceTracker`] says
//! what was lost (the slot the adaptive jitter buffer of issue 5 replaces), [`FrameDecoder`]
//! decodes or conceals and hands back 48 kHz frames for an [`AudioSink`].

use crate::codec::{Codec, CodecKind};
use crate::frame::{
    AudioSink, AudioSource, Frame, FrameProcessor, SourceState, FRAME_SAMPLES, SAMPLE_RATE,
};
use crate::resample::{resampler, Resample};
use crate::Result;

/// Capture side: a source, then in-place processors (AEC, NS, AGC later), then mute.
pub struct SendChain {
    source: Box<dyn AudioSource>,
    processors: Vec<Box<dyn FrameProcessor>>,
    /// Sends silence while keeping the stream (and its timing) alive.
    pub muted: bool,
}

impl std::fmt::Debug for SendChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendChain")
            .field("processors", &self.processors.len())
            .field("muted", &self.muted)
            .finish()
    }
}

impl SendChain {
    pub fn new(source: Box<dyn AudioSource>) -> Self {
        Self {
            source,
            processors: Vec::new(),
            muted: false,
        }
    }
    pub fn push_processor(&mut self, p: Box<dyn FrameProcessor>) {
        self.processors.push(p);
    }
    /// Replaces the source (device change) without touching the rest of the chain.
    pub fn set_source(&mut self, source: Box<dyn AudioSource>) {
        self.source = source;
    }
    pub fn next_frame(&mut self, frame: &mut Frame) -> SourceState {
        self.source.set_muted(self.muted);
        let state = self.source.read_frame(frame);
        for p in &mut self.processors {
            p.process(frame);
        }
        if self.muted {
            frame.fill(0);
        }
        state
    }
}

/// 48 kHz frames in, one codec payload per frame out.
pub struct FrameEncoder {
    codec: Box<dyn Codec>,
    resampler: Box<dyn Resample>,
    pending: Vec<i16>,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("codec", &self.codec.kind())
            .finish()
    }
}

impl FrameEncoder {
    pub fn new(kind: CodecKind) -> Result<Self> {
        Ok(Self {
            codec: kind.create()?,
            resampler: resampler(SAMPLE_RATE, kind.sample_rate()),
            pending: Vec::with_capacity(kind.frame_samples() * 2),
        })
    }
    pub fn kind(&self) -> CodecKind {
        self.codec.kind()
    }
    pub fn codec_mut(&mut self) -> &mut dyn Codec {
        self.codec.as_mut()
    }
    /// Encodes one 20 ms frame, appending exactly one payload to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<()> {
        let n = self.codec.kind().frame_samples();
        self.resampler.process(frame, &mut self.pending);
        if self.pending.len() < n {
            // Only at the start: the resampler's look-ahead delays the first samples.
            let missing = n - self.pending.len();
            self.pending.splice(0..0, std::iter::repeat_n(0, missing));
        }
        let r = self.codec.encode(&self.pending[..n], out);
        self.pending.drain(..n);
        r
    }
}

/// Payloads (or losses) in, 48 kHz 20 ms frames out.
pub struct FrameDecoder {
    codec: Box<dyn Codec>,
    resampler: Box<dyn Resample>,
    pcm: Vec<i16>,
    out: Vec<i16>,
    /// Frames produced by concealment so far.
    pub concealed: u64,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("codec", &self.codec.kind())
            .finish()
    }
}

/// Most 48 kHz samples we keep waiting for a sink (1 s): bounded whatever the peer sends.
const MAX_PENDING: usize = SAMPLE_RATE as usize;

impl FrameDecoder {
    pub fn new(kind: CodecKind) -> Result<Self> {
        Ok(Self {
            codec: kind.create()?,
            resampler: resampler(kind.sample_rate(), SAMPLE_RATE),
            pcm: Vec::with_capacity(5760),
            out: Vec::with_capacity(FRAME_SAMPLES * 4),
            concealed: 0,
        })
    }
    pub fn kind(&self) -> CodecKind {
        self.codec.kind()
    }
    /// Decodes a payload. Errors (garbage from the network) produce a concealed frame instead.
    pub fn decode(&mut self, payload: &[u8]) {
        self.pcm.clear();
        if self.codec.decode(payload, &mut self.pcm).is_err() {
            self.pcm.clear();
            self.conceal(None);
            return;
        }
        self.push_pcm();
    }
    /// Produces one 20 ms frame for a lost packet (`next`: the packet after the gap, for FEC).
    pub fn conceal(&mut self, next: Option<&[u8]>) {
        self.pcm.clear();
        if self.codec.conceal(next, &mut self.pcm).is_err() {
            self.pcm.clear();
            self.pcm
                .extend(std::iter::repeat_n(0, self.codec.kind().frame_samples()));
        }
        self.concealed += 1;
        self.push_pcm();
    }
    fn push_pcm(&mut self) {
        self.resampler.process(&self.pcm, &mut self.out);
        if self.out.len() > MAX_PENDING {
            let excess = self.out.len() - MAX_PENDING;
            self.out.drain(..excess);
        }
    }
    /// Takes the next complete 48 kHz frame, if there is one.
    pub fn pop_frame(&mut self, frame: &mut Frame) -> bool {
        if self.out.len() < FRAME_SAMPLES {
            return false;
        }
        frame.copy_from_slice(&self.out[..FRAME_SAMPLES]);
        self.out.drain(..FRAME_SAMPLES);
        true
    }
    /// Decodes (or conceals) and writes every complete frame to `sink`.
    pub fn drain_into(&mut self, sink: &mut dyn AudioSink) {
        let mut frame = [0i16; FRAME_SAMPLES];
        while self.pop_frame(&mut frame) {
            sink.write_frame(&frame);
        }
    }
}

/// What [`SequenceTracker::on_packet`] decided about one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order; `lost` packets were skipped just before it (conceal them first).
    Play { lost: u16 },
    /// Older than what was already played, or a duplicate: drop it.
    Late,
}

/// Follows RTP sequence numbers to find losses, late packets and duplicates.
/// No buffering: this is the place the adaptive jitter buffer (issue 5) takes over.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    last: Option<u16>,
    pub lost: u64,
    pub late: u64,
}

/// A jump larger than this is a restart of the stream, not a loss.
const MAX_GAP: u16 = 50;
/// Most frames concealed for one gap (bounded work per packet).
pub const MAX_CONCEAL: u16 = 5;

impl SequenceTracker {
    pub fn on_packet(&mut self, seq: u16) -> SeqVerdict {
        let Some(last) = self.last else {
            self.last = Some(seq);
            return SeqVerdict::Play { lost: 0 };
        };
        let delta = seq.wrapping_sub(last);
        if delta == 0 || delta > u16::MAX / 2 {
            self.late += 1;
            return SeqVerdict::Late;
        }
        self.last = Some(seq);
        if delta > MAX_GAP {
            return SeqVerdict::Play { lost: 0 };
        }
        let lost = delta - 1;
        self.lost += lost as u64;
        SeqVerdict::Play {
            lost: lost.min(MAX_CONCEAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ToneSource;
    use crate::goertzel::{goertzel_power, mean_power};

    #[test]
    fn frames_go_through_every_codec_at_48k() {
        for kind in CodecKind::ALL {
            let mut chain = SendChain::new(Box::new(ToneSource::new(&[440.0, 1000.0], 0.5)));
            let mut enc = FrameEncoder::new(kind).unwrap();
            let mut dec = FrameDecoder::new(kind).unwrap();
            let mut got = Vec::new();
            let mut frame = [0i16; FRAME_SAMPLES];
            for _ in 0..50 {
                chain.next_frame(&mut frame);
                let mut p = Vec::new();
                enc.encode(&frame, &mut p).unwrap();
                dec.decode(&p);
                while dec.pop_frame(&mut frame) {
                    got.extend_from_slice(&frame);
                }
            }
            assert!(got.len() >= 48 * FRAME_SAMPLES, "{kind}: {}", got.len());
            let tail = &got[got.len() / 2..];
            let total = mean_power(tail);
            let p = goertzel_power(tail, 48000, 440.0) + goertzel_power(tail, 48000, 1000.0);
            assert!(p > 0.8 * total && total > 0.01, "{kind}: {p} of {total}");
        }
    }

    #[test]
    fn mute_sends_silence() {
        let mut chain = SendChain::new(Box::new(ToneSource::new(&[440.0], 0.5)));
        chain.muted = true;
        let mut frame = [1i16; FRAME_SAMPLES];
        chain.next_frame(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
    }

    #[test]
    fn sequence_tracker_finds_loss_reorder_and_wrap() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.on_packet(65534), SeqVerdict::Play { lost: 0 });
        assert_eq!(t.on_packet(65535), SeqVerdict::Play { lost: 0 });
        assert_eq!(t.on_packet(2), SeqVerdict::Play { lost: 2 });
        assert_eq!(t.on_packet(1), SeqVerdict::Late);
        assert_eq!(t.on_packet(2), SeqVerdict::Late);
        assert_eq!(t.on_packet(30), SeqVerdict::Play { lost: MAX_CONCEAL });
        assert_eq!(t.on_packet(10_000), SeqVerdict::Play { lost: 0 });
        assert_eq!(t.lost, 2 + 27);
    }

    #[test]
    fn garbage_payloads_conceal_instead_of_failing() {
        let mut dec = FrameDecoder::new(CodecKind::Opus).unwrap();
        for n in 0..20u8 {
            dec.decode(&[n, 0xff, n.wrapping_mul(37), 1, 2, 3]);
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut frames = 0;
        while dec.pop_frame(&mut frame) {
            frames += 1;
        }
        assert!(frames >= 1);
    }
}
