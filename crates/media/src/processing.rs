//! Echo cancellation, noise suppression and automatic gain control on the capture path,
//! with sonora (a pure-Rust port of WebRTC's AEC3, NS and AGC2).
//!
//! The echo canceller's reference must be exactly what goes to the speaker: wrap the call's
//! sink with [`ReferenceTap`] and put the [`CaptureProcessor`] into the send chain. The tap
//! hands each played frame over a lock-free ring (the two run on different tasks); the
//! processor feeds those to the canceller before it cleans each microphone frame.

use crate::frame::{AudioSink, AudioSource, Frame, FrameProcessor, SourceState, SAMPLE_RATE};
use sonora::config::{EchoCanceller, GainController2, NoiseSuppression, NoiseSuppressionLevel};
use sonora::{AudioProcessing, Config, StreamConfig};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Which stages run; each is a user setting (all on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingSettings {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
}

impl Default for ProcessingSettings {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
        }
    }
}

impl ProcessingSettings {
    pub fn any(&self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.auto_gain
    }

    fn bits(self) -> u8 {
        u8::from(self.echo_cancellation) | u8::from(self.noise_suppression) << 1 | u8::from(self.auto_gain) << 2
    }

    fn from_bits(bits: u8) -> Self {
        Self { echo_cancellation: bits & 1 != 0, noise_suppression: bits & 2 != 0, auto_gain: bits & 4 != 0 }
    }

    fn config(self) -> Config {
        Config {
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            // High, as Chromium uses: Moderate gains only 10 dB on fan noise and 6 on babble.
            noise_suppression: self
                .noise_suppression
                .then(|| NoiseSuppression { level: NoiseSuppressionLevel::High, ..Default::default() }),
            // AGC2's default is its limiter alone. Its adaptive digital gain raises a quiet talker
            // (+22.5 dB measured) but in a real call under load it also raised AEC3's residual
            // echo back to full level (0.7–8 dB cancelled instead of 13–80): off until the echo
            // canceller holds under load.
            gain_controller2: self.auto_gain.then(GainController2::default),
            ..Default::default()
        }
    }
}

/// The switches as the user sets them, shared with every running [`CaptureProcessor`]: a
/// change applies to calls in progress from their next frame.
#[derive(Debug, Clone)]
pub struct ProcessingControl(Arc<AtomicU8>);

impl ProcessingControl {
    pub fn new(settings: ProcessingSettings) -> Self {
        Self(Arc::new(AtomicU8::new(settings.bits())))
    }
    pub fn get(&self) -> ProcessingSettings {
        ProcessingSettings::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn set(&self, settings: ProcessingSettings) {
        self.0.store(settings.bits(), Ordering::Relaxed);
    }
}

impl Default for ProcessingControl {
    fn default() -> Self {
        Self::new(ProcessingSettings::default())
    }
}

/// Reference frames waiting for the processor: 1 s (the send and receive ticks drift apart
/// by far less; beyond it frames are dropped and counted).
const REFERENCE_FRAMES: usize = 50;
/// sonora works on 10 ms chunks.
const CHUNK: usize = (SAMPLE_RATE / 100) as usize;

/// Creates the capture processor and the tap that gives it the speaker's signal.
pub fn processing(settings: ProcessingSettings) -> (CaptureProcessor, ReferenceFeed) {
    controlled_processing(ProcessingControl::new(settings))
}

/// Like [`processing`], following `control` as it changes.
pub fn controlled_processing(control: ProcessingControl) -> (CaptureProcessor, ReferenceFeed) {
    let (tx, rx) = rtrb::RingBuffer::<Frame>::new(REFERENCE_FRAMES);
    let dropped = Arc::new(AtomicU64::new(0));
    let settings = control.get();
    let apm = AudioProcessing::builder()
        .config(settings.config())
        .capture_config(StreamConfig::new(SAMPLE_RATE, 1))
        .render_config(StreamConfig::new(SAMPLE_RATE, 1))
        .build();
    (
        CaptureProcessor { apm, settings, control, reference: rx, out: [0; CHUNK], reference_dropped: dropped.clone() },
        ReferenceFeed { tx, dropped },
    )
}

/// The capture-side stage (a [`FrameProcessor`] for the send chain).
pub struct CaptureProcessor {
    apm: AudioProcessing,
    settings: ProcessingSettings,
    control: ProcessingControl,
    reference: rtrb::Consumer<Frame>,
    out: [i16; CHUNK],
    reference_dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for CaptureProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureProcessor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CaptureProcessor {
    pub fn settings(&self) -> ProcessingSettings {
        self.settings
    }
    /// Reference frames dropped because the processor did not keep up.
    pub fn reference_dropped(&self) -> u64 {
        self.reference_dropped.load(Ordering::Relaxed)
    }
    /// Feeds one frame of what the speaker played (normally via [`ReferenceFeed`]).
    pub fn push_reference(&mut self, frame: &Frame) {
        for chunk in frame.chunks_exact(CHUNK) {
            // Errors only for unsupported formats, which ours is not.
            let _ = self.apm.process_render_i16(chunk, &mut self.out);
        }
    }
}

impl FrameProcessor for CaptureProcessor {
    fn process(&mut self, frame: &mut Frame) {
        let wanted = self.control.get();
        if wanted != self.settings {
            self.settings = wanted;
            self.apm.apply_config(wanted.config());
        }
        while let Ok(reference) = self.reference.pop() {
            self.push_reference(&reference);
        }
        for chunk in frame.chunks_exact_mut(CHUNK) {
            if self.apm.process_capture_i16(chunk, &mut self.out).is_ok() {
                chunk.copy_from_slice(&self.out);
            }
        }
    }
}

impl CaptureProcessor {
    /// A source whose every frame goes through this processor (the microphone of a call).
    pub fn wrap(self, source: Box<dyn AudioSource>) -> ProcessedSource {
        ProcessedSource { source, processor: self }
    }
}

/// A microphone with echo cancellation, noise suppression and gain control applied.
pub struct ProcessedSource {
    source: Box<dyn AudioSource>,
    processor: CaptureProcessor,
}

impl std::fmt::Debug for ProcessedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessedSource").field("processor", &self.processor).finish_non_exhaustive()
    }
}

