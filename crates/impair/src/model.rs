//! What happens to each packet: a pure, seeded state machine (no sockets, no clock).
//!
//! Feed it the arrival time of every packet ([`Impairer::on_packet`]); it answers when
//! each copy should leave (none = dropped). Same seed and same arrivals → same decisions.

use crate::rng::SplitMix64;
use std::time::Duration;

/// Bursty loss: the two-state Gilbert–Elliott channel. In the good state a packet is lost
/// with `loss_good`, in the bad state with `loss_bad`; before each packet the channel moves
/// good → bad with `p_enter` and bad → good with `p_leave`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub p_enter: f64,
    pub p_leave: f64,
    pub loss_good: f64,
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The classic Gilbert model with a given mean loss rate (0..1) and mean burst length in
    /// packets (≥ 1): every packet in the bad state is lost, none in the good state.
    pub fn with_mean(loss: f64, mean_burst: f64) -> Self {
        let loss = loss.clamp(0.0, 0.99);
        let p_leave = 1.0 / mean_burst.max(1.0);
        Self {
            p_enter: (loss * p_leave / (1.0 - loss)).min(1.0),
            p_leave,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }
}

/// The impairments of one direction. Probabilities are 0..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Independent random loss.
    pub loss: f64,
    /// Bursty loss on top of `loss`.
    pub burst: Option<GilbertElliott>,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Delay varies uniformly within ± this (never below zero, like netem's `delay D J`);
    /// more jitter than the packet interval reorders packets by itself.
    pub jitter: Duration,
    /// A packet is held back by `reorder_gap` with this probability, so later ones overtake it.
    pub reorder: f64,
    pub reorder_gap: Duration,
    /// A packet is sent twice with this probability (the copy 1 ms later).
    pub duplicate: f64,
}

impl Default for Impairment {
    fn default() -> Self {
        Self {
            loss: 0.0,
            burst: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_gap: Duration::from_millis(40),
            duplicate: 0.0,
        }
    }
}

impl Impairment {
    /// Nothing happens to the packets: a plain relay.
    pub fn none() -> Self {
        Self::default()
    }
}

/// What the impairer did so far (one direction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets that came in.
    pub received: u64,
    /// Packets dropped (random and burst loss).
    pub dropped: u64,
    /// Of those, dropped while the burst channel was in its bad state.
    pub dropped_in_burst: u64,
    /// Extra copies sent.
    pub duplicated: u64,
    /// Packets scheduled to leave before one that arrived earlier.
    pub reordered: u64,
    /// Copies scheduled to leave (received − dropped + duplicated).
    pub forwarded: u64,
}

/// When the copies of one packet leave, as times since the start (like `now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Drop,
    Send(Duration),
    SendTwice(Duration, Duration),
}

/// The seeded decision machine for one direction.
#[derive(Debug, Clone)]
pub struct Impairer {
    config: Impairment,
    rng: SplitMix64,
    in_burst: bool,
    latest_due: Duration,
    counters: Counters,
}

