//! Runs a claimed job by its kind, within what bounds it from outside: its kind's wall-clock
//! limit (`VIDEO_JOB_TIMEOUT` for clips) and a cancellation requested by `DELETE
//! /api/jobs/{id}` on any instance. Either drops the job's future (ffmpeg killed, work
//! directory removed), then deletes what the job had stored.

use std::future::Future;
use std::time::Duration;

use super::queue::{ClaimedJob, JobKind, Queue};
use super::{JobContext, Outcome, image, video};

/// Runs `job` to its outcome.
pub async fn run(ctx: &JobContext, queue: &Queue, job: &ClaimedJob) -> Outcome {
    let (work, limit) = match job.kind {
        JobKind::Image => (
            Box::pin(image::render(ctx, queue, job))
                as std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + '_>>,
            None,
        ),
        JobKind::Video => (
            Box::pin(video::run(ctx, queue, job)) as _,
            Some(ctx.video.job_timeout),
        ),
    };
    let bounded = async {
        match limit {
            Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| limit),
            None => Ok(work.await),
        }
    };
    let poll = queue.config().poll_interval;
    let outcome = tokio::select! {
        finished = bounded => match finished {
            Ok(outcome) => return outcome,
            Err(limit) => Outcome::TimedOut(format!(
                "the job ran longer than its limit of {} (VIDEO_JOB_TIMEOUT) and was stopped",
                duration_words(limit)
            )),
        },
        () = cancel_requested(queue, job.id, poll) => Outcome::Cancelled,
    };
    // The work is dropped: remove what it stored.
    if let Err(e) = discard(ctx, job).await {
        tracing::warn!(job = job.id, error = %e, "could not remove what a stopped job stored; its next attempt or a sweep will");
    }
    outcome
}

/// Deletes what the attempts of `job` stored (image renditions are kept: they replace
/// themselves and cost nothing to keep).
async fn discard(ctx: &JobContext, job: &ClaimedJob) -> Result<(), crate::Error> {
    match job.kind {
        JobKind::Image => Ok(()),
        JobKind::Video => video::discard(ctx, job).await,
    }
}

/// Resolves when job `id` is asked to stop: polls its row every `poll` (the flag is in the
/// row, so a DELETE on any instance reaches the worker on any other).
async fn cancel_requested(queue: &Queue, id: i64, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queue.cancel_requested(id).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::debug!(job = id, error = %e, "could not read the cancel flag"),
        }
    }
}

/// `30 min`, `90 s`, `2.5 s`.
fn duration_words(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) && d.subsec_nanos() == 0 {
        format!("{} min", s / 60)
    } else {
        format!("{} s", d.as_secs_f64())
    }
}
