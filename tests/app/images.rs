//! Uploads, their jobs and renditions, the `/img` origin and `/media` ranges, and two
//! instances sharing their storage.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::ensure;
use crate::support::{
    Ctx, TestApp, TestResult, client, create_project, finished_job, jpeg, upload,
};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn dimensions(bytes: &[u8]) -> TestResult<(u32, u32)> {
    let image = image::load_from_memory(bytes)?;
    Ok((image.width(), image.height()))
}

pub async fn an_upload_is_rendered_and_served_by_img(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("RENDITION_WIDTHS", "64,128")]).await?;
    let project = create_project(&app.url, "photos").await?;
    let original = jpeg(800, 500, false);
    // Multipart this time (the other tests send raw bodies).
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(original.clone())
            .file_name("sunset.jpg")
            .mime_str("image/jpeg")?,
    );
    let response = client()
        .post(app.at(&format!("/api/projects/{project}/assets")))
        .multipart(form)
        .send()
        .await?;
    ensure!(response.status() == 202, "upload: {}", response.status());
    ensure!(
        header(&response, "location").starts_with("/api/jobs/"),
        "Location"
    );
    let uploaded: Value = response.json().await?;
    ensure!(uploaded["asset"]["filename"] == "sunset.jpg", "{uploaded}");
    ensure!(uploaded["job"]["state"] == "queued", "{uploaded}");
    let job = uploaded["job"]["id"].as_i64().ok_or("job")?;
    let path = uploaded["asset"]["image_path"]
        .as_str()
        .ok_or("image_path")?
        .to_owned();

    let done = finished_job(&app.url, job, Duration::from_secs(30)).await?;
    ensure!(
        done["state"] == "succeeded" && done["progress"] == 100.0,
        "{done}"
    );
    ensure!(done["attempts"] == 1, "{done}");
    let renditions = done["result"]["renditions"]
        .as_array()
        .ok_or("renditions")?;
    ensure!(renditions.len() == 4, "2 widths x 2 formats: {done}");

    let http = client();
    // Negotiated: WebP for a client that names it, JPEG for one that does not.
    let webp = http
        .get(app.at(&format!("{path}?w=128")))
        .header("accept", "image/webp,*/*")
        .send()
        .await?;
    ensure!(webp.status() == 200, "webp: {}", webp.status());
    ensure!(
        header(&webp, "content-type") == "image/webp",
        "{:?}",
        webp.headers()
    );
    ensure!(
        header(&webp, "vary").contains("Accept"),
        "Vary: {:?}",
        webp.headers()
    );
    ensure!(
        header(&webp, "cache-control").contains("immutable"),
        "{:?}",
        webp.headers()
    );
    let webp_etag = header(&webp, "etag").to_owned();
    ensure!(webp_etag.starts_with('"'), "strong ETag: {webp_etag}");
    let bytes = webp.bytes().await?;
    ensure!(
        dimensions(&bytes)? == (128, 80),
        "rendition size {:?}",
        dimensions(&bytes)?
    );

    let jpeg_answer = http
        .get(app.at(&format!("{path}?w=128")))
        .header("accept", "image/jpeg,*/*")
        .send()
        .await?;
    ensure!(
        header(&jpeg_answer, "content-type") == "image/jpeg",
        "{:?}",
        jpeg_answer.headers()
    );
    ensure!(
        header(&jpeg_answer, "etag") != webp_etag,
        "one ETag per representation"
    );

    // Revalidation: 304 with the same validators, no body.
    let again = http
        .get(app.at(&format!("{path}?w=128")))
        .header("accept", "image/webp")
        .header("if-none-match", &webp_etag)
        .send()
        .await?;
    ensure!(again.status() == 304, "304: {}", again.status());
    ensure!(header(&again, "etag") == webp_etag, "304 keeps the ETag");
    ensure!(again.bytes().await?.is_empty(), "304 has no body");

    // An explicit format is not negotiated.
    let png = http
        .get(app.at(&format!("{path}?w=64&fm=png")))
        .header("accept", "image/webp")
        .send()
        .await?;
    ensure!(
        header(&png, "content-type") == "image/png",
        "{:?}",
        png.headers()
    );
    ensure!(header(&png, "vary").is_empty(), "no Vary for fm=png");
    ensure!(dimensions(&png.bytes().await?)? == (64, 40), "png size");

    // An on-demand render within the allow-lists (no stored 256-wide rendition).
    let render = http
        .get(app.at(&format!("{path}?w=256&q=60&fm=webp")))
        .send()
        .await?;
    ensure!(render.status() == 200, "render: {}", render.status());
    ensure!(
        dimensions(&render.bytes().await?)? == (256, 160),
        "on-demand size"
    );

    // Refused transforms and versions.
    let odd = http.get(app.at(&format!("{path}?w=333"))).send().await?;
    ensure!(
        odd.status() == 400,
        "w=333 outside the allow-list: {}",
        odd.status()
    );
    ensure!(
        header(&odd, "content-type") == "application/problem+json",
        "problem"
    );
    let unknown = http.get(app.at(&format!("{path}?zoom=2"))).send().await?;
    ensure!(
        unknown.status() == 400,
        "unknown parameter: {}",
        unknown.status()
    );
    let asset = uploaded["asset"]["id"].as_i64().ok_or("asset")?;
    let stale = http
        .get(app.at(&format!("/img/{asset}/0000?w=128")))
        .send()
        .await?;
    ensure!(stale.status() == 404, "unknown version: {}", stale.status());

    // The original, versioned and not.
    let whole = http.get(app.at(&path)).send().await?;
    ensure!(
        header(&whole, "content-type") == "image/jpeg",
        "original type"
    );
    ensure!(
        whole.bytes().await? == original,
        "the original, byte for byte"
    );
    let latest = http
        .get(app.at(&format!("/img/{asset}?w=64")))
        .send()
        .await?;
    ensure!(
        header(&latest, "cache-control") == "public, max-age=300",
        "unversioned: {:?}",
        latest.headers()
    );

    // The same request again is answered from memory, identically.
    let first = http
        .get(app.at(&format!("{path}?w=128")))
        .header("accept", "image/webp")
        .send()
        .await?;
    let first_etag = header(&first, "etag").to_owned();
    let first = first.bytes().await?;
    let second = http
        .get(app.at(&format!("{path}?w=128")))
        .header("accept", "image/webp")
        .send()
        .await?;
    ensure!(header(&second, "etag") == first_etag, "same ETag");
    ensure!(second.bytes().await? == first, "same bytes");
    let metrics = app.metrics().await?;
    ensure!(
        metrics.contains("clip_img_cache_hits_total"),
        "cache hits counted"
    );
    app.stop().await
}

