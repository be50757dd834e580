//! Clips as a user gets them: cut to the frame asked (explicit ranges) or on the video's
//! scene changes (automatic), H.264/AAC MP4 with the index first, each with a poster in
//! WebP and JPEG renditions; served with byte ranges.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{FPS, Media, ended, job, metric, number, request_clips, uploaded_video};
use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, client, create_project, get_json};

/// One frame of the test videos, seconds.
const FRAME: f64 = 1.0 / FPS;

/// The top-level MP4 boxes of `bytes`, in order.
fn boxes(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        names.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        let size = match size {
            0 => break,
            1 if at + 16 <= bytes.len() => {
                let mut wide = [0u8; 8];
                wide.copy_from_slice(&bytes[at + 8..at + 16]);
                u64::from_be_bytes(wide) as usize
            }
            n => n as usize,
        };
        if size < 8 {
            break;
        }
        at += size;
    }
    names
}

/// Downloads each clip of a finished job and checks it as a player would: H.264 and AAC in
/// an MP4 whose index comes first, `size` pixels, lasting what was asked within a frame,
/// every frame decodable; and its poster renditions, served by `/img`.
async fn check_clips(
    app: &TestApp,
    media: &Media,
    done: &Value,
    asked: &[(f64, f64)],
    size: (u64, u64),
) -> TestResult {
    let clips = done["result"]["clips"].as_array().ok_or("no clips")?;
    ensure!(clips.len() == asked.len(), "{} clips: {done}", asked.len());
    for (clip, &(start, end)) in clips.iter().zip(asked) {
        let seq = clip["seq"].as_i64().ok_or("seq")?;
        let url = clip["url"].as_str().ok_or("url")?;
        let response = client().get(app.at(url)).send().await?;
        ensure!(response.status() == 200, "GET {url}: {}", response.status());
        ensure!(
            response.headers()["content-type"] == "video/mp4",
            "a clip's type"
        );
        let bytes = response.bytes().await?;
        let order = boxes(&bytes);
        let moov = order.iter().position(|b| b == "moov");
        let mdat = order.iter().position(|b| b == "mdat");
        ensure!(
            moov.is_some() && moov < mdat,
            "faststart: the index before the media ({order:?})"
        );
        let name = format!("clip-{seq}.mp4");
        std::fs::write(media.path(&name), &bytes)?;
        let probed = media.probe(&name).await?;
        let streams = probed["streams"].as_array().ok_or("streams")?;
        let codec = |kind: &str| {
            streams
                .iter()
                .find(|s| s["codec_type"] == kind)
                .and_then(|s| s["codec_name"].as_str())
                .map(str::to_owned)
        };
        ensure!(codec("video").as_deref() == Some("h264"), "H.264: {probed}");
        ensure!(codec("audio").as_deref() == Some("aac"), "AAC: {probed}");
        let video = streams
            .iter()
            .find(|s| s["codec_type"] == "video")
            .ok_or("video stream")?;
        ensure!(
            (video["width"].as_u64(), video["height"].as_u64()) == (Some(size.0), Some(size.1)),
            "{size:?}: {video}"
        );
        let wanted = end - start;
        for (what, d) in [
            ("the file", number(&probed["format"]["duration"])),
            ("its picture", number(&video["duration"])),
        ] {
            let d = d.ok_or("a duration")?;
            ensure!(
                (d - wanted).abs() <= FRAME + 1e-6,
                "clip {seq}: {what} lasts {d} s, asked {wanted} s (within a frame)"
            );
        }
        ensure!(
            (clip["start"].as_f64().unwrap_or(-1.0) - start).abs() <= FRAME,
            "clip {seq} starts at {start}: {clip}"
        );
        let errors = media.decode_errors(&name).await?;
        ensure!(errors.is_empty(), "clip {seq} decodes cleanly: {errors}");

        // The poster: WebP and JPEG renditions, served by the image origin.
        let renditions = clip["poster"]["renditions"]
            .as_array()
            .ok_or("renditions")?;
        let formats: Vec<&str> = renditions
            .iter()
            .filter_map(|r| r["format"].as_str())
            .collect();
        ensure!(
            formats.contains(&"webp") && formats.contains(&"jpg"),
            "poster renditions in WebP and JPEG: {renditions:?}"
        );
        let path = clip["poster"]["image_path"].as_str().ok_or("image_path")?;
        for (format, mime) in [("webp", "image/webp"), ("jpg", "image/jpeg")] {
            let width = renditions
                .iter()
                .find(|r| r["format"] == format)
                .and_then(|r| r["width"].as_u64())
                .ok_or("a width")?;
            let response = client()
                .get(app.at(&format!("{path}?w={width}&fm={format}")))
                .send()
                .await?;
            ensure!(
                response.status() == 200 && response.headers()["content-type"] == mime,
                "poster {format}: {}",
                response.status()
            );
            let image = image::load_from_memory(&response.bytes().await?)?;
            ensure!(
                u64::from(image.width()) == width,
                "a poster {width} wide: {}",
                image.width()
            );
        }
    }
    Ok(())
}

