//! Scraping instances that misbehave: each failure is a clear, classified error (the metric is
//! then missing), never a panic, a hang or an unbounded read.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use clip_autoscaler::scrape::{Readiness, Scraper};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn each_way_an_instance_can_fail_is_named() {
    let base = serve(
        Router::new()
            .route(
                "/error",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route("/huge", get(|| async { "x".repeat(17 << 20) }))
            .route("/hang", get(std::future::pending::<&'static str>))
            .route(
                "/starting",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            )
            .route("/ready", get(|| async { "ok" })),
    )
    .await;
    let scraper = Scraper::new(Duration::from_millis(500));

    let e = scraper.scrape(&format!("{base}/error")).await.unwrap_err();
    assert_eq!(e.reason, "status");
    assert!(e.message.contains("500"), "{}", e.message);

    let e = scraper.scrape(&format!("{base}/huge")).await.unwrap_err();
    assert_eq!(e.reason, "body");
    assert!(e.message.contains("larger than"), "{}", e.message);

    let began = Instant::now();
    let e = scraper.scrape(&format!("{base}/hang")).await.unwrap_err();
    assert_eq!(e.reason, "timeout");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "the timeout bounds it"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = scraper
        .scrape(&format!("http://{closed}/metrics"))
        .await
        .unwrap_err();
    assert_eq!(e.reason, "connect");

    assert_eq!(
        scraper.readiness(&format!("{base}/ready")).await,
        Readiness::Ready
    );
    assert_eq!(
        scraper.readiness(&format!("{base}/starting")).await,
        Readiness::NotReady
    );
    assert_eq!(
        scraper.readiness(&format!("{base}/hang")).await,
        Readiness::Silent
    );
    assert_eq!(
        scraper.readiness(&format!("http://{closed}/ready")).await,
        Readiness::NotReady
    );
}
