//! A clip job stopped from outside: cancelled through another instance (ffmpeg stopped, the
//! partial output removed), or its instance killed with `kill -9` (ffmpeg dies with it, and
//! another instance cuts the clips once, leaving nothing of the first attempt), or stopped by
//! its wall-clock limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{
    Media, database, ended, ffmpeg_under, job, metric, request_clips, stored_keys, uploaded_video,
    work_dirs,
};
use crate::ensure;
use crate::support::{ChildApp, Ctx, TestApp, TestResult, client, create_project, eventually};
use clip_pool::postgres::PgPool;

/// A short first clip (stored quickly) and a long second one, slow to encode: a job caught
/// between the two has partial output in storage and ffmpeg at work.
fn slow_request() -> serde_json::Value {
    json!({ "clips": [{ "start": 0, "end": 1 }, { "start": 1, "end": 11.5 }] })
}

/// Waits until the job's ffmpeg (working under `work`) cuts its second clip, the first one
/// stored; the storage prefix of the job.
async fn caught_mid_job(
    app_url: &str,
    db: &PgPool,
    work: &Path,
    job_id: i64,
    attempt: u32,
) -> TestResult<String> {
    let first_clip = format!("/jobs/{job_id}/a{attempt}/clip-1/clip.mp4");
    let started = std::time::Instant::now();
    loop {
        let job = job(app_url, job_id).await.unwrap_or_default();
        let keys = stored_keys(db, "projects/").await?;
        if job["state"] == "running"
            && !ffmpeg_under(work).is_empty()
            && let Some(key) = keys.iter().find(|k| k.ends_with(&first_clip))
        {
            return Ok(key
                .trim_end_matches(&first_clip[first_clip.find("/a").unwrap_or(0) + 1..])
                .to_owned());
        }
        ensure!(
            job["state"] == "running" || job["state"] == "queued",
            "the job ended before it could be caught: {job}"
        );
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "the job did not store its first clip within 90 s: {job} {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn no_ffmpeg_left(root: &Path) -> TestResult {
    eventually("ffmpeg to be stopped", Duration::from_secs(10), || async {
        ffmpeg_under(root).is_empty().then_some(())
    })
    .await
}

pub async fn a_running_clip_job_is_cancelled_from_another_instance(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let work = tempfile::tempdir()?;
    let root = work.path().to_string_lossy().into_owned();
    let worker = TestApp::start(
        &ctx,
        &db,
        &[
            ("VIDEO_WORKERS", "1"),
            ("VIDEO_WORK_DIR", &root),
            ("CLIP_PRESET", "veryslow"),
            ("INSTANCE_ID", "worker"),
        ],
    )
    .await?;
    // An API-only instance: it runs no video job (and needs no ffmpeg).
    let front = TestApp::start(&ctx, &db, &[("INSTANCE_ID", "front")]).await?;
    let media = Media::new()?;
    let source = media.scenes("long.mp4", (480, 270), 4.0, &[]).await?;
    let project = create_project(&front.url, "Cancelled").await?;
    let video = uploaded_video(&front.url, project, "long.mp4", source).await?;
    let running = request_clips(&front.url, video, slow_request()).await?;
    let queued = request_clips(&front.url, video, slow_request()).await?;

    let storage = database(&db).await?;
    let prefix = caught_mid_job(&front.url, &storage, work.path(), running, 1).await?;
    let before = job(&front.url, running).await.ok_or("job")?;
    let progress = before["progress"].as_f64().unwrap_or(0.0);
    ensure!(
        progress > 0.0 && progress < 100.0,
        "mid-job progress: {before}"
    );

    // Queued behind it: cancelled at once.
    let response = client()
        .delete(front.at(&format!("/api/jobs/{queued}")))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "a queued job: {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    ensure!(body["state"] == "cancelled", "{body}");

    // Running on the other instance: stopped by its worker.
    let response = client()
        .delete(front.at(&format!("/api/jobs/{running}")))
        .send()
        .await?;
    ensure!(
        response.status() == 202,
        "a running job: {}",
        response.status()
    );
    let done = ended(&front.url, running, Duration::from_secs(20)).await?;
    ensure!(done["state"] == "cancelled", "{done}");
    ensure!(
        done["error"]
            .as_str()
            .is_some_and(|e| e.contains("partial output was removed")),
        "{done}"
    );
    no_ffmpeg_left(work.path()).await?;
    let left = stored_keys(&storage, &prefix).await?;
    ensure!(left.is_empty(), "the partial output is removed: {left:?}");
    eventually(
        "the work directory to go",
        Duration::from_secs(10),
        || async { work_dirs(work.path()).is_empty().then_some(()) },
    )
    .await?;
    let shown: serde_json::Value = client()
        .get(front.at(&format!("/api/videos/{video}")))
        .send()
        .await?
        .json()
        .await?;
    ensure!(shown["clips"] == json!([]), "no clip recorded: {shown}");

    let again = client()
        .delete(front.at(&format!("/api/jobs/{running}")))
        .send()
        .await?;
    ensure!(again.status() == 409, "an ended job: {}", again.status());
    let missing = client().delete(front.at("/api/jobs/999999")).send().await?;
    ensure!(
        missing.status() == 404,
        "an unknown job: {}",
        missing.status()
    );
    let metrics = worker.metrics().await?;
    ensure!(
        metric(
            &metrics,
            "clip_jobs_failed_total{kind=\"video\",reason=\"cancelled\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "cancellations are counted"
    );
    front.stop().await?;
    worker.stop().await
}

pub async fn a_clip_job_killed_with_its_instance_is_finished_by_another(
    ctx: Arc<Ctx>,
) -> TestResult {
    let db = ctx.database().await?;
    let work = tempfile::tempdir()?;
    let root = work.path().to_string_lossy().into_owned();
    let mut doomed = ChildApp::spawn(&[
        ("DATABASE_URL", &db),
        ("VIDEO_WORKERS", "1"),
        ("VIDEO_WORK_DIR", &root),
        ("CLIP_PRESET", "veryslow"),
        ("JOB_LEASE_TIMEOUT", "1500"),
        ("INSTANCE_ID", "doomed"),
    ])?;
    let media = Media::new()?;
    let source = media.scenes("long.mp4", (480, 270), 4.0, &[]).await?;
    let project = create_project(&doomed.url, "Crash").await?;
    let video = uploaded_video(&doomed.url, project, "long.mp4", source).await?;
    let id = request_clips(&doomed.url, video, slow_request()).await?;
    let storage = database(&db).await?;
    let prefix = caught_mid_job(&doomed.url, &storage, work.path(), id, 1).await?;

    doomed.signal("KILL")?;
    doomed.wait(Duration::from_secs(10))?;
    // The kernel kills its ffmpeg with it (PR_SET_PDEATHSIG): nothing cuts on for nobody.
    no_ffmpeg_left(work.path()).await?;
    ensure!(
        !work_dirs(work.path()).is_empty(),
        "the killed attempt's directory is left"
    );

    let survivor = TestApp::start(
        &ctx,
        &db,
        &[
            ("VIDEO_WORKERS", "1"),
            ("VIDEO_WORK_DIR", &root),
            ("JOB_LEASE_TIMEOUT", "1500"),
            ("INSTANCE_ID", "survivor"),
        ],
    )
    .await?;
    let done = ended(&survivor.url, id, Duration::from_secs(120)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    ensure!(done["attempts"] == 2, "the killed attempt counts: {done}");
    let clips = done["result"]["clips"].as_array().map(Vec::len);
    ensure!(clips == Some(2), "the clips, once: {done}");
    let keys = stored_keys(&storage, &prefix).await?;
    ensure!(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with(&format!("{prefix}a2/"))),
        "only the second attempt's files remain: {keys:?}"
    );
    let shown: serde_json::Value = client()
        .get(survivor.at(&format!("/api/videos/{video}")))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        shown["clips"].as_array().map(Vec::len) == Some(2),
        "two clips recorded: {shown}"
    );
    eventually("the directories to go", Duration::from_secs(10), || async {
        work_dirs(work.path()).is_empty().then_some(())
    })
    .await?;
    survivor.stop().await
}

pub async fn a_clip_job_past_its_time_limit_is_stopped_and_cleaned_up(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let work = tempfile::tempdir()?;
    let root = work.path().to_string_lossy().into_owned();
    // A clip that takes x264's slowest preset many seconds to encode, and a limit of 2.5 s.
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("VIDEO_WORKERS", "1"),
            ("VIDEO_WORK_DIR", &root),
            ("CLIP_PRESET", "veryslow"),
            ("VIDEO_JOB_TIMEOUT", "2500"),
        ],
    )
    .await?;
    let media = Media::new()?;
    let source = media.scenes("long.mp4", (640, 360), 4.0, &[]).await?;
    let project = create_project(&app.url, "Too slow").await?;
    let video = uploaded_video(&app.url, project, "long.mp4", source).await?;
    let id = request_clips(
        &app.url,
        video,
        json!({ "clips": [{ "start": 0, "end": 11.5 }] }),
    )
    .await?;
    eventually(
        "the job's ffmpeg to start",
        Duration::from_secs(30),
        || async { (!ffmpeg_under(work.path()).is_empty()).then_some(()) },
    )
    .await?;

    let done = ended(&app.url, id, Duration::from_secs(30)).await?;
    ensure!(
        done["state"] == "failed" && done["attempts"] == 1,
        "failed for good: {done}"
    );
    ensure!(
        done["error"].as_str()
            == Some(
                "the job ran longer than its limit of 2.5 s (VIDEO_JOB_TIMEOUT) and was stopped"
            ),
        "{done}"
    );
    no_ffmpeg_left(work.path()).await?;
    eventually(
        "the work directory to go",
        Duration::from_secs(10),
        || async { work_dirs(work.path()).is_empty().then_some(()) },
    )
    .await?;
    let storage = database(&db).await?;
    let stored = stored_keys(&storage, "projects/").await?;
    let of_job = format!("/jobs/{id}/");
    ensure!(
        !stored.iter().any(|k| k.contains(&of_job)),
        "nothing of the job is kept: {stored:?}"
    );
    let metrics = app.metrics().await?;
    ensure!(
        metric(
            &metrics,
            "clip_jobs_failed_total{kind=\"video\",reason=\"timeout\"}"
        ) == Some(1.0),
        "timeouts are counted"
    );
    app.stop().await
}
