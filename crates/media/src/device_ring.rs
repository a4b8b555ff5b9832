//! The glue between the audio callbacks and the 20 ms media side, with no cpal inside (so
//! it is tested without a sound card).
//!
//! ```text
//!  capture callback ──[CaptureFeed: down-mix → i16]──▶ rtrb ring ──▶ CaptureSide (resample → 48 kHz frames)
//!  PlayoutSide (48 kHz frames → resample) ──▶ rtrb ring ──▶ [PlayoutFeed: i16 → up-mix]── playout callback
//!                                   echo canceller ◀── rtrb ring ◀──┘ (what was written, sample for sample)
//! ```
//!
//! The second playout ring is the echo canceller's reference ([`PlayedStream`]): the callback
//! copies into it exactly what it gives the sound card, silence of a late start or an underrun
//! included, so the reference runs on the card's own clock. Taking it when a frame is merely
//! queued instead (the hand-off) puts the playout queue's depth — which wanders under load,
//! and jumps at each underrun or dropped frame — between reference and echo.
//!
//! The callback halves (`*Feed`) own only preallocated state: they never lock, allocate,
//! block or log. What goes wrong there is counted in atomics ([`DeviceCounters`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use cpal::{FromSample, Sample};
use rtrb::{Consumer, Producer, RingBuffer};

use crate::frame::{AudioSink, Frame, FRAME_SAMPLES, SAMPLE_RATE};
use crate::processing::PlayedTap;
use crate::resample::{resampler, Resample};

/// Why a device stream stopped working, as reported by the sound system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// The device was unplugged, or the sound server went away.
    DeviceLost,
    /// Any other error the sound system reported.
    Other,
}

const FAULT_NONE: u8 = 0;
const FAULT_LOST: u8 = 1;
const FAULT_OTHER: u8 = 2;

/// Counters shared by a callback and the media side. Everything is an atomic: the
/// callbacks (and cpal's error callback) only ever store or add.
#[derive(Debug, Default)]
pub struct DeviceCounters {
    /// Capture: 20 ms frames the media side asked for before the device had delivered them
    /// (sent as silence). Playout: callbacks that found the ring empty (played silence).
    underruns: AtomicU64,
    /// Capture: callbacks whose samples did not fit in the ring (dropped), and backlog the
    /// media side threw away to keep the delay bounded. Playout: frames dropped because the
    /// ring was full (the writer runs ahead of the device).
    overruns: AtomicU64,
    /// Xruns the sound system itself reported.
    xruns: AtomicU64,
    /// Data callbacks so far (the device is running when this grows).
    callbacks: AtomicU64,
    /// Device samples (per channel) that went through the callback.
    samples: AtomicU64,
    fault: AtomicU8,
}

