//! Quality coaching (issue 8): a call's stats turned into what a person can
//! act on — "Your network is dropping 6 % of packets" — instead of numbers.
//! Pure: stats in, sentences out. A warning is given once a problem has lasted
//! a few seconds (one bad second is noise) and withdrawn once it is gone for
//! as long, so the UI neither flickers nor nags.

use serde::Serialize;

use crate::call_stats::CallStats;

/// Limits from the desktop issue's quality indicator.
pub const LOSS_PERCENT: f64 = 3.0;
pub const JITTER_MS: f64 = 30.0;
pub const RTT_MS: f64 = 400.0;
pub const MOS: f64 = 3.5;

/// Consecutive seconds a condition must hold before it is said (or unsaid).
const SETTLE_SECONDS: u32 = 3;

/// What is wrong with the network during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Problem {
    Loss,
    Jitter,
    Delay,
    PoorQuality,
}

/// One warning, for the in-call screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    pub problem: Problem,
    pub message: String,
}

/// The words for a problem at the measured level.
pub fn message(problem: Problem, stats: &CallStats) -> String {
    match problem {
        Problem::Loss => format!(
            "Your network is dropping {:.0} % of packets: the other side may hear gaps. A wired connection or moving closer to the Wi-Fi access point helps.",
            stats.loss_percent
        ),
        Problem::Jitter => format!(
            "Your network delivers audio unevenly ({:.0} ms of jitter): speech may sound choppy. Pausing downloads or video on this network helps.",
            stats.jitter_ms.unwrap_or_default()
        ),
        Problem::Delay => format!(
            "The connection is slow ({:.0} ms round trip): expect to talk over each other. A VPN or a distant server can cause this.",
            stats.rtt_ms.unwrap_or_default()
        ),
        Problem::PoorQuality => "Call quality is poor: the other side may not hear you clearly.".to_owned(),
    }
}

/// Which problems a single second of stats shows.
pub fn problems(stats: &CallStats) -> Vec<Problem> {
    let mut out = Vec::new();
    if stats.loss_percent > LOSS_PERCENT {
        out.push(Problem::Loss);
    }
    if stats.jitter_ms.is_some_and(|j| j > JITTER_MS) {
        out.push(Problem::Jitter);
    }
    if stats.rtt_ms.is_some_and(|r| r > RTT_MS) {
        out.push(Problem::Delay);
    }
    // A low score alone (codec, concealment) when no cause above explains it.
    if out.is_empty() && stats.mos.is_some_and(|m| m < MOS) {
        out.push(Problem::PoorQuality);
    }
    out
}

/// Per call: which warnings are up, with hysteresis.
#[derive(Debug, Default)]
pub struct Coach {
    /// Per problem: seconds in a row seen (positive) or not seen (negative), and whether it is said.
    runs: [(i32, bool); 4],
}

fn index(p: Problem) -> usize {
    match p {
        Problem::Loss => 0,
        Problem::Jitter => 1,
        Problem::Delay => 2,
        Problem::PoorQuality => 3,
    }
}

const ALL: [Problem; 4] = [Problem::Loss, Problem::Jitter, Problem::Delay, Problem::PoorQuality];

impl Coach {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one second of stats; returns the warnings to show now, or `None`
    /// when nothing changed since the last call.
    pub fn update(&mut self, stats: &CallStats) -> Option<Vec<Warning>> {
        let seen = problems(stats);
        let settle = i32::try_from(SETTLE_SECONDS).unwrap_or(3);
        let mut changed = false;
        for p in ALL {
            let (run, said) = &mut self.runs[index(p)];
            if seen.contains(&p) {
                *run = if *run > 0 { *run + 1 } else { 1 };
            } else {
                *run = if *run < 0 { *run - 1 } else { -1 };
            }
            let now_said = if *said { *run > -settle } else { *run >= settle };
            changed |= now_said != *said;
            *said = now_said;
        }
        changed.then(|| {
            ALL.iter()
                .filter(|p| self.runs[index(**p)].1)
                .map(|p| Warning { problem: *p, message: message(*p, stats) })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(loss: f64, jitter: f64, rtt: f64, mos: f64) -> CallStats {
        CallStats {
            call: "c1".into(),
            codec: Some("opus".into()),
            bitrate_kbps: 32.0,
            packets_sent: 50,
            packets_received: 50,
            packets_lost: 0,
            loss_percent: loss,
            jitter_ms: Some(jitter),
            rtt_ms: Some(rtt),
            mos: Some(mos),
            buffer: Default::default(),
        }
    }

    #[test]
    fn a_lasting_loss_is_said_in_words_with_its_figure() {
        let mut coach = Coach::new();
        let bad = second(6.0, 5.0, 40.0, 3.9);
        assert_eq!(coach.update(&bad), None, "one bad second is noise");
        assert_eq!(coach.update(&bad), None);
        let warnings = coach.update(&bad).unwrap_or_default();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].problem, Problem::Loss);
        assert!(warnings[0].message.starts_with("Your network is dropping 6 % of packets"), "{}", warnings[0].message);
        assert_eq!(coach.update(&bad), None, "said once, not repeated");
    }

    #[test]
    fn a_warning_is_withdrawn_once_the_network_calms_and_does_not_flicker() {
        let mut coach = Coach::new();
        let (bad, good) = (second(1.0, 80.0, 40.0, 3.8), second(0.0, 5.0, 40.0, 4.3));
        for _ in 0..3 {
            coach.update(&bad);
        }
        assert_eq!(coach.update(&good), None, "one good second does not clear it");
        assert_eq!(coach.update(&bad), None, "nor does a bad one raise it again");
        assert_eq!(coach.update(&good), None);
        assert_eq!(coach.update(&good), None);
        assert_eq!(coach.update(&good), Some(vec![]), "three calm seconds withdraw it");
    }

    #[test]
    fn thresholds_follow_the_quality_indicator_and_a_low_score_needs_no_cause() {
        assert!(problems(&second(3.0, 30.0, 400.0, 3.5)).is_empty(), "at the limits: fine");
        assert_eq!(problems(&second(3.1, 31.0, 401.0, 2.0)), vec![Problem::Loss, Problem::Jitter, Problem::Delay]);
        assert_eq!(problems(&second(0.0, 5.0, 40.0, 3.0)), vec![Problem::PoorQuality]);
        let no_rtcp = CallStats { jitter_ms: None, rtt_ms: None, mos: None, ..second(0.0, 0.0, 0.0, 4.0) };
        assert!(problems(&no_rtcp).is_empty(), "no reports yet: nothing to say");
    }
}
