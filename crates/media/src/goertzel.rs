//! Goertzel tone detection: how much of a signal's power sits at one frequency.
//! Used by tests to check that a tone went through the whole call path.

/// Power at `freq` Hz of `samples` (rate `rate`), normalised so a full-scale sine
/// gives about 0.5 (same scale as [`mean_power`]).
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples.len() as f64;
    // Exact frequency, not the nearest DFT bin: windows of any length measure the same.
    let w = 2.0 * std::f64::consts::PI * freq as f64 / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (n * n)
}

/// Mean power of `samples` (full-scale sine ≈ 0.5).
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples
        .iter()
        .map(|&x| (x as f64 / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_tone_and_not_another() {
        let rate = 8000;
        let s: Vec<i16> = (0..1600)
            .map(|n| {
                ((2.0 * std::f64::consts::PI * 1000.0 * n as f64 / rate as f64).sin() * 16000.0)
                    as i16
            })
            .collect();
        let p = goertzel_power(&s, rate, 1000.0);
        let q = goertzel_power(&s, rate, 1300.0);
        let total = mean_power(&s);
        assert!(p > 0.9 * total, "p={p} total={total}");
        assert!(q < 0.01 * total, "q={q}");
    }
}
