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
/// (1 − α) bands from Greenwood's variance on the log(−log R) scale
/// (Kalbfleisch–Prentice), which keeps the band inside [0, 1]. The curve
/// starts at (0, 1) and has one point per distinct failure time, plus one at
/// the last censoring time if it comes after the last failure.
pub fn kaplan_meier(samples: &[Lifetime], alpha: f64) -> Vec<CurvePoint> {
    let mut s: Vec<Lifetime> = samples.iter().copied().filter(|l| l.t.is_finite()).collect();
    // At equal times failures come before censorings (a unit censored at t was at risk at t).
    s.sort_by(|a, b| a.t.total_cmp(&b.t).then(b.failed.cmp(&a.failed)));
    let z = z_two_sided(alpha);
    let mut out = vec![CurvePoint { t: 0.0, r: 1.0, lo: 1.0, hi: 1.0, at_risk: s.len(), failed: 0 }];
    let (mut r, mut greenwood) = (1.0_f64, 0.0_f64);
    let mut at_risk = s.len();
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
            let n = at_risk as f64;
            r *= 1.0 - d as f64 / n;
            if at_risk > d {
                greenwood += d as f64 / (n * (n - d as f64));
            }
            let (lo, hi) = band(r, greenwood, z);
            out.push(CurvePoint { t, r, lo, hi, at_risk, failed: d });
        }
        at_risk -= d + c;
        if i == s.len() && d == 0 && t > 0.0 {
            // The curve goes on flat to the last censoring.
            let last = out.last().copied().unwrap_or(out[0]);
            out.push(CurvePoint { t, at_risk: c, failed: 0, ..last });
        }
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
    let (mut lo, mut hi) = (0.0, k.max(1.0));
    while cdf(hi) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
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
    fn all_censored_keeps_r_at_one() {
        let s = vec![Lifetime { t: 5.0, failed: false }; 3];
        let c = kaplan_meier(&s, 0.05);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|p| p.r == 1.0 && p.lo == 1.0));
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
