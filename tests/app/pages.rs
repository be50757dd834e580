//! The product pages in headless Chromium: `/` and `/projects/{id}` show the projects and
//! their photos through the CDN (a second app instance on the same database plays the CDN,
//! under another host name), with srcset and lazy loading; a project is created and an image
//! uploaded through the pages' own forms; when the CDN goes away, the images fall back to the
//! origin in the browser. No console error along the way, except the CDN's refused loads.

use std::sync::Arc;
use std::time::Duration;

use crate::browser::Browser;
use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, create_project, finished_job, upload};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
/// Real photographs (testdata/images, GPL-2+, see its COPYRIGHT file).
const PHOTOS: &[&str] = &["LadyBird.jpg", "Garden.jpg", "GreenMeadow.jpg"];

fn photo(name: &str) -> TestResult<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/images")
        .join(name);
    Ok(std::fs::read(path)?)
}

/// Every image of the page: `[currentSrc, complete, naturalWidth, loading, srcset]`.
const IMAGES: &str = "return Array.from(document.querySelectorAll('main img')).map(i => \
     [i.currentSrc, i.complete, i.naturalWidth, i.getAttribute('loading'), i.getAttribute('srcset') || '']);";

pub async fn the_pages_show_projects_and_images_through_the_cdn(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    // The "CDN": another instance of the app on the same database, reached as localhost.
    let cdn = TestApp::start(&ctx, &db, &[("INSTANCE_ID", "cdn-edge")]).await?;
    let cdn_base = cdn.url.replace("127.0.0.1", "localhost");
    let app = TestApp::start(
        &ctx,
        &db,
        &[("INSTANCE_ID", "pages-1"), ("CDN_BASE_URL", &cdn_base)],
    )
    .await?;

    let spring = create_project(&app.url, "Spring launch video").await?;
    for name in PHOTOS {
        let uploaded = upload(&app.url, spring, name, photo(name)?).await?;
        let job = uploaded["job"]["id"].as_i64().ok_or("no job id")?;
        let done = finished_job(&app.url, job, Duration::from_secs(60)).await?;
        ensure!(done["state"] == "succeeded", "rendering {name}: {done}");
    }
    create_project(&app.url, "Creator interviews").await?;
    let demo = create_project(&app.url, "Product demo: Q3").await?;
    upload(&app.url, demo, "GreenMeadow.jpg", photo("GreenMeadow.jpg")?).await?;

    let browser = Browser::start(WIDTH, HEIGHT).await?;
    let result = async {
        // The projects, newest first, with their covers from the CDN.
        browser.open(&app.at("/")).await?;
        let names = browser
            .eval("return Array.from(document.querySelectorAll('.card-title')).map(e => e.textContent)")
            .await?;
        ensure!(
            names == serde_json::json!(["Product demo: Q3", "Creator interviews", "Spring launch video"]),
            "the cards, newest first: {names}"
        );
        let covers = browser
            .wait_for(
                "the covers to load",
                "const imgs = Array.from(document.querySelectorAll('.thumb img'));\
                 return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0) && imgs.map(i => i.currentSrc);",
            )
            .await?;
        for src in covers.as_array().into_iter().flatten() {
            let src = src.as_str().unwrap_or("");
            ensure!(src.starts_with(&cdn_base), "a cover from the CDN: {src}");
        }
        let shot = browser.screenshot("home").await?;
        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors on /: {errors:?}");

        // A project page: every photo loaded from the CDN, responsive and lazy below the fold.
        browser.open(&app.at(&format!("/projects/{spring}"))).await?;
        let images = browser
            .wait_for(
                "the photos to load",
                &format!(
                    "const imgs = Array.from(document.querySelectorAll('main img'));\
                     return imgs.length === {} && imgs.every(i => i.complete && i.naturalWidth > 0);",
                    PHOTOS.len()
                ),
            )
            .await
            .and(browser.eval(IMAGES).await)?;
        for image in images.as_array().into_iter().flatten() {
            let src = image[0].as_str().unwrap_or("");
            ensure!(src.starts_with(&cdn_base), "a photo from the CDN: {image}");
            ensure!(
                image[4].as_str().unwrap_or("").contains(" 640w"),
                "a srcset of widths: {image}"
            );
        }
        let captions = browser
            .eval("return Array.from(document.querySelectorAll('.shot-name')).map(e => e.textContent)")
            .await?;
        ensure!(
            captions == serde_json::json!(["GreenMeadow.jpg", "Garden.jpg", "LadyBird.jpg"]),
            "the photos, newest first: {captions}"
        );
        browser.screenshot("project").await?;
        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors on the project page: {errors:?}");

        // Create a project and upload a photo through the pages' own forms.
        browser.open(&app.at("/")).await?;
        browser.type_into("#project-name", "Made in the browser").await?;
        browser.click("#new-project button").await?;
        browser
            .wait_for(
                "the new project's page",
                "return location.pathname.startsWith('/projects/') && document.querySelector('h1').textContent",
            )
            .await?;
        let title = browser.eval("return document.querySelector('h1').textContent").await?;
        ensure!(title == "Made in the browser", "the new project's title: {title}");
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/images/Garden.jpg");
        let input = browser.client.find(fantoccini::Locator::Css("#upload-file")).await?;
        input.send_keys(&file.display().to_string()).await?;
        // The page reloads when the job is done, and shows the rendered photo.
        browser
            .wait_for(
                "the uploaded photo on the page",
                "const img = document.querySelector('main img');\
                 const badge = document.querySelector('.badge.ok');\
                 return img && img.complete && img.naturalWidth > 0 && badge && badge.textContent;",
            )
            .await?;
        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors while creating and uploading: {errors:?}");

        // The CDN goes away: the pages still link it, the browser falls back to the origin
        // (for the images it has not cached: the cache is emptied first).
        cdn.stop().await?;
        browser.clear_cache().await?;
        browser.open(&app.at(&format!("/projects/{spring}"))).await?;
        let fallback = browser
            .wait_for(
                "the photos to fall back to the origin",
                &format!(
                    "const imgs = Array.from(document.querySelectorAll('main img'));\
                     return imgs.length === {} && imgs.every(i => i.complete && i.naturalWidth > 0 && !i.currentSrc.startsWith('{cdn_base}')) && imgs.map(i => i.currentSrc);",
                    PHOTOS.len()
                ),
            )
            .await?;
        for src in fallback.as_array().into_iter().flatten() {
            let src = src.as_str().unwrap_or("");
            ensure!(src.starts_with(&app.url), "a photo from the origin: {src}");
        }
        browser.screenshot("project-cdn-down").await?;
        // The only errors are the refused CDN loads that triggered the fallback.
        let errors = browser.console_errors().await?;
        ensure!(!errors.is_empty(), "the CDN's refused loads show in the console");
        let cdn_host = cdn_base.trim_start_matches("http://");
        ensure!(
            errors.iter().all(|e| e.contains(cdn_host)),
            "console errors other than the CDN's: {errors:?}"
        );
        eprintln!("screenshots: {} (and project, project-cdn-down)", shot.display());
        Ok(())
    }
    .await;
    browser.close().await?;
    app.stop().await?;
    result
}
