//! The workers: each claims a job, runs it while renewing its lease, and records how it
//! ended. On shutdown they stop claiming at once, finish what they run, and at the
//! deadline drop it and give it back to the queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::queue::{AfterFailure, ClaimedJob, JobKind, Queue};
use super::{JobContext, Outcome, dispatch};
use crate::telemetry::{FailureReason, JobMetrics};

/// The running workers of this instance.
#[derive(Debug)]
pub struct Workers {
    stop_claiming: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
    queue: Queue,
}

impl Workers {
    /// Starts, for each `(kind, count)`, `count` workers taking jobs of that kind (so a
    /// long video job never holds up image renditions, and each kind has its own bound).
    pub fn spawn(queue: Queue, ctx: JobContext, pools: &[(JobKind, usize)]) -> Self {
        let stop_claiming = CancellationToken::new();
        let abort = CancellationToken::new();
        let tracker = TaskTracker::new();
        let ctx = Arc::new(ctx);
        for &(kind, count) in pools {
            for _ in 0..count {
                let worker = Worker {
                    kind,
                    queue: queue.clone(),
                    ctx: ctx.clone(),
                    stop_claiming: stop_claiming.clone(),
                    abort: abort.clone(),
                    metrics: JobMetrics::new(kind),
                };
                tracker.spawn(worker.run());
            }
        }
        tracker.close();
        Self {
            stop_claiming,
            abort,
            tracker,
            queue,
        }
    }

    /// Stops claiming jobs, lets running ones finish until `deadline`, then drops those
    /// still running and queues them again. Returns how many were given back.
    pub async fn shutdown(self, deadline: Instant) -> u64 {
        self.stop_claiming.cancel();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(remaining, self.tracker.wait())
            .await
            .is_err()
        {
            self.abort.cancel();
            self.tracker.wait().await;
        }
        match self.queue.release_mine().await {
            Ok(released) => {
                if released > 0 {
                    tracing::warn!(
                        released,
                        "jobs still running at the shutdown deadline were queued again"
                    );
                }
                released
            }
            Err(e) => {
                tracing::error!(error = %e, "could not queue the interrupted jobs again; their leases will expire and another instance will take them");
                0
            }
        }
    }
}

struct Worker {
    kind: JobKind,
    queue: Queue,
    ctx: Arc<JobContext>,
    stop_claiming: CancellationToken,
    abort: CancellationToken,
    metrics: JobMetrics,
}

impl Worker {
    async fn run(self) {
        let poll = self.queue.config().poll_interval;
        while !self.stop_claiming.is_cancelled() {
            // Registered before the claim, so a job queued meanwhile is not missed.
            let woken = self.queue.wake().notified();
            match self.queue.claim(&[self.kind]).await {
                Ok(Some(job)) => {
                    self.run_job(job).await;
                    continue;
                }
                Ok(None) => {}
                // An outage is reported by readiness; one line per poll would flood the log.
                Err(e) if e.is_transient() => {
                    tracing::debug!(error = %e, "could not claim a job; retrying");
                }
                Err(e) => tracing::warn!(error = %e, "could not claim a job; retrying"),
            }
            tokio::select! {
                () = self.stop_claiming.cancelled() => break,
                () = woken => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn run_job(&self, job: ClaimedJob) {
        let started = Instant::now();
        let _running = self.queue.running_guard();
        self.metrics.started();
        let lease_lost = CancellationToken::new();
        let heartbeat = tokio::spawn(renew_lease(self.queue.clone(), job.id, lease_lost.clone()));
        let outcome = tokio::select! {
            outcome = dispatch::run(&self.ctx, &self.queue, &job) => Some(outcome),
            () = lease_lost.cancelled() => None,
            () = self.abort.cancelled() => {
                heartbeat.abort();
                self.metrics.ended(started.elapsed());
                return; // given back by `Workers::shutdown`
            }
        };
        heartbeat.abort();
        self.metrics.ended(started.elapsed());
        match outcome {
            Some(outcome) => self.record(&job, outcome).await,
            None => {
                tracing::warn!(
                    job = job.id,
                    "lease lost while working (this instance stalled); another worker owns the job now"
                );
                self.metrics.failed(FailureReason::LeaseLost);
            }
        }
    }

    async fn record(&self, job: &ClaimedJob, outcome: Outcome) {
        let recorded = match &outcome {
            Outcome::Succeeded(result) => {
                let recorded = self.queue.succeed(job.id, result).await;
                if let Ok(true) = recorded {
                    self.metrics.completed();
                }
                recorded
            }
            Outcome::Invalid(why) => {
                self.metrics.failed(FailureReason::InvalidInput);
                self.queue.fail(job.id, why).await
            }
            Outcome::TimedOut(why) => {
                self.metrics.failed(FailureReason::Timeout);
                self.queue.fail(job.id, why).await
            }
            Outcome::Cancelled => {
                self.metrics.failed(FailureReason::Cancelled);
                self.queue.finish_cancelled(job.id).await
            }
            Outcome::Transient(why) => {
                let after = self.queue.retry_later(job.id, job.attempt, why).await;
                if let Ok(after) = &after {
                    self.metrics.failed(match after {
                        AfterFailure::Dead => FailureReason::Dead,
                        _ => FailureReason::Transient,
                    });
                }
                after.map(|after| after != AfterFailure::NotOurs)
            }
        };
        match recorded {
            Ok(true) => tracing::info!(
                job = job.id,
                attempt = job.attempt,
                outcome = outcome.label(),
                "job attempt ended"
            ),
            Ok(false) => tracing::warn!(
                job = job.id,
                "the job's lease was lost before its outcome was recorded; another worker owns it"
            ),
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "could not record the job's outcome; its lease will expire and it will run again")
            }
        }
    }
}

/// Renews the lease a few times per lease period until cancelled; cancels `lost` when the
/// lease is gone (it ran out while the database was unreachable, and someone took the job).
async fn renew_lease(queue: Queue, job: i64, lost: CancellationToken) {
    let every = (queue.config().lease_timeout / 3).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match queue.renew(job).await {
            Ok(true) => {}
            Ok(false) => {
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(job, error = %e, "could not renew the job's lease; trying again")
            }
        }
    }
}
