//! [`Optimizer`]: runs [`optimize`](super::optimize) on tokio's blocking threads, a bounded
//! number at once, behind a bounded queue, so image work never stalls the async workers,
//! never takes every core, and never piles up waiting jobs (each holding its input) without
//! limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{Semaphore, TryAcquireError};

use super::{ImageOptions, Optimized, prepare, render};
use crate::error::{Error, Result};

#[derive(Debug)]
struct Shared {
    permits: Arc<Semaphore>,
    slots: usize,
    max_queued: usize,
    queued: AtomicUsize,
}

/// A bounded pool for image work from async code. Cheap to clone (clones share the bound).
///
/// A job first has its header read and its limits checked (pixels, JPEG scans, memory)
/// on the caller's task: a refused image never takes a slot or a place in the queue. It
/// then runs at once when a slot is free, waits in the queue when one is not, and is
/// refused at once with [`Error::Busy`] when the queue is full too (an HTTP origin
/// answers 503 with `Retry-After`). Work has no deadline: libjpeg cannot be interrupted,
/// so a caller that gives up (a request timeout) leaves the job to finish, and its slot
/// stays taken until it does.
#[derive(Debug, Clone)]
pub struct Optimizer {
    shared: Arc<Shared>,
}

/// Leaves the queue when dropped: also when the waiting caller is cancelled.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Optimizer {
    /// At most `max_concurrent` images at once (at least 1; the number of cores is a good
    /// value), and up to 8 jobs per slot waiting (see [`max_queued`](Optimizer::max_queued)).
    pub fn new(max_concurrent: usize) -> Optimizer {
        let slots = max_concurrent.max(1);
        Optimizer::with(slots, slots.saturating_mul(8))
    }

    fn with(slots: usize, max_queued: usize) -> Optimizer {
        Optimizer {
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(slots)),
                slots,
                max_queued,
                queued: AtomicUsize::new(0),
            }),
        }
    }

    /// At most `max_queued` jobs wait for a slot (0: none wait; a job runs at once or is
    /// refused); a job beyond that gets [`Error::Busy`] at once. Set it before cloning:
    /// it makes a new optimizer.
    pub fn max_queued(self, max_queued: usize) -> Optimizer {
        Optimizer::with(self.shared.slots, max_queued)
    }

    /// Checks the limits, waits for a slot (or fails at once when the queue is full), then
    /// optimizes `bytes` on a blocking thread.
    pub async fn optimize(
        &self,
        bytes: impl Into<Bytes>,
        options: ImageOptions,
    ) -> Result<Optimized> {
        let bytes = bytes.into();
        let job = prepare(&bytes, &options)?;
        let shared = &self.shared;
        let permit = match shared.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(stopped()),
            Err(TryAcquireError::NoPermits) => {
                let joined = shared
                    .queued
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                        (q < shared.max_queued).then_some(q + 1)
                    });
                if joined.is_err() {
                    return Err(Error::Busy {
                        running: shared.slots - shared.permits.available_permits(),
                        queued: shared.max_queued,
                    });
                }
                let _in_queue = InQueue(&shared.queued);
                shared
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| stopped())?
            }
        };
        // The permit lives on the blocking thread: a caller that gives up (a request
        // timeout) cannot free the slot while the CPU work it started goes on.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            render(&bytes, &options, job)
        })
        .await
        .map_err(|e| Error::WorkerStopped(e.to_string()))?
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.shared.permits.available_permits()
    }

    /// Jobs waiting for a slot right now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }
}

fn stopped() -> Error {
    Error::WorkerStopped("the optimizer was closed".into())
}

impl Default for Optimizer {
    /// One slot per core.
    fn default() -> Self {
        Optimizer::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}
