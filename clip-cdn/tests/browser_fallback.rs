//! The origin fallback of `to_html` in a real browser (headless Chromium), on a page
//! served with a strict Content-Security-Policy (`script-src 'self'`): the CDN is down,
//! so each image must end up loaded from the origin.

mod support;

use std::process::Command;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use clip_cdn::{Cdn, CdnConfig};
use support::html::element;
use support::{dead_url, temp_dir};

const CSP: &str = "default-src 'none'; img-src *; script-src 'self'";

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("Chromium is needed by the browser tests: run scripts/install-deps.sh (apt-get install chromium)")
}

/// The page as Chromium leaves it once loaded (`--dump-dom`).
fn rendered_dom(url: &str) -> String {
    let profile = temp_dir("chromium");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, 8, 8);
    e.set_color(png::ColorType::Rgb);
    let mut w = e.write_header().unwrap();
    w.write_image_data(&[200u8; 8 * 8 * 3]).unwrap();
    w.finish().unwrap();
    out
}

#[tokio::test]
async fn with_a_strict_csp_the_fallback_script_loads_images_from_the_origin() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let config = CdnConfig {
        base_url: Some(dead_url()),
        origin_url: Some(origin.clone()),
        image_optimization: false,
        ..CdnConfig::default()
    };
    let inline = Cdn::new(config.clone()).unwrap();
    let scripted = Cdn::new(CdnConfig {
        inline_onerror: false,
        ..config
    })
    .unwrap();
    let page = |body: String, script: bool| {
        let head = if script {
            "<script src=\"/clip-cdn-fallback.js\"></script>"
        } else {
            ""
        };
        let html = Arc::new(format!(
            "<!doctype html><html><head>{head}</head><body>{body}</body></html>"
        ));
        axum::routing::get(async move || {
            (
                [
                    (header::CONTENT_SECURITY_POLICY, CSP),
                    (header::CONTENT_TYPE, "text/html"),
                ],
                html.to_string(),
            )
        })
    };
    let app = axum::Router::new()
        .route(
            "/inline",
            page(inline.image("/a.png").width(8).to_html(), false),
        )
        .route(
            "/scripted",
            page(scripted.image("/a.png").width(8).to_html(), true),
        )
        .route(
            "/clip-cdn-fallback.js",
            axum::routing::get(async || {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    clip_cdn::FALLBACK_SCRIPT,
                )
                    .into_response()
            }),
        )
        .route(
            "/a.png",
            axum::routing::get(async || ([(header::CONTENT_TYPE, "image/png")], png())),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let src = async |page: &str| {
        let url = format!("{origin}/{page}");
        let dom = tokio::task::spawn_blocking(move || rendered_dom(&url))
            .await
            .unwrap();
        element(&dom, "img").unwrap_or_else(|| panic!("no <img> in {dom}"))["src"].clone()
    };
    let origin_src = format!("{origin}/a.png");
    assert_eq!(
        src("scripted").await,
        origin_src,
        "the external script swapped it"
    );
    // The inline handler is what a strict CSP blocks (the review's point): its image stays
    // on the dead CDN.
    let blocked = src("inline").await;
    assert!(
        blocked.starts_with(inline.config().base_url.as_deref().unwrap()),
        "{blocked}"
    );
}