impl DeviceCounters {
    pub(crate) fn underrun(&self) {
        self.underruns.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn overrun(&self) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
    }
    /// From cpal's error callback: atomics only.
    pub(crate) fn note_error(&self, kind: cpal::ErrorKind) {
        match kind {
            cpal::ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::DeviceChanged
            | cpal::ErrorKind::HostUnavailable => self.fault.store(FAULT_LOST, Ordering::Relaxed),
            _ => {
                let _ = self.fault.compare_exchange(FAULT_NONE, FAULT_OTHER, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
    pub fn fault(&self) -> Option<StreamFault> {
        match self.fault.load(Ordering::Relaxed) {
            FAULT_LOST => Some(StreamFault::DeviceLost),
            FAULT_OTHER => Some(StreamFault::Other),
            _ => None,
        }
    }
    pub fn snapshot(&self) -> DeviceStats {
        DeviceStats {
            underruns: self.underruns.load(Ordering::Relaxed),
            overruns: self.overruns.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            callbacks: self.callbacks.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            fault: self.fault(),
        }
    }
}

/// A copy of a device's counters (see [`DeviceCounters`] for what each one counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub underruns: u64,
    pub overruns: u64,
    pub xruns: u64,
    pub callbacks: u64,
    pub samples: u64,
    pub fault: Option<StreamFault>,
}

/// Capture: what the ring holds at most (device samples), as milliseconds.
const CAPTURE_RING_MS: usize = 500;
/// Capture: the media side keeps at most this much resampled audio waiting, then drops
/// the oldest (a stalled media task must not turn into seconds of delay).
const CAPTURE_MAX_BACKLOG: usize = FRAME_SAMPLES * 4;
/// ... and trims it back to this.
const CAPTURE_TRIMMED_BACKLOG: usize = FRAME_SAMPLES * 2;
/// Capture: audio waited for before the first frame is handed out, and again after an
/// underrun: one frame of slack against late deliveries (the sound server's and the
/// scheduler's jitter against the 20 ms tick; 10 ms of slack gave gaps on a loaded machine).
const CAPTURE_PRIME: usize = FRAME_SAMPLES * 2;
/// Playout: ring size, and how much it may hold before new frames are dropped.
const PLAYOUT_RING_MS: usize = 400;
const PLAYOUT_MAX_QUEUED_MS: usize = 200;
/// Playout: audio queued before the callback starts (again, after an underrun) playing.
const PLAYOUT_PRIME_MS: usize = 40;
/// Playout: what was played, waiting for the echo canceller (read every 20 ms; the rest is
/// slack for a media task held up by the scheduler).
const PLAYED_RING_MS: usize = 500;

fn ms_to_samples(rate: u32, ms: usize) -> usize {
    (rate as usize * ms / 1000).max(1)
}

/// A capture path: the callback half and the media half, joined by a ring.
pub fn capture_pair(device_rate: u32, channels: u16) -> (CaptureFeed, CaptureSide) {
    let counters = Arc::new(DeviceCounters::default());
    let capacity = ms_to_samples(device_rate, CAPTURE_RING_MS);
    let (producer, consumer) = RingBuffer::new(capacity);
    let feed = CaptureFeed { producer, channels: channels.max(1) as usize, counters: counters.clone() };
    let side = CaptureSide {
        consumer,
        resampler: resampler(device_rate, SAMPLE_RATE),
        scratch: vec![0; capacity],
        pending: Vec::with_capacity(CAPTURE_MAX_BACKLOG + FRAME_SAMPLES * 26),
        primed: false,
        counters,
        slip: 0,
        window_low: usize::MAX,
        window_frames: 0,
        settled_low: None,
        candidate_low: None,
    };
    (feed, side)
}

/// A playout path: the media half and the callback half, joined by a ring.
pub fn playout_pair(device_rate: u32, channels: u16) -> (PlayoutSide, PlayoutFeed) {
    let counters = Arc::new(DeviceCounters::default());
    let capacity = ms_to_samples(device_rate, PLAYOUT_RING_MS);
    let (producer, consumer) = RingBuffer::new(capacity);
    let (played_tx, played_rx) = RingBuffer::new(ms_to_samples(device_rate, PLAYED_RING_MS));
    let played_dropped = Arc::new(AtomicU64::new(0));
    let side = PlayoutSide {
        producer,
        resampler: resampler(SAMPLE_RATE, device_rate),
        scratch: Vec::with_capacity(ms_to_samples(device_rate, 40) + 64),
        max_queued: ms_to_samples(device_rate, PLAYOUT_MAX_QUEUED_MS),
        counters: counters.clone(),
        played: Some(PlayedStream { consumer: played_rx, rate: device_rate, dropped: played_dropped.clone() }),
    };
    let feed = PlayoutFeed {
        consumer,
        channels: channels.max(1) as usize,
        prime: ms_to_samples(device_rate, PLAYOUT_PRIME_MS),
        playing: false,
        counters,
        played: played_tx,
        played_dropped,
    };
    (side, feed)
}

/// The capture callback's half: interleaved device samples in, mono `i16` into the ring.
pub struct CaptureFeed {
    producer: Producer<i16>,
    channels: usize,
    counters: Arc<DeviceCounters>,
}

impl std::fmt::Debug for CaptureFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFeed").field("channels", &self.channels).finish_non_exhaustive()
    }
}

impl CaptureFeed {
    /// Called from the capture callback: down-mixes to mono and pushes what fits.
    /// Real-time safe: no lock, no allocation, no blocking, no logging.
    pub fn push_interleaved<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let channels = self.channels;
        let frames = data.len() / channels;
        self.counters.callbacks.fetch_add(1, Ordering::Relaxed);
        self.counters.samples.fetch_add(frames as u64, Ordering::Relaxed);
        let n = frames.min(self.producer.slots());
        if n < frames {
            self.counters.overrun();
        }
        if n == 0 {
            return;
        }
        if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
            let scale = 1.0 / channels as f32;
            let mono = data.chunks_exact(channels).map(|f| {
                let sum: f32 = f.iter().map(|s| f32::from_sample(*s)).sum();
                f32_to_i16(sum * scale)
            });
            chunk.fill_from_iter(mono);
        }
    }

    pub fn counters(&self) -> &Arc<DeviceCounters> {
        &self.counters
    }
}

