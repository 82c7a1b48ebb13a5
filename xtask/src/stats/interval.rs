//! Confidence intervals on the ratio head/base of two sets of per-repeat
//! values (one value per repeat: a run's rps, a repeat's median latency).
//!
//! The verdict uses [`welch_log_ratio`]: Welch's t interval on the
//! difference of the mean log values, exponentiated, i.e. an interval on the
//! ratio of geometric means. Why this and not the bootstrap:
//!
//! - A pull request's A/B has few repeats (5 to 10 per arm). At that size a
//!   percentile bootstrap is too narrow (it ignores that the spread itself is
//!   estimated from 5 values, where Student's t widens the interval: its 99%
//!   quantile is 4.0 at 4 degrees of freedom against the normal's 2.58), and
//!   a bootstrap of medians of 5 values takes only a handful of distinct
//!   values. Welch's interval keeps its stated coverage at small n.
//! - Welch does not assume equal variances (a change can make a variant
//!   noisier as well as slower).
//! - On the log scale a ratio is a difference, so a 2x slowdown and a 2x
//!   speed-up are symmetric, and throughput and latency (positive, skewed to
//!   the right) are close to normal after the log.
//! - It is closed-form: deterministic without a seed, cheap, checkable.
//!
//! [`bootstrap_ratio`] (percentile bootstrap, fixed seed) is kept for runs
//! with many repeats, where it needs no normality (`--method bootstrap`).

use rand::{Rng, SeedableRng};

/// An estimate of head/base and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub ratio: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Welch's t interval on `mean(ln head) - mean(ln base)`, exponentiated:
/// head/base as a ratio of geometric means. `confidence` in (0, 1), e.g.
/// 0.99. `None` when a side has fewer than 2 values or a value is not
/// positive and finite. Two sides without any spread give the point ratio
/// as a zero-width interval.
pub fn welch_log_ratio(base: &[f64], head: &[f64], confidence: f64) -> Option<Interval> {
    let lb = logs(base)?;
    let lh = logs(head)?;
    let (mb, vb) = mean_var(&lb);
    let (mh, vh) = mean_var(&lh);
    let (nb, nh) = (lb.len() as f64, lh.len() as f64);
    let d = mh - mb;
    let (sb, sh) = (vb / nb, vh / nh);
    let se2 = sb + sh;
    if se2 <= 0.0 {
        let r = d.exp();
        return Some(Interval {
            ratio: r,
            lo: r,
            hi: r,
        });
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = se2 * se2 / (sb * sb / (nb - 1.0) + sh * sh / (nh - 1.0));
    let t = student_t_quantile(0.5 + confidence / 2.0, df);
    let half = t * se2.sqrt();
    Some(Interval {
        ratio: d.exp(),
        lo: (d - half).exp(),
        hi: (d + half).exp(),
    })
}

/// The mean of `values` and Student's t interval of that mean, as
/// `(mean, lo, hi)`; `None` with fewer than 2 values.
pub fn mean_interval(values: &[f64], confidence: f64) -> Option<(f64, f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = student_t_quantile(0.5 + confidence / 2.0, (n - 1) as f64) * (var / n as f64).sqrt();
    Some((mean, mean - half, mean + half))
}

/// The statistic a bootstrap resample is summarised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Center {
    Mean,
    Median,
}

/// Percentile bootstrap of `center(head) / center(base)`: both sides are
/// resampled with replacement, independently, `resamples` times from a
/// generator seeded with `seed` (the same inputs give the same interval).
pub fn bootstrap_ratio(
    base: &[f64],
    head: &[f64],
    confidence: f64,
    center: Center,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    logs(base)?;
    logs(head)?;
    let stat = |v: &[f64]| match center {
        Center::Mean => crate::stats::mean(v),
        Center::Median => crate::stats::median(v),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut resample = |v: &[f64], buf: &mut Vec<f64>| {
        buf.clear();
        buf.extend((0..v.len()).map(|_| v[rng.random_range(0..v.len())]));
    };
    let (mut bb, mut hb) = (Vec::new(), Vec::new());
    let mut ratios: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            resample(base, &mut bb);
            resample(head, &mut hb);
            stat(&hb) / stat(&bb)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0 * 100.0;
    Some(Interval {
        ratio: stat(head) / stat(base),
        lo: crate::stats::percentile(&ratios, tail),
        hi: crate::stats::percentile(&ratios, 100.0 - tail),
    })
}

/// The natural logs, when every value is positive and finite and there are
/// at least two.
fn logs(values: &[f64]) -> Option<Vec<f64>> {
    if values.len() < 2 || values.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return None;
    }
    Some(values.iter().map(|v| v.ln()).collect())
}

/// Mean and sample variance (n - 1).
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// The geometric mean (the centre Welch's ratio is about).
pub fn geometric_mean(values: &[f64]) -> f64 {
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}

/// Student's t quantile: the `t` with `P(T <= t) = p` at `df` (not
/// necessarily whole) degrees of freedom, by bisection on the CDF.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    assert!(
        p > 0.0 && p < 1.0 && df > 0.0,
        "t quantile of p={p}, df={df}"
    );
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi.max(1.0) {
            break;
        }
    }
    (lo + hi) / 2.0
}

