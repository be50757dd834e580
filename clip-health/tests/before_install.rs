//! Requests served before the Prometheus recorder is installed (lazy initialisation, tests)
//! must not cost the series for the rest of the process. Its own test binary: a process has
//! one global recorder, installed here mid-test.
#![cfg(feature = "axum")]

use axum::ServiceExt;
use axum::extract::Request;
use clip_health::HealthRegistry;
use clip_health::axum::{LivenessLayer, RedLayer};
use tower::Layer;

#[tokio::test]
async fn series_first_used_before_install_are_recorded_after_it() {
    let red = RedLayer::new();
    let app = axum::Router::new()
        .route("/clips/{id}", axum::routing::get(|| async { "clip" }))
        .merge(clip_health::axum::router(
            HealthRegistry::builder().build(),
            None,
        ))
        .layer(red.clone());
    let app = LivenessLayer::recording(&red).layer(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await
    });
    let get = async |path: &str| {
        let response = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
    };

    // Before install: the requests go to the no-op recorder, and are lost.
    get("/clips/1").await;
    get("/health").await;
    let handle = clip_health::prometheus::install().expect("first recorder of this binary");
    // After install: every series records, although its handles were first made before.
    get("/clips/2").await;
    get("/health").await;

    let text = handle.render();
    let count = |route: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("http_requests_total{") && l.contains(&format!(r#"route="{route}""#))
            })
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse::<f64>().ok())
    };
    assert_eq!(count("/clips/{id}"), Some(1.0), "{text}");
    assert_eq!(count("/health"), Some(1.0), "{text}");
    let in_flight = text
        .lines()
        .find(|l| l.starts_with("http_requests_in_flight "))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<f64>().ok());
    assert_eq!(in_flight, Some(0.0), "{text}");
}