/// The media side of capture: one 48 kHz mono frame per call.
pub struct CaptureSide {
    consumer: Consumer<i16>,
    resampler: Box<dyn Resample>,
    /// Device-rate samples popped from the ring (as long as the ring: never grows).
    scratch: Vec<i16>,
    /// 48 kHz samples waiting to be handed out.
    pending: Vec<i16>,
    primed: bool,
    counters: Arc<DeviceCounters>,
    /// How far the capture timeline slipped, not yet asked for (see [`CaptureSide::take_slip`]).
    slip: i64,
    /// The backlog's lowest level in the current window, the window's length so far, and the
    /// level the timeline is held against (`None` until the first window ends).
    window_low: usize,
    window_frames: usize,
    settled_low: Option<usize>,
    /// The last window's low point, waiting for the next to confirm a step.
    candidate_low: Option<usize>,
}

/// Frames over which the backlog's low point is taken (0.5 s), and how far it must move to
/// count as a slip (10 ms: less is jitter, and the echo canceller's filter absorbs it).
const SLIP_WINDOW_FRAMES: usize = 25;
const SLIP_THRESHOLD: usize = FRAME_SAMPLES / 2;

impl std::fmt::Debug for CaptureSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSide").field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl CaptureSide {
    /// Fills `frame` with the next 20 ms. Returns `false` (and a silent frame) when the
    /// device has not delivered enough yet; that counts as an underrun once audio flows.
    pub fn read_frame(&mut self, frame: &mut Frame) -> bool {
        let (got, _) = self.consumer.pop_partial_slice(&mut self.scratch);
        let got = got.len();
        if got > 0 {
            self.resampler.process(&self.scratch[..got], &mut self.pending);
        }
        if self.pending.len() > CAPTURE_MAX_BACKLOG {
            let excess = self.pending.len() - CAPTURE_TRIMMED_BACKLOG;
            self.pending.drain(..excess);
            self.counters.overrun();
        }
        let needed = if self.primed { FRAME_SAMPLES } else { CAPTURE_PRIME };
        if self.pending.len() < needed {
            frame.fill(0);
            if self.primed {
                self.counters.underrun();
                // Build the slack up again rather than run on empty and gap again.
                self.primed = false;
            }
            return false;
        }
        self.primed = true;
        frame.copy_from_slice(&self.pending[..FRAME_SAMPLES]);
        self.pending.drain(..FRAME_SAMPLES);
        self.follow_backlog();
        true
    }

    /// Watches the backlog's low point for lasting steps: each is the capture timeline
    /// slipping against the clock. Silence handed out while the device was late raises it by
    /// as much (the late audio still comes); captured audio lost — a backlog trimmed here, or
    /// dropped by a sound server whose buffer overflowed, which no API reports — lowers it.
    fn follow_backlog(&mut self) {
        self.window_low = self.window_low.min(self.buffered_samples());
        self.window_frames += 1;
        if self.window_frames < SLIP_WINDOW_FRAMES {
            return;
        }
        let low = std::mem::replace(&mut self.window_low, usize::MAX);
        self.window_frames = 0;
        let Some(settled) = self.settled_low else {
            self.settled_low = Some(low);
            return;
        };
        // A step counts when two windows in a row agree on it: a delivery late once (a
        // low point that comes back) is jitter, not a slip.
        let moved = |level: usize| settled.abs_diff(level) >= SLIP_THRESHOLD;
        match self.candidate_low.replace(low) {
            Some(previous) if moved(previous) && moved(low) && (previous > settled) == (low > settled) => {
                let level = if low > settled { previous.min(low) } else { previous.max(low) };
                self.slip += level as i64 - settled as i64;
                self.settled_low = Some(level);
                self.candidate_low = None;
            }
            _ => {}
        }
    }

    pub fn counters(&self) -> &Arc<DeviceCounters> {
        &self.counters
    }

    /// The capture timeline's slip since last asked, in 48 kHz samples (see
    /// [`crate::AudioSource::take_slip`]): how far the backlog's low point has moved for good.
    pub fn take_slip(&mut self) -> i64 {
        std::mem::take(&mut self.slip)
    }

    /// 48 kHz samples captured but not handed out yet, plus what waits in the ring.
    pub fn buffered_samples(&self) -> usize {
        self.pending.len() + self.consumer.slots() * SAMPLE_RATE as usize / self.resampler.input_rate().max(1) as usize
    }
}

