//! [`Optimizer`]: runs [`optimize`](super::optimize) on tokio's blocking threads with a
//! bound on how many run at once, so image work never stalls the async workers nor
//! takes every core.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::{ImageOptions, Optimized, optimize};
use crate::error::{Error, Result};

/// A bounded pool for image work from async code. Cheap to clone (shares the bound).
#[derive(Debug, Clone)]
pub struct Optimizer {
    permits: Arc<Semaphore>,
}

impl Optimizer {
    /// At most `max_concurrent` images at once (at least 1); the number of cores is a good value.
    pub fn new(max_concurrent: usize) -> Optimizer {
        Optimizer {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Waits for a slot, then optimizes `bytes` on a blocking thread.
    pub async fn optimize(
        &self,
        bytes: impl Into<Bytes>,
        options: ImageOptions,
    ) -> Result<Optimized> {
        let bytes = bytes.into();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::WorkerStopped("the optimizer was closed".into()))?;
        // The permit lives on the blocking thread: a caller that gives up (a request
        // timeout) cannot free the slot while the CPU work it started goes on.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            optimize(&bytes, &options)
        })
        .await
        .map_err(|e| Error::WorkerStopped(e.to_string()))?
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl Default for Optimizer {
    /// One slot per core.
    fn default() -> Self {
        Optimizer::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}
