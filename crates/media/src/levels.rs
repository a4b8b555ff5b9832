//! Level meters (RMS and peak in dBFS, 20 per second) and the "you are muted but
//! speaking" detector: pure functions and small state machines, fed with 20 ms frames on the
//! media side (never in an audio callback).
//!
//! [`LevelMeter::push`] takes every frame and returns a [`Level`] every 50 ms (20/s), so the
//! engine can publish `AudioLevels` events at that pace. [`MutedSpeechDetector`] says once
//! when someone talks into a muted microphone for a while.

use crate::frame::{Frame, FRAME_SAMPLES};

/// Level of silence (digital zero) in dBFS: a floor instead of −∞.
pub const FLOOR_DBFS: f32 = -100.0;

/// One meter reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Root mean square, dBFS (a full-scale sine is −3 dBFS).
    pub rms_dbfs: f32,
    /// Largest absolute sample, dBFS.
    pub peak_dbfs: f32,
}

/// RMS and peak of `samples` in dBFS.
pub fn level(samples: &[i16]) -> Level {
    let (sum, peak) = samples.iter().fold((0.0f64, 0i32), |(s, p), &x| {
        (s + (x as f64).powi(2), p.max((x as i32).abs()))
    });
    let ms = sum / samples.len().max(1) as f64;
    Level {
        rms_dbfs: to_dbfs(ms.sqrt()),
        peak_dbfs: to_dbfs(peak as f64),
    }
}

fn to_dbfs(amplitude: f64) -> f32 {
    if amplitude <= 0.0 {
        return FLOOR_DBFS;
    }
    ((20.0 * (amplitude / 32768.0).log10()) as f32).max(FLOOR_DBFS)
}

/// Samples per reading: 50 ms at 48 kHz (20 readings per second).
const READING_SAMPLES: usize = 2400;

/// Collects frames and gives a reading every 50 ms.
#[derive(Debug, Default)]
pub struct LevelMeter {
    sum: f64,
    peak: i32,
    /// Samples counted towards the next reading (with the carry from the last one).
    n: usize,
    frames: usize,
}

impl LevelMeter {
    /// Feeds one 20 ms frame; returns a reading when 50 ms are due (readings alternate over
    /// 60 and 40 ms of frames: 20 per second on average).
    pub fn push(&mut self, frame: &Frame) -> Option<Level> {
        for &x in frame.iter() {
            self.sum += (x as f64).powi(2);
            self.peak = self.peak.max((x as i32).abs());
        }
        self.n += FRAME_SAMPLES;
        self.frames += 1;
        if self.n < READING_SAMPLES {
            return None;
        }
        let reading = Level {
            rms_dbfs: to_dbfs((self.sum / (self.frames * FRAME_SAMPLES) as f64).sqrt()),
            peak_dbfs: to_dbfs(self.peak as f64),
        };
        // Carry the remainder so readings average exactly 50 ms apart.
        *self = Self {
            n: self.n - READING_SAMPLES,
            ..Self::default()
        };
        Some(reading)
    }
}

/// Above this RMS a frame counts as speech (quiet speech into a headset is about −40 dBFS,
/// room noise −60 or lower).
pub const SPEECH_DBFS: f32 = -45.0;
/// How much of the last second must be speech: a cough or a click does not count.
const SPEECH_FRAMES_IN_WINDOW: u32 = 30;
const WINDOW_FRAMES: usize = 50;

/// Says once when someone speaks into a muted microphone (≥ 0.6 s of speech within a
/// second); again only after unmuting and muting.
#[derive(Debug)]
pub struct MutedSpeechDetector {
    window: [bool; WINDOW_FRAMES],
    pos: usize,
    speech: u32,
    told: bool,
}

impl Default for MutedSpeechDetector {
    fn default() -> Self {
        Self {
            window: [false; WINDOW_FRAMES],
            pos: 0,
            speech: 0,
            told: false,
        }
    }
}

impl MutedSpeechDetector {
    /// Feeds the microphone's frame (before mute silences it). Returns true once per muted
    /// stretch, when the user has been talking.
    pub fn push(&mut self, mic: &Frame, muted: bool) -> bool {
        if !muted {
            *self = Self::default();
            return false;
        }
        let is_speech = level(mic).rms_dbfs > SPEECH_DBFS;
        if self.window[self.pos] {
            self.speech -= 1;
        }
        self.window[self.pos] = is_speech;
        if is_speech {
            self.speech += 1;
        }
        self.pos = (self.pos + 1) % WINDOW_FRAMES;
        if !self.told && self.speech >= SPEECH_FRAMES_IN_WINDOW {
            self.told = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{AudioSource, ToneSource};

    #[test]
    fn a_full_scale_sine_reads_minus_3_dbfs_rms_and_0_peak() {
        let mut f = [0i16; FRAME_SAMPLES];
        ToneSource::new(&[1000.0], 1.0).read_frame(&mut f);
        let l = level(&f);
        assert!((l.rms_dbfs + 3.01).abs() < 0.1, "{l:?}");
        assert!(l.peak_dbfs.abs() < 0.01, "{l:?}");
        let half = level(&f.map(|x| x / 10));
        assert!((half.rms_dbfs + 23.0).abs() < 0.1, "{half:?}");
        assert_eq!(level(&[0; 960]).rms_dbfs, FLOOR_DBFS);
    }

    #[test]
    fn the_meter_gives_twenty_readings_a_second() {
        let mut m = LevelMeter::default();
        let mut f = [0i16; FRAME_SAMPLES];
        let mut tone = ToneSource::new(&[440.0], 0.5);
        let mut readings = Vec::new();
        for _ in 0..500 {
            tone.read_frame(&mut f);
            readings.extend(m.push(&f));
        }
        // 10 s → 200 readings (50 ms each, as 40/60 ms pairs).
        assert!((195..=205).contains(&readings.len()), "{}", readings.len());
        assert!(
            readings.iter().all(|l| (l.rms_dbfs + 9.03).abs() < 0.2),
            "{:?}",
            readings[0]
        );
    }

    #[test]
    fn speaking_while_muted_is_told_once_and_noise_or_a_click_is_not() {
        let mut d = MutedSpeechDetector::default();
        let mut f = [0i16; FRAME_SAMPLES];
        let mut voice = ToneSource::new(&[200.0, 700.0], 0.1); // about −26 dBFS
        let quiet = [20i16; FRAME_SAMPLES]; // about −64 dBFS: room noise
                                            // Noise for 2 s and one loud frame: nothing.
        for i in 0..100 {
            voice.read_frame(&mut f);
            let frame = if i == 50 { &f } else { &quiet };
            assert!(!d.push(frame, true));
        }
        // Talking while muted: told after 30 frames (0.6 s), and only once.
        let mut told = Vec::new();
        for i in 0..200 {
            voice.read_frame(&mut f);
            if d.push(&f, true) {
                told.push(i);
            }
        }
        assert_eq!(told, vec![29]);
        // Talking unmuted: nothing; muted again and talking: told again.
        assert!(!d.push(&f, false));
        let again = (0..40).filter(|_| d.push(&f, true)).count();
        assert_eq!(again, 1);
    }
}
