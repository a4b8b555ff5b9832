//! Echo cancellation, noise suppression and automatic gain control on the capture path,
//! with sonora (a pure-Rust port of WebRTC's AEC3, NS and AGC2).
//!
//! The echo canceller's reference must be exactly what the speaker plays, when it plays it:
//! wrap the call's sink with [`ReferenceFeed::tap`] and put the [`CaptureProcessor`] into the
//! send chain. A sound card ([`crate::device::DeviceSink`], and a followed one across device
//! changes) then hands over, through a [`PlayedTap`], the ring its playout callback copies
//! each played sample into; the processor feeds those samples to the canceller, resampled to
//! 48 kHz, before it cleans each microphone frame. The delay from reference to echo is then
//! the sound card's and the room's only, not the playout queue's, which wanders under load.
//! A sink that is no sound card (a file, nothing) plays each frame the moment it is written:
//! there the written frames are the reference, handed over a lock-free ring of frames.

use crate::frame::{AudioSink, AudioSource, Frame, FrameProcessor, SourceState, SAMPLE_RATE};
mod apm;

use apm::{Apm, Stages};
pub use apm::EchoCanceller3Config;
use sonora::config::GainController2;
use sonora_ns::config::SuppressionLevel;
use crate::device::ring::PlayedStream;
use crate::resample::{resampler, Resample};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
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

    fn stages(self, echo: &EchoCanceller3Config) -> Stages {
        Stages {
            // On all of the band (48 kHz), as WebRTC does on desktops (sonora's default stopped at
            // 32 kHz, which drops everything above 16 kHz that Opus would carry): measured on the
            // echo test's speech, the near end kept at correlation 0.951 instead of 0.925 alone.
            echo: self.echo_cancellation.then(|| echo.clone()),
            // The strongest level (21 dB) and a mild second pass (6 dB) after it, which learns the
            // noise the first one left. Measured at 5 dB SNR (tests/processing.rs): babble +8.8 dB,
            // fan +21.3 (High alone as Chromium uses: +7.0 and +14.7; VeryHigh alone +7.7 and
            // +16.6; High + Low +8.2 and +19.5). Costs 6 ms of delay (the second pass's window
            // overlap) and leaves speech 0.9 dB quieter than High alone.
            noise: self.noise_suppression.then_some(SuppressionLevel::K21dB),
            noise_post_filter: self.noise_suppression.then_some(SuppressionLevel::K6dB),
            // AGC2's default is its limiter alone. Its adaptive digital gain raises a quiet talker
            // (+22.5 dB measured) but in a real call under load it also raised AEC3's residual
            // echo back to full level (0.7–8 dB cancelled instead of 13–80). With the played
            // reference the canceller holds (simulated jittery card, adaptive gain on: ERLE 37
            // and 40 dB in the worst second; −1.6 and 0.1 dB overall with the old hand-off
            // reference), but the varying gain takes the near end's double-talk correlation to
            // 0.734/0.743/0.609 (0.795/0.794/0.664 without): still off.
            gain: self.auto_gain.then(GainController2::default),
        }
    }
}

/// AEC3's tuning: WebRTC's defaults but for the suppressor while the near end dominates,
/// which lets a talker through who speaks over the far end (double talk). sonora's own
/// `AudioProcessing` cannot take it (it builds AEC3 with the defaults): see [`apm`].
///
/// Measured by tests/processing.rs (near end kept in double talk, correlation with the clean
/// near end, on the 30/120/200 ms echo paths): defaults 0.798/0.797/0.672; 0.899/0.902/0.853
/// with all of the below. The linear filter alone (suppressor off) scores 0.91/0.91/0.90, and
/// ERLE with the far end alone is unchanged (39.6/43.9/58.1 dB). On six other pairs of voices,
/// echo paths and gains (50 ms ×1.0, 180 ms ×0.5, 90 ms ×0.8) the worst double talk goes from
/// 0.642 to 0.845, and in the 0.6 s after the near end stops the echo is still cancelled by
/// 26–34 dB (28–43 with the defaults; 20–35 with the detector's defaults kept).
pub fn echo_canceller_config() -> EchoCanceller3Config {
    let mut config = EchoCanceller3Config::default();
    let nearend = &mut config.suppressor.nearend_tuning;
    // The gain may come back 8× per 4 ms block instead of 2×: a word's onset after the far end
    // ducked it is heard (0.855/0.854/0.763 from this alone).
    nearend.max_inc_factor = 8.0;
    // Below 1.5 kHz, suppress only where the residual echo is 2× the near end, not 1.1×.
    nearend.mask_lf.enr_transparent = 2.0;
    nearend.mask_lf.enr_suppress = 3.0;
    // The reverberant tail the residual echo estimate adds: shorter while the near end talks.
    config.ep_strength.nearend_len = 0.5;
    let dominant = &mut config.suppressor.dominant_nearend_detection;
    // The near end is taken as dominant after 6 blocks (24 ms) of it instead of 12, and held
    // for 100 ms after instead of 200 (less echo let through once the near end stops).
    dominant.trigger_threshold = 6;
    dominant.hold_duration = 25;
    config
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
    tuned_processing(control, echo_canceller_config())
}

