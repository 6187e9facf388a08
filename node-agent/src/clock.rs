//! The shared host clock: CLOCK_MONOTONIC nanoseconds.

use nix::time::{clock_gettime, ClockId};
use workloads::Time;

/// Now on CLOCK_MONOTONIC, which every process and container on one host shares.
pub fn monotonic_now() -> Time {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            // CLOCK_MONOTONIC is never negative; clamp rather than wrap if it were.
            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
            Time(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
        }
        // clock_gettime(CLOCK_MONOTONIC) cannot fail on Linux; fall back to
        // std's monotonic clock measured from an arbitrary origin.
        Err(_) => fallback_now(),
    }
}

fn fallback_now() -> Time {
    use std::sync::OnceLock;
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(std::time::Instant::now);
    Time(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// Maps protocol times to tokio instants. Both read CLOCK_MONOTONIC on Linux,
/// so one pair of readings taken together fixes the offset for good.
#[derive(Copy, Clone, Debug)]
pub(crate) struct ClockMap {
    base_instant: tokio::time::Instant,
    base_time: Time,
}

impl ClockMap {
    pub(crate) fn new() -> Self {
        ClockMap { base_instant: tokio::time::Instant::now(), base_time: monotonic_now() }
    }

    /// The tokio instant at which the monotonic clock reads `t`.
    pub(crate) fn instant(&self, t: Time) -> tokio::time::Instant {
        if t >= self.base_time {
            self.base_instant + t.since(self.base_time)
        } else {
            self.base_instant.checked_sub(self.base_time.since(t)).unwrap_or(self.base_instant)
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn monotonic_now_advances_and_matches_std_instant() {
        let a = monotonic_now();
        let i = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        let b = monotonic_now();
        assert!(b.since(a) >= Duration::from_millis(5));
        // std's Instant reads the same clock: the two elapsed times agree closely.
        let diff = b.since(a).abs_diff(i.elapsed());
        assert!(diff < Duration::from_millis(2), "{diff:?}");
    }
}