/// Student's t CDF through the regularized incomplete beta function.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * reg_inc_beta(df / 2.0, 0.5, x);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// `I_x(a, b)`, by the continued fraction (Numerical Recipes' `betai`).
fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
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
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for x > 0 (Lanczos, g = 7, 9 terms; about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
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
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        for (n, fact) in [(1.0, 1.0), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!(close(ln_gamma(n), f64::ln(fact), 1e-10), "ln Γ({n})");
        }
        // Γ(1/2) = √π
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-10
        ));
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Two-sided 95% and 99% critical values from the usual table.
        for (p, df, want) in [
            (0.975, 1.0, 12.706),
            (0.975, 5.0, 2.571),
            (0.975, 10.0, 2.228),
            (0.995, 1.0, 63.657),
            (0.995, 4.0, 4.604),
            (0.995, 10.0, 3.169),
            (0.995, 30.0, 2.750),
            (0.995, 1e6, 2.576),
        ] {
            let got = student_t_quantile(p, df);
            assert!(close(got, want, 5e-4), "t({p}, {df}) = {got}, want {want}");
        }
        assert!(close(student_t_quantile(0.5, 7.0), 0.0, 1e-9));
        assert!(close(student_t_quantile(0.025, 5.0), -2.571, 5e-4));
        assert!(close(student_t_cdf(0.0, 3.0), 0.5, 1e-12));
    }

    #[test]
    fn welch_of_identical_samples_is_centred_on_one() {
        let v = [1000.0, 1010.0, 990.0, 1005.0, 995.0];
        let iv = welch_log_ratio(&v, &v, 0.99).unwrap();
        assert!(close(iv.ratio, 1.0, 1e-12));
        assert!(iv.lo < 1.0 && iv.hi > 1.0);
        assert!(
            close(iv.lo * iv.hi, 1.0, 1e-12),
            "symmetric on the log scale"
        );
    }

    #[test]
    fn welch_matches_a_hand_computation() {
        // ln values: base ln(100), ln(110) ; head ln(120), ln(130), ln(125).
        let base = [100.0, 110.0];
        let head = [120.0, 130.0, 125.0];
        let lb: Vec<f64> = base.iter().map(|v: &f64| v.ln()).collect();
        let lh: Vec<f64> = head.iter().map(|v: &f64| v.ln()).collect();
        let (mb, vb) = mean_var(&lb);
        let (mh, vh) = mean_var(&lh);
        let (sb, sh) = (vb / 2.0, vh / 3.0);
        let df = (sb + sh).powi(2) / (sb * sb / 1.0 + sh * sh / 2.0);
        let t = student_t_quantile(0.975, df);
        let iv = welch_log_ratio(&base, &head, 0.95).unwrap();
        assert!(close(iv.ratio.ln(), mh - mb, 1e-12));
        assert!(close(
            iv.hi.ln() - iv.ratio.ln(),
            t * (sb + sh).sqrt(),
            1e-9
        ));
        assert!(df > 1.0 && df < 3.0, "df {df}");
    }

    #[test]
    fn welch_separates_a_clear_shift_and_not_noise() {
        let base = [10_000.0, 10_100.0, 9_950.0, 10_050.0, 9_900.0, 10_000.0];
        let slower: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        let iv = welch_log_ratio(&base, &slower, 0.99).unwrap();
        assert!(close(iv.ratio, 0.8, 1e-9));
        assert!(iv.hi < 0.95, "{iv:?}");
        let noisy_base = [10_000.0, 11_000.0, 9_000.0, 10_500.0, 9_500.0];
        let noisy_head = [9_700.0, 10_600.0, 8_800.0, 10_300.0, 9_100.0];
        let iv = welch_log_ratio(&noisy_base, &noisy_head, 0.99).unwrap();
        assert!(iv.lo < 0.95 && iv.hi > 1.0, "{iv:?}");
    }

    #[test]
    fn welch_needs_two_positive_values_a_side() {
        assert!(welch_log_ratio(&[1.0], &[1.0, 2.0], 0.99).is_none());
        assert!(welch_log_ratio(&[1.0, 0.0], &[1.0, 2.0], 0.99).is_none());
        assert!(welch_log_ratio(&[1.0, f64::NAN], &[1.0, 2.0], 0.99).is_none());
        let flat = welch_log_ratio(&[2.0, 2.0], &[3.0, 3.0], 0.99).unwrap();
        assert!(close(flat.lo, 1.5, 1e-12) && flat.lo == flat.hi, "{flat:?}");
    }

    #[test]
    fn bootstrap_is_deterministic_with_the_seed() {
        let base = [100.0, 104.0, 98.0, 101.0, 97.0, 103.0];
        let head = [90.0, 93.0, 88.0, 91.0, 92.0, 89.0];
        let a = bootstrap_ratio(&base, &head, 0.99, Center::Mean, 10_000, 7).unwrap();
        let b = bootstrap_ratio(&base, &head, 0.99, Center::Mean, 10_000, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.lo <= a.ratio && a.ratio <= a.hi);
        assert!(a.hi < 0.95 && a.lo > 0.85, "{a:?}");
        let m = bootstrap_ratio(&base, &head, 0.99, Center::Median, 10_000, 7).unwrap();
        // Nearest-rank medians (the project's one percentile definition).
        assert!(close(m.ratio, 90.0 / 100.0, 1e-12), "{m:?}");
        let other = bootstrap_ratio(&base, &head, 0.99, Center::Mean, 10_000, 8).unwrap();
        assert!(close(other.lo, a.lo, 0.01), "seeds agree closely");
    }

    #[test]
    fn bootstrap_is_narrower_than_welch_at_small_n() {
        // The reason Welch makes the verdict: at n = 5 the percentile
        // bootstrap claims more certainty than the data holds.
        let base = [1000.0, 1030.0, 980.0, 1010.0, 990.0];
        let head = [1005.0, 1025.0, 985.0, 1015.0, 995.0];
        let w = welch_log_ratio(&base, &head, 0.99).unwrap();
        let b = bootstrap_ratio(&base, &head, 0.99, Center::Mean, 10_000, 1).unwrap();
        assert!(b.hi - b.lo < w.hi - w.lo, "bootstrap {b:?} welch {w:?}");
    }
}
