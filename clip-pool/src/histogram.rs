//! A lock-free latency histogram: log-linear buckets (8 per power of two, so a quantile is
//! within 12.5 % of the truth), microsecond resolution, fixed memory.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const LINEAR: u64 = 16;
const SUB_BITS: u32 = 3;
const BUCKETS: usize = 16 + (64 - 4) * 8;

pub(crate) struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

/// Quantiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    pub avg_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= 4
    let sub = (us >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (LINEAR as usize) + ((exp - 4) as usize) * 8 + sub as usize
}

/// The upper edge of a bucket, the value a quantile in it reports.
fn upper_edge(bucket: usize) -> u64 {
    if bucket < LINEAR as usize {
        return bucket as u64;
    }
    let i = bucket - LINEAR as usize;
    let exp = (i / 8) as u32 + 4;
    let sub = (i % 8) as u64;
    let edge = ((8 + sub as u128 + 1) << (exp - SUB_BITS)) - 1;
    u64::try_from(edge).unwrap_or(u64::MAX)
}

impl LatencyHistogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if us == 0 {
            // Taken at once: nothing to add to the sum or the maximum (two atomics less).
            self.buckets[0].fetch_add(1, Relaxed);
            self.count.fetch_add(1, Relaxed);
            return;
        }
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// Count and sum, for windowed averages.
    pub fn totals(&self) -> (u64, u64) {
        (self.count.load(Relaxed), self.sum_us.load(Relaxed))
    }

    pub fn summary(&self) -> Summary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Summary::default();
        }
        let max_us = self.max_us.load(Relaxed);
        let quantile = |q: f64| {
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return upper_edge(i).min(max_us) as f64;
                }
            }
            max_us as f64
        };
        let (count, sum) = self.totals();
        Summary {
            avg_us: sum as f64 / count.max(1) as f64,
            p50_us: quantile(0.50),
            p95_us: quantile(0.95),
            p99_us: quantile(0.99),
            max_us: max_us as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_tight() {
        let mut last = 0;
        for us in [
            0,
            1,
            15,
            16,
            17,
            100,
            1_000,
            123_456,
            10_000_000,
            u64::MAX / 2,
            u64::MAX,
        ] {
            let b = bucket_of(us);
            assert!(b >= last && b < BUCKETS, "bucket of {us}");
            assert!(upper_edge(b) >= us, "edge {} under {us}", upper_edge(b));
            if us >= 16 {
                assert!((upper_edge(b) - us) as f64 <= us as f64 * 0.125 + 1.0);
            }
            last = b;
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = LatencyHistogram::new();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert!((s.avg_us - 50_500.0).abs() < 1.0);
        assert!((s.p50_us - 50_000.0).abs() <= 50_000.0 * 0.125, "{s:?}");
        assert!((s.p95_us - 95_000.0).abs() <= 95_000.0 * 0.125, "{s:?}");
        assert_eq!(s.max_us, 100_000.0);
        assert!(s.p99_us <= s.max_us);
    }
}