pub async fn explicit_and_automatic_clips_are_cut_to_the_frame(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("VIDEO_WORKERS", "1"), ("CLIP_HEIGHT", "240")]).await?;
    let media = Media::new()?;
    let source = media.scenes("scenes.mp4", (640, 360), 2.0, &[]).await?;
    let project = create_project(&app.url, "Launch video").await?;
    let video = uploaded_video(&app.url, project, "launch.mp4", source).await?;

    // Explicit ranges: each clip lasts what was asked, to the frame.
    let asked = [(0.5, 1.7), (2.2, 4.0)];
    let id = request_clips(
        &app.url,
        video,
        json!({ "clips": asked.iter().map(|(s, e)| json!({"start": s, "end": e})).collect::<Vec<_>>() }),
    )
    .await?;
    let watched = job(&app.url, id).await.ok_or("the job")?;
    ensure!(
        matches!(
            watched["state"].as_str(),
            Some("queued" | "running" | "succeeded")
        ),
        "{watched}"
    );
    let done = ended(&app.url, id, Duration::from_secs(90)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    ensure!(done["progress"] == 100.0 && done["attempts"] == 1, "{done}");
    check_clips(&app, &media, &done, &asked, (426, 240)).await?;

    // Automatic: clips start on the scene changes (at 2 s and 4 s).
    let id = request_clips(
        &app.url,
        video,
        json!({ "auto": { "count": 2, "seconds": 1.5 } }),
    )
    .await?;
    let done = ended(&app.url, id, Duration::from_secs(90)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    let changes: Vec<f64> = done["result"]["scene_changes"]
        .as_array()
        .ok_or("scene changes")?
        .iter()
        .filter_map(|c| c["at"].as_f64())
        .collect();
    ensure!(
        changes.len() == 2
            && (changes[0] - 2.0).abs() <= FRAME
            && (changes[1] - 4.0).abs() <= FRAME,
        "the two cuts: {changes:?}"
    );
    check_clips(&app, &media, &done, &[(2.0, 3.5), (4.0, 5.5)], (426, 240)).await?;

    // The video as probed, with its four clips and their posters' URLs.
    let shown = get_json(&app.at(&format!("/api/videos/{video}"))).await?;
    ensure!(
        shown["video"]["duration_seconds"]
            .as_f64()
            .is_some_and(|d| (d - 6.0).abs() < 0.1)
            && shown["video"]["width"] == 640
            && shown["video"]["audio_codec"] == "aac",
        "probed: {shown}"
    );
    let clips = shown["clips"].as_array().ok_or("clips")?;
    ensure!(clips.len() == 4, "four clips: {shown}");
    let srcset = clips[0]["poster_urls"]["srcset_webp"]
        .as_str()
        .unwrap_or("");
    ensure!(
        srcset.contains(" 640w") && srcset.contains("fm=webp"),
        "a srcset: {srcset}"
    );

    let metrics = app.metrics().await?;
    ensure!(
        metric(&metrics, "clip_jobs_completed_total{kind=\"video\"}").is_some_and(|n| n >= 2.0),
        "completed video jobs are counted"
    );
    ensure!(
        metrics.contains("clip_job_duration_seconds_bucket{kind=\"video\",le=\"600\"}"),
        "the duration histogram has buckets for minutes-long jobs"
    );
    app.stop().await
}

pub async fn clips_are_served_with_byte_ranges(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("VIDEO_WORKERS", "1")]).await?;
    let media = Media::new()?;
    let source = media.scenes("ranges.mp4", (320, 180), 1.0, &[]).await?;
    let project = create_project(&app.url, "Ranges").await?;
    let video = uploaded_video(&app.url, project, "ranges.mp4", source).await?;
    let id = request_clips(
        &app.url,
        video,
        json!({ "clips": [{ "start": 0, "end": 2.5 }] }),
    )
    .await?;
    let done = ended(&app.url, id, Duration::from_secs(60)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    let url = app.at(done["result"]["clips"][0]["url"].as_str().ok_or("url")?);

    let whole = client().get(&url).send().await?;
    ensure!(whole.headers()["accept-ranges"] == "bytes", "Accept-Ranges");
    let whole = whole.bytes().await?;
    let size = whole.len();
    ensure!(size > 2000, "a clip of some size: {size}");
    let middle = (size / 2 - 500, size / 2 + 499);
    for (range, expected) in [
        ("bytes=0-99".to_owned(), (0, 99)),
        (format!("bytes={}-{}", middle.0, middle.1), middle),
        ("bytes=-500".to_owned(), (size - 500, size - 1)),
    ] {
        let response = client().get(&url).header("range", &range).send().await?;
        ensure!(response.status() == 206, "{range}: {}", response.status());
        let content_range = response.headers()["content-range"].to_str()?.to_owned();
        ensure!(
            content_range == format!("bytes {}-{}/{size}", expected.0, expected.1),
            "{range}: {content_range}"
        );
        ensure!(
            response.headers()["accept-ranges"] == "bytes",
            "{range}: Accept-Ranges"
        );
        let body = response.bytes().await?;
        ensure!(
            body[..] == whole[expected.0..=expected.1],
            "{range}: the bytes of the file"
        );
    }
    let response = client()
        .get(&url)
        .header("range", format!("bytes={}-", size + 10))
        .send()
        .await?;
    ensure!(
        response.status() == 416,
        "past the end: {}",
        response.status()
    );
    ensure!(
        response.headers()["content-range"] == format!("bytes */{size}").as_str(),
        "416 names the size"
    );
    let missing = client().get(app.at("/media/clips/999999")).send().await?;
    ensure!(
        missing.status() == 404,
        "an unknown clip: {}",
        missing.status()
    );
    app.stop().await
}