/// Like [`controlled_processing`], with the echo canceller tuned by `echo` (for measuring
/// other tunings than [`echo_canceller_config`]).
pub fn tuned_processing(control: ProcessingControl, echo: EchoCanceller3Config) -> (CaptureProcessor, ReferenceFeed) {
    let (tx, rx) = rtrb::RingBuffer::<Frame>::new(REFERENCE_FRAMES);
    let (played_tx, played_rx) = channel();
    let dropped = Arc::new(AtomicU64::new(0));
    let settings = control.get();
    let apm = Apm::new(&settings.stages(&echo));
    (
        CaptureProcessor {
            apm,
            echo,
            settings,
            control,
            reference: rx,
            streams: played_rx,
            played: None,
            render: Vec::with_capacity(SAMPLE_RATE as usize),
            shift: 0,
            reference_dropped: dropped.clone(),
        },
        ReferenceFeed { tx, dropped, tap: PlayedTap(played_tx) },
    )
}

/// Where a sound card sends the ring of what it plays (see [`crate::AudioSink::tap_played`]);
/// the [`CaptureProcessor`] reads it. Cloned into a followed speaker, which sends the ring of
/// each device it swaps in.
#[derive(Debug, Clone)]
pub struct PlayedTap(Sender<PlayedStream>);

impl PlayedTap {
    /// Hands `stream` to the processor; `false` when the processor is gone.
    pub fn send(&self, stream: PlayedStream) -> bool {
        self.0.send(stream).is_ok()
    }
}

/// The played ring being read, and its conversion to 48 kHz.
struct Played {
    stream: PlayedStream,
    resampler: Box<dyn Resample>,
    /// Device-rate samples popped from the ring (as long as the ring: never grows).
    scratch: Vec<i16>,
}

impl Played {
    fn new(stream: PlayedStream) -> Self {
        let capacity = stream.consumer.buffer().capacity();
        Self { resampler: resampler(stream.rate, SAMPLE_RATE), scratch: vec![0; capacity], stream }
    }
    /// Moves everything played so far, at 48 kHz, to the end of `render`.
    fn drain_into(&mut self, render: &mut Vec<i16>) {
        loop {
            let (got, _) = self.stream.consumer.pop_partial_slice(&mut self.scratch);
            let got = got.len();
            if got == 0 {
                break;
            }
            self.resampler.process(&self.scratch[..got], render);
        }
    }
}

/// The capture-side stage (a [`FrameProcessor`] for the send chain).
pub struct CaptureProcessor {
    apm: Apm,
    echo: EchoCanceller3Config,
    settings: ProcessingSettings,
    control: ProcessingControl,
    /// Frames written to a sink that is no sound card.
    reference: rtrb::Consumer<Frame>,
    /// Played rings of sound cards (a new one at each device change).
    streams: Receiver<PlayedStream>,
    played: Option<Played>,
    /// Played samples (48 kHz) short of a whole 10 ms chunk, kept for the next frame.
    render: Vec<i16>,
    /// Samples the reference still has to slip by (> 0: silence to add, < 0: to skip).
    shift: i64,
    reference_dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for CaptureProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureProcessor")
            .field("settings", &self.settings)
            .field("played", &self.played.as_ref().map(|p| p.stream.rate()))
            .finish_non_exhaustive()
    }
}

impl CaptureProcessor {
    pub fn settings(&self) -> ProcessingSettings {
        self.settings
    }
    /// Reference audio lost because the processor did not keep up: frames of a file sink's
    /// ring, and (as 20 ms frames) samples a sound card's played ring had no room for.
    pub fn reference_dropped(&self) -> u64 {
        let played = self.played.as_ref().map_or(0, |p| p.stream.dropped() / crate::frame::FRAME_SAMPLES as u64);
        self.reference_dropped.load(Ordering::Relaxed) + played
    }
    /// Whether the reference comes from a sound card's playout callback (else from the frames
    /// written to the sink).
    pub fn hears_the_sound_card(&self) -> bool {
        self.played.is_some()
    }
    /// Feeds one frame of what the speaker played (normally via [`ReferenceFeed`]).
    pub fn push_reference(&mut self, frame: &Frame) {
        for chunk in frame.chunks_exact(CHUNK) {
            // Errors only for unsupported formats, which ours is not.
            self.apm.render(chunk);
        }
    }