pub async fn media_serves_byte_ranges(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[]).await?;
    let project = create_project(&app.url, "ranges").await?;
    // Noise does not compress: a file of several storage chunks (1 MiB each).
    let original = jpeg(1200, 1000, true);
    ensure!(
        original.len() > 2_100_000,
        "test file of {} bytes",
        original.len()
    );
    let uploaded = upload(&app.url, project, "big.jpg", original.clone()).await?;
    let asset = uploaded["asset"]["id"].as_i64().ok_or("asset")?;
    let url = app.at(&format!("/media/assets/{asset}"));
    let http = client();
    let size = original.len();

    let full = http.get(&url).send().await?;
    ensure!(
        full.status() == 200 && header(&full, "accept-ranges") == "bytes",
        "{:?}",
        full.headers()
    );
    let etag = header(&full, "etag").to_owned();
    ensure!(full.bytes().await? == original, "whole file");

    // First bytes, a range across a chunk boundary, a suffix.
    let mib = 1024 * 1024;
    for (range, expected) in [
        ("bytes=0-99".to_owned(), 0..100),
        (
            format!("bytes={}-{}", mib - 10, mib + 9),
            mib - 10..mib + 10,
        ),
        ("bytes=-500".to_owned(), size - 500..size),
        (format!("bytes={}-", size - 3), size - 3..size),
    ] {
        let part = http.get(&url).header("range", &range).send().await?;
        ensure!(part.status() == 206, "{range}: {}", part.status());
        let content_range = header(&part, "content-range").to_owned();
        let want = format!("bytes {}-{}/{size}", expected.start, expected.end - 1);
        ensure!(content_range == want, "{range}: {content_range} vs {want}");
        ensure!(part.bytes().await? == original[expected], "{range}: bytes");
    }
    let outside = http
        .get(&url)
        .header("range", format!("bytes={}-", size + 10))
        .send()
        .await?;
    ensure!(
        outside.status() == 416,
        "beyond the end: {}",
        outside.status()
    );
    ensure!(
        header(&outside, "content-range") == format!("bytes */{size}"),
        "416 Content-Range"
    );
    let garbage = http.get(&url).header("range", "bytes=abc").send().await?;
    ensure!(garbage.status() == 416, "malformed: {}", garbage.status());
    // If-Range naming another version: the whole file.
    let other = http
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"old\"")
        .send()
        .await?;
    ensure!(
        other.status() == 200,
        "If-Range mismatch: {}",
        other.status()
    );
    let cached = http.get(&url).header("if-none-match", &etag).send().await?;
    ensure!(cached.status() == 304, "If-None-Match: {}", cached.status());
    app.stop().await
}