impl Impairer {
    pub fn new(config: Impairment, seed: u64) -> Self {
        Self {
            config,
            rng: SplitMix64::new(seed),
            in_burst: false,
            latest_due: Duration::ZERO,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Impairment {
        &self.config
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Carries on with new settings: same random stream, burst state and counters.
    pub fn with_config(&self, config: Impairment) -> Self {
        Self {
            config,
            ..self.clone()
        }
    }

    /// Decides the fate of a packet arriving at `now` (time since the relay started).
    pub fn on_packet(&mut self, now: Duration) -> Fate {
        self.counters.received += 1;
        // Draw every random number every time: a change in one probability does not shift
        // the others' decisions, so runs stay comparable.
        let r_loss = self.rng.unit();
        let r_state = self.rng.unit();
        let r_burst_loss = self.rng.unit();
        let r_jitter = self.rng.unit();
        let r_reorder = self.rng.unit();
        let r_dup = self.rng.unit();

        let c = &self.config;
        let mut lost_in_burst = false;
        if let Some(ge) = c.burst {
            self.in_burst = if self.in_burst {
                r_state >= ge.p_leave
            } else {
                r_state < ge.p_enter
            };
            let p = if self.in_burst {
                ge.loss_bad
            } else {
                ge.loss_good
            };
            lost_in_burst = r_burst_loss < p;
        }
        if r_loss < c.loss || lost_in_burst {
            self.counters.dropped += 1;
            if lost_in_burst && self.in_burst {
                self.counters.dropped_in_burst += 1;
            }
            return Fate::Drop;
        }

        let jitter = c.jitter.as_secs_f64();
        let offset = (r_jitter * 2.0 - 1.0) * jitter;
        let mut delay = (c.delay.as_secs_f64() + offset).max(0.0);
        if r_reorder < c.reorder {
            delay += c.reorder_gap.as_secs_f64();
        }
        let due = now + Duration::from_secs_f64(delay);
        if due < self.latest_due {
            self.counters.reordered += 1;
        }
        self.latest_due = self.latest_due.max(due);
        self.counters.forwarded += 1;
        if r_dup < c.duplicate {
            self.counters.duplicated += 1;
            self.counters.forwarded += 1;
            return Fate::SendTwice(due, due + Duration::from_millis(1));
        }
        Fate::Send(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &Impairment, seed: u64, n: u64) -> (Vec<Fate>, Counters) {
        let mut m = Impairer::new(config.clone(), seed);
        let fates = (0..n)
            .map(|i| m.on_packet(Duration::from_millis(20 * i)))
            .collect();
        (fates, m.counters())
    }

    fn lossy() -> Impairment {
        Impairment {
            loss: 0.05,
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(40),
            duplicate: 0.01,
            reorder: 0.02,
            ..Impairment::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_decisions_and_another_seed_does_not() {
        let (a, ca) = run(&lossy(), 7, 2000);
        let (b, cb) = run(&lossy(), 7, 2000);
        let (c, _) = run(&lossy(), 8, 2000);
        assert_eq!(a, b);
        assert_eq!(ca, cb);
        assert_ne!(a, c);
    }

    #[test]
    fn random_loss_and_duplication_come_out_near_their_rates() {
        let (_, c) = run(&lossy(), 1, 20_000);
        let loss = c.dropped as f64 / c.received as f64;
        let dup = c.duplicated as f64 / c.received as f64;
        assert!((loss - 0.05).abs() < 0.01, "loss {loss}");
        assert!((dup - 0.0095).abs() < 0.004, "dup {dup}");
        assert_eq!(c.forwarded, c.received - c.dropped + c.duplicated);
    }

    #[test]
    fn delay_and_jitter_stay_within_bounds_and_jitter_reorders() {
        let (fates, c) = run(&lossy(), 3, 5000);
        for (i, f) in fates.iter().enumerate() {
            let sent = Duration::from_millis(20 * i as u64);
            if let Fate::Send(due) | Fate::SendTwice(due, _) = f {
                let d = due.saturating_sub(sent);
                assert!(d <= Duration::from_millis(70 + 40 + 1), "{d:?}");
            }
        }
        // ±40 ms around 30 ms at 20 ms spacing: many packets overtake.
        assert!(c.reordered > 100, "{c:?}");
        let (_, calm) = run(
            &Impairment {
                delay: Duration::from_millis(50),
                ..Impairment::default()
            },
            3,
            5000,
        );
        assert_eq!(calm.reordered, 0);
        assert_eq!(calm.dropped, 0);
    }

    #[test]
    fn bursty_loss_has_the_mean_rate_and_comes_in_runs() {
        let config = Impairment {
            burst: Some(GilbertElliott::with_mean(0.05, 4.0)),
            ..Impairment::default()
        };
        let (fates, c) = run(&config, 11, 50_000);
        let loss = c.dropped as f64 / c.received as f64;
        assert!((loss - 0.05).abs() < 0.01, "loss {loss}");
        // Mean length of runs of consecutive drops ≈ 4 (random loss at 5 % would give ≈ 1.05).
        let mut runs = Vec::new();
        let mut len = 0;
        for f in &fates {
            if *f == Fate::Drop {
                len += 1;
            } else if len > 0 {
                runs.push(len);
                len = 0;
            }
        }
        let mean = runs.iter().sum::<u32>() as f64 / runs.len() as f64;
        assert!((3.0..5.0).contains(&mean), "mean burst {mean}");
    }

    #[test]
    fn no_impairment_forwards_everything_at_once_in_order() {
        let (fates, c) = run(&Impairment::none(), 5, 100);
        for (i, f) in fates.iter().enumerate() {
            assert_eq!(*f, Fate::Send(Duration::from_millis(20 * i as u64)));
        }
        assert_eq!(c.forwarded, 100);
    }
}
