//! The job queue in PostgreSQL: every statement that moves a job between states.
//!
//! A worker claims the oldest runnable job with `FOR UPDATE SKIP LOCKED` (concurrent
//! claimers skip each other's rows instead of waiting), takes a lease for
//! `JOB_LEASE_TIMEOUT` and renews it while it works. Every later statement is guarded by
//! the lease owner, so a worker that lost its lease cannot overwrite what the next one did.
//! Any instance requeues jobs whose lease ran out: a worker killed with `kill -9` loses
//! nothing but the attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_postgres::Row;

use crate::Error;
use crate::config::JobsConfig;
use crate::db::Db;

mod cancel;

pub use cancel::Cancelled;

/// What kind of work a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Renditions of an uploaded image.
    Image,
    /// Clips cut from an uploaded video.
    Video,
}

impl JobKind {
    /// The name stored in `jobs.kind` and used as the `kind` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Image => "image",
            JobKind::Video => "video",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "image" => Some(JobKind::Image),
            "video" => Some(JobKind::Video),
            _ => None,
        }
    }
}

/// A job as `GET /api/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: i64,
    /// `image` or `video`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` (bad input, not retried), `dead`
    /// (attempts used up: the dead letter) or `cancelled`.
    pub state: String,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Percent done.
    pub progress: f32,
    /// The project it works for.
    pub project_id: Option<i64>,
    /// What it works on.
    pub payload: serde_json::Value,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a queued job may run next (later than now while it waits for a retry).
    #[serde(with = "time::serde::rfc3339")]
    pub run_after: OffsetDateTime,
    /// When its first attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<&Row> for JobView {
    fn from(row: &Row) -> Self {
        JobView {
            id: row.get(0),
            kind: row.get(1),
            state: row.get(2),
            attempts: row.get(3),
            max_attempts: row.get(4),
            progress: row.get(5),
            project_id: row.get(6),
            payload: row.get(7),
            error: row.get(8),
            result: row.get(9),
            created_at: row.get(10),
            run_after: row.get(11),
            started_at: row.get(12),
            finished_at: row.get(13),
        }
    }
}

/// A job a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Its id.
    pub id: i64,
    /// Its kind.
    pub kind: JobKind,
    /// What to work on.
    pub payload: serde_json::Value,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
}

/// Where a finished attempt leaves its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queued again for a later attempt.
    Retrying,
    /// Attempts used up: dead.
    Dead,
    /// The lease was lost meanwhile: another worker owns the job now.
    NotOurs,
}

/// Counts one running job while it lives.
#[derive(Debug)]
pub(crate) struct RunningGuard(Arc<AtomicUsize>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// The queue, shared by the API (enqueue, read) and the workers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Queue {
    db: Db,
    owner: Arc<str>,
    config: JobsConfig,
    wake: Arc<Notify>,
    /// Jobs waiting fleet-wide as last sampled; negative until known.
    pending: Arc<AtomicI64>,
    /// Jobs this process runs now.
    running: Arc<AtomicUsize>,
}

const JOB_COLUMNS: &str = "id, kind, state, attempts, max_attempts, progress, project_id, \
    payload, last_error, result, created_at, run_after, started_at, finished_at";

