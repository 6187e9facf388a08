//! Reliability statistics over repeated runs, as pure functions: the
//! Kaplan–Meier estimate of R(t) with Greenwood bands, the χ² interval for
//! an exponential MTTF, and summaries of a spread.

use serde::Serialize;

/// One lifetime: when the unit failed, or when we stopped watching it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Lifetime {
    /// Seconds from the start of the run.
    pub t: f64,
    /// True when the unit failed at `t`; false when it was still working (censored).
    pub failed: bool,
}

/// One point of a survival curve: R(t) and its confidence band, valid from `t`
/// until the next point.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub t: f64,
    pub r: f64,
    pub lo: f64,
    pub hi: f64,
    /// Units still watched just before `t`.
    pub at_risk: usize,
    /// Failures at `t`.
    pub failed: usize,
}

/// The standard normal quantile for a two-sided (1 − α) band, for the usual α.
pub fn z_two_sided(alpha: f64) -> f64 {
    normal_quantile(1.0 - alpha / 2.0)
}

/// Kaplan–Meier estimate of R(t) = P(no failure in [0, t]) with pointwise
/// (1 − α) bands. While no unit has been censored, R(t) is a plain binomial
/// proportion (survivors of all units), so the band is the exact
/// Clopper–Pearson interval, which stays honest at R = 1 and R = 0 (8 of 8
/// surviving gives [0.631, 1]). After a censoring, Greenwood's variance on the
/// log(−log R) scale (Kalbfleisch–Prentice) keeps the band inside [0, 1];
/// where that collapses (R = 1 or R = 0) the exact bound for the units still
/// watched is used instead. The curve starts at (0, 1) and has one point per
/// distinct failure time, plus one at the last censoring time if it comes
/// after the last failure; each point's band holds until the next point.
pub fn kaplan_meier(samples: &[Lifetime], alpha: f64) -> Vec<CurvePoint> {
    let mut s: Vec<Lifetime> = samples.iter().copied().filter(|l| l.t.is_finite()).collect();
    // At equal times failures come before censorings (a unit censored at t was at risk at t).
    s.sort_by(|a, b| a.t.total_cmp(&b.t).then(b.failed.cmp(&a.failed)));
    let n = s.len();
    // (point, Greenwood sum, failures so far)
    let mut raw = vec![(CurvePoint { t: 0.0, r: 1.0, lo: 1.0, hi: 1.0, at_risk: n, failed: 0 }, 0.0, 0usize)];
    let (mut r, mut greenwood, mut dead) = (1.0_f64, 0.0_f64, 0usize);
    let mut at_risk = n;
    let mut i = 0;
    while i < s.len() {
        let t = s[i].t;
        let (mut d, mut c) = (0usize, 0usize);
        while i < s.len() && s[i].t == t {
            if s[i].failed {
                d += 1;
            } else {
                c += 1;
            }
            i += 1;
        }
        if d > 0 {
            let m = at_risk as f64;
            r *= 1.0 - d as f64 / m;
            if at_risk > d {
                greenwood += d as f64 / (m * (m - d as f64));
            }
            dead += d;
            raw.push((CurvePoint { t, r, lo: r, hi: r, at_risk, failed: d }, greenwood, dead));
        }
        at_risk -= d + c;
        if i == s.len() && d == 0 && t > 0.0 {
            // The curve goes on flat to the last censoring.
            let (last, g, k) = raw.last().copied().unwrap_or(raw[0]);
            raw.push((CurvePoint { t, at_risk: c, failed: 0, ..last }, g, k));
        }
    }
    let z = z_two_sided(alpha);
    let censored: Vec<f64> = s.iter().filter(|l| !l.failed).map(|l| l.t).collect();
    let mut out = Vec::with_capacity(raw.len());
    for (j, &(p, g, k)) in raw.iter().enumerate() {
        let next = raw.get(j + 1).map_or(p.t, |q| q.0.t);
        // Units watched through this point's whole step.
        let watched = s.iter().filter(|l| l.t >= next).count();
        let exact = censored.iter().all(|&c| c >= next);
        let (lo, hi) = if exact {
            clopper_pearson(n - k, n, alpha)
        } else if p.r >= 1.0 {
            (clopper_pearson(watched, watched, alpha).0, 1.0)
        } else if p.r <= 0.0 {
            (0.0, clopper_pearson(0, p.at_risk, alpha).1)
        } else {
            band(p.r, g, z)
        };
        out.push(CurvePoint { lo, hi, ..p });
    }
    out
}

