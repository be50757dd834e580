//! The CPU-use window: readings of the process's CPU counter taken by one sampler at a steady
//! pace, and the rate over the last fixed stretch of them. Reading the rate changes nothing, so
//! any number of scrapers see the same figure.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct CpuWindow {
    length: Duration,
    /// (when, CPU seconds used so far), oldest first; the oldest is the newest reading that is
    /// at least `length` older than the newest, once there is one.
    readings: VecDeque<(Instant, f64)>,
}

impl CpuWindow {
    pub(super) fn new(length: Duration) -> Self {
        CpuWindow {
            length,
            readings: VecDeque::new(),
        }
    }

    pub(super) fn push(&mut self, at: Instant, cpu_seconds: f64) {
        self.readings.push_back((at, cpu_seconds));
        while self
            .readings
            .get(1)
            .is_some_and(|(second, _)| at.saturating_duration_since(*second) >= self.length)
        {
            self.readings.pop_front();
        }
    }

    /// Cores busy on average between the oldest and the newest reading (1.0 is one full core),
    /// or `None` before two readings exist.
    pub(super) fn cores(&self) -> Option<f64> {
        let (first_at, first) = self.readings.front()?;
        let (last_at, last) = self.readings.back()?;
        let wall = last_at.saturating_duration_since(*first_at).as_secs_f64();
        (wall > 0.0).then(|| (last - first).max(0.0) / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_covers_the_last_window_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut window = CpuWindow::new(s(10));
        assert_eq!(window.cores(), None);
        window.push(t0, 100.0);
        assert_eq!(window.cores(), None, "one reading spans no time");
        // Idle for 5 s, then one core busy from then on.
        window.push(t0 + s(5), 100.0);
        assert_eq!(window.cores(), Some(0.0));
        for i in 6..=20 {
            window.push(t0 + s(i), 100.0 + (i - 5) as f64);
        }
        // The window is the last 10 s, all busy: the idle start has left it.
        assert_eq!(window.cores(), Some(1.0));
        assert!(
            window.readings.len() <= 11,
            "{} readings kept",
            window.readings.len()
        );
    }

    #[test]
    fn a_counter_that_goes_backwards_reads_zero_not_negative() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(Duration::from_secs(10));
        window.push(t0, 50.0);
        window.push(t0 + Duration::from_secs(1), 40.0);
        assert_eq!(window.cores(), Some(0.0));
    }
}
