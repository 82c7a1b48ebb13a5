//! Small statistics shared by the suites, the report and `compare`
//! (intervals on ratios in [`interval`]), below all three.
//!
//! One percentile definition everywhere (cold, warm, throughput, compare,
//! report): nearest rank, the smallest sample with at least p% of the
//! samples at or below it. It is always a value that was measured, and it
//! is what HdrHistogram's `value_at_quantile` computes for the throughput
//! histograms (there within their 3 significant figures).

pub mod interval;

use hdrhistogram::Histogram;

/// Median of unsorted values: the nearest-rank 50th percentile (the lower
/// middle one for an even count).
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile of unsorted values: the `ceil(p/100 * n)`-th
/// smallest (the smallest for p = 0); NaN for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    // The small tolerance keeps 0.9 * 10 from rounding up to rank 10.
    let rank = ((p / 100.0).clamp(0.0, 1.0) * n as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Microsecond samples into an HdrHistogram with 3 significant figures.
pub fn histogram_us(samples_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut hist = loadgen::new_histogram();
    for us in samples_us {
        hist.saturating_record(us.max(1));
    }
    hist
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&v), 2.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 75.0), 3.0);
        assert_eq!(percentile(&v, 76.0), 4.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 90.0), 9.0);
        assert_eq!(percentile(&ten, 99.0), 10.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn histograms_agree_with_the_samples() {
        // The throughput suite's percentiles come from HdrHistogram: the same
        // definition, within its 3 significant figures.
        let samples: Vec<u64> = (1..=1000).map(|i| i * 37 % 5000 + 100).collect();
        let hist = histogram_us(samples.iter().copied());
        let values: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
        for p in [50.0, 90.0, 99.0, 99.9] {
            let exact = percentile(&values, p);
            let h = hist.value_at_quantile(p / 100.0) as f64;
            assert!(h >= exact && h <= exact * 1.001, "p{p}: {h} vs {exact}");
        }
    }
}
