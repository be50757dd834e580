//! The byte budget of bodies being read: every fetch in flight reserves the bytes it
//! buffers (all of a declared `Content-Length` up front, else as they arrive) from one
//! total (`CDN_MAX_INFLIGHT_BYTES`), so many concurrent misses cannot hold more than that
//! however many keys they are for. A fetch waits for room until its deadline.

use std::time::Instant;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Reservations are counted in KiB (a semaphore permit each).
const UNIT: u64 = 1024;

#[derive(Debug)]
pub(crate) struct InflightBytes {
    permits: Semaphore,
    total: u64,
}

/// Bytes reserved by one body; given back when dropped.
pub(crate) struct Reservation<'a> {
    budget: &'a InflightBytes,
    permit: Option<SemaphorePermit<'a>>,
    units: u64,
}

impl InflightBytes {
    pub fn new(bytes: u64) -> Self {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS as u64);
        InflightBytes {
            permits: Semaphore::new(units as usize),
            total: units,
        }
    }

    pub fn reservation(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            permit: None,
            units: 0,
        }
    }

    /// Bytes reserved right now.
    pub fn in_use(&self) -> u64 {
        (self.total - self.permits.available_permits() as u64) * UNIT
    }
}

impl Reservation<'_> {
    /// Grows the reservation to cover `bytes` in all, waiting for room until `deadline`;
    /// false when the deadline passes first (or the request can never fit).
    pub async fn cover(&mut self, bytes: u64, deadline: Instant) -> bool {
        let want = bytes.div_ceil(UNIT);
        if want <= self.units {
            return true;
        }
        let Ok(more) = u32::try_from(want - self.units) else {
            return false;
        };
        if want > self.budget.total {
            return false;
        }
        let acquire = self.budget.permits.acquire_many(more);
        match tokio::time::timeout_at(deadline.into(), acquire).await {
            Ok(Ok(permit)) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                self.units = want;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reservations_add_up_to_the_total_and_return_on_drop() {
        let budget = InflightBytes::new(4096);
        let soon = || Instant::now() + Duration::from_millis(20);
        let mut a = budget.reservation();
        assert!(a.cover(3000, soon()).await);
        assert_eq!(budget.in_use(), 3072);
        let mut b = budget.reservation();
        assert!(!b.cover(2048, soon()).await, "only 1 KiB left");
        assert!(b.cover(1000, soon()).await);
        assert!(!a.cover(10_000, soon()).await, "never fits");
        drop(a);
        assert_eq!(budget.in_use(), 1024);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }
}
