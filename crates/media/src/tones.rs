//! Call progress tones: the ringtone of an incoming call (a WAV file, or a generated ring)
//! and the ringback tone of an outgoing call while the far end rings, and a player that
//! plays one of them on a device until told to stop.
//!
//! The tones are generated on the player's own thread, 20 ms at a time, and written to a
//! device stream whose callback only drains its lock-free ring (see `device::ring`): nothing
//! here runs in an audio callback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::device::{DeviceChange, DeviceError, DevicePreference, FollowingSink};
use crate::frame::{AudioSink, AudioSource, Frame, SourceState, FRAME_SAMPLES, SAMPLE_RATE};

/// On/off steps of a cadence, in milliseconds, repeated for as long as the tone plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence(pub &'static [(u32, bool)]);

impl Cadence {
    /// Always on.
    pub const STEADY: Cadence = Cadence(&[(1000, true)]);
    /// ETSI ringback (ETS 300 512, most of Europe): 1 s on, 4 s off.
    pub const EUROPE_RINGBACK: Cadence = Cadence(&[(1000, true), (4000, false)]);
    /// North American ringback: 2 s on, 4 s off.
    pub const NORTH_AMERICA_RINGBACK: Cadence = Cadence(&[(2000, true), (4000, false)]);
    /// A double ring (0.4 s, 0.2 s pause, 0.4 s, then 2 s quiet): the generated ringtone.
    pub const DOUBLE_RING: Cadence = Cadence(&[(400, true), (200, false), (400, true), (2000, false)]);

    /// One period's length in milliseconds.
    pub fn period_ms(&self) -> u32 {
        self.0.iter().map(|(ms, _)| ms).sum()
    }

    /// Whether the tone sounds `ms` milliseconds into a period.
    pub fn on_at(&self, ms: u32) -> bool {
        let mut t = ms % self.period_ms().max(1);
        for (len, on) in self.0 {
            if t < *len {
                return *on;
            }
            t -= len;
        }
        false
    }
}

/// The frequencies of the generated ringtone (Hz): an interval no network tone uses, so
/// it is never mistaken for ringback.
pub const RINGTONE_HZ: [f32; 2] = [660.0, 880.0];
/// The European ringback frequency (Hz).
pub const RINGBACK_HZ: f32 = 425.0;
/// The North American ringback frequencies (Hz).
pub const NORTH_AMERICA_RINGBACK_HZ: [f32; 2] = [440.0, 480.0];

/// Edges are shaped over this many samples (5 ms) so on and off make no click.
const RAMP: usize = (SAMPLE_RATE as usize) / 200;

/// A sum of up to two sines switched by a cadence, with soft edges. An [`AudioSource`].
#[derive(Debug, Clone)]
pub struct CadencedTone {
    /// Per-sample phase increments (radians) and phases.
    steps: [f64; 2],
    phases: [f64; 2],
    count: usize,
    /// Peak of the sum (full scale = 32767).
    peak: f32,
    cadence: Cadence,
    /// Samples into the current period.
    pos: usize,
    period: usize,
    /// 0..=RAMP: how far the gain is up.
    gain: usize,
}

impl CadencedTone {
    /// `freqs` (one or two, Hz) summed at total peak `amplitude` (0..1 of full scale).
    pub fn new(freqs: &[f32], amplitude: f32, cadence: Cadence) -> Self {
        let mut steps = [0.0; 2];
        let count = freqs.len().clamp(1, 2);
        for (s, f) in steps.iter_mut().zip(freqs) {
            *s = 2.0 * std::f64::consts::PI * f64::from(*f) / f64::from(SAMPLE_RATE);
        }
        let period = (cadence.period_ms() as usize * SAMPLE_RATE as usize / 1000).max(1);
        Self {
            steps,
            phases: [0.0; 2],
            count,
            peak: amplitude.clamp(0.0, 1.0) * 32767.0,
            cadence,
            pos: 0,
            period,
            gain: 0,
        }
    }

    /// The generated ringtone: 660 + 880 Hz in a double ring, at half full scale.
    pub fn ringtone() -> Self {
        Self::new(&RINGTONE_HZ, 0.5, Cadence::DOUBLE_RING)
    }

