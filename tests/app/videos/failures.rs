//! Inputs that are no good: each ends as a failed job whose message says what is wrong,
//! before any decoding; the instance carries on, and the good video next to them is cut.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Media, ended, metric, request_clips, upload_video, uploaded_video};
use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, client, create_project};

pub async fn bad_videos_end_as_failed_jobs_with_clear_messages(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("VIDEO_WORKERS", "2"),
            ("VIDEO_MAX_DURATION", "5"),
            ("VIDEO_MAX_BYTES", "3000000"),
            ("VIDEO_MAX_DIMENSION", "2000"),
            // A dozen uploads in a second or two: past the upload group's default burst
            // (10) on a fast machine, which answered 429 to the last of them.
            ("RATE_LIMIT_UPLOAD_BURST", "100"),
        ],
    )
    .await?;
    let project = create_project(&app.url, "Bad inputs").await?;
    let media = Media::new()?;

    let good = media.scenes("good.mp4", (320, 180), 1.0, &[]).await?;
    let faststart = media
        .scenes(
            "faststart.mp4",
            (320, 180),
            1.0,
            &["-movflags", "+faststart"],
        )
        .await?;
    let long = media.scenes("long.mp4", (160, 90), 2.0, &[]).await?;
    let audio = media
        .ffmpeg(
            &["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac"],
            "voice.m4a",
        )
        .await?;
    let no_frames = media
        .ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x180",
                "-frames:v",
                "0",
                "-c:v",
                "libx264",
            ],
            "empty.mp4",
        )
        .await?;
    let wide = media
        .ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=2400x32:duration=0.2",
                "-c:v",
                "ffv1",
            ],
            "wide.mkv",
        )
        .await?;
    let matroska = media
        .ffmpeg(&["-i", "good.mp4", "-c", "copy"], "good.mkv")
        .await?;
    // Valid signatures followed by garbage; a file cut short, index last (its index is
    // lost) and index first (its frames are lost).
    let garbage = |mut bytes: Vec<u8>, keep: usize| {
        let mut seed = 0x9e37_79b9_u32;
        for byte in bytes.iter_mut().skip(keep) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *byte = seed as u8;
        }
        bytes
    };
    let corrupt = garbage(good.clone(), 32);
    let corrupt_mkv = garbage(matroska, 4);
    let cut_short = good[..good.len() / 2].to_vec();
    let frames_lost = faststart[..faststart.len() / 3].to_vec();
    let photo = crate::support::jpeg(64, 48, false);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "notes.txt",
            b"these are not moving pictures\n".to_vec(),
            "not a video ffmpeg can read",
        ),
        ("photo.jpg", photo, "is an image, not a video"),
        ("corrupt.mp4", corrupt, "incomplete or corrupt"),
        (
            "corrupt.mkv",
            corrupt_mkv,
            "not a video ffmpeg can read, or it is corrupt",
        ),
        ("cut-short.mp4", cut_short, "the file is incomplete"),
        ("frames-lost.mp4", frames_lost, "the file is truncated"),
        ("voice.m4a", audio, "holds only sound (aac), no picture"),
        ("empty.mp4", no_frames, "the video is empty"),
        (
            "long.mp4",
            long,
            "the video lasts 6.0 s; at most 5.0 s are accepted",
        ),
        (
            "wide.mkv",
            wide,
            "the video is 2400x32 pixels; at most 2000 pixels a side",
        ),
    ];
    let mut jobs = Vec::new();
    for (name, bytes, _) in &cases {
        let video = uploaded_video(&app.url, project, name, bytes.clone()).await?;
        let job = request_clips(
            &app.url,
            video,
            json!({ "clips": [{ "start": 0, "end": 1 }] }),
        )
        .await?;
        jobs.push(job);
    }
    let good_video = uploaded_video(&app.url, project, "good.mp4", good).await?;
    let good_job = request_clips(
        &app.url,
        good_video,
        json!({ "clips": [{ "start": 0, "end": 1 }, { "start": 2.5, "end": 12 }] }),
    )
    .await?;

    for ((name, _, expected), job) in cases.iter().zip(&jobs) {
        let done = ended(&app.url, *job, Duration::from_secs(60)).await?;
        let error = done["error"].as_str().unwrap_or("");
        ensure!(done["state"] == "failed", "{name}: failed, not {done}");
        ensure!(done["attempts"] == 1, "{name}: not retried: {done}");
        ensure!(
            error.contains(expected),
            "{name}: {error:?} should say {expected:?}"
        );
        ensure!(
            !error.contains("/tmp") && !error.contains("source:"),
            "{name}: no server path in {error:?}"
        );
    }
    // A range past the end of a good video is refused once it is probed.
    let done = ended(&app.url, good_job, Duration::from_secs(60)).await?;
    ensure!(
        done["state"] == "failed"
            && done["error"].as_str().is_some_and(
                |e| e.contains("clip 2 ends at 12.00 s, past the end of the video (3.")
            ),
        "{done}"
    );

    // Refused at the door: an empty upload, one over VIDEO_MAX_BYTES, a bad request.
    let (status, body) = upload_video(&app.url, project, "nothing.mp4", Vec::new()).await?;
    ensure!(
        status == 400 && body["detail"] == "the upload is empty",
        "{status} {body}"
    );
    let (status, body) = upload_video(&app.url, project, "huge.mp4", vec![0u8; 3_100_000]).await?;
    ensure!(status == 413, "over VIDEO_MAX_BYTES: {status} {body}");
    let refused = client()
        .post(app.at(&format!("/api/videos/{good_video}/clips")))
        .json(&json!({ "clips": [{ "start": 4, "end": 2 }] }))
        .send()
        .await?;
    let status = refused.status();
    let body: serde_json::Value = refused.json().await?;
    ensure!(
        status == 422 && body["detail"] == "clip 1: end must come at least 0.1 s after start",
        "{status} {body}"
    );

    let metrics = app.metrics().await?;
    let failed = metric(
        &metrics,
        "clip_jobs_failed_total{kind=\"video\",reason=\"invalid_input\"}",
    );
    ensure!(
        failed.is_some_and(|n| n >= cases.len() as f64 + 1.0),
        "failures by reason: {failed:?}"
    );
    app.stop().await
}

pub async fn start_up_without_ffmpeg_says_what_to_install(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let empty = tempfile::tempdir()?;
    let path = empty.path().to_string_lossy().into_owned();
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("PATH", path.as_str()),
        ("VIDEO_WORKERS", "1"),
    ];
    match crate::support::ChildApp::spawn(&vars) {
        Ok(_) => return Err("started with no ffmpeg on PATH".into()),
        Err(e) => {
            let text = e.to_string();
            ensure!(
                text.contains("ffmpeg was not found on PATH")
                    && text.contains("apt-get install ffmpeg")
                    && text.contains("VIDEO_WORKERS=0"),
                "the start-up error says what to do: {text}"
            );
        }
    }
    // An instance running no video job needs no ffmpeg.
    let api_only = crate::support::ChildApp::spawn(&[
        ("DATABASE_URL", db.as_str()),
        ("PATH", path.as_str()),
        ("VIDEO_WORKERS", "0"),
    ])?;
    let health = client()
        .get(format!("{}/health", api_only.url))
        .send()
        .await?;
    ensure!(health.status() == 200, "serving: {}", health.status());
    Ok(())
}