pub async fn corrupt_uploads_end_as_failed_jobs_with_a_message(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[]).await?;
    let project = create_project(&app.url, "broken").await?;
    let mut truncated = jpeg(600, 400, false);
    truncated.truncate(truncated.len() / 3);
    for (name, bytes, message) in [
        (
            "notes.txt",
            b"this is not an image at all".to_vec(),
            "format not recognised",
        ),
        ("half.jpg", truncated, "corrupt or truncated"),
    ] {
        let uploaded = upload(&app.url, project, name, bytes).await?;
        let job = uploaded["job"]["id"].as_i64().ok_or("job")?;
        let done = finished_job(&app.url, job, Duration::from_secs(30)).await?;
        ensure!(done["state"] == "failed", "{name}: {done}");
        ensure!(
            done["attempts"] == 1,
            "{name}: bad input is not retried: {done}"
        );
        let error = done["error"].as_str().unwrap_or("");
        ensure!(
            error.contains(message),
            "{name}: error {error:?} lacks {message:?}"
        );
    }
    // The app still renders good uploads afterwards.
    let good = upload(&app.url, project, "ok.jpg", jpeg(300, 200, false)).await?;
    let done = finished_job(
        &app.url,
        good["job"]["id"].as_i64().ok_or("job")?,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(done["state"] == "succeeded", "{done}");
    let metrics = app.metrics().await?;
    let failed = metrics
        .lines()
        .find(|l| l.starts_with("clip_jobs_failed_total{kind=\"image\",reason=\"invalid_input\"}"))
        .ok_or("clip_jobs_failed_total")?;
    ensure!(!failed.ends_with(" 0"), "failures counted: {failed}");
    app.stop().await
}

