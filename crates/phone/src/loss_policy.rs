//! Opus follows the loss the other side reports (RTCP receiver reports): the
//! encoder is told how much loss to expect, which sizes its in-band FEC, and
//! gets the bitrate that FEC needs — or less when the loss is so heavy that
//! the path is likely congested.

/// What the Opus encoder is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderTarget {
    pub bitrate_bps: u32,
    pub expected_loss_percent: u8,
}

/// The target for a (smoothed) loss in percent.
pub fn target_for_loss(loss_percent: f64) -> EncoderTarget {
    let loss = if loss_percent.is_finite() { loss_percent.clamp(0.0, 100.0) } else { 0.0 };
    // Measured with the audio bench's speech (wideband PESQ, male and female espeak-ng
    // voices; crates/media/examples): clean, 48 kbit/s is the least Opus needs for 4.2
    // (32 kbit/s: 3.97). At 5 % random loss with FEC and 40 ± 40 ms jitter (the receiver
    // simulated, 6 seeds) 40 kbit/s gives 3.57, 48 kbit/s 3.72, 56 kbit/s 3.84 and
    // 64 kbit/s 3.92: the FEC copy of a lost frame is coded at a rate that follows the
    // bitrate, and it is what plays for every recovered loss. The other side's
    // `maxaveragebitrate` still caps all of these (the encoder applies it).
    let bitrate_bps = if loss < 3.0 {
        48_000
    } else if loss < 15.0 {
        // Opus only spends bits on FEC when the bitrate leaves room for it.
        64_000
    } else {
        // Heavy loss is mostly congestion: sending less helps more than redundancy.
        24_000
    };
    // At least 1 % keeps a little FEC ready; beyond 30 % more FEC buys nothing.
    let expected_loss_percent = loss.ceil().clamp(1.0, 30.0) as u8;
    EncoderTarget { bitrate_bps, expected_loss_percent }
}

/// Smooths the reports and says when the encoder should change.
#[derive(Debug, Default)]
pub struct LossFollower {
    smoothed: Option<f64>,
    applied: Option<EncoderTarget>,
}

/// Weight of the newest report (RTCP reports come about once a second).
const NEWEST_WEIGHT: f64 = 0.4;

impl LossFollower {
    /// Feed the latest reported fraction lost (0..1); `Some` when the encoder must change.
    pub fn update(&mut self, fraction_lost: Option<f64>) -> Option<EncoderTarget> {
        let percent = fraction_lost.filter(|f| f.is_finite())?.clamp(0.0, 1.0) * 100.0;
        let smoothed = match self.smoothed {
            Some(s) => s + NEWEST_WEIGHT * (percent - s),
            None => percent,
        };
        self.smoothed = Some(smoothed);
        let target = target_for_loss(smoothed);
        if self.applied == Some(target) {
            return None;
        }
        self.applied = Some(target);
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_follows_the_loss() {
        assert_eq!(target_for_loss(0.0), EncoderTarget { bitrate_bps: 48_000, expected_loss_percent: 1 });
        assert_eq!(target_for_loss(2.2), EncoderTarget { bitrate_bps: 48_000, expected_loss_percent: 3 });
        assert_eq!(target_for_loss(8.0), EncoderTarget { bitrate_bps: 64_000, expected_loss_percent: 8 });
        assert_eq!(target_for_loss(40.0), EncoderTarget { bitrate_bps: 24_000, expected_loss_percent: 30 });
        assert_eq!(target_for_loss(f64::NAN), target_for_loss(0.0));
    }

    #[test]
    fn the_encoder_changes_only_when_the_smoothed_loss_moves_it() {
        let mut f = LossFollower::default();
        assert_eq!(f.update(None), None, "no report yet");
        assert_eq!(f.update(Some(0.0)), Some(target_for_loss(0.0)), "the first report sets it");
        assert_eq!(f.update(Some(0.0)), None, "unchanged");
        // One burst of 10 % moves the smoothed loss to 4 %: FEC and bitrate up.
        assert_eq!(f.update(Some(0.10)), Some(EncoderTarget { bitrate_bps: 64_000, expected_loss_percent: 4 }));
        // Loss gone: it decays back report by report.
        let mut last = None;
        for _ in 0..10 {
            if let Some(t) = f.update(Some(0.0)) {
                last = Some(t);
            }
        }
        assert_eq!(last, Some(target_for_loss(0.0)));
        assert_eq!(f.update(Some(f64::NAN)), None, "a nonsense report is ignored");
    }
}