impl Queue {
    /// A queue whose leases carry `owner` (unique per process start).
    pub fn new(db: Db, owner: impl Into<Arc<str>>, config: JobsConfig) -> Self {
        Self {
            db,
            owner: owner.into(),
            config,
            wake: Arc::new(Notify::new()),
            pending: Arc::new(AtomicI64::new(-1)),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Jobs this process runs now.
    pub fn running_here(&self) -> usize {
        self.running.load(Relaxed)
    }

    /// Counts a job this process runs until the guard drops.
    pub(crate) fn running_guard(&self) -> RunningGuard {
        self.running.fetch_add(1, Relaxed);
        RunningGuard(self.running.clone())
    }

    /// The lease owner name of this process.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The queue's settings.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    /// Wakes the idle workers of this instance (a job was queued here).
    pub fn notify_queued(&self) {
        // Every idle worker looks: each claims only its own kind of job.
        self.wake.notify_waiters();
    }

    pub(crate) fn wake(&self) -> &Notify {
        &self.wake
    }

    /// Jobs waiting fleet-wide, as last sampled; `None` before the first sample or while
    /// the database is unreachable (missing, never zero).
    pub fn pending(&self) -> Option<u64> {
        u64::try_from(self.pending.load(Relaxed)).ok()
    }

    /// Queues a job of `kind` for `project_id` and wakes this instance's workers; its id.
    pub async fn enqueue(
        &self,
        kind: JobKind,
        project_id: i64,
        payload: &serde_json::Value,
    ) -> Result<i64, Error> {
        let max_attempts = i32::try_from(self.config.max_attempts).unwrap_or(3);
        let kind = kind.as_str();
        let row = self
            .db
            .write(async |c| {
                c.query_one(
                    "INSERT INTO jobs (kind, project_id, payload, max_attempts)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&kind, &project_id, payload, &max_attempts],
                )
                .await
            })
            .await?;
        self.notify_queued();
        Ok(row.get(0))
    }

    /// The job, if it exists.
    pub async fn job(&self, id: i64) -> Result<Option<JobView>, Error> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = self
            .db
            .read(async |c| c.query_opt(&sql, &[&id]).await)
            .await?;
        Ok(row.as_ref().map(JobView::from))
    }

    /// Claims the oldest runnable job of `kinds`, if any.
    pub async fn claim(&self, kinds: &[JobKind]) -> Result<Option<ClaimedJob>, Error> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let lease = self.config.lease_timeout.as_secs_f64();
        let owner = &*self.owner;
        let row = self
            .db
            .write(async |c| {
                c.query_opt(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
                        lease_expires_at = now() + make_interval(secs => $2),
                        started_at = coalesce(started_at, now())
                     WHERE id = (SELECT id FROM jobs
                                 WHERE state = 'queued' AND run_after <= now() AND kind = ANY($3)
                                 ORDER BY run_after, id
                                 FOR UPDATE SKIP LOCKED LIMIT 1)
                     RETURNING id, kind, payload, attempts",
                    &[&owner, &lease, &kinds],
                )
                .await
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.get(1);
        let kind = JobKind::from_name(&kind)
            .ok_or_else(|| Error::Storage(format!("claimed a job of unknown kind {kind:?}")))?;
        Ok(Some(ClaimedJob {
            id: row.get(0),
            kind,
            payload: row.get(2),
            attempt: row.get(3),
        }))
    }

    /// Renews the lease; false when it was lost (it ran out and another worker took the job).
    pub async fn renew(&self, id: i64) -> Result<bool, Error> {
        let lease = self.config.lease_timeout.as_secs_f64();
        let owner = &*self.owner;
        let renewed = self
            .db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                    &[&id, &owner, &lease],
                )
                .await
            })
            .await?;
        Ok(renewed == 1)
    }

    /// Records progress (0..=100) of a job this worker holds.
    pub async fn progress(&self, id: i64, percent: f32) -> Result<(), Error> {
        let owner = &*self.owner;
        self.db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET progress = $3 WHERE id = $1 AND lease_owner = $2",
                    &[&id, &owner, &percent],
                )
                .await
            })
            .await?;
        Ok(())
    }

    /// The job succeeded with `result`; false if the lease was lost meanwhile.
    pub async fn succeed(&self, id: i64, result: &serde_json::Value) -> Result<bool, Error> {
        let owner = &*self.owner;
        let done = self
            .db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET state = 'succeeded', progress = 100, result = $3,
                        last_error = NULL, finished_at = now(),
                        lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                    &[&id, &owner, result],
                )
                .await
            })
            .await?;
        Ok(done == 1)
    }

    /// The job cannot succeed (bad input): failed, not retried; false if the lease was lost.
    pub async fn fail(&self, id: i64, error: &str) -> Result<bool, Error> {
        let owner = &*self.owner;
        let done = self
            .db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET state = 'failed', last_error = $3, finished_at = now(),
                        lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                    &[&id, &owner, &error],
                )
                .await
            })
            .await?;
        Ok(done == 1)
    }

    /// The attempt failed for a reason that may pass: queued again after a backoff that
    /// doubles per attempt (`JOB_RETRY_BASE` .. `JOB_RETRY_MAX`), or dead when the attempts
    /// are used up.
    pub async fn retry_later(
        &self,
        id: i64,
        attempt: i32,
        error: &str,
    ) -> Result<AfterFailure, Error> {
        let backoff = self.backoff(attempt).as_secs_f64();
        let owner = &*self.owner;
        let row = self
            .db
            .write(async |c| {
                c.query_opt(
                    "UPDATE jobs SET
                        state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                        run_after = now() + make_interval(secs => $4),
                        last_error = $3, lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'
                     RETURNING state",
                    &[&id, &owner, &error, &backoff],
                )
                .await
            })
            .await?;
        Ok(match row.map(|r| r.get::<_, String>(0)) {
            None => AfterFailure::NotOurs,
            Some(state) if state == "dead" => AfterFailure::Dead,
            Some(_) => AfterFailure::Retrying,
        })
    }

    /// The delay before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.config
            .retry_base
            .saturating_mul(1 << doublings)
            .min(self.config.retry_max)
    }

    /// Gives every job this process runs back to the queue, the attempt not counted
    /// (shutdown ran out of time); returns how many.
    pub async fn release_mine(&self) -> Result<u64, Error> {
        let owner = &*self.owner;
        self.db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0),
                        run_after = now(), lease_owner = NULL, lease_expires_at = NULL,
                        last_error = 'interrupted by a shutdown; queued again'
                     WHERE lease_owner = $1 AND state = 'running'",
                    &[&owner],
                )
                .await
            })
            .await
    }

    /// Queues again (or buries, when out of attempts) the jobs whose lease ran out: their
    /// worker died. Returns each job's kind and whether it is dead.
    pub async fn requeue_expired(&self) -> Result<Vec<(JobKind, bool)>, Error> {
        let rows = self
            .db
            .write(async |c| {
                c.query(
                    "UPDATE jobs SET
                        state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                        last_error = 'the worker running it stopped answering (its lease expired)',
                        run_after = now(), lease_owner = NULL, lease_expires_at = NULL
                     WHERE state = 'running' AND lease_expires_at < now()
                     RETURNING kind, state",
                    &[],
                )
                .await
            })
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let kind = JobKind::from_name(r.get(0))?;
                Some((kind, r.get::<_, &str>(1) == "dead"))
            })
            .collect())
    }

    /// Jobs waiting fleet-wide, by kind.
    pub async fn pending_by_kind(&self) -> Result<std::collections::HashMap<String, u64>, Error> {
        let rows = self
            .db
            .read(async |c| {
                c.query(
                    "SELECT kind, count(*) FROM jobs WHERE state = 'queued' GROUP BY kind",
                    &[],
                )
                .await
            })
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let n: i64 = r.get(1);
                (r.get(0), u64::try_from(n).unwrap_or(0))
            })
            .collect())
    }

    /// Counts the jobs waiting fleet-wide and remembers the figure.
    pub async fn sample_pending(&self) -> Result<u64, Error> {
        let sampled = self
            .db
            .read(async |c| {
                c.query_one("SELECT count(*) FROM jobs WHERE state = 'queued'", &[])
                    .await
                    .map(|r| r.get::<_, i64>(0))
            })
            .await;
        match sampled {
            Ok(n) => {
                self.pending.store(n, Relaxed);
                Ok(u64::try_from(n).unwrap_or(0))
            }
            Err(e) => {
                self.pending.store(-1, Relaxed);
                Err(e)
            }
        }
    }
}
