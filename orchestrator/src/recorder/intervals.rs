//! A single run's intervals: availability by batch means over the 100 ms
//! windows, MTTF and MTTR by χ² (exponential up and down times).

use super::outage::Outage;
use crate::repeat::stats::{self, Lifetime};
use crate::report::IntervalMethods;

/// Batches for batch means. An outage cycle lasts seconds, so batches must
/// be long: in a simulation of 60 s runs with exponential up (mean 4 s) and
/// down (mean 1 s) times, 10 batches covered the truth 92% of the time
/// against 90% for 20 and 88% for 30.
pub const BATCHES: usize = 10;

/// At least this many windows per batch, or no availability interval.
const MIN_WINDOWS_PER_BATCH: usize = 2;

/// Confidence of every single-run interval: 1 − α.
pub const ALPHA: f64 = 0.05;

/// The intervals of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunIntervals {
    pub availability: Option<[f64; 2]>,
    pub availability_time: Option<[f64; 2]>,
    pub mttf: Option<[f64; 2]>,
    pub mttr: Option<[f64; 2]>,
    /// Steady-state availability MTTF/(MTTF + MTTR), exponential up and down times (F law).
    pub availability_exponential: Option<[f64; 2]>,
}

/// How they are computed, for the report.
pub fn methods() -> IntervalMethods {
    IntervalMethods {
        confidence: 1.0 - ALPHA,
        availability: format!(
            "batch means: the run's 100 ms windows in {BATCHES} consecutive batches, t-quantile with {} degrees of freedom",
            BATCHES - 1
        ),
        mttf: "chi-square, time-truncated: assumes exponential up times (constant failure rate)".into(),
        mttr: "chi-square: assumes exponential down times; an outage open at the end adds time, not a repair"
            .into(),
        availability_exponential: "F law of (MTTR/MTTF): the steady-state availability MTTF/(MTTF+MTTR), \
            assuming exponential up and down times; compare it with availability_model"
            .into(),
    }
}

/// The intervals of a run that ended at `end` with these outages (`open_at_end`:
/// the last was still open when the run ended) and `windows` of (ok, sent) per
/// 100 ms window.
pub fn run_intervals(
    outages: &[Outage],
    open_at_end: bool,
    end: f64,
    windows: &[(f64, f64)],
) -> RunIntervals {
    let clamp = |i: stats::Interval| [i.lo.clamp(0.0, 1.0), i.hi.clamp(0.0, 1.0)];
    let enough = |w: &[(f64, f64)]| w.len() >= BATCHES * MIN_WINDOWS_PER_BATCH;
    let availability =
        enough(windows).then(|| stats::batch_means(windows, BATCHES, ALPHA)).flatten().map(clamp);
    let up = up_windows(outages, end);
    let availability_time = enough(&up).then(|| stats::batch_means(&up, BATCHES, ALPHA)).flatten().map(clamp);
    // Up periods: from the start (or an outage's end) to the next outage's
    // start; the last one, if the run ended up, is censored.
    let mut ups = Vec::with_capacity(outages.len() + 1);
    let mut from = 0.0;
    for o in outages {
        ups.push(Lifetime { t: (o.start - from).max(0.0), failed: true });
        from = o.end;
    }
    if !open_at_end && end > from {
        ups.push(Lifetime { t: end - from, failed: false });
    }
    let mttf = (!outages.is_empty()).then(|| {
        let e = stats::mttf_estimate(&ups, ALPHA);
        e.hi.map(|hi| [e.lo, hi])
    });
    let downs: Vec<Lifetime> = outages
        .iter()
        .enumerate()
        .map(|(k, o)| Lifetime { t: o.end - o.start, failed: !(open_at_end && k + 1 == outages.len()) })
        .collect();
    let mttr = (!outages.is_empty()).then(|| stats::mttr_interval(&downs, ALPHA)).flatten();
    let down: f64 = downs.iter().map(|l| l.t).sum();
    let repairs = downs.iter().filter(|l| l.failed).count();
    let availability_exponential =
        stats::availability_exponential(outages.len(), (end - down).max(0.0), repairs, down, ALPHA);
    RunIntervals { availability, availability_time, mttf: mttf.flatten(), mttr, availability_exponential }
}