/// Log-log band around r with Greenwood sum `g`, clamped to [0, 1].
fn band(r: f64, g: f64, z: f64) -> (f64, f64) {
    if r <= 0.0 {
        return (0.0, 0.0);
    }
    if r >= 1.0 || g <= 0.0 {
        return (r, r);
    }
    let lr = r.ln();
    let se = (g / (lr * lr)).sqrt();
    // R^exp(+z·se) is the lower limit since R < 1.
    let lo = r.powf((z * se).exp());
    let hi = r.powf((-z * se).exp());
    (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0))
}

/// The exact two-sided (1 − α) Clopper–Pearson interval for a proportion
/// after `k` successes in `n` trials: [B(α/2; k, n−k+1), B(1−α/2; k+1, n−k)].
/// With no trial, [0, 1].
pub fn clopper_pearson(k: usize, n: usize, alpha: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let (kf, nf) = (k as f64, n as f64);
    let lo = if k == 0 { 0.0 } else { beta_quantile(alpha / 2.0, kf, nf - kf + 1.0) };
    let hi = if k == n { 1.0 } else { beta_quantile(1.0 - alpha / 2.0, kf + 1.0, nf - kf) };
    (lo, hi)
}

/// R(t) read off a step curve (the value of the last point at or before t).
pub fn curve_at(curve: &[CurvePoint], t: f64) -> Option<CurvePoint> {
    curve.iter().take_while(|p| p.t <= t).last().copied()
}

/// MTTF of exponential lifetimes with `failures` failures in `total_time`
/// unit-seconds of watching, with its two-sided (1 − α) χ² interval
/// [2T/χ²(2r+2, 1−α/2), 2T/χ²(2r, α/2)]; with no failure, no point
/// estimate and the one-sided lower bound T / ln(1/α).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct MttfEstimate {
    pub mttf_seconds: Option<f64>,
    pub lo: f64,
    /// None: unbounded above (no failure seen).
    pub hi: Option<f64>,
    pub failures: usize,
    pub total_time_seconds: f64,
    /// True when `lo` is the zero-failure bound T / ln(1/α).
    pub zero_failure_bound: bool,
}

/// Estimate the MTTF of exponential lifetimes (see [`MttfEstimate`]).
pub fn mttf_estimate(samples: &[Lifetime], alpha: f64) -> MttfEstimate {
    let total: f64 = samples.iter().map(|l| l.t.max(0.0)).sum();
    let r = samples.iter().filter(|l| l.failed).count();
    if r == 0 {
        return MttfEstimate {
            mttf_seconds: None,
            lo: total / (1.0 / alpha).ln(),
            hi: None,
            failures: 0,
            total_time_seconds: total,
            zero_failure_bound: true,
        };
    }
    let k = r as f64;
    MttfEstimate {
        mttf_seconds: Some(total / k),
        lo: 2.0 * total / chi2_quantile(1.0 - alpha / 2.0, 2.0 * k + 2.0),
        hi: Some(2.0 * total / chi2_quantile(alpha / 2.0, 2.0 * k)),
        failures: r,
        total_time_seconds: total,
        zero_failure_bound: false,
    }
}

/// The p-quantile of the χ² distribution with `k` degrees of freedom, by
/// bisection on the regularised lower incomplete gamma function P(k/2, x/2).
pub fn chi2_quantile(p: f64, k: f64) -> f64 {
    if !(0.0..1.0).contains(&p) || k <= 0.0 {
        return if p >= 1.0 { f64::INFINITY } else { f64::NAN };
    }
    if p == 0.0 {
        return 0.0;
    }
    let cdf = |x: f64| gamma_p(k / 2.0, x / 2.0);
    let mut hi = k.max(1.0);
    while cdf(hi) < p {
        hi *= 2.0;
    }
    bisect(0.0, hi, |x| cdf(x) < p)
}

