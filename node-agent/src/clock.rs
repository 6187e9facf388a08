//! The shared host clock: CLOCK_MONOTONIC nanoseconds.

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId as TimerClock, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{clock_gettime, ClockId};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
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

/// A timerfd as tokio's `AsyncFd` wants it.
#[derive(Debug)]
struct RawTimer(TimerFd);

impl AsRawFd for RawTimer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Wakes the event loop at an absolute CLOCK_MONOTONIC instant.
///
/// tokio's timer wheel has 1 ms ticks and rounds every deadline up to the
/// next tick, so a 20 ms injected delay came out 20.5-21 ms and every
/// workload timer fired up to 1 ms late. A timerfd armed with the absolute
/// protocol time fires on the kernel's high-resolution timer (tens of
/// microseconds late) and wakes tokio's poller like any socket: no spinning,
/// no extra thread, which matters with dozens of agents on two cores.
#[derive(Debug)]
pub(crate) struct PreciseTimer {
    fd: AsyncFd<RawTimer>,
    armed: Option<Time>,
}

impl PreciseTimer {
    /// A disarmed timer; needs a tokio runtime with I/O enabled.
    #[allow(unsafe_code)]
    pub(crate) fn new() -> std::io::Result<Self> {
        let fd =
            TimerFd::new(TimerClock::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
        // SAFETY: `RawTimer` owns its fd (an `OwnedFd` inside `TimerFd`) and
        // hands out that same open fd for as long as the `AsyncFd` owns it;
        // nothing can close or swap it underneath the registration.
        let fd = unsafe { AsyncFd::register_with_interest(RawTimer(fd), Interest::READABLE) }?;
        Ok(PreciseTimer { fd, armed: None })
    }

    /// When the timer fires next, if armed.
    pub(crate) fn armed(&self) -> Option<Time> {
        self.armed
    }

    /// Fires at `at` (at once if `at` has passed); replaces any earlier setting.
    pub(crate) fn arm(&mut self, at: Time) -> std::io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        // An all-zero expiration disarms a timerfd: the earliest real instant is 1 ns.
        let nanos = at.as_nanos().max(1);
        let secs = libc_time(nanos / 1_000_000_000);
        let sub = libc_time(nanos % 1_000_000_000);
        let spec = TimeSpec::new(secs, sub);
        self.fd.get_ref().0.set(Expiration::OneShot(spec), TimerSetTimeFlags::TFD_TIMER_ABSTIME)?;
        self.armed = Some(at);
        Ok(())
    }

    /// Stops the timer.
    pub(crate) fn disarm(&mut self) -> std::io::Result<()> {
        if self.armed.take().is_some() {
            self.fd.get_ref().0.unset()?;
        }
        Ok(())
    }

    /// Resolves once the armed instant has passed, then the timer is disarmed.
    /// Cancel-safe (for `select!`); never resolves while disarmed.
    pub(crate) async fn fired(&mut self) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            // A re-arm after the fd turned readable resets it: the read then
            // finds nothing, clears tokio's readiness, and we wait again.
            match guard.try_io(|fd| match nix::unistd::read(fd.get_ref().as_raw_fd(), &mut [0u8; 8]) {
                Ok(_) => Ok(()),
                Err(e) => Err(std::io::Error::from(e)),
            }) {
                Ok(Ok(())) => {
                    self.armed = None;
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Seconds or nanoseconds as `time_t`/`c_long` (both i64 on 64-bit Linux).
fn libc_time(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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

    #[tokio::test]
    async fn the_precise_timer_never_fires_before_its_instant_and_follows_a_rearm() {
        let mut t = PreciseTimer::new().expect("timerfd");
        assert_eq!(t.armed(), None);
        let first = Time(monotonic_now().as_nanos() + 30_000_000);
        t.arm(first).expect("arm");
        // Moved later before it fired: the first instant must not wake it.
        let later = Time(first.as_nanos() + 20_000_000);
        t.arm(later).expect("re-arm");
        assert_eq!(t.armed(), Some(later));
        tokio::time::timeout(Duration::from_secs(5), t.fired()).await.expect("fires").expect("no error");
        assert!(monotonic_now() >= later, "fired before its instant");
        assert_eq!(t.armed(), None, "a one-shot timer is disarmed once it fired");

        // An instant already past fires at once; a disarmed timer stays silent.
        t.arm(Time(1)).expect("arm in the past");
        tokio::time::timeout(Duration::from_secs(5), t.fired()).await.expect("fires").expect("no error");
        t.arm(Time(monotonic_now().as_nanos() + 10_000_000)).expect("arm");
        t.disarm().expect("disarm");
        assert!(tokio::time::timeout(Duration::from_millis(50), t.fired()).await.is_err(), "disarmed");
    }
}
