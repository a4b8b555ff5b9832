//! Sample-rate conversion behind one small interface, so it can be swapped (issue 5 brings
//! rubato, which also follows clock drift).
//!
//! The implementation here is a streaming windowed-sinc polyphase resampler for any rational
//! ratio: exact for 8/16/44.1/48 kHz conversions, with a low-pass at 0.9 × the lower Nyquist
//! so downsampling to 8 kHz for G.711 does not alias. It keeps state between calls, so a
//! stream cut into frames of any size resamples without clicks at the frame edges.

/// A streaming resampler of mono `i16`.
pub trait Resample: Send {
    /// Consumes `input` and appends every output sample that is complete to `out`.
    fn process(&mut self, input: &[i16], out: &mut Vec<i16>);
    fn input_rate(&self) -> u32;
    fn output_rate(&self) -> u32;
}

/// The resampler the audio path uses between `from` and `to` Hz. One place to swap it.
pub fn resampler(from: u32, to: u32) -> Box<dyn Resample> {
    if from == to {
        Box::new(Passthrough(from))
    } else {
        Box::new(SincResampler::new(from, to))
    }
}

/// Resamples a whole buffer at once (files).
pub fn resample_all(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    let mut r = resampler(from, to);
    let mut out = Vec::with_capacity(input.len() * to as usize / from.max(1) as usize + 64);
    r.process(input, &mut out);
    // Flush the filter's look-ahead with silence, then trim to the exact length.
    let flush = vec![0i16; 64 * (from / to.max(1) + 1) as usize];
    r.process(&flush, &mut out);
    let want = (input.len() as u64 * to as u64 / from.max(1) as u64) as usize;
    out.truncate(want);
    out
}

#[derive(Debug)]
struct Passthrough(u32);

