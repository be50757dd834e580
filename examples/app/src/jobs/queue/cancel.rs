//! Cancellation (`DELETE /api/jobs/{id}`), for jobs on any instance: a queued job is
//! cancelled at once; a running one gets `cancel_requested`, which the worker running it
//! polls (`crate::jobs::dispatch`), stops its work, removes what it stored, and records the
//! job as cancelled. A flag in the job's row rather than LISTEN/NOTIFY: it needs no
//! connection held open per worker, works through a transaction-mode pooler, and a worker
//! that missed a notification (restarting, reconnecting) still sees it.

use super::Queue;
use crate::Error;

/// What a cancellation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// The job was queued: it is cancelled.
    Now,
    /// The job is running: its worker will stop it shortly.
    Requested,
    /// The job had already ended in this state.
    AlreadyEnded(String),
    /// No such job.
    NotFound,
}

impl Queue {
    /// Cancels job `id`, or asks its worker to.
    pub async fn cancel(&self, id: i64) -> Result<Cancelled, Error> {
        let row = self
            .db
            .write(async |c| {
                c.query_opt(
                    "WITH target AS (SELECT id, state FROM jobs WHERE id = $1 FOR UPDATE),
                     changed AS (
                        UPDATE jobs SET cancel_requested = true,
                            state = CASE WHEN jobs.state = 'queued' THEN 'cancelled' ELSE jobs.state END,
                            finished_at = CASE WHEN jobs.state = 'queued' THEN now() ELSE jobs.finished_at END,
                            last_error = CASE WHEN jobs.state = 'queued'
                                THEN 'cancelled before it started' ELSE jobs.last_error END
                        FROM target WHERE jobs.id = target.id AND target.state IN ('queued', 'running')
                        RETURNING jobs.id)
                     SELECT target.state, EXISTS (SELECT 1 FROM changed) FROM target",
                    &[&id],
                )
                .await
            })
            .await?;
        Ok(match row {
            None => Cancelled::NotFound,
            Some(row) => match (row.get::<_, String>(0), row.get::<_, bool>(1)) {
                (state, true) if state == "queued" => Cancelled::Now,
                (_, true) => Cancelled::Requested,
                (state, false) => Cancelled::AlreadyEnded(state),
            },
        })
    }

    /// Whether someone asked to cancel job `id`.
    pub async fn cancel_requested(&self, id: i64) -> Result<bool, Error> {
        let row = self
            .db
            .read(async |c| {
                c.query_opt("SELECT cancel_requested FROM jobs WHERE id = $1", &[&id])
                    .await
            })
            .await?;
        // A job deleted with its project is as good as cancelled.
        Ok(row.is_none_or(|r| r.get(0)))
    }

    /// Records that this worker stopped job `id` on request; false if the lease was lost.
    pub async fn finish_cancelled(&self, id: i64) -> Result<bool, Error> {
        let owner = &*self.owner;
        let done = self
            .db
            .write(async |c| {
                c.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = now(),
                        last_error = 'cancelled while running; its partial output was removed',
                        lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                    &[&id, &owner],
                )
                .await
            })
            .await?;
        Ok(done == 1)
    }
}
