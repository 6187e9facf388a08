//! Chen, Toueg and Aguilera's adaptive detector: estimate the expected
//! arrival time of the next heartbeat from the last `window` arrivals, and
//! suspect the peer once that estimate plus a safety margin α has passed
//! with no newer heartbeat.
//!
//! Heartbeat i is sent at σ_i = σ_0 + i·η; its arrival A_i = σ_i + d_i. The
//! expected arrival of heartbeat l+1 is EA = mean_i(A_i − i·η) + (l+1)·η over
//! the window, the freshness point τ = EA + α. With a constant delay the
//! detector suspects at α after the next heartbeat was due: a crash is
//! detected within (α, η + α] after it, plus the checking granularity.

use crate::Time;
use std::collections::VecDeque;
use std::time::Duration;

/// Chen's estimator for one peer.
#[derive(Clone, Debug, Hash)]
pub struct Chen {
    interval: Duration,
    alpha: Duration,
    window: usize,
    /// A_i − i·η, in nanoseconds after `base`.
    offsets: VecDeque<i128>,
    sum: i128,
    base: Time,
    /// The highest heartbeat number received.
    highest: Option<u64>,
}

impl Chen {
    /// A detector that, before any heartbeat, expects the first one `interval` after `start`.
    pub fn new(interval: Duration, alpha: Duration, window: usize, start: Time) -> Chen {
        Chen {
            interval,
            alpha,
            window: window.max(1),
            offsets: VecDeque::new(),
            sum: 0,
            base: start,
            highest: None,
        }
    }

    fn eta(&self) -> i128 {
        i128::try_from(self.interval.as_nanos()).unwrap_or(i128::MAX / 4)
    }

    /// Heartbeat number `seq` arrived at `now` (stale ones, older than the
    /// highest received, change nothing).
    pub fn heartbeat(&mut self, now: Time, seq: u64) {
        if self.highest.is_some_and(|h| seq <= h) {
            return;
        }
        let offset =
            i128::from(now.as_nanos()) - i128::from(self.base.as_nanos()) - i128::from(seq) * self.eta();
        if self.offsets.len() >= self.window {
            if let Some(old) = self.offsets.pop_front() {
                self.sum -= old;
            }
        }
        self.offsets.push_back(offset);
        self.sum += offset;
        self.highest = Some(seq);
    }

    /// The freshness point τ: suspected strictly after it unless a newer heartbeat arrives.
    pub fn deadline(&self) -> Time {
        let alpha = i128::try_from(self.alpha.as_nanos()).unwrap_or(i128::MAX / 4);
        let expected = match self.highest {
            None => self.eta(),
            Some(h) => {
                let n = i128::try_from(self.offsets.len()).unwrap_or(1).max(1);
                self.sum / n + (i128::from(h) + 1) * self.eta()
            }
        };
        let at = i128::from(self.base.as_nanos()) + expected + alpha;
        Time(u64::try_from(at.max(0)).unwrap_or(u64::MAX))
    }

    /// Whether the peer is suspected at `now`.
    pub fn suspects(&self, now: Time) -> bool {
        now > self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn constant_delay_puts_the_freshness_point_alpha_after_the_expected_arrival() {
        let mut c = Chen::new(Duration::from_millis(100), Duration::from_millis(50), 1000, Time(0));
        // Heartbeats i sent at 1000 + 100·i ms, arriving 7 ms later.
        for i in 0..20u64 {
            c.heartbeat(Time((1000 + 100 * i + 7) * MS), i);
        }
        assert_eq!(c.deadline(), Time((1000 + 100 * 20 + 7 + 50) * MS));
        assert!(!c.suspects(c.deadline()));
        assert!(c.suspects(c.deadline() + Duration::from_nanos(1)));
    }

    #[test]
    fn detection_lies_within_alpha_to_interval_plus_alpha_of_the_crash() {
        let (eta, alpha) = (100 * MS, 80 * MS);
        for offset in (0..eta).step_by(9 * MS as usize + 3) {
            let mut c = Chen::new(Duration::from_nanos(eta), Duration::from_nanos(alpha), 1000, Time(0));
            let crash = 5_000 * MS + offset;
            // The sender sends heartbeats due at or before the crash; delay 2 ms.
            for i in (0..).take_while(|i| i * eta <= crash) {
                c.heartbeat(Time(i * eta + 2 * MS), i);
            }
            let td = c.deadline().as_nanos() + 1 - crash;
            assert!(td > alpha && td <= eta + alpha + 2 * MS + 1, "offset {offset}: {td}");
        }
    }

    #[test]
    fn a_lost_heartbeat_moves_the_expectation_by_one_interval_and_stale_ones_are_ignored() {
        let mut c = Chen::new(Duration::from_millis(100), Duration::from_millis(10), 10, Time(0));
        c.heartbeat(Time::from_millis(100), 1);
        c.heartbeat(Time::from_millis(300), 3);
        assert_eq!(c.deadline(), Time::from_millis(410));
        c.heartbeat(Time::from_millis(305), 2);
        assert_eq!(c.deadline(), Time::from_millis(410));
    }

    #[test]
    fn the_window_forgets_old_delays() {
        let mut c = Chen::new(Duration::from_millis(100), Duration::ZERO, 2, Time(0));
        c.heartbeat(Time::from_millis(150), 1); // 50 ms late
        c.heartbeat(Time::from_millis(200), 2);
        c.heartbeat(Time::from_millis(300), 3);
        assert_eq!(c.deadline(), Time::from_millis(400));
    }
}