impl Resample for Passthrough {
    fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        out.extend_from_slice(input);
    }
    fn input_rate(&self) -> u32 {
        self.0
    }
    fn output_rate(&self) -> u32 {
        self.0
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Zero crossings of the sinc kept on each side of the centre.
const ZERO_CROSSINGS: f64 = 8.0;

/// Streaming polyphase windowed-sinc resampler.
#[derive(Debug)]
pub struct SincResampler {
    from: u32,
    to: u32,
    /// Output step in input samples is `m / l`.
    l: u64,
    m: u64,
    /// Taps per phase (2 × half width).
    taps: usize,
    half: i64,
    /// `l` rows of `taps` coefficients.
    table: Vec<f32>,
    /// Input samples with absolute indices `base .. base + buf.len()`.
    buf: Vec<f32>,
    base: i64,
    /// Index of the next output sample.
    n: u64,
}

impl SincResampler {
    pub fn new(from: u32, to: u32) -> Self {
        let g = gcd(from, to).max(1);
        let l = (to / g) as u64;
        let m = (from / g) as u64;
        // Cut-off relative to the input Nyquist.
        let c = if to < from {
            0.9 * to as f64 / from as f64
        } else {
            0.9
        };
        let half_width = ZERO_CROSSINGS / c;
        let half = half_width.ceil() as i64;
        let taps = (2 * half) as usize;
        let mut table = vec![0f32; l as usize * taps];
        for phase in 0..l as usize {
            let frac = phase as f64 / l as f64;
            let mut sum = 0.0f64;
            for k in 0..taps {
                let tau = frac + (half - 1) as f64 - k as f64;
                let v = if tau.abs() >= half_width {
                    0.0
                } else {
                    let x = c * tau;
                    let sinc = if x.abs() < 1e-12 {
                        1.0
                    } else {
                        (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                    };
                    // Blackman window over [-half_width, half_width].
                    let w = 0.42
                        + 0.5 * (std::f64::consts::PI * tau / half_width).cos()
                        + 0.08 * (2.0 * std::f64::consts::PI * tau / half_width).cos();
                    c * sinc * w
                };
                table[phase * taps + k] = v as f32;
                sum += v;
            }
            // Normalise each phase to unity DC gain.
            if sum.abs() > 1e-9 {
                for k in 0..taps {
                    table[phase * taps + k] /= sum as f32;
                }
            }
        }
        Self {
            from,
            to,
            l,
            m,
            taps,
            half,
            table,
            buf: vec![0.0; half as usize],
            base: -half,
            n: 0,
        }
    }
}

impl Resample for SincResampler {
    fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        self.buf.extend(input.iter().map(|&s| s as f32));
        let end = self.base + self.buf.len() as i64;
        loop {
            let p = self.n * self.m;
            let i = (p / self.l) as i64;
            let phase = (p % self.l) as usize;
            if i + self.half >= end {
                break;
            }
            let start = (i - self.half + 1 - self.base) as usize;
            let coeffs = &self.table[phase * self.taps..(phase + 1) * self.taps];
            let window = &self.buf[start..start + self.taps];
            let acc: f32 = window.iter().zip(coeffs).map(|(x, h)| x * h).sum();
            out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
            self.n += 1;
        }
        // Drop input no future output needs.
        let p = self.n * self.m;
        let next_i = (p / self.l) as i64;
        let keep_from = next_i - self.half + 1;
        if keep_from > self.base {
            let drop = ((keep_from - self.base) as usize).min(self.buf.len());
            self.buf.drain(..drop);
            self.base += drop as i64;
        }
    }
    fn input_rate(&self) -> u32 {
        self.from
    }
    fn output_rate(&self) -> u32 {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{goertzel_power, mean_power};

    fn sine(freq: f64, rate: u32, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() * amp) as i16
            })
            .collect()
    }

    #[test]
    fn output_length_follows_the_ratio_across_frames() {
        for (from, to) in [
            (48000, 8000),
            (8000, 48000),
            (44100, 48000),
            (48000, 16000),
            (22050, 48000),
        ] {
            let mut r = resampler(from, to);
            let mut out = Vec::new();
            let chunk = (from / 50) as usize;
            for _ in 0..100 {
                r.process(&vec![0; chunk], &mut out);
            }
            let want = (to as usize / 50) * 100;
            let diff = (out.len() as i64 - want as i64).abs();
            assert!(diff <= 64, "{from}->{to}: {} vs {want}", out.len());
        }
    }

    #[test]
    fn a_tone_survives_down_and_up_sampling() {
        let x = sine(1000.0, 48000, 48000, 16000.0);
        let mut down = resampler(48000, 8000);
        let mut up = resampler(8000, 48000);
        let (mut mid, mut y) = (Vec::new(), Vec::new());
        for chunk in x.chunks(960) {
            mid.clear();
            down.process(chunk, &mut mid);
            up.process(&mid, &mut y);
        }
        let tail = &y[4800..y.len() - 960];
        let p = goertzel_power(tail, 48000, 1000.0);
        let total = mean_power(tail);
        let orig = mean_power(&x);
        assert!(p > 0.9 * total, "tone power {p} of {total}");
        assert!((total / orig - 1.0).abs() < 0.1, "level {total} vs {orig}");
    }

    #[test]
    fn downsampling_removes_what_would_alias() {
        // 6 kHz cannot exist at 8 kHz; without a low-pass it would alias to 2 kHz.
        let x = sine(6000.0, 48000, 48000, 16000.0);
        let y = resample_all(&x, 48000, 8000);
        let p_alias = goertzel_power(&y[800..], 8000, 2000.0);
        assert!(p_alias < 0.001 * mean_power(&x), "alias power {p_alias}");
    }

    #[test]
    fn resample_all_keeps_duration() {
        let x = vec![100i16; 44100];
        let y = resample_all(&x, 44100, 48000);
        assert_eq!(y.len(), 48000);
        assert!((y[24000] - 100).abs() <= 1);
    }
}
