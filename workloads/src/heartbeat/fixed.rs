//! The fixed-timeout detector: suspect a peer once `timeout` has passed since
//! the last heartbeat received from it.
//!
//! With heartbeat interval η, timeout Δ and network delay d, a crash is
//! detected within (Δ − η, Δ] + d after it (the last heartbeat left at most η
//! before the crash), plus the granularity of whoever asks `suspects`.

use crate::Time;
use std::time::Duration;

/// A timeout counted from the last heartbeat received.
#[derive(Clone, Debug, Hash)]
pub struct FixedTimeout {
    timeout: Duration,
    last: Time,
}

impl FixedTimeout {
    /// A detector that counts from `start` until a first heartbeat arrives (a
    /// peer never heard from is suspected `timeout` after the monitor starts).
    pub fn new(timeout: Duration, start: Time) -> FixedTimeout {
        FixedTimeout { timeout, last: start }
    }

    /// A heartbeat arrived at `now`.
    pub fn heartbeat(&mut self, now: Time) {
        self.last = self.last.max(now);
    }

    /// The last moment the peer is still trusted; suspected strictly after it.
    pub fn deadline(&self) -> Time {
        self.last + self.timeout
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

    /// Heartbeats sent at k·η from `phase` on, delivered after `delay`, the
    /// sender crashing at `crash` (it sends the heartbeats due at or before
    /// it). The first moment on a `step` grid the detector suspects, minus the crash.
    fn detection(eta: u64, delta: u64, phase: u64, crash: u64, delay: u64, step: u64) -> u64 {
        let mut d = FixedTimeout::new(Duration::from_nanos(delta), Time(0));
        let arrivals = (0..).map(|k| phase + k * eta).take_while(|s| *s <= crash).map(|s| s + delay);
        for a in arrivals {
            // Heartbeats come every η < Δ: a live peer is never suspected.
            assert!(!d.suspects(Time(a)), "suspected a live peer at {a}");
            d.heartbeat(Time(a));
        }
        // The checks after the crash, on the `step` grid. Suspicion only
        // grows without heartbeats, so the scan may start at the grid point
        // before the deadline.
        let mut t = ((crash / step + 1) * step).max(d.deadline().as_nanos() / step * step);
        assert!(t <= crash + step || !d.suspects(Time(t - step)));
        while !d.suspects(Time(t)) {
            t += step;
        }
        t - crash
    }

    #[test]
    fn detection_time_lies_in_timeout_minus_interval_to_timeout_exactly() {
        let (eta, delta) = (100 * MS, 500 * MS);
        // Crashes at every offset within a heartbeat period, checked on a 1 ns grid.
        for offset in (0..eta).step_by(7 * MS as usize + 13) {
            let crash = 10_000 * MS + offset;
            let td = detection(eta, delta, 0, crash, 0, 1);
            // Suspicion is strict (now > deadline): the first suspecting instant is deadline + 1 ns.
            assert!(td > delta - eta && td <= delta + 1, "offset {offset}: T_D = {td}");
            let last_sent = crash - crash % eta;
            assert_eq!(td, last_sent + delta + 1 - crash, "exactly Δ after the last heartbeat");
        }
        // A crash right after a heartbeat is detected Δ after it; one right
        // before the next heartbeat, just over Δ − η after it.
        assert_eq!(detection(eta, delta, 0, 10_000 * MS, 0, 1), delta + 1);
        assert_eq!(detection(eta, delta, 0, 10_000 * MS + eta - 1, 0, 1), delta - eta + 2);
    }

    #[test]
    fn delay_and_check_granularity_widen_the_window_by_themselves() {
        let (eta, delta, delay, step) = (100 * MS, 500 * MS, 3 * MS, 5 * MS);
        for offset in (0..eta).step_by(11 * MS as usize + 1) {
            let crash = 20_000 * MS + offset;
            let td = detection(eta, delta, 2 * MS, crash, delay, step);
            assert!(
                td > delta - eta + delay && td <= delta + delay + step,
                "offset {offset}: T_D = {td} outside (Δ − η + d, Δ + d + g]"
            );
        }
    }

    #[test]
    fn a_peer_never_heard_from_is_suspected_timeout_after_start() {
        let d = FixedTimeout::new(Duration::from_millis(500), Time::from_millis(1000));
        assert!(!d.suspects(Time::from_millis(1500)));
        assert!(d.suspects(Time::from_millis(1501)));
    }
}