async fn share_uploads(ctx: &Ctx, vars: &[(&str, &str)]) -> TestResult {
    let db = ctx.database().await?;
    let a = TestApp::start(ctx, &db, &[&[("INSTANCE_ID", "a")], vars].concat()).await?;
    let b = TestApp::start(ctx, &db, &[&[("INSTANCE_ID", "b")], vars].concat()).await?;
    let project = create_project(&a.url, "shared").await?;
    let original = jpeg(500, 300, false);
    let uploaded = upload(&a.url, project, "shared.jpg", original.clone()).await?;
    let asset = uploaded["asset"]["id"].as_i64().ok_or("asset")?;
    let path = uploaded["asset"]["image_path"]
        .as_str()
        .ok_or("path")?
        .to_owned();
    // Either instance may run the job; both see it.
    let done = finished_job(
        &b.url,
        uploaded["job"]["id"].as_i64().ok_or("job")?,
        Duration::from_secs(30),
    )
    .await?;
    ensure!(done["state"] == "succeeded", "{done}");
    let http = client();
    let from_b = http
        .get(b.at(&format!("/media/assets/{asset}")))
        .send()
        .await?;
    ensure!(header(&from_b, "x-instance-id") == "b", "answered by b");
    ensure!(from_b.bytes().await? == original, "b serves a's upload");
    let rendition = http
        .get(b.at(&format!("{path}?w=128&fm=webp")))
        .send()
        .await?;
    ensure!(
        rendition.status() == 200,
        "b serves the rendition: {}",
        rendition.status()
    );
    ensure!(
        dimensions(&rendition.bytes().await?)? == (128, 77),
        "rendition"
    );
    // And the other way round.
    let second = upload(&b.url, project, "second.jpg", jpeg(200, 100, false)).await?;
    let second_asset = second["asset"]["id"].as_i64().ok_or("asset")?;
    let from_a = http
        .get(a.at(&format!("/media/assets/{second_asset}")))
        .send()
        .await?;
    ensure!(
        from_a.status() == 200,
        "a serves b's upload: {}",
        from_a.status()
    );
    a.stop().await?;
    b.stop().await
}

pub async fn two_instances_serve_each_others_uploads(ctx: Arc<Ctx>) -> TestResult {
    share_uploads(&ctx, &[]).await
}

pub async fn two_instances_share_a_file_store(ctx: Arc<Ctx>) -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("file://{}", dir.path().display());
    share_uploads(&ctx, &[("STORAGE_URL", &url)]).await?;
    let stored = std::fs::read_dir(dir.path())?.count();
    ensure!(stored > 0, "files went to the directory");
    Ok(())
}

pub async fn signed_transforms_render_any_size_and_refuse_forgeries(ctx: Arc<Ctx>) -> TestResult {
    const KEY: &str = "signing-key-for-the-tests-01";
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("CDN_SIGNING_KEYS", KEY)]).await?;
    let project = create_project(&app.url, "signed").await?;
    let uploaded = upload(&app.url, project, "s.jpg", jpeg(600, 400, false)).await?;
    let path = uploaded["asset"]["image_path"]
        .as_str()
        .ok_or("path")?
        .to_owned();
    // What a page holding the same key writes.
    let cdn = clip_cdn::Cdn::new(clip_cdn::CdnConfig {
        signing_keys: vec![KEY.to_owned()],
        ..clip_cdn::CdnConfig::default()
    })?;
    let signed = cdn
        .image(&path)
        .width(333)
        .format(clip_cdn::image::Format::WebP)
        .url();
    ensure!(signed.contains("&s="), "signed: {signed}");
    let http = client();
    let answer = http.get(app.at(&signed)).send().await?;
    ensure!(
        answer.status() == 200,
        "a signed size off the allow-list: {}",
        answer.status()
    );
    ensure!(
        dimensions(&answer.bytes().await?)? == (333, 222),
        "rendered to the signed size"
    );
    let forged = signed.replace("w=333", "w=334");
    let refused = http.get(app.at(&forged)).send().await?;
    ensure!(
        refused.status() == 403,
        "a forged transform: {}",
        refused.status()
    );
    let reordered = format!(
        "{path}?fm=webp&w=333&s={}",
        signed.rsplit("&s=").next().unwrap_or("")
    );
    // Not the canonical spelling: refused before any signature check, as a 400 that names
    // the problem (one URL per rendition).
    let refused = http.get(app.at(&reordered)).send().await?;
    let status = refused.status();
    let problem = refused.text().await?;
    ensure!(
        status == 400 && problem.contains("out of order"),
        "not the canonical form: {status} {problem}"
    );
    app.stop().await
}