/// The media side of playout: 48 kHz mono frames in, device-rate mono into the ring.
pub struct PlayoutSide {
    producer: Producer<i16>,
    resampler: Box<dyn Resample>,
    scratch: Vec<i16>,
    max_queued: usize,
    counters: Arc<DeviceCounters>,
    /// What the callback played, until the echo canceller takes it.
    played: Option<PlayedStream>,
}

impl std::fmt::Debug for PlayoutSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayoutSide").finish_non_exhaustive()
    }
}

impl PlayoutSide {
    /// Queues one frame for the device. A frame that would push the queue past its bound
    /// (the writer runs ahead of the device) is dropped and counted.
    pub fn write_frame(&mut self, frame: &Frame) {
        self.scratch.clear();
        self.resampler.process(frame, &mut self.scratch);
        let queued = self.producer.buffer().capacity() - self.producer.slots();
        if queued + self.scratch.len() > self.max_queued {
            self.counters.overrun();
            return;
        }
        let (_, rest) = self.producer.push_partial_slice(&self.scratch);
        if !rest.is_empty() {
            self.counters.overrun();
        }
    }

    pub fn counters(&self) -> &Arc<DeviceCounters> {
        &self.counters
    }

    /// Device-rate samples queued for the device.
    pub fn queued_samples(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }

    /// The ring of what the callback actually played (once: it has one reader).
    pub fn take_played(&mut self) -> Option<PlayedStream> {
        self.played.take()
    }
}

/// A speaker without cpal (tests drive its callback half by hand); [`DeviceSink`] is this
/// plus a running stream.
///
/// [`DeviceSink`]: super::DeviceSink
impl AudioSink for PlayoutSide {
    fn write_frame(&mut self, frame: &Frame) {
        PlayoutSide::write_frame(self, frame);
    }
    fn tap_played(&mut self, tap: &PlayedTap) -> bool {
        self.take_played().is_some_and(|played| tap.send(played))
    }
}

/// The echo canceller's end of what a playout callback played: mono `i16` at the device's
/// rate, in the order the sound card got it.
pub struct PlayedStream {
    pub(crate) consumer: Consumer<i16>,
    pub(crate) rate: u32,
    /// Samples the callback could not hand over because nobody read them (the ring was full).
    pub(crate) dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for PlayedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayedStream").field("rate", &self.rate).finish_non_exhaustive()
    }
}

impl PlayedStream {
    /// The device's sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }
    /// Played samples the reader was too slow to take (dropped in the callback).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The playout callback's half: mono `i16` from the ring, up-mixed into the device buffer.
pub struct PlayoutFeed {
    consumer: Consumer<i16>,
    channels: usize,
    /// Samples to have queued before (re)starting after silence.
    prime: usize,
    playing: bool,
    counters: Arc<DeviceCounters>,
    /// The echo canceller's reference: every sample written to the device, as mono `i16`.
    played: Producer<i16>,
    played_dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for PlayoutFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayoutFeed").field("channels", &self.channels).field("playing", &self.playing).finish_non_exhaustive()
    }
}

