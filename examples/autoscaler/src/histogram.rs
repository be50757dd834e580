//! A fleet latency histogram: bucket deltas summed over series and instances, and its
//! quantile computed the way PromQL's `histogram_quantile` does (linear within a bucket).

use std::collections::BTreeMap;

/// Requests per latency bucket over one window, keyed by the bucket's upper bound (bit pattern
/// of a non-negative f64, which orders like the number).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyWindow {
    cumulative: BTreeMap<u64, f64>,
}

impl LatencyWindow {
    /// Adds the requests counted at or below `upper_bound` (a cumulative bucket's delta).
    pub fn add(&mut self, upper_bound: f64, count: f64) {
        if upper_bound.is_nan() || upper_bound < 0.0 || !count.is_finite() {
            return;
        }
        *self.cumulative.entry(upper_bound.to_bits()).or_insert(0.0) += count;
    }

    /// Requests in the window (the `+Inf` bucket, else the largest one).
    pub fn total(&self) -> f64 {
        self.cumulative.values().last().copied().unwrap_or(0.0)
    }

    /// Whether any bucket was added (an instance reported a window, even an empty one).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// The `q` quantile in seconds: `None` without buckets; 0 when no request was counted (no
    /// request was slow). Within a bucket, linear interpolation from its lower bound; a rank in
    /// the `+Inf` bucket gives the highest finite bound, as `histogram_quantile` does.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.cumulative.is_empty() {
            return None;
        }
        let total = self.total();
        if total <= 0.0 {
            return Some(0.0);
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut lower = 0.0;
        let mut below = 0.0;
        for (&bits, &count) in &self.cumulative {
            let upper = f64::from_bits(bits);
            if count >= rank {
                if upper.is_infinite() {
                    return Some(lower);
                }
                let in_bucket = count - below;
                if in_bucket <= 0.0 {
                    return Some(upper);
                }
                return Some(lower + (upper - lower) * (rank - below) / in_bucket);
            }
            lower = upper;
            below = count;
        }
        Some(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(buckets: &[(f64, f64)]) -> LatencyWindow {
        let mut w = LatencyWindow::default();
        for &(le, n) in buckets {
            w.add(le, n);
        }
        w
    }

    #[test]
    fn interpolates_within_the_bucket_like_histogram_quantile() {
        // 100 requests: 50 under 0.1 s, 90 under 0.5 s, all under 1 s.
        let w = window(&[
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 100.0),
            (f64::INFINITY, 100.0),
        ]);
        // rank 95 lies in (0.5, 1.0]: 5 of its 10 requests -> 0.75 s.
        assert!((w.quantile(0.95).unwrap() - 0.75).abs() < 1e-9);
        // rank 25 lies in [0, 0.1]: half of 50 -> 0.05 s.
        assert!((w.quantile(0.25).unwrap() - 0.05).abs() < 1e-9);
    }

    #[test]
    fn sums_instances_bucket_by_bucket() {
        let mut w = window(&[(0.1, 10.0), (f64::INFINITY, 10.0)]);
        w.add(0.1, 0.0);
        w.add(f64::INFINITY, 90.0); // a slow instance: 90 requests above 0.1 s
        assert_eq!(w.total(), 100.0);
        assert_eq!(w.quantile(0.95), Some(0.1)); // in +Inf: the highest finite bound
    }

    #[test]
    fn empty_and_quiet_windows() {
        assert_eq!(LatencyWindow::default().quantile(0.95), None);
        assert_eq!(
            window(&[(0.1, 0.0), (f64::INFINITY, 0.0)]).quantile(0.95),
            Some(0.0)
        );
    }
}
