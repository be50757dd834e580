//! The processing queue as a first-in, first-out fluid: jobs arrive in lots stamped with
//! their arrival time and are drained from the oldest, so the age of the oldest job waiting
//! is known exactly (the job-wait SLO).

use std::collections::VecDeque;

/// Below this many jobs a lot counts as drained (float dust).
const EMPTY: f64 = 1e-9;

#[derive(Debug, Default)]
pub(crate) struct JobQueue {
    /// (arrival second, jobs), oldest first.
    lots: VecDeque<(f64, f64)>,
    total: f64,
}

impl JobQueue {
    pub(crate) fn arrive(&mut self, at: f64, jobs: f64) {
        if jobs > EMPTY && jobs.is_finite() {
            self.lots.push_back((at, jobs));
            self.total += jobs;
        }
    }

    /// Processes up to `capacity` jobs, oldest first.
    pub(crate) fn drain(&mut self, mut capacity: f64) {
        while capacity > 0.0 {
            let Some((_, jobs)) = self.lots.front_mut() else {
                break;
            };
            if *jobs > capacity {
                *jobs -= capacity;
                self.total -= capacity;
                break;
            }
            capacity -= *jobs;
            self.total -= *jobs;
            self.lots.pop_front();
        }
        if self.lots.is_empty() || self.total < EMPTY {
            self.lots.clear();
            self.total = 0.0;
        }
    }

    /// Jobs waiting.
    pub(crate) fn len(&self) -> f64 {
        self.total
    }

    /// How long the oldest job waiting has waited at `now`, if any waits.
    pub(crate) fn oldest_wait(&self, now: f64) -> Option<f64> {
        self.lots.front().map(|(at, _)| now - at)
    }
}
