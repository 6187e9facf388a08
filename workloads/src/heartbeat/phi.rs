//! The φ-accrual detector (Hayashibara et al.), computed as Akka does: a
//! window of inter-arrival times, their mean and standard deviation, and
//! φ = −log10(P(the next heartbeat arrives later than now)) under a normal
//! law (Akka's logistic approximation of its CDF). The peer is suspected when
//! φ reaches the threshold.

use crate::Time;
use std::collections::VecDeque;
use std::time::Duration;

/// Parameters, named and defaulted as in Akka's `akka.cluster.failure-detector`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhiParams {
    /// Suspect when φ reaches this (Akka: 8.0).
    pub threshold: f64,
    /// Inter-arrival times kept (Akka's max-sample-size: 1000).
    pub window: usize,
    /// Floor of the standard deviation (Akka: 100 ms).
    pub min_std_dev: Duration,
    /// Added to the mean: pauses accepted without suspicion (Akka: 3 s).
    pub acceptable_pause: Duration,
    /// Assumed mean of the first intervals (Akka: the heartbeat interval).
    pub first_estimate: Duration,
}

/// A φ-accrual detector for one peer.
#[derive(Clone, Debug)]
pub struct PhiAccrual {
    params: PhiParams,
    /// Inter-arrival times in milliseconds.
    intervals: VecDeque<f64>,
    sum: f64,
    squares: f64,
    last: Time,
}

/// The detector's state (its floats by their bits), for a model checker's fingerprints.
impl std::hash::Hash for PhiAccrual {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let PhiAccrual { params, intervals, sum, squares, last } = self;
        let PhiParams { threshold, window, min_std_dev, acceptable_pause, first_estimate } = params;
        (threshold.to_bits(), window, min_std_dev, acceptable_pause, first_estimate).hash(h);
        intervals.len().hash(h);
        for i in intervals {
            i.to_bits().hash(h);
        }
        (sum.to_bits(), squares.to_bits(), last).hash(h);
    }
}

impl PhiAccrual {
    /// A detector that counts from `start` as if a heartbeat had arrived then,
    /// primed (as Akka does) with two intervals at mean ± mean/4 of the first estimate.
    pub fn new(params: PhiParams, start: Time) -> PhiAccrual {
        let mean = params.first_estimate.as_secs_f64() * 1e3;
        let mut d = PhiAccrual { params, intervals: VecDeque::new(), sum: 0.0, squares: 0.0, last: start };
        d.push(mean - mean / 4.0);
        d.push(mean + mean / 4.0);
        d
    }

    fn push(&mut self, ms: f64) {
        if self.intervals.len() >= self.params.window.max(1) {
            if let Some(old) = self.intervals.pop_front() {
                self.sum -= old;
                self.squares -= old * old;
            }
        }
        self.intervals.push_back(ms);
        self.sum += ms;
        self.squares += ms * ms;
    }

    /// A heartbeat arrived at `now`. As in Akka, the interval that ends a
    /// suspicion is left out of the history: a long pause would skew it.
    pub fn heartbeat(&mut self, now: Time) {
        if now < self.last {
            return;
        }
        if !self.suspects(now) {
            self.push(now.since(self.last).as_secs_f64() * 1e3);
        }
        self.last = now;
    }

    /// Mean and standard deviation (floored) of the intervals, in milliseconds.
    fn stats(&self) -> (f64, f64) {
        let n = self.intervals.len().max(1) as f64;
        let mean = self.sum / n;
        let var = (self.squares / n - mean * mean).max(0.0);
        (mean, var.sqrt().max(self.params.min_std_dev.as_secs_f64() * 1e3))
    }

    /// The suspicion level at `now`.
    pub fn phi(&self, now: Time) -> f64 {
        let elapsed = now.since(self.last).as_secs_f64() * 1e3;
        let (mean, std_dev) = self.stats();
        phi(elapsed, mean + self.params.acceptable_pause.as_secs_f64() * 1e3, std_dev)
    }