/// The point in [lo, hi] where `below` turns from true to false, by bisection
/// to a relative 1e-12 (`below` must be true at lo and false at hi).
fn bisect(mut lo: f64, mut hi: f64, below: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if below(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The regularised lower incomplete gamma function P(a, x) (series for
/// x < a + 1, Lentz's continued fraction otherwise).
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let ln_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (sum * ln_front.exp()).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - ln_front.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G.iter().enumerate().skip(1).fold(G[0], |acc, (i, g)| acc + g / (x + i as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The regularised incomplete beta function I_x(a, b) (Lentz's continued
/// fraction, on the side where it converges fast).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - beta_inc(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in
            [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))]
        {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        // The last factor of the pair decides convergence.
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    (ln_front.exp() * h / a).clamp(0.0, 1.0)
}

/// The p-quantile of the Beta(a, b) distribution, by bisection.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if beta_inc(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-14 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The p-quantile of Student's t with `df` degrees of freedom, by bisection
/// on P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let upper = |t: f64| 0.5 * beta_inc(df / 2.0, 0.5, df / (df + t * t));
    let target = 1.0 - p;
    let mut hi = 1.0_f64;
    while upper(hi) > target && hi < 1e12 {
        hi *= 2.0;
    }
    bisect(0.0, hi, |t| upper(t) > target)
}

/// A two-sided (1 − α) interval around an estimate.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Independent values the interval rests on (runs, batches).
    pub n: usize,
}

/// The t-interval for the mean of independent values: mean ± t(1−α/2, n−1)·s/√n
/// (None below two values).
pub fn t_interval(values: &[f64], alpha: f64) -> Option<Interval> {
    let s = spread(values)?;
    if s.n < 2 {
        return None;
    }
    let half = t_quantile(1.0 - alpha / 2.0, (s.n - 1) as f64) * s.stddev / (s.n as f64).sqrt();
    Some(Interval { estimate: s.mean, lo: s.mean - half, hi: s.mean + half, n: s.n })
}

/// Batch means for a ratio measured over consecutive windows (ok/sent,
/// up time/window length): the windows are cut into `batches` contiguous
/// batches of equal count, each batch's ratio Σnum/Σden is one value, and the
/// interval is the whole series' ratio ± t(1−α/2, b−1)·s/√b over the b batches
/// that saw anything. Batches long against the series' correlation time make
/// the batch values nearly independent; the t-quantile pays for few of them.
/// None when fewer than two batches carry data.
pub fn batch_means(windows: &[(f64, f64)], batches: usize, alpha: f64) -> Option<Interval> {
    let (num, den) = windows.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    if den <= 0.0 || batches < 2 || windows.len() < batches {
        return None;
    }
    let per = windows.len() / batches;
    let values: Vec<f64> = (0..batches)
        .filter_map(|j| {
            // The last batch takes the remainder.
            let end = if j + 1 == batches { windows.len() } else { (j + 1) * per };
            let (x, y) = windows[j * per..end].iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
            (y > 0.0).then(|| x / y)
        })
        .collect();
    let s = spread(&values)?;
    if s.n < 2 {
        return None;
    }
    let estimate = num / den;
    let half = t_quantile(1.0 - alpha / 2.0, (s.n - 1) as f64) * s.stddev / (s.n as f64).sqrt();
    Some(Interval { estimate, lo: estimate - half, hi: estimate + half, n: s.n })
}

/// MTTR of exponential repair times, with its (1 − α) χ² interval; each
/// sample is one outage (`failed`: it ended, a completed repair). With every
/// repair seen to its end the sum of k down times is Gamma(k), so the interval
/// is [2D/χ²(1−α/2, 2k), 2D/χ²(α/2, 2k)]; an outage still open at the end adds
/// its time but no repair, and the lower limit takes 2k + 2 degrees as for a
/// time-truncated test. None without a completed repair.
pub fn mttr_interval(samples: &[Lifetime], alpha: f64) -> Option<[f64; 2]> {
    let total: f64 = samples.iter().map(|l| l.t.max(0.0)).sum();
    let k = samples.iter().filter(|l| l.failed).count() as f64;
    if k == 0.0 {
        return None;
    }
    let open = samples.iter().any(|l| !l.failed);
    let lo_df = if open { 2.0 * k + 2.0 } else { 2.0 * k };
    Some([
        2.0 * total / chi2_quantile(1.0 - alpha / 2.0, lo_df),
        2.0 * total / chi2_quantile(alpha / 2.0, 2.0 * k),
    ])
}

/// The p-quantile of Fisher's F(d1, d2): d2·X / (d1·(1 − X)) with X ~ Beta(d1/2, d2/2).
pub fn f_quantile(p: f64, d1: f64, d2: f64) -> f64 {
    let x = beta_quantile(p, d1 / 2.0, d2 / 2.0);
    if x >= 1.0 {
        return f64::INFINITY;
    }
    d2 * x / (d1 * (1.0 - x))
}

/// The (1 − α) interval of the steady-state availability μ/(λ + μ) of a unit
/// with exponential up times (rate λ) and down times (rate μ), from `failures`
/// failures in `up` seconds up and `repairs` repairs in `down` seconds down:
/// 2λU ~ χ²(2r) and 2μD ~ χ²(2k), so (λ/μ)·(U/r)/(D/k) ~ F(2r, 2k). None
/// without a failure and a repair.
pub fn availability_exponential(
    failures: usize,
    up: f64,
    repairs: usize,
    down: f64,
    alpha: f64,
) -> Option<[f64; 2]> {
    if failures == 0 || repairs == 0 || up <= 0.0 || down <= 0.0 {
        return None;
    }
    let (r, k) = (failures as f64, repairs as f64);
    let ratio = (r / up) / (k / down);
    let lo_ratio = ratio * f_quantile(alpha / 2.0, 2.0 * r, 2.0 * k);
    let hi_ratio = ratio * f_quantile(1.0 - alpha / 2.0, 2.0 * r, 2.0 * k);
    Some([1.0 / (1.0 + hi_ratio), 1.0 / (1.0 + lo_ratio)])
}

/// Mean, extremes and sample standard deviation of a set of values.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub stddev: f64,
    pub n: usize,
}

/// The spread of `values` (None when empty).
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some(Spread {
        mean,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        stddev: var.sqrt(),
        n: values.len(),
    })
}

