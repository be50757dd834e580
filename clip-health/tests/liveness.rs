//! The liveness fast path ([`LivenessLayer`]) through real listeners: the same answers as the
//! router's routes, everything else passed through, and the same RED series recorded.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use clip_health::axum::{LivenessLayer, RedLayer};
use clip_health::{Criticality, HealthRegistry, Status};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::Layer;

fn registry() -> HealthRegistry {
    HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(1),
            || async { Status::Pass },
        )
        .build()
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Two servers on one recorder: the plain router with the RED layer, and the same app behind
/// the fast path.
async fn serve_both(handle: PrometheusHandle) -> (SocketAddr, SocketAddr) {
    let red = RedLayer::new();
    let app = clip_health::axum::router(registry(), Some(handle)).layer(red.clone());
    let fast = LivenessLayer::recording(&red).layer(app.clone());
    let (plain_listener, plain) = listen().await;
    let (fast_listener, fast_addr) = listen().await;
    tokio::spawn(async move { axum::serve(plain_listener, app).await });
    tokio::spawn(async move {
        axum::serve(
            fast_listener,
            ServiceExt::<Request>::into_make_service(fast),
        )
        .await
    });
    (plain, fast_addr)
}

/// Status, every header but `date`, and body.
async fn answer(method: reqwest::Method, url: String) -> (u16, Vec<(String, String)>, String) {
    let response = reqwest::Client::new()
        .request(method, url)
        .send()
        .await
        .expect("request");
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    headers.sort();
    let status = response.status().as_u16();
    (status, headers, response.text().await.expect("body"))
}

fn value(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .find(|line| {
            line.starts_with(&format!("{name}{{")) && labels.iter().all(|l| line.contains(l))
        })
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn fast_path_answers_as_the_router_does_and_records_the_same_series() {
    let handle = clip_health::prometheus::install().expect("first recorder of this binary");
    let (plain, fast) = serve_both(handle).await;

    // Identical answers on the liveness paths, with and without a query string...
    for path in ["/health", "/lb-health", "/health?probe=1"] {
        let expected = answer(reqwest::Method::GET, format!("http://{plain}{path}")).await;
        assert_eq!(expected.0, 200);
        assert_eq!(expected.2, r#"{"status":"pass"}"#);
        assert!(
            expected.1.contains(&("content-length".into(), "17".into())),
            "{:?}",
            expected.1
        );
        let got = answer(reqwest::Method::GET, format!("http://{fast}{path}")).await;
        assert_eq!(got, expected, "{path}");
    }
    // ... and everything the fast path does not take is routed as before.
    for (method, path) in [
        (reqwest::Method::HEAD, "/health"),
        (reqwest::Method::POST, "/health"),
        (reqwest::Method::GET, "/health/"),
        (reqwest::Method::GET, "/api/health/ready"),
        (reqwest::Method::GET, "/api/health"),
    ] {
        let expected = answer(method.clone(), format!("http://{plain}{path}")).await;
        let got = answer(method.clone(), format!("http://{fast}{path}")).await;
        assert_eq!(got, expected, "{method} {path}");
    }

    for _ in 0..5 {
        answer(reqwest::Method::GET, format!("http://{fast}/health")).await;
    }
    let exposition = reqwest::get(format!("http://{fast}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    // Two `/health` GETs each (the query-string one included), then five more on the fast path.
    let get_health = [r#"method="GET""#, r#"route="/health""#, r#"status="200""#];
    assert_eq!(
        value(&exposition, "http_requests_total", &get_health),
        Some(9.0)
    );
    assert_eq!(
        value(
            &exposition,
            "http_request_duration_seconds_count",
            &get_health
        ),
        Some(9.0)
    );
    let get_lb = [
        r#"method="GET""#,
        r#"route="/lb-health""#,
        r#"status="200""#,
    ];
    assert_eq!(
        value(&exposition, "http_requests_total", &get_lb),
        Some(2.0)
    );
    let head = [r#"method="HEAD""#, r#"route="/health""#];
    assert_eq!(value(&exposition, "http_requests_total", &head), Some(2.0));
}

#[tokio::test]
async fn fast_path_without_metrics_still_answers() {
    let app = clip_health::axum::router(registry(), None);
    let fast = LivenessLayer::new().layer(app);
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        axum::serve(listener, ServiceExt::<Request>::into_make_service(fast)).await
    });
    let (status, headers, body) =
        answer(reqwest::Method::GET, format!("http://{addr}/lb-health")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"pass"}"#));
    assert!(headers.contains(&("content-type".into(), "application/health+json".into())));
    assert!(headers.contains(&("cache-control".into(), "no-store".into())));
    let (status, _, _) = answer(reqwest::Method::GET, format!("http://{addr}/nope")).await;
    assert_eq!(status, 404);
}

/// An app under backpressure (a concurrency limit around the router, all slots taken) is
/// busy, not dead: the fast path answers liveness without waiting for a slot.
#[tokio::test]
async fn liveness_does_not_wait_on_the_apps_backpressure() {
    let release = Arc::new(tokio::sync::Notify::new());
    let held = release.clone();
    let app = axum::Router::new()
        .route(
            "/busy",
            axum::routing::get(move || {
                let held = held.clone();
                async move {
                    held.notified().await;
                    "done"
                }
            }),
        )
        .merge(clip_health::axum::router(registry(), None));
    let saturated = tower::limit::ConcurrencyLimit::new(app, 1);
    let fast = LivenessLayer::new().layer(saturated);
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        axum::serve(listener, ServiceExt::<Request>::into_make_service(fast)).await
    });

    // One request takes the app's only slot and keeps it.
    let busy = tokio::spawn(reqwest::get(format!("http://{addr}/busy")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let live = probe.get(format!("http://{addr}/health")).send().await;
    release.notify_one();
    assert_eq!(
        live.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "liveness answered while the app was saturated"
    );
    let busy = busy.await.expect("busy task").expect("busy request");
    assert_eq!(busy.text().await.expect("body"), "done");
}
