//! The project page in headless Chromium (Debian's, which plays H.264: the test proves it by
//! playing): the clips show in `<video>` elements with their posters, and the first one
//! plays its first second from byte ranges of the MP4.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Media, ended, request_clips, uploaded_video};
use crate::browser::Browser;
use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, create_project, jpeg, upload};

const TOKEN: &str = "video-page-token-for-tests";

pub async fn the_project_page_plays_a_clip(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("VIDEO_WORKERS", "1"), ("ADMIN_TOKEN", TOKEN)]).await?;
    let media = Media::new()?;
    let source = media.scenes("launch.mp4", (640, 360), 2.0, &[]).await?;
    let project = create_project(&app.url, "Spring launch").await?;
    let video = uploaded_video(&app.url, project, "spring-launch.mp4", source).await?;
    let id = request_clips(
        &app.url,
        video,
        json!({ "auto": { "count": 3, "seconds": 1.5 } }),
    )
    .await?;
    let done = ended(&app.url, id, Duration::from_secs(90)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    // A still of the project, next to the clips.
    let still = upload(&app.url, project, "still.jpg", jpeg(640, 400, false)).await?;
    let still_job = still["job"]["id"].as_i64().ok_or("job")?;
    crate::support::finished_job(&app.url, still_job, Duration::from_secs(60)).await?;

    let browser = Browser::start(1280, 900).await?;
    let result = async {
        browser.open(&app.at(&format!("/projects/{project}"))).await?;
        let videos = browser
            .eval(
                "return Array.from(document.querySelectorAll('video')).map(v => \
                 [v.querySelector('source').src, v.poster, v.getAttribute('preload')])",
            )
            .await?;
        let videos = videos.as_array().ok_or("videos")?;
        ensure!(videos.len() == 3, "three clips on the page: {videos:?}");
        for v in videos {
            ensure!(
                v[0].as_str().is_some_and(|s| s.contains("/media/clips/"))
                    && v[1].as_str().is_some_and(|s| s.contains("fm=webp")),
                "a clip with its poster: {v}"
            );
        }
        // Every poster loads as an image.
        browser
            .wait_for(
                "the posters to load",
                "if (!window.posters) { window.posters = Array.from(document.querySelectorAll('video')).map(v => { \
                   const i = new Image(); i.src = v.poster; return i; }); } \
                 return window.posters.every(i => i.complete && i.naturalWidth > 0);",
            )
            .await?;
        browser.screenshot("project-clips").await?;

        // Play the first clip: its time advances through its first second.
        browser
            .eval("const v = document.querySelector('video'); v.muted = true; v.play(); return true;")
            .await?;
        let played = browser
            .wait_for(
                "the clip to play its first second",
                "const v = document.querySelector('video'); \
                 return !v.error && v.currentTime >= 1.0 && [v.currentTime, v.videoWidth, v.videoHeight];",
            )
            .await?;
        ensure!(played[1] == 640 && played[2] == 360, "decoded at its size: {played}");
        let shot = browser.screenshot("project-clip-playing").await?;
        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");

        // The dashboard's jobs panel: the video job done here, its duration.
        browser.open(&app.at("/admin/scaling")).await?;
        browser
            .wait_for("the token form", "return !document.getElementById('token-form').hidden")
            .await?;
        browser.type_into("#token", TOKEN).await?;
        browser.click("#token-form button[type=submit]").await?;
        let row = browser
            .wait_for(
                "the video row of the jobs panel",
                "const row = Array.from(document.querySelectorAll('#jobs tr'))                    .find(r => r.querySelector('th').textContent === 'video');                  return row && Array.from(row.children).map(c => c.textContent);",
            )
            .await?;
        ensure!(
            row[2] == "0 of 1 workers" && row[3] != "0" && row[5].as_str().is_some_and(|d| d.ends_with(" s")),
            "the video row: {row}"
        );
        browser
            .eval("document.getElementById('jobs-panel').scrollIntoView(); return true;")
            .await?;
        browser.screenshot("dashboard-jobs").await?;
        eprintln!("screenshots: {} (and project-clips, dashboard-jobs)", shot.display());
        Ok(())
    }
    .await;
    browser.close().await?;
    app.stop().await?;
    result
}
