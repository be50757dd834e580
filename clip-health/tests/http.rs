//! The axum routes through a real listener on 127.0.0.1: codes, media types, the health+json
//! structure, token-gated details, and liveness that never waits for a dependency.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clip_health::{Check, CheckOutcome, Criticality, HealthRegistry, Status};
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef-details";

async fn serve(health: HealthRegistry, with_metrics: bool) -> SocketAddr {
    let handle = with_metrics.then(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle()
    });
    let app = clip_health::axum::router(health, handle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn healthy_registry() -> HealthRegistry {
    HealthRegistry::builder()
        .with_check(
            Check::new(
                "postgres",
                Criticality::Critical,
                Duration::from_secs(1),
                || async { Ok::<(), String>(()) },
            )
            .component_type("datastore"),
        )
        .with_check(
            Check::new(
                "queue",
                Criticality::NonCritical,
                Duration::from_secs(1),
                || async { CheckOutcome::warn("queue above 50 items").observed(63, "jobs") },
            )
            .measurement("length")
            .component_type("component"),
        )
        .version("1.4.2")
        .release_id("1.4.2-abc123")
        .service_id("clip-api-1")
        .description("Creator Clip API")
        .details_token(TOKEN)
        .build()
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, cache_control) = (header("content-type"), header("cache-control"));
    let status = response.status().as_u16();
    (
        status,
        content_type,
        cache_control,
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn every_route_answers_with_its_code_and_media_type() {
    let addr = serve(healthy_registry(), true).await;
    for path in ["/health", "/lb-health"] {
        let (status, content_type, cache, body) = get(addr, path, None).await;
        assert_eq!(
            (status, content_type.as_str(), cache.as_str()),
            (200, "application/health+json", "no-store"),
            "{path}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&body).expect("json"),
            serde_json::json!({"status": "pass"})
        );
    }
    let (status, content_type, cache, _) = get(addr, "/api/health/ready", None).await;
    assert_eq!(
        (status, content_type.as_str(), cache.as_str()),
        (200, "application/health+json", "no-store")
    );
    // The non-critical queue warns: the report is `warn`, still 200.
    let (status, content_type, _, body) = get(addr, "/api/health", None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/health+json")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["status"],
        "warn"
    );
    let (status, content_type, _, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    // The handle's recorder is not installed, so it holds nothing; the process collector's
    // series are rendered by the route itself.
    assert!(
        body.contains("# TYPE process_cpu_seconds_total counter\n"),
        "{body}"
    );
    let (status, ..) = get(addr, "/nope", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_route_exists_only_with_a_handle() {
    let addr = serve(healthy_registry(), false).await;
    assert_eq!(get(addr, "/metrics", None).await.0, 404);
}

fn assert_rfc3339(time: &str) {
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    assert!(
        digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && time.ends_with('Z'),
        "not RFC 3339: {time}"
    );
}

#[tokio::test]
async fn the_full_report_follows_the_health_check_draft() {
    let addr = serve(healthy_registry(), false).await;
    let (status, _, _, body) = get(addr, "/api/health", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "warn");
    assert_eq!(json["version"], "1.4.2");
    assert_eq!(json["releaseId"], "1.4.2-abc123");
    assert_eq!(json["serviceId"], "clip-api-1");
    assert_eq!(json["description"], "Creator Clip API");
    let checks = json["checks"].as_object().expect("checks is an object");
    assert_eq!(
        checks.keys().collect::<Vec<_>>(),
        ["postgres:responseTime", "queue:length"]
    );
    for (key, results) in checks {
        let (component, measurement) = key.split_once(':').expect("component:measurement");
        assert!(!component.is_empty() && !measurement.is_empty());
        let results = results.as_array().expect("each key holds an array");
        for result in results {
            let status = result["status"].as_str().expect("status");
            assert!(["pass", "warn", "fail"].contains(&status));
            assert_rfc3339(result["time"].as_str().expect("time"));
            assert!(result["componentType"].is_string());
            assert!(result["observedValue"].is_number());
            assert!(result["observedUnit"].is_string());
        }
    }
    let postgres = &checks["postgres:responseTime"][0];
    assert_eq!(
        (
            postgres["status"].as_str(),
            postgres["observedUnit"].as_str()
        ),
        (Some("pass"), Some("ms"))
    );
    assert!(postgres.get("output").is_none(), "no output on pass");
    let queue = &checks["queue:length"][0];
    assert_eq!(queue["observedValue"], 63);
    assert_eq!(queue["output"], "queue above 50 items");
    assert_eq!(queue["componentType"], "component");

    // The report also parses back into the crate's own type.
    let report: clip_health::HealthReport = serde_json::from_str(&body).expect("HealthReport");
    assert_eq!(report.status, Status::Warn);
}

#[tokio::test]
async fn details_only_with_the_right_token() {
    let addr = serve(healthy_registry(), false).await;
    for token in [
        None,
        Some("wrong"),
        Some("0123456789abcdef-detailz"),
        Some(""),
    ] {
        for path in ["/api/health", "/api/health/ready"] {
            let (_, _, _, body) = get(addr, path, token).await;
            let json: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                json.as_object().map(|o| o.len()),
                Some(1),
                "{path} with {token:?}: {body}"
            );
            assert!(json["status"].is_string());
        }
    }
    let (_, _, _, body) = get(addr, "/api/health/ready", Some(TOKEN)).await;
    let json: Value = serde_json::from_str(&body).expect("json");
    assert!(json["checks"]["postgres:responseTime"].is_array(), "{body}");
    assert!(
        json["checks"].get("queue:length").is_none(),
        "readiness runs critical checks only"
    );

    // Without a configured token nobody sees details, whatever they send.
    let no_token = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(1),
            || async { Status::Pass },
        )
        .build();
    let addr = serve(no_token, false).await;
    let (_, _, _, body) = get(addr, "/api/health", Some(TOKEN)).await;
    assert_eq!(body, r#"{"status":"pass"}"#);
}

#[tokio::test]
async fn liveness_answers_fast_while_every_check_hangs() {
    let mut builder = HealthRegistry::builder();
    for name in ["postgres", "redis", "s3"] {
        builder = builder.check(
            name,
            Criticality::Critical,
            Duration::from_secs(3),
            || async {
                std::future::pending::<()>().await;
                Status::Pass
            },
        );
    }
    let health = builder.details_token(TOKEN).build();
    let addr = serve(health, false).await;

    // A readiness probe is stuck on the hung checks ...
    let stuck = tokio::spawn(async move { get(addr, "/api/health/ready", Some(TOKEN)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ... while liveness answers at once, many times over.
    let started = Instant::now();
    for path in ["/health", "/lb-health"].repeat(10) {
        assert_eq!(get(addr, path, None).await.0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "liveness took {:?}",
        started.elapsed()
    );
    assert!(
        !stuck.is_finished(),
        "the readiness probe is still waiting on the checks"
    );

    let (status, _, _, body) = stuck.await.expect("probe");
    assert_eq!(status, 503);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert!(
        json["checks"]["redis:responseTime"][0]["output"]
            .as_str()
            .unwrap_or_default()
            .starts_with("timeout")
    );
}

#[tokio::test]
async fn draining_takes_the_instance_out_of_rotation() {
    let health = healthy_registry();
    let addr = serve(health.clone(), false).await;
    assert_eq!(get(addr, "/api/health/ready", None).await.0, 200);
    health.start_draining();
    let (status, content_type, _, body) = get(addr, "/api/health/ready", None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (503, "application/health+json")
    );
    assert_eq!(body, r#"{"status":"fail"}"#);
    let (_, _, _, body) = get(addr, "/api/health", Some(TOKEN)).await;
    assert!(body.contains("draining"), "{body}");
    assert_eq!(get(addr, "/health", None).await.0, 200);
    assert_eq!(get(addr, "/lb-health", None).await.0, 200);
}

/// Kubernetes' startupProbe: 503 until the app says it started, then 200 for good (draining
/// is readiness's business), and no dependency is called for it.
#[tokio::test]
async fn the_startup_route_follows_mark_started_only() {
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(1),
            || async {
                std::future::pending::<()>().await;
                Status::Pass
            },
        )
        .require_startup()
        .build();
    let addr = serve(health.clone(), false).await;
    let (status, content_type, cache, body) = get(addr, "/api/health/started", None).await;
    assert_eq!(
        (status, content_type.as_str(), cache.as_str()),
        (503, "application/health+json", "no-store")
    );
    assert_eq!(body, r#"{"status":"fail"}"#);

    health.mark_started();
    let started = Instant::now();
    assert_eq!(get(addr, "/api/health/started", None).await.0, 200);
    health.start_draining();
    assert_eq!(get(addr, "/api/health/started", None).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the hung check was not waited for: {:?}",
        started.elapsed()
    );
    assert_eq!(health.startup().status, Status::Pass);
}
