//! Echo cancellation, noise suppression and automatic gain control on the capture path,
//! with sonora (a pure-Rust port of WebRTC's AEC3, NS and AGC2).
//!
//! The echo canceller's reference must be exactly what goes to the speaker: wrap the call's
//! sink with [`ReferenceTap`] and put the [`CaptureProcessor`] into the send chain. The tap
//! hands each played frame over a lock-free ring (the two run on different tasks); the
//! processor feeds those to the canceller before it cleans each microphone frame.

use crate::frame::{AudioSink, Frame, FrameProcessor, SAMPLE_RATE};
use sonora::config::{EchoCanceller, GainController2, NoiseSuppression, NoiseSuppressionLevel};
use sonora::{AudioProcessing, Config, StreamConfig};
use std::sync::atomic::{AtomicU64, Ordering};
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
}

/// Reference frames waiting for the processor: 1 s (the send and receive ticks drift apart
/// by far less; beyond it frames are dropped and counted).
const REFERENCE_FRAMES: usize = 50;
/// sonora works on 10 ms chunks.
const CHUNK: usize = (SAMPLE_RATE / 100) as usize;

/// Creates the capture processor and the tap that gives it the speaker's signal.
pub fn processing(settings: ProcessingSettings) -> (CaptureProcessor, ReferenceFeed) {
    let (tx, rx) = rtrb::RingBuffer::<Frame>::new(REFERENCE_FRAMES);
    let dropped = Arc::new(AtomicU64::new(0));
    let config = Config {
        echo_canceller: settings.echo_cancellation.then(EchoCanceller::default),
        // High, as Chromium uses: Moderate gains only 10 dB on fan noise and 6 on babble.
        noise_suppression: settings.noise_suppression.then(|| NoiseSuppression {
            level: NoiseSuppressionLevel::High,
            ..Default::default()
        }),
        gain_controller2: settings.auto_gain.then(GainController2::default),
        ..Default::default()
    };
    let apm = AudioProcessing::builder()
        .config(config)
        .capture_config(StreamConfig::new(SAMPLE_RATE, 1))
        .render_config(StreamConfig::new(SAMPLE_RATE, 1))
        .build();
    (
        CaptureProcessor {
            apm,
            settings,
            reference: rx,
            out: [0; CHUNK],
            reference_dropped: dropped.clone(),
        },
        ReferenceFeed { tx, dropped },
    )
}

/// The capture-side stage (a [`FrameProcessor`] for the send chain).
pub struct CaptureProcessor {
    apm: AudioProcessing,
    settings: ProcessingSettings,
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
