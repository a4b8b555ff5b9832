//! RFC 4028 session timer for one call: when to refresh (we are the
//! refresher: at half the interval) or when to give up on the peer's refresh
//! (interval minus min(32 s, interval/3), §10).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval: u32,
    pub we_refresh: bool,
    deadline: Instant,
}

impl SessionTimer {
    pub fn start(now: Instant, interval: u32, we_refresh: bool) -> SessionTimer {
        let mut t = SessionTimer { interval: interval.max(1), we_refresh, deadline: now };
        t.refreshed(now);
        t
    }

    /// A refresh went out or came in: the interval starts again.
    pub fn refreshed(&mut self, now: Instant) {
        let interval = Duration::from_secs(u64::from(self.interval));
        self.deadline = if self.we_refresh {
            now + interval / 2
        } else {
            now + interval - Duration::from_secs(32).min(interval / 3)
        };
    }

    /// Refresh (we_refresh) or hang up (the peer's refresh did not come) at this instant.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresher_at_half_and_watcher_before_expiry() {
        let t0 = Instant::now();
        assert_eq!(SessionTimer::start(t0, 1800, true).deadline(), t0 + Duration::from_secs(900));
        assert_eq!(SessionTimer::start(t0, 1800, false).deadline(), t0 + Duration::from_secs(1768));
        assert_eq!(SessionTimer::start(t0, 90, false).deadline(), t0 + Duration::from_secs(60));
    }
}