impl AudioSource for ProcessedSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let state = self.source.read_frame(frame);
        if state == SourceState::Audio {
            self.processor.process(frame);
        }
        state
    }
    fn set_muted(&mut self, muted: bool) {
        self.source.set_muted(muted);
    }
}

/// The sending end of the reference ring; wrap a sink with [`ReferenceFeed::tap`].
pub struct ReferenceFeed {
    tx: rtrb::Producer<Frame>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for ReferenceFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceFeed").finish_non_exhaustive()
    }
}

impl ReferenceFeed {
    /// Hands one played frame to the processor (never blocks; a full ring drops it).
    pub fn push(&mut self, frame: &Frame) {
        if self.tx.push(*frame).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// A sink that plays into `sink` and feeds every frame to the echo canceller.
    pub fn tap(self, sink: Box<dyn AudioSink>) -> ReferenceTap {
        ReferenceTap { feed: self, sink }
    }
}

/// A sink wrapper: what goes to the speaker also goes to the echo canceller.
pub struct ReferenceTap {
    feed: ReferenceFeed,
    sink: Box<dyn AudioSink>,
}

impl std::fmt::Debug for ReferenceTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceTap").finish_non_exhaustive()
    }
}

impl AudioSink for ReferenceTap {
    fn write_frame(&mut self, frame: &Frame) {
        self.sink.write_frame(frame);
        self.feed.push(frame);
    }
    fn finish(&mut self) {
        self.sink.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u32) -> Frame {
        let mut frame = [0i16; crate::frame::FRAME_SAMPLES];
        for s in frame.iter_mut() {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 17;
            *seed ^= *seed << 5;
            *s = (*seed % 4000) as i16 - 2000;
        }
        frame
    }

    fn energy(frame: &Frame) -> f64 {
        frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
    }

    #[test]
    fn switching_a_running_processor_on_and_off_takes_effect() {
        let off = ProcessingSettings { echo_cancellation: false, noise_suppression: false, auto_gain: false };
        let control = ProcessingControl::new(off);
        let (processor, _feed) = controlled_processing(control.clone());
        let mut seed = 7;
        let mut mic = processor.wrap(Box::new(crate::frame::SilenceSource));
        // Everything off: frames pass untouched (the wrapped source gives silence).
        let mut frame = noise(&mut seed);
        mic.processor.process(&mut frame);
        let mut copy = frame;
        mic.processor.process(&mut copy);
        assert_eq!(copy, frame);
        // Noise suppression on: steady noise fades within a second.
        control.set(ProcessingSettings { noise_suppression: true, ..off });
        let before = energy(&noise(&mut seed));
        let mut after = 0.0;
        for _ in 0..50 {
            let mut frame = noise(&mut seed);
            mic.processor.process(&mut frame);
            after = energy(&frame);
        }
        assert_eq!(mic.processor.settings(), control.get());
        assert!(after < before / 4.0, "noise {before} → {after}");
        assert_eq!(mic.read_frame(&mut frame), SourceState::Audio);
    }
}