impl PlayoutFeed {
    /// Called from the playout callback: fills `data` (interleaved) from the ring, silence
    /// where the ring ran dry, and copies what it wrote (mono) into the played ring.
    ///
    /// Real-time safe: no lock, no allocation, no blocking, no logging. Both rings were
    /// allocated when the stream was made; rtrb's push and pop are wait-free index updates
    /// and copies; a full played ring (nobody reading it) drops the rest of this callback's
    /// samples and counts them in an atomic.
    pub fn fill_interleaved<T>(&mut self, data: &mut [T])
    where
        T: Sample + FromSample<i16>,
    {
        let channels = self.channels;
        let frames = data.len() / channels;
        self.counters.callbacks.fetch_add(1, Ordering::Relaxed);
        self.counters.samples.fetch_add(frames as u64, Ordering::Relaxed);
        let available = self.consumer.slots();
        if !self.playing {
            if available < self.prime.min(self.consumer.buffer().capacity()) {
                data.fill(T::EQUILIBRIUM);
                self.played_silence(frames);
                return;
            }
            self.playing = true;
        }
        let n = frames.min(available);
        let mut out = data.chunks_exact_mut(channels);
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            for (s, f) in a.iter().chain(b.iter()).zip(&mut out) {
                f.fill(T::from_sample(*s));
            }
            for part in [a, b] {
                let (_, rest) = self.played.push_partial_slice(part);
                if !rest.is_empty() {
                    self.played_dropped.fetch_add(rest.len() as u64, Ordering::Relaxed);
                }
            }
            chunk.commit_all();
        }
        if n < frames {
            for f in out {
                f.fill(T::EQUILIBRIUM);
            }
            self.played_silence(frames - n);
            // Ran dry: wait for a little queue again before playing, so one late frame does
            // not turn into a stutter of many tiny gaps.
            self.playing = false;
            self.counters.underrun();
        }
    }

    /// The played ring gets `n` samples of silence (what the device just got).
    fn played_silence(&mut self, n: usize) {
        let fits = n.min(self.played.slots());
        if let Ok(chunk) = self.played.write_chunk_uninit(fits) {
            chunk.fill_from_iter(std::iter::repeat(0));
        }
        if fits < n {
            self.played_dropped.fetch_add((n - fits) as u64, Ordering::Relaxed);
        }
    }

    pub fn counters(&self) -> &Arc<DeviceCounters> {
        &self.counters
    }
}