    /// Whether the peer is suspected at `now`.
    pub fn suspects(&self, now: Time) -> bool {
        self.phi(now) >= self.params.threshold
    }
}

/// φ for `elapsed` ms since the last heartbeat, with Akka's logistic
/// approximation of the normal CDF (accurate to about 1e-4 and cheap).
pub fn phi(elapsed: f64, mean: f64, std_dev: f64) -> f64 {
    let y = (elapsed - mean) / std_dev;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pause_ms: u64) -> PhiParams {
        PhiParams {
            threshold: 8.0,
            window: 1000,
            min_std_dev: Duration::from_millis(100),
            acceptable_pause: Duration::from_millis(pause_ms),
            first_estimate: Duration::from_millis(100),
        }
    }

    /// The first millisecond (after `from`) at which the detector suspects.
    fn first_suspicion(d: &PhiAccrual, from: u64) -> u64 {
        (from..from + 100_000).find(|t| d.suspects(Time::from_millis(*t))).unwrap_or(u64::MAX)
    }

    #[test]
    fn phi_matches_the_values_akka_tests_for() {
        // Akka's PhiAccrualFailureDetectorSpec: mean 1000, std dev 100.
        assert!(phi(0.0, 1000.0, 100.0) < 0.001);
        assert!((phi(1000.0, 1000.0, 100.0) - 0.3).abs() < 0.01);
        assert!((phi(1100.0, 1000.0, 100.0) - 0.8).abs() < 0.05);
        // Five std devs out: the logistic tail gives 7.3 where the exact normal gives 6.5.
        assert!((phi(1500.0, 1000.0, 100.0) - 7.3).abs() < 0.05);
        let (a, b) = (phi(1200.0, 1000.0, 100.0), phi(1300.0, 1000.0, 100.0));
        assert!(a < b, "φ grows with the time since the last heartbeat");
    }

    #[test]
    fn regular_heartbeats_give_a_threshold_near_mean_plus_five_std_devs() {
        let mut d = PhiAccrual::new(params(0), Time::ZERO);
        for k in 1..=200 {
            d.heartbeat(Time::from_millis(k * 100));
            assert!(!d.suspects(Time::from_millis(k * 100 + 99)));
        }
        // Mean 100 ms, std dev floored at 100 ms: φ = 8 about 5.2 std devs out.
        let t = first_suspicion(&d, 20_000) - 20_000;
        assert!((610..=640).contains(&t), "suspected {t} ms after the last heartbeat");
    }

    #[test]
    fn jittery_history_moves_the_threshold_out_and_a_pause_is_not_learnt() {
        let mut calm = PhiAccrual::new(params(0), Time::ZERO);
        let mut jittery = PhiAccrual::new(params(0), Time::ZERO);
        let mut t = 0;
        for k in 1..=300u64 {
            calm.heartbeat(Time::from_millis(k * 100));
            // Alternate 20 ms and 380 ms gaps: mean 200, std dev 180.
            t += if k % 2 == 0 { 20 } else { 380 };
            jittery.heartbeat(Time::from_millis(t));
        }
        let calm_after = first_suspicion(&calm, 30_000) - 30_000;
        let jittery_after = first_suspicion(&jittery, t) - t;
        assert!(jittery_after > calm_after + 400, "{jittery_after} vs {calm_after}");
        // A 5 s silence ends a suspicion; that interval stays out of the history.
        let before = jittery.stats();
        jittery.heartbeat(Time::from_millis(t + 5_000));
        assert_eq!(jittery.stats(), before);
    }

    #[test]
    fn the_acceptable_pause_delays_suspicion_by_itself() {
        let mut d = PhiAccrual::new(params(3000), Time::ZERO);
        for k in 1..=50 {
            d.heartbeat(Time::from_millis(k * 100));
        }
        let t = first_suspicion(&d, 5_000) - 5_000;
        assert!((3610..=3640).contains(&t), "{t}");
    }
}