    /// Ringback as most of Europe plays it: 425 Hz, 1 s on, 4 s off (about −12 dBFS).
    pub fn ringback() -> Self {
        Self::new(&[RINGBACK_HZ], 0.25, Cadence::EUROPE_RINGBACK)
    }

    /// Ringback as North America plays it: 440 + 480 Hz, 2 s on, 4 s off.
    pub fn ringback_north_america() -> Self {
        Self::new(&NORTH_AMERICA_RINGBACK_HZ, 0.25, Cadence::NORTH_AMERICA_RINGBACK)
    }

    fn on_at_sample(&self, pos: usize) -> bool {
        self.cadence.on_at((pos * 1000 / SAMPLE_RATE as usize) as u32)
    }
}

impl AudioSource for CadencedTone {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let tau = 2.0 * std::f64::consts::PI;
        for s in frame.iter_mut() {
            // The gain ramps down ahead of an off step so it is at 0 when the step begins.
            let on_soon = self.on_at_sample(self.pos) && self.on_at_sample((self.pos + RAMP) % self.period);
            if on_soon {
                self.gain = (self.gain + 1).min(RAMP);
            } else {
                self.gain = self.gain.saturating_sub(1);
            }
            let mut v = 0.0;
            for k in 0..self.count {
                v += self.phases[k].sin();
                self.phases[k] = (self.phases[k] + self.steps[k]) % tau;
            }
            let g = self.gain as f32 / RAMP as f32;
            *s = (v as f32 / self.count as f32 * self.peak * g) as i16;
            self.pos = (self.pos + 1) % self.period;
        }
        SourceState::Audio
    }
}

/// A source played by a [`TonePlayer`].
pub type ToneSource = Box<dyn AudioSource + Send>;

/// Frames written ahead of the device's clock at the start (its ring starts playing at 40 ms).
const LEAD_FRAMES: u32 = 3;

/// Plays a tone on a device (followed through hot-plug, like a call's speaker) on a thread
/// of its own, until [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct TonePlayer {
    stop: Arc<AtomicBool>,
}

impl TonePlayer {
    /// Starts the thread: it opens the device `preference` picks (waiting on the sound
    /// server), tells `on_open` which device plays (or why none does), then plays `source`
    /// on a 20 ms clock. `on_change` hears of hot-plug moves.
    pub fn start(
        source: ToneSource,
        preference: DevicePreference,
        on_open: impl FnOnce(Result<String, DeviceError>) + Send + 'static,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("homeline-tone".into())
            .spawn(move || play(source, &preference, &stopped, on_open, on_change))
            .map_err(|e| DeviceError::Thread(e.to_string()))?;
        Ok(Self { stop })
    }

