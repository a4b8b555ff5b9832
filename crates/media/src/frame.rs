//! Frames and the source/sink/processor traits of the audio path.

/// The engine's internal sample rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Length of one frame in milliseconds.
pub const FRAME_MS: u32 = 20;
/// Samples in one frame (mono, 48 kHz, 20 ms).
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;

/// One 20 ms frame of 48 kHz mono audio.
pub type Frame = [i16; FRAME_SAMPLES];

/// A silent frame.
pub const SILENCE: Frame = [0; FRAME_SAMPLES];

/// A 20 ms clock for a thread that moves one frame per tick (tones, the echo
/// test, the settings meter) where no sound card sets the pace.
#[derive(Debug)]
pub struct FrameClock {
    next: std::time::Instant,
}

impl FrameClock {
    const TICK: std::time::Duration = std::time::Duration::from_millis(FRAME_MS as u64);
    /// Further behind than this (a suspended or stalled machine), the clock
    /// starts again instead of bursting frames to catch up.
    const MAX_BEHIND: std::time::Duration = std::time::Duration::from_millis(5 * FRAME_MS as u64);

    /// Ticking from now.
    pub fn start() -> Self {
        Self { next: std::time::Instant::now() }
    }

    /// Sleep until the next tick.
    pub fn wait(&mut self) {
        self.next += Self::TICK;
        let now = std::time::Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        } else if now - self.next > Self::MAX_BEHIND {
            self.next = now;
        }
    }
}

/// What a source did when asked for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// The frame holds audio.
    Audio,
    /// The source has ended; the frame holds silence (and will from now on).
    Ended,
}

/// Something that produces 20 ms frames: a WAV file, a microphone (issue 5), a tone.
///
/// `read_frame` is called once per 20 ms from the media task. It must not block for long
/// (a device source reads from a lock-free ring filled by the capture callback).
pub trait AudioSource: Send {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState;
    /// The send chain says before each read whether the call is muted (the frame is then
    /// replaced by silence after the read): a "you are muted" detector needs the microphone anyway.
    fn set_muted(&mut self, _muted: bool) {}
    /// Samples of the microphone's own timeline this source made up (silence handed out while
    /// the device was late: > 0) or threw away (a backlog dropped: < 0) since last asked. The
    /// echo canceller shifts its reference by as much, so the echo keeps its delay.
    fn take_slip(&mut self) -> i64 {
        0
    }
}

/// Something that consumes 20 ms frames: a WAV recorder, a speaker (issue 5), a mixer.
pub trait AudioSink: Send {
    fn write_frame(&mut self, frame: &Frame);
    /// Flushes whatever the sink buffers (a WAV header, a device ring). Called at call end.
    fn finish(&mut self) {}
    /// A sink that is a sound card hands the echo canceller what its playout callback really
    /// plays, now and after every device change (`true`). Any other sink (a file, nothing)
    /// plays what it is given the moment it is given it, and says `false`: the frames written
    /// are then the reference ([`crate::processing::ReferenceTap`]).
    fn tap_played(&mut self, _tap: &crate::processing::PlayedTap) -> bool {
        false
    }
}

/// An in-place stage between capture and encoder (echo canceller, noise suppressor, AGC).
pub trait FrameProcessor: Send {
    fn process(&mut self, frame: &mut Frame);
}

/// A source of silence (used when no microphone is configured, and for mute).
#[derive(Debug, Default)]
pub struct SilenceSource;

impl AudioSource for SilenceSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        frame.fill(0);
        SourceState::Audio
    }
}

/// A sink that throws frames away, counting them.
#[derive(Debug, Default)]
pub struct NullSink {
    pub frames: u64,
}

impl AudioSink for NullSink {
    fn write_frame(&mut self, _frame: &Frame) {
        self.frames += 1;
    }
}

/// A generated sine tone (tests, ringback).
#[derive(Debug)]
pub struct ToneSource {
    freqs: Vec<f32>,
    amplitude: f32,
    n: u64,
}

impl ToneSource {
    /// Sum of sines at `freqs` Hz, total peak `amplitude` (0..1 of full scale).
    pub fn new(freqs: &[f32], amplitude: f32) -> Self {
        Self {
            freqs: freqs.to_vec(),
            amplitude,
            n: 0,
        }
    }
}

impl AudioSource for ToneSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let k = self.freqs.len().max(1) as f32;
        for s in frame.iter_mut() {
            let t = self.n as f64 / SAMPLE_RATE as f64;
            let v: f64 = self
                .freqs
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * *f as f64 * t).sin())
                .sum();
            *s = (v as f32 / k * self.amplitude * 32767.0) as i16;
            self.n += 1;
        }
        SourceState::Audio
    }
}

/// Converts `i16` samples to `f32` in -1..1.
pub fn i16_to_f32(input: &[i16], out: &mut [f32]) {
    for (o, i) in out.iter_mut().zip(input) {
        *o = *i as f32 / 32768.0;
    }
}

/// Converts `f32` samples (-1..1) to `i16`, clipping.
pub fn f32_to_i16(input: &[f32], out: &mut [i16]) {
    for (o, i) in out.iter_mut().zip(input) {
        *o = (i * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
    }
}