fn f32_to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{goertzel_power, mean_power};

    fn tone_frames(rate: u32, channels: usize, ms: usize, freq: f64, start: &mut u64) -> Vec<f32> {
        let n = rate as usize * ms / 1000;
        let mut out = Vec::with_capacity(n * channels);
        for _ in 0..n {
            let v = (2.0 * std::f64::consts::PI * freq * *start as f64 / rate as f64).sin() as f32 * 0.5;
            *start += 1;
            for _ in 0..channels {
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn capture_downmixes_resamples_and_frames() {
        // A 44.1 kHz stereo device delivering 10 ms chunks; the media side reads every 20 ms.
        let (mut feed, mut side) = capture_pair(44_100, 2);
        let mut t = 0;
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut got = Vec::new();
        for _ in 0..100 {
            feed.push_interleaved(&tone_frames(44_100, 2, 10, 1000.0, &mut t));
            feed.push_interleaved(&tone_frames(44_100, 2, 10, 1000.0, &mut t));
            if side.read_frame(&mut frame) {
                got.extend_from_slice(&frame);
            }
        }
        assert!(got.len() >= FRAME_SAMPLES * 95, "frames handed out: {}", got.len() / FRAME_SAMPLES);
        let tail = &got[FRAME_SAMPLES * 10..];
        let p = goertzel_power(tail, SAMPLE_RATE, 1000.0);
        assert!(p > 0.9 * mean_power(tail), "the tone is not clean after resampling");
        // 0.5 amplitude → power 0.125.
        assert!((p - 0.125).abs() < 0.02, "level {p}");
        assert_eq!(side.counters().snapshot().underruns, 0);
        assert_eq!(side.counters().snapshot().overruns, 0);
    }

    #[test]
    fn capture_counts_underruns_once_audio_flows_and_bounds_backlog() {
        let (mut feed, mut side) = capture_pair(48_000, 1);
        let mut frame = [0i16; FRAME_SAMPLES];
        // Nothing captured yet: silence, not an underrun.
        assert!(!side.read_frame(&mut frame));
        assert_eq!(side.counters().snapshot().underruns, 0);
        let mut t = 0;
        feed.push_interleaved(&tone_frames(48_000, 1, 30, 1000.0, &mut t));
        assert!(!side.read_frame(&mut frame), "30 ms is below the 40 ms prime");
        feed.push_interleaved(&tone_frames(48_000, 1, 10, 1000.0, &mut t));
        assert!(side.read_frame(&mut frame));
        assert!(side.read_frame(&mut frame));
        assert!(!side.read_frame(&mut frame), "all 40 ms were handed out");
        assert_eq!(side.counters().snapshot().underruns, 1);
        // After an underrun the slack is built up again before frames flow.
        feed.push_interleaved(&tone_frames(48_000, 1, 20, 1000.0, &mut t));
        assert!(!side.read_frame(&mut frame));
        assert_eq!(side.counters().snapshot().underruns, 1, "waiting for the prime is not another underrun");
        // A stalled reader: 300 ms arrive at once; the backlog is trimmed to 40 ms.
        for _ in 0..30 {
            feed.push_interleaved(&tone_frames(48_000, 1, 10, 1000.0, &mut t));
        }
        assert!(side.read_frame(&mut frame));
        assert!(side.buffered_samples() <= CAPTURE_TRIMMED_BACKLOG);
        assert_eq!(side.counters().snapshot().overruns, 1);
    }

    #[test]
    fn capture_slips_are_found_in_the_backlog_lost_audio_and_late_audio_alike() {
        let (mut feed, mut side) = capture_pair(48_000, 1);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut t = 0;
        let mut tick = |feed: &mut CaptureFeed, side: &mut CaptureSide, ms: usize| {
            if ms > 0 {
                feed.push_interleaved(&tone_frames(48_000, 1, ms, 1000.0, &mut t));
            }
            side.read_frame(&mut frame);
        };
        for _ in 0..60 {
            tick(&mut feed, &mut side, 20);
        }
        assert_eq!(side.take_slip(), 0, "steady");
        // 20 ms the sound server dropped: the backlog is 20 ms lower from then on.
        tick(&mut feed, &mut side, 0);
        for _ in 0..60 {
            tick(&mut feed, &mut side, 20);
        }
        assert_eq!(side.take_slip(), -(FRAME_SAMPLES as i64));
        // 20 ms late (an underrun: silence handed out), then delivered: 20 ms more backlog.
        tick(&mut feed, &mut side, 0);
        tick(&mut feed, &mut side, 40);
        for _ in 0..60 {
            tick(&mut feed, &mut side, 20);
        }
        assert_eq!(side.counters().snapshot().underruns, 1);
        assert_eq!(side.take_slip(), FRAME_SAMPLES as i64);
        // Jitter (a delivery 5 ms late now and then) is no slip.
        for i in 0..100 {
            tick(&mut feed, &mut side, if i % 7 == 0 { 15 } else if i % 7 == 1 { 25 } else { 20 });
        }
        assert_eq!(side.take_slip(), 0);
        // Nor is one delivery 20 ms late without an underrun (the backlog dips, then is back).
        tick(&mut feed, &mut side, 0);
        for i in 0..100 {
            tick(&mut feed, &mut side, if i == 0 { 40 } else { 20 });
        }
        assert_eq!(side.counters().snapshot().underruns, 1);
        assert_eq!(side.take_slip(), 0);
    }

    #[test]
    fn capture_ring_overflow_is_counted_not_blocking() {
        let (mut feed, _side) = capture_pair(48_000, 1);
        let mut t = 0;
        let chunk = tone_frames(48_000, 1, 100, 1000.0, &mut t);
        for _ in 0..6 {
            feed.push_interleaved(&chunk);
        }
        let stats = feed.counters().snapshot();
        assert_eq!(stats.overruns, 1, "the sixth 100 ms chunk does not fit a 500 ms ring");
        assert_eq!(stats.callbacks, 6);
    }

    #[test]
    fn playout_primes_upmixes_and_counts_underruns() {
        let (mut side, mut feed) = playout_pair(48_000, 2);
        let mut out = vec![1.0f32; 480 * 2];
        // Nothing queued: silence, no underrun (not started).
        feed.fill_interleaved(&mut out);
        assert!(out.iter().all(|s| *s == 0.0));
        assert_eq!(feed.counters().snapshot().underruns, 0);
        let mut frame = [0i16; FRAME_SAMPLES];
        frame.iter_mut().enumerate().for_each(|(i, s)| *s = (i as i16) * 10);
        side.write_frame(&frame);
        feed.fill_interleaved(&mut out);
        assert!(out.iter().all(|s| *s == 0.0), "20 ms queued is below the 40 ms prime");
        side.write_frame(&frame);
        feed.fill_interleaved(&mut out);
        // Both channels carry the same sample.
        assert_eq!(out[2], out[3]);
        assert!((out[2] - 10.0 / 32768.0).abs() < 1e-6);
        // 30 ms left; 3 more callbacks of 10 ms drain it, the 4th underruns.
        for _ in 0..3 {
            feed.fill_interleaved(&mut out);
        }
        assert_eq!(feed.counters().snapshot().underruns, 0);
        feed.fill_interleaved(&mut out);
        assert_eq!(feed.counters().snapshot().underruns, 1);
    }

    #[test]
    fn the_played_ring_holds_what_the_callback_wrote_silences_included() {
        let (mut side, mut feed) = playout_pair(48_000, 2);
        let mut played = side.take_played().unwrap();
        assert!(side.take_played().is_none(), "one reader");
        let mut out = vec![0i16; 480 * 2];
        let mut heard = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        frame.iter_mut().enumerate().for_each(|(i, s)| *s = i as i16 + 1);
        // Not primed (silence), primed and playing, then dry (underrun: the rest is silence).
        feed.fill_interleaved(&mut out);
        heard.extend(out.iter().step_by(2));
        side.write_frame(&frame);
        side.write_frame(&frame);
        for _ in 0..5 {
            feed.fill_interleaved(&mut out);
            heard.extend(out.iter().step_by(2));
        }
        let mut tapped = vec![0i16; 480 * 6];
        let (got, _) = played.consumer.pop_partial_slice(&mut tapped);
        assert_eq!(got.len(), heard.len(), "every sample the device got, in order");
        assert_eq!(got, &heard[..]);
        assert_eq!(&got[480..480 + FRAME_SAMPLES], &frame[..]);
        assert!(got[480 * 5..].iter().all(|&s| s == 0));
        assert_eq!(played.dropped(), 0);
        // Nobody reads: the ring fills (500 ms), the callback drops and counts, never blocks.
        for _ in 0..60 {
            feed.fill_interleaved(&mut out);
        }
        assert_eq!(played.dropped(), 480 * 10);
    }

    #[test]
    fn playout_resamples_to_the_device_rate_and_drops_when_ahead() {
        let (mut side, mut feed) = playout_pair(44_100, 1);
        let mut src = crate::frame::ToneSource::new(&[1000.0], 0.5);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut heard = Vec::new();
        let mut out = vec![0i16; 441];
        for _ in 0..100 {
            crate::AudioSource::read_frame(&mut src, &mut frame);
            side.write_frame(&frame);
            feed.fill_interleaved(&mut out);
            heard.extend_from_slice(&out);
            feed.fill_interleaved(&mut out);
            heard.extend_from_slice(&out);
        }
        let tail = &heard[44_100 / 2..];
        let p = goertzel_power(tail, 44_100, 1000.0);
        assert!(p > 0.9 * mean_power(tail) && (p - 0.125).abs() < 0.02, "tone power {p}");
        assert_eq!(feed.counters().snapshot().underruns, 0);
        // The writer runs ahead (no callbacks): the queue stops at its bound.
        for _ in 0..50 {
            side.write_frame(&frame);
        }
        assert!(side.queued_samples() <= ms_to_samples(44_100, PLAYOUT_MAX_QUEUED_MS));
        assert!(side.counters().snapshot().overruns > 0);
    }

    #[test]
    fn cpal_errors_become_faults_without_logging() {
        let c = DeviceCounters::default();
        c.note_error(cpal::ErrorKind::Xrun);
        assert_eq!(c.snapshot().xruns, 1);
        assert_eq!(c.fault(), None);
        c.note_error(cpal::ErrorKind::BackendError);
        assert_eq!(c.fault(), Some(StreamFault::Other));
        c.note_error(cpal::ErrorKind::DeviceNotAvailable);
        assert_eq!(c.fault(), Some(StreamFault::DeviceLost));
    }
}