    /// Stops at the next 20 ms frame (the device closes on the player's thread).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl Drop for TonePlayer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn play(
    mut source: ToneSource,
    preference: &DevicePreference,
    stop: &AtomicBool,
    on_open: impl FnOnce(Result<String, DeviceError>),
    on_change: impl Fn(DeviceChange) + Send + 'static,
) {
    let mut sink = match FollowingSink::follow(preference, on_change) {
        Ok(sink) => sink,
        Err(e) => {
            on_open(Err(e));
            return;
        }
    };
    if stop.load(Ordering::Relaxed) {
        return;
    }
    on_open(Ok(sink.id().to_owned()));
    let mut frame: Frame = [0; FRAME_SAMPLES];
    let mut clock = crate::frame::FrameClock::start();
    for _ in 0..LEAD_FRAMES {
        source.read_frame(&mut frame);
        sink.write_frame(&frame);
    }
    while !stop.load(Ordering::Relaxed) {
        clock.wait();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        source.read_frame(&mut frame);
        sink.write_frame(&frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{goertzel_power, mean_power};
    use std::time::Duration;

    fn render(tone: &mut CadencedTone, ms: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut frame = [0; FRAME_SAMPLES];
        for _ in 0..ms / 20 {
            tone.read_frame(&mut frame);
            out.extend_from_slice(&frame);
        }
        out
    }

    fn at(samples: &[i16], from_ms: usize, to_ms: usize) -> &[i16] {
        &samples[from_ms * 48..to_ms * 48]
    }

    #[test]
    fn cadences_switch_where_they_say() {
        let c = Cadence::EUROPE_RINGBACK;
        assert_eq!(c.period_ms(), 5000);
        assert!(c.on_at(0) && c.on_at(999) && !c.on_at(1000) && !c.on_at(4999) && c.on_at(5000));
        let d = Cadence::DOUBLE_RING;
        assert!(d.on_at(100) && !d.on_at(500) && d.on_at(700) && !d.on_at(1500));
    }

    #[test]
    fn ringback_is_425_hz_one_second_in_five() {
        let mut tone = CadencedTone::ringback();
        let s = render(&mut tone, 10_000);
        for period in [0, 5000] {
            let on = at(&s, period + 50, period + 950);
            let p = goertzel_power(on, SAMPLE_RATE, RINGBACK_HZ);
            assert!(p > 0.95 * mean_power(on), "pure 425 Hz");
            // Amplitude 0.25 → power 0.25² / 2.
            assert!((p - 0.03125).abs() < 0.003, "level {p}");
            assert_eq!(mean_power(at(&s, period + 1010, period + 4990)), 0.0, "silent between rings");
        }
    }

    #[test]
    fn the_generated_ringtone_is_two_tones_in_a_double_ring() {
        let mut tone = CadencedTone::ringtone();
        let s = render(&mut tone, 6000);
        for start in [0, 600, 3000, 3600] {
            let on = at(&s, start + 20, start + 380);
            let p: f64 = RINGTONE_HZ.iter().map(|f| goertzel_power(on, SAMPLE_RATE, *f)).sum();
            assert!(p > 0.95 * mean_power(on), "only the two tones at {start} ms");
            for f in RINGTONE_HZ {
                assert!(goertzel_power(on, SAMPLE_RATE, f) > 0.02, "{f} Hz sounds at {start} ms");
            }
            assert!(goertzel_power(on, SAMPLE_RATE, RINGBACK_HZ) < 1e-4, "nothing near ringback");
        }
        assert_eq!(mean_power(at(&s, 405, 595)), 0.0);
        assert_eq!(mean_power(at(&s, 1005, 2995)), 0.0);
    }

    #[test]
    fn edges_are_soft() {
        // No sample-to-sample jump bigger than a sine's own slope allows (no click).
        let mut tone = CadencedTone::ringtone();
        let s = render(&mut tone, 3000);
        let max_slope = 0.5 * 32767.0 * 2.0 * std::f64::consts::PI * 880.0 / 48_000.0;
        let worst = s.windows(2).map(|w| (f64::from(w[1]) - f64::from(w[0])).abs()).fold(0.0, f64::max);
        assert!(worst <= max_slope * 1.05, "jump {worst} > {max_slope}");
        assert_eq!(s[0], 0, "starts from silence");
    }

    #[test]
    fn north_american_ringback_sums_two_tones() {
        let mut tone = CadencedTone::ringback_north_america();
        let s = render(&mut tone, 6000);
        let on = at(&s, 100, 1900);
        for f in NORTH_AMERICA_RINGBACK_HZ {
            assert!(goertzel_power(on, SAMPLE_RATE, f) > 0.006, "{f} Hz");
        }
        assert_eq!(mean_power(at(&s, 2010, 5990)), 0.0);
    }

    #[test]
    fn a_player_without_a_sound_system_says_why_and_never_panics() {
        let (tx, rx) = std::sync::mpsc::channel();
        let pref = DevicePreference::fixed(Some("alsa:homeline-no-such-ringer"));
        let player = TonePlayer::start(Box::new(CadencedTone::ringtone()), pref, move |r| { let _ = tx.send(r); }, |_| {});
        let player = player.unwrap();
        // Either some default output plays, or none exists: both are said, neither panics.
        let opened = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if let Ok(id) = &opened {
            assert_ne!(id, "alsa:homeline-no-such-ringer");
        }
        player.stop();
        assert!(player.is_stopped());
    }
}