/// TMR's reliability from one replica's: R_TMR = 3R² − 2R³ (no repair,
/// independent failures, a perfect voter).
pub fn r_tmr(r: f64) -> f64 {
    3.0 * r * r - 2.0 * r * r * r
}

/// TMR's MTTF for replicas with failure rate λ: 5 / (6λ).
pub fn mttf_tmr(lambda: f64) -> f64 {
    5.0 / (6.0 * lambda)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn chi2_quantiles_match_the_tables() {
        // (p, k, table value)
        let known = [
            (0.975, 2.0, 7.377_759),
            (0.025, 2.0, 0.050_636),
            (0.95, 10.0, 18.307_038),
            (0.05, 10.0, 3.940_299),
            (0.5, 1.0, 0.454_936),
            (0.995, 1.0, 7.879_439),
            (0.025, 40.0, 24.433_04),
            (0.975, 40.0, 59.341_707),
            (0.975, 22.0, 36.780_712),
        ];
        for (p, k, want) in known {
            let got = chi2_quantile(p, k);
            assert!(close(got, want, 1e-5), "chi2({p}, {k}) = {got}, want {want}");
        }
    }

    #[test]
    fn chi2_with_two_degrees_is_exponential() {
        // χ²(2) is exponential with mean 2: the quantile is −2 ln(1 − p).
        for p in [0.01, 0.3, 0.9, 0.999] {
            assert!(close(chi2_quantile(p, 2.0), -2.0 * (1.0 - p).ln(), 1e-9));
        }
    }

    #[test]
    fn normal_quantile_matches_the_tables() {
        assert!(close(normal_quantile(0.975), 1.959_964, 1e-6));
        assert!(close(normal_quantile(0.5), 0.0, 1e-9));
        assert!(close(normal_quantile(0.001), -3.090_232, 1e-6));
    }

    #[test]
    fn kaplan_meier_without_censoring_is_the_empirical_survival() {
        let s: Vec<Lifetime> = [1.0, 2.0, 3.0, 4.0].iter().map(|&t| Lifetime { t, failed: true }).collect();
        let c = kaplan_meier(&s, 0.05);
        let r: Vec<f64> = c.iter().map(|p| p.r).collect();
        assert_eq!(r, vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        for p in &c {
            assert!(p.lo <= p.r && p.r <= p.hi && p.lo >= 0.0 && p.hi <= 1.0, "{p:?}");
        }
        // Greenwood at t = 2: S = 0.5, var = S² (1/(4·3) + 1/(3·2)) = 0.0625.
        assert!(c[2].lo < 0.5 && c[2].hi > 0.5 && c[2].hi - c[2].lo > 0.3);
    }

    #[test]
    fn kaplan_meier_handles_censoring_the_textbook_way() {
        // 6, 6, 6, 6+, 7, 10+ : S(6) = 3/6 ... classic example shape.
        let s = vec![
            Lifetime { t: 6.0, failed: true },
            Lifetime { t: 6.0, failed: true },
            Lifetime { t: 6.0, failed: true },
            Lifetime { t: 6.0, failed: false },
            Lifetime { t: 7.0, failed: true },
            Lifetime { t: 10.0, failed: false },
        ];
        let c = kaplan_meier(&s, 0.05);
        assert_eq!(c.len(), 4, "{c:?}");
        assert!(close(c[1].r, 0.5, 1e-12));
        assert_eq!(c[1].at_risk, 6);
        // At 7, two at risk (the censored 6 left), one fails.
        assert_eq!(c[2].at_risk, 2);
        assert!(close(c[2].r, 0.25, 1e-12));
        // Flat to the censoring at 10.
        assert_eq!(c[3].t, 10.0);
        assert!(close(c[3].r, 0.25, 1e-12));
        assert!(close(curve_at(&c, 8.0).unwrap().r, 0.25, 1e-12));
        assert_eq!(curve_at(&c, 3.0).unwrap().r, 1.0);
    }

    #[test]
    fn all_censored_keeps_r_at_one_with_an_honest_band() {
        let s = vec![Lifetime { t: 5.0, failed: false }; 3];
        let c = kaplan_meier(&s, 0.05);
        assert_eq!(c.len(), 2);
        // 3 of 3 survived: the exact lower bound is 0.025^(1/3) = 0.292, not 1.
        assert!(c.iter().all(|p| p.r == 1.0 && p.hi == 1.0 && close(p.lo, 0.025f64.powf(1.0 / 3.0), 1e-9)));
    }

    #[test]
    fn eight_runs_that_all_survive_bound_r_below_at_0_63() {
        // The case a reader met: 8 runs, no failure, R(3 s) shown as [1.00, 1.00].
        // Two-sided 95% Clopper–Pearson: lower bound (α/2)^(1/n) = 0.025^(1/8) = 0.6306.
        let s = vec![Lifetime { t: 10.0, failed: false }; 8];
        let c = kaplan_meier(&s, 0.05);
        let p = curve_at(&c, 3.0).unwrap();
        assert_eq!(p.r, 1.0);
        assert!(close(p.lo, 0.630_583, 1e-5), "{p:?}");
        assert_eq!(p.hi, 1.0);
    }

    #[test]
    fn band_stays_open_at_r_zero_and_is_exact_before_any_censoring() {
        let s: Vec<Lifetime> = (1..=8).map(|k| Lifetime { t: k as f64, failed: true }).collect();
        let c = kaplan_meier(&s, 0.05);
        let last = c.last().unwrap();
        assert_eq!(last.r, 0.0);
        assert_eq!(last.lo, 0.0);
        assert!(close(last.hi, 1.0 - 0.025f64.powf(1.0 / 8.0), 1e-5), "{last:?}");
        // At t = 4, 4 of 8 survive: Clopper–Pearson [0.157, 0.843] (tables).
        let p = curve_at(&c, 4.5).unwrap();
        assert!(close(p.r, 0.5, 1e-12));
        assert!(close(p.lo, 0.157_013, 1e-4) && close(p.hi, 0.842_987, 1e-4), "{p:?}");
    }

    #[test]
    fn after_a_censoring_the_edges_use_the_units_still_watched() {
        // Censored at 1 and 2, the rest (4) watched to 10 without failure.
        let mut s = vec![Lifetime { t: 1.0, failed: false }, Lifetime { t: 2.0, failed: false }];
        s.extend(vec![Lifetime { t: 10.0, failed: false }; 4]);
        let c = kaplan_meier(&s, 0.05);
        let end = c.last().unwrap();
        assert_eq!((end.t, end.r), (10.0, 1.0));
        assert!(close(end.lo, 0.025f64.powf(0.25), 1e-9), "4 watched to the end: {end:?}");
        // Censoring before a failure: Greenwood after it, still inside [0, 1] and around r.
        let s = vec![
            Lifetime { t: 1.0, failed: false },
            Lifetime { t: 2.0, failed: true },
            Lifetime { t: 3.0, failed: true },
            Lifetime { t: 4.0, failed: false },
            Lifetime { t: 5.0, failed: false },
        ];
        let c = kaplan_meier(&s, 0.05);
        let p = curve_at(&c, 2.5).unwrap();
        assert!(close(p.r, 0.75, 1e-12));
        assert!(p.lo > 0.0 && p.lo < 0.75 && p.hi > 0.75 && p.hi < 1.0, "{p:?}");
    }

    #[test]
    fn clopper_pearson_matches_the_tables() {
        let (lo, hi) = clopper_pearson(5, 10, 0.05);
        assert!(close(lo, 0.187_086, 1e-5) && close(hi, 0.812_914, 1e-5), "{lo} {hi}");
        let (lo, hi) = clopper_pearson(1, 20, 0.05);
        assert!(close(lo, 0.001_265, 1e-3) && close(hi, 0.248_733, 1e-5), "{lo} {hi}");
        assert_eq!(clopper_pearson(0, 0, 0.05), (0.0, 1.0));
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        for (p, df, want) in [
            (0.975, 1.0, 12.706_205),
            (0.975, 9.0, 2.262_157),
            (0.975, 19.0, 2.093_024),
            (0.95, 5.0, 2.015_048),
            (0.995, 29.0, 2.756_386),
            (0.975, 1000.0, 1.962_339),
        ] {
            let got = t_quantile(p, df);
            assert!(close(got, want, 1e-5), "t({p}, {df}) = {got}, want {want}");
        }
        assert!(close(t_quantile(0.025, 9.0), -2.262_157, 1e-5));
    }

    #[test]
    fn t_interval_of_known_values() {
        // mean 5, s = √2.5, n = 5: half-width t(0.975, 4)·s/√5 = 2.776445 · 0.707107.
        let i = t_interval(&[3.0, 4.0, 5.0, 6.0, 7.0], 0.05).unwrap();
        assert!(close(i.lo, 5.0 - 1.963_243, 1e-5) && close(i.hi, 5.0 + 1.963_243, 1e-5), "{i:?}");
        assert_eq!(t_interval(&[1.0], 0.05), None);
    }

    /// AR(1) around `mean`: x' = mean + φ(x − mean) + ε, ε ~ N(0, 1).
    fn ar1(rng: &mut rand_chacha::ChaCha8Rng, n: usize, mean: f64, phi: f64) -> Vec<(f64, f64)> {
        use rand_distr::{Distribution, StandardNormal};
        let mut x = mean;
        (0..n)
            .map(|_| {
                let e: f64 = StandardNormal.sample(rng);
                x = mean + phi * (x - mean) + e;
                (x, 1.0)
            })
            .collect()
    }

    #[test]
    fn batch_means_cover_the_truth_at_about_the_stated_rate() {
        use rand::SeedableRng;
        // 1000 seeded series of 600 correlated windows (a 60 s run in 100 ms
        // windows), 20 batches: a 95% interval must cover the mean 95% of the time.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let trials = 1000;
        let covered = (0..trials)
            .filter(|_| {
                let w = ar1(&mut rng, 600, 3.0, 0.5);
                let i = batch_means(&w, 20, 0.05).unwrap();
                i.lo <= 3.0 && 3.0 <= i.hi
            })
            .count();
        let rate = covered as f64 / trials as f64;
        assert!((0.93..=0.97).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn batch_means_of_a_ratio_and_its_limits() {
        // 40 windows, ok/sent alternating 10/10 and 8/10: ratio 0.9, every batch of 2 is 0.9.
        let w: Vec<(f64, f64)> = (0..40).map(|k| (if k % 2 == 0 { 10.0 } else { 8.0 }, 10.0)).collect();
        let i = batch_means(&w, 20, 0.05).unwrap();
        assert!(close(i.estimate, 0.9, 1e-12) && close(i.lo, 0.9, 1e-9) && close(i.hi, 0.9, 1e-9));
        assert_eq!(i.n, 20);
        assert_eq!(batch_means(&w[..3], 20, 0.05), None, "fewer windows than batches");
        assert_eq!(batch_means(&[(0.0, 0.0); 40], 20, 0.05), None, "nothing sent");
    }

    #[test]
    fn f_quantiles_match_the_tables() {
        for (p, d1, d2, want) in
            [(0.975, 10.0, 10.0, 3.716_792), (0.025, 10.0, 10.0, 0.269_048), (0.95, 4.0, 20.0, 2.866_081)]
        {
            let got = f_quantile(p, d1, d2);
            assert!(close(got, want, 1e-5), "F({p}; {d1}, {d2}) = {got}, want {want}");
        }
    }

    #[test]
    fn exponential_availability_interval_covers_the_truth_at_about_the_stated_rate() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Exp};
        // 1000 seeded 60 s runs, up ~ Exp(mean 4 s), down ~ Exp(mean 1 s): A = 0.8.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (up_law, down_law) = (Exp::new(0.25).unwrap(), Exp::new(1.0).unwrap());
        let (mut covered, mut tried) = (0, 0);
        for _ in 0..1000 {
            let (mut t, mut up, mut down, mut failures, mut repairs) = (0.0, 0.0, 0.0, 0, 0);
            while t < 60.0 {
                let u: f64 = up_law.sample(&mut rng);
                if t + u >= 60.0 {
                    up += 60.0 - t;
                    break;
                }
                up += u;
                failures += 1;
                t += u;
                let d: f64 = down_law.sample(&mut rng);
                down += d.min(60.0 - t);
                repairs += usize::from(t + d < 60.0);
                t += d;
            }
            if let Some([lo, hi]) = availability_exponential(failures, up, repairs, down, 0.05) {
                tried += 1;
                covered += usize::from(lo <= 0.8 && 0.8 <= hi);
            }
        }
        let rate = covered as f64 / tried as f64;
        assert!(tried > 990 && (0.93..=0.97).contains(&rate), "coverage {rate} over {tried}");
    }

    #[test]
    fn mttr_interval_is_the_chi_square_one() {
        // 10 repairs, 10 s down: [20/χ²(0.975, 20), 20/χ²(0.025, 20)] = [0.5853, 2.0853].
        let s = vec![Lifetime { t: 1.0, failed: true }; 10];
        let [lo, hi] = mttr_interval(&s, 0.05).unwrap();
        assert!(close(lo, 20.0 / 34.169_607, 1e-5) && close(hi, 20.0 / 9.590_777, 1e-5), "{lo} {hi}");
        // The same with an eleventh outage open at the end (1 s more, no repair).
        let mut s = s;
        s.push(Lifetime { t: 1.0, failed: false });
        let [lo, hi] = mttr_interval(&s, 0.05).unwrap();
        assert!(close(lo, 22.0 / 36.780_712, 1e-5) && close(hi, 22.0 / 9.590_777, 1e-5), "{lo} {hi}");
        // One outage open at the end, none completed: no upper bound.
        assert_eq!(mttr_interval(&[Lifetime { t: 3.0, failed: false }], 0.05), None);
    }

    #[test]
    fn mttf_interval_brackets_the_estimate() {
        // 10 failures in 1000 unit-seconds: MTTF 100, 95% χ² interval [54.4, 208.5].
        let mut s = vec![Lifetime { t: 50.0, failed: true }; 10];
        s.extend(vec![Lifetime { t: 100.0, failed: false }; 5]);
        let e = mttf_estimate(&s, 0.05);
        assert_eq!(e.failures, 10);
        assert!(close(e.mttf_seconds.unwrap(), 100.0, 1e-12));
        assert!(close(e.lo, 2000.0 / 36.780_712, 1e-5), "{e:?}");
        assert!(close(e.hi.unwrap(), 2000.0 / 9.590_777, 1e-5), "{e:?}");
    }

    #[test]
    fn zero_failures_give_the_one_sided_bound() {
        let s = vec![Lifetime { t: 10.0, failed: false }; 3];
        let e = mttf_estimate(&s, 0.05);
        assert_eq!(e.mttf_seconds, None);
        assert!(e.zero_failure_bound);
        assert!(close(e.lo, 30.0 / 20f64.ln(), 1e-12));
    }

    #[test]
    fn spread_and_tmr_model() {
        let s = spread(&[1.0, 0.9, 0.8]).unwrap();
        assert!(close(s.mean, 0.9, 1e-12) && close(s.stddev, 0.1, 1e-12));
        assert_eq!((s.min, s.max, s.n), (0.8, 1.0, 3));
        assert_eq!(spread(&[]), None);
        // TMR beats one unit only while R > 0.5.
        assert!(r_tmr(0.9) > 0.9 && r_tmr(0.4) < 0.4 && close(r_tmr(0.5), 0.5, 1e-12));
        assert!(close(mttf_tmr(0.1), 5.0 / 0.6, 1e-12));
    }
}