/// (up time, window length) of each 100 ms window of [0, end).
fn up_windows(outages: &[Outage], end: f64) -> Vec<(f64, f64)> {
    let w = super::WINDOW.as_secs_f64();
    let n = (end / w).ceil().max(0.0) as usize;
    let mut out: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let len = ((k + 1) as f64 * w).min(end) - k as f64 * w;
            (len, len)
        })
        .collect();
    for o in outages {
        let first = (o.start / w).floor().max(0.0) as usize;
        for (k, slot) in out.iter_mut().enumerate().skip(first) {
            let (a, b) = (k as f64 * w, (k as f64 + 1.0) * w);
            if a >= o.end {
                break;
            }
            let overlap = o.end.min(b) - o.start.max(a);
            if overlap > 0.0 {
                slot.0 = (slot.0 - overlap).max(0.0);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn outage(start: f64, end: f64) -> Outage {
        Outage { start, end, failed: 1 }
    }

    #[test]
    fn up_windows_subtract_each_outage_once() {
        let w = up_windows(&[outage(0.05, 0.25)], 0.4);
        let up: Vec<f64> = w.iter().map(|x| (x.0 * 1000.0).round() / 1000.0).collect();
        assert_eq!(up, vec![0.05, 0.0, 0.05, 0.1]);
        assert!(w.iter().all(|x| (x.1 - 0.1).abs() < 1e-12));
    }

    #[test]
    fn intervals_bracket_the_estimates_of_a_run() {
        // 60 s, an outage of 1 s every 5 s from 4 s: 12 outages, availability 0.8.
        let outages: Vec<Outage> =
            (0..12).map(|k| outage(4.0 + 5.0 * k as f64, 5.0 + 5.0 * k as f64)).collect();
        let windows: Vec<(f64, f64)> =
            up_windows(&outages, 60.0).iter().map(|(u, l)| (u * 100.0, l * 100.0)).collect();
        let i = run_intervals(&outages, false, 60.0, &windows);
        let [lo, hi] = i.availability_time.unwrap();
        assert!(lo < 0.8 && 0.8 < hi && hi - lo < 0.2, "{lo} {hi}");
        let [lo, hi] = i.availability.unwrap();
        assert!(lo < 0.8 && 0.8 < hi, "{lo} {hi}");
        // Up time 48 s over 12 failures: MTTF 4 s; χ² [96/χ²(0.975, 26), 96/χ²(0.025, 24)].
        let [lo, hi] = i.mttf.unwrap();
        assert!((lo - 96.0 / 41.923_17).abs() < 1e-3 && (hi - 96.0 / 12.401_15).abs() < 1e-3, "{lo} {hi}");
        // Down 12 s over 12 repairs: MTTR 1 s; [24/χ²(0.975, 24), 24/χ²(0.025, 24)].
        let [lo, hi] = i.mttr.unwrap();
        assert!((lo - 24.0 / 39.364_08).abs() < 1e-3 && (hi - 24.0 / 12.401_15).abs() < 1e-3, "{lo} {hi}");
        let [lo, hi] = i.availability_exponential.unwrap();
        assert!(lo < 0.8 && 0.8 < hi, "{lo} {hi}");
    }

    #[test]
    fn no_outage_no_mttf_interval_and_an_open_outage_is_not_a_repair() {
        let i = run_intervals(&[], false, 10.0, &vec![(10.0, 10.0); 100]);
        assert_eq!((i.mttf, i.mttr), (None, None));
        assert_eq!(i.availability, Some([1.0, 1.0]));
        let i = run_intervals(&[outage(5.0, 10.0)], true, 10.0, &[]);
        assert!(i.mttf.is_some(), "one failure after 5 s up");
        assert_eq!(i.mttr, None, "the only outage never ended");
        assert_eq!(i.availability, None, "no windows");
    }
}
