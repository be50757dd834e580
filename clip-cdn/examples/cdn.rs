//! The asset manager end to end, on loopback: a small origin (axum) that serves a
//! directory and renders signed image transforms with the optimizer, and a `Cdn` in
//! front of it that builds URLs and HTML, fetches with fallback and reports its stats.
//!
//! ```text
//! cargo run -p clip-cdn --example cdn                      # serves testdata/images
//! CDN_BASE_URL=http://127.0.0.1:9 cargo run -p clip-cdn --example cdn   # a dead CDN: watch the fallback
//! cargo run -p clip-cdn --example cdn -- DIR --serve       # keep the origin running
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clip_cdn::image::{Format, Optimizer};
use clip_cdn::{Cdn, CdnConfig, Manifest};

struct Origin {
    dir: PathBuf,
    /// Verifies transform URLs (same keys as the page-side `Cdn`).
    cdn: Cdn,
    /// Image work runs on blocking threads, a bounded number at once.
    images: Optimizer,
}

async fn serve(State(origin): State<Arc<Origin>>, uri: Uri, RawQuery(query): RawQuery) -> Response {
    let path = uri.path().to_owned();
    // Check the segments after decoding: `%2e%2e` is `..` once decoded.
    let decoded = decode_path(&path);
    let Some(file) = decoded
        .as_deref()
        .and_then(|p| p.strip_prefix('/'))
        .filter(|p| !p.contains(['\\', '\0']))
        .filter(|p| !p.split('/').any(|c| c == ".." || c == "." || c.is_empty()))
    else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    let Ok(bytes) = tokio::fs::read(origin.dir.join(file)).await else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let query = query.unwrap_or_default();
    let transform = match origin.cdn.verify_transform(&path, &query) {
        Ok(t) if t.transform != Default::default() => t.transform,
        Ok(_) => {
            return (
                [(header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
                bytes,
            )
                .into_response();
        }
        Err(e) => return (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    };
    let source =
        Format::from_name(file.rsplit('.').next().unwrap_or_default()).unwrap_or(Format::Jpeg);
    let options = transform.to_options(source);
    match origin.images.optimize(bytes, options).await {
        Ok(out) => (
            [
                (header::CONTENT_TYPE, out.format.mime_type()),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            out.bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
    }
}

/// `Cdn` percent-encodes paths in URLs (`my%20photo.jpg`); the file is `my photo.jpg`.
fn decode_path(path: &str) -> Option<String> {
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images"));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin_url = format!("http://{}", listener.local_addr()?);
    let mut config = CdnConfig::from_env()?;
    config.origin_url.get_or_insert(origin_url.clone());
    config.local_dir.get_or_insert(dir.clone());
    if config.signing_keys.is_empty() {
        config
            .signing_keys
            .push("example-only-signing-key-change-me".into());
    }
    let cdn = Cdn::new(config)?;
    let mut manifest = Manifest::from_dir(&dir)?;
    let first = manifest
        .paths()
        .find(|p| p.ends_with(".jpg"))
        .ok_or("no .jpg in the directory")?
        .to_owned();
    manifest.set_critical(&first, true);
    cdn.set_manifest(manifest.clone()).await;

    let origin = Arc::new(Origin {
        dir,
        cdn: cdn.clone(),
        images: Optimizer::default(),
    });
    let app = axum::Router::new().fallback(serve).with_state(origin);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("origin: {origin_url}");

    println!("\nurl:  {}", cdn.url(&first));
    let image = cdn
        .image(&first)
        .width(300)
        .height(200)
        .quality(85)
        .format(Format::WebP)
        .progressive(true);
    println!("html: {}", image.to_html());

    let report = cdn.preload(&manifest).await;
    println!(
        "\npreload: {} ok, {} failed in {:?}",
        report.ok,
        report.failed.len(),
        report.elapsed
    );
    let asset = cdn.fetch(&first).await?;
    println!(
        "fetch {first}: {} bytes from {:?} (cached: {})",
        asset.bytes.len(),
        asset.source,
        asset.from_cache
    );

    let response = reqwest::get(image.origin_url()).await?;
    let (status, kind) = (
        response.status(),
        response.headers().get("content-type").cloned(),
    );
    let thumb = response.bytes().await?;
    println!(
        "transform on the origin: {status}, {kind:?}, {} bytes",
        thumb.len()
    );

    println!("\nstats: {}", serde_json::to_string_pretty(&cdn.stats())?);
    if args.iter().any(|a| a == "--serve") {
        println!("serving {origin_url}, Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