    /// The microphone's timeline slipped by `samples` (see [`AudioSource::take_slip`]): the
    /// played reference slips by as much, so the echo keeps its delay behind it and the
    /// canceller need not find it again. Silence made up by the microphone is matched by
    /// silence in the reference; captured audio thrown away, by reference skipped.
    pub fn shift_reference(&mut self, samples: i64) {
        self.shift += samples;
    }

    /// Gives the canceller everything played since the last frame, in whole 10 ms chunks.
    fn feed_reference(&mut self) {
        while let Ok(stream) = self.streams.try_recv() {
            // A new device: what the old one still played comes first.
            if let Some(mut old) = self.played.take() {
                old.drain_into(&mut self.render);
            }
            self.played = Some(Played::new(stream));
        }
        match &mut self.played {
            Some(played) => {
                if self.shift > 0 {
                    // At most the played ring's length: a slip longer than that is a restart.
                    let n = (self.shift as usize).min(played.scratch.len());
                    self.render.extend(std::iter::repeat_n(0, n));
                    self.shift = 0;
                }
                played.drain_into(&mut self.render);
                if self.shift < 0 {
                    let n = (self.shift.unsigned_abs() as usize).min(self.render.len());
                    self.render.drain(..n);
                    self.shift += n as i64;
                }
                // Frames written to the sink are not the reference once a sound card speaks.
                while self.reference.pop().is_ok() {}
            }
            None => {
                // A file sink's frames come as written: no timeline to keep in step.
                self.shift = 0;
                while let Ok(reference) = self.reference.pop() {
                    self.push_reference(&reference);
                }
            }
        }
        let whole = self.render.len() / CHUNK * CHUNK;
        for at in (0..whole).step_by(CHUNK) {
            self.apm.render(&self.render[at..at + CHUNK]);
        }
        self.render.drain(..whole);
    }
}

impl FrameProcessor for CaptureProcessor {
    fn process(&mut self, frame: &mut Frame) {
        let wanted = self.control.get();
        if wanted != self.settings {
            self.settings = wanted;
            self.apm.configure(&wanted.stages(&self.echo));
        }
        self.feed_reference();
        for chunk in frame.chunks_exact_mut(CHUNK) {
            self.apm.capture(chunk);
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
        self.processor.shift_reference(self.source.take_slip());
        if state == SourceState::Audio {
            self.processor.process(frame);
        }
        state
    }
    fn set_muted(&mut self, muted: bool) {
        self.source.set_muted(muted);
    }
    fn take_slip(&mut self) -> i64 {
        // Made good here: what comes out keeps its timeline for whoever reads it.
        0
    }
}

/// The sending end of the reference ring; wrap a sink with [`ReferenceFeed::tap`].
pub struct ReferenceFeed {
    tx: rtrb::Producer<Frame>,
    dropped: Arc<AtomicU64>,
    tap: PlayedTap,
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
    /// A sink that plays into `sink`, with the echo canceller hearing what it plays: the
    /// sound card's played ring when `sink` is one, else every frame written.
    pub fn tap(self, mut sink: Box<dyn AudioSink>) -> ReferenceTap {
        let sound_card = sink.tap_played(&self.tap);
        ReferenceTap { feed: self, sink, sound_card }
    }
}

/// A sink wrapper: what the speaker plays also goes to the echo canceller.
pub struct ReferenceTap {
    feed: ReferenceFeed,
    sink: Box<dyn AudioSink>,
    /// The sink's playout callback feeds the canceller itself.
    sound_card: bool,
}

impl ReferenceTap {
    /// Whether the reference is what a sound card played (else the frames written here).
    pub fn is_sound_card(&self) -> bool {
        self.sound_card
    }
}

impl std::fmt::Debug for ReferenceTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceTap").finish_non_exhaustive()
    }
}

impl AudioSink for ReferenceTap {
    fn write_frame(&mut self, frame: &Frame) {
        self.sink.write_frame(frame);
        if !self.sound_card {
            self.feed.push(frame);
        }
    }
    fn finish(&mut self) {
        self.sink.finish();
    }
    fn tap_played(&mut self, tap: &PlayedTap) -> bool {
        self.sink.tap_played(tap)
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
