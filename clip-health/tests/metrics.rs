//! `/metrics` parsed back: metric names and suffixes, histogram buckets, route-template labels,
//! process gauges; and the RED layer's accounting of dropped requests.
#![cfg(feature = "axum")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use clip_health::axum::RedLayer;
use clip_health::{HealthRegistry, Status};
use metrics_exporter_prometheus::PrometheusHandle;

/// One global recorder per test binary.
fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| clip_health::prometheus::install().expect("first install in this process"))
        .clone()
}

async fn serve() -> SocketAddr {
    let handle = recorder();
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            clip_health::Criticality::Critical,
            Duration::from_secs(1),
            || async { Status::Pass },
        )
        .build();
    let app = Router::new()
        .route("/clips/{id}", get(|| async { "clip" }))
        .route(
            "/clips",
            post(|| async { (axum::http::StatusCode::CREATED, "made") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .merge(clip_health::axum::router(health, Some(handle)))
        .layer(RedLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A parsed exposition: TYPE per metric family, and sample lines `name{labels} value`.
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<(String, HashMap<String, String>, f64)>,
}

fn parse(text: &str) -> Exposition {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("numeric value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), HashMap::new()),
        };
        samples.push((name, labels, value));
    }
    Exposition { types, samples }
}

impl Exposition {
    fn value(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, labels, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }
}

async fn scrape(client: &reqwest::Client, addr: SocketAddr) -> Exposition {
    let body = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    parse(&body)
}

#[tokio::test]
async fn red_metrics_are_labelled_by_route_template_with_buckets() {
    let addr = serve().await;
    let client = reqwest::Client::new();
    for path in [
        "/clips/1",
        "/clips/2",
        "/clips/a-very-long-clip-id",
        "/nope/123",
        "/health",
    ] {
        client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .expect("request");
    }
    client
        .post(format!("http://{addr}/clips"))
        .send()
        .await
        .expect("post");
    let m = scrape(&client, addr).await;

    let get_clip = [
        ("method", "GET"),
        ("route", "/clips/{id}"),
        ("status", "200"),
    ];
    assert_eq!(m.value("http_requests_total", &get_clip), Some(3.0));
    let created = [("method", "POST"), ("route", "/clips"), ("status", "201")];
    assert_eq!(m.value("http_requests_total", &created), Some(1.0));
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(m.value("http_requests_total", &unmatched), Some(1.0));
    assert_eq!(
        m.value(
            "http_requests_total",
            &[("route", "/health"), ("status", "200")]
        ),
        Some(1.0)
    );

    // Labels carry templates only: no raw path leaks into a label value.
    for (_, labels, _) in &m.samples {
        if let Some(route) = labels.get("route") {
            assert!(
                !route.contains("/clips/1") && !route.contains("123"),
                "raw path in route label: {route}"
            );
        }
    }

    // Duration is a real histogram with the explicit buckets, not a summary.
    assert_eq!(
        m.types
            .get("http_request_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    for le in ["0.005", "0.5", "2", "10", "+Inf"] {
        let mut labels = get_clip.to_vec();
        labels.push(("le", le));
        assert_eq!(
            m.value("http_request_duration_seconds_bucket", &labels),
            Some(3.0),
            "bucket le={le}"
        );
    }
    assert_eq!(
        m.value("http_request_duration_seconds_count", &get_clip),
        Some(3.0)
    );
    // Three requests answered at once: some time, far below a second each.
    let sum = m.value("http_request_duration_seconds_sum", &get_clip);
    assert!(sum.is_some_and(|s| s > 0.0 && s < 3.0), "{sum:?}");
    assert!(
        m.value("http_requests_in_flight", &[])
            .is_some_and(|v| v >= 1.0),
        "the scrape itself is in flight"
    );

    // Naming: counters end in _total, histograms are in seconds or bytes, no summaries.
    for (name, kind) in &m.types {
        assert!(
            name.starts_with("clip_") || name.starts_with("http_") || name.starts_with("process_"),
            "{name}: neither the RED names, the process collector's nor clip_*"
        );
        match kind.as_str() {
            "counter" => assert!(name.ends_with("_total"), "counter {name}"),
            "histogram" => assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes"),
                "histogram {name}"
            ),
            "gauge" => {}
            other => panic!("{name} is a {other}: only counters, gauges and histograms expected"),
        }
    }

    // Process gauges for the autoscaler, refreshed on scrape.
    let rss = m
        .value("clip_process_resident_memory_bytes", &[])
        .expect("rss gauge");
    assert!(rss > 1_000_000.0, "rss {rss}");
    let cpu = m
        .value("clip_process_cpu_usage_percent", &[])
        .expect("cpu gauge");
    // A share of what this process may use (half a 10 ms tick of slack over the window).
    assert!((0.0..=100.5).contains(&cpu), "cpu {cpu}");
    assert!(
        m.value("clip_process_memory_usage_percent", &[])
            .is_some_and(|p| p > 0.0 && p <= 100.0)
    );
}

#[tokio::test]
async fn a_request_dropped_by_its_client_counts_as_499() {
    let addr = serve().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    assert!(
        client
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .is_err(),
        "client gives up"
    );
    // The server notices the closed connection when it next polls; give it a moment.
    let scraper = reqwest::Client::new();
    let mut seen = None;
    for _ in 0..50 {
        let m = scrape(&scraper, addr).await;
        seen = m.value(
            "http_requests_total",
            &[("route", "/slow"), ("status", "499")],
        );
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(1.0));
}

/// The Prometheus process collector's names, so stock dashboards and `rate()` work.
#[tokio::test]
async fn the_standard_process_metrics_are_exported() {
    let addr = serve().await;
    let own_counter = || {
        clip_health::process::ProcessMetrics::new()
            .sample()
            .cpu_seconds_total
            .expect("this process's CPU counter")
    };
    let before = own_counter();
    let m = scrape(&reqwest::Client::new(), addr).await;
    let after = own_counter();
    let kind = |name: &str| m.types.get(name).map(String::as_str);
    assert_eq!(kind("process_cpu_seconds_total"), Some("counter"));
    assert_eq!(kind("process_resident_memory_bytes"), Some("gauge"));
    assert_eq!(kind("process_start_time_seconds"), Some("gauge"));

    let cpu = m
        .value("process_cpu_seconds_total", &[])
        .expect("cpu counter");
    assert!(
        (before..=after).contains(&cpu),
        "the counter is this process's: {before} <= {cpu} <= {after}"
    );
    let rss = m.value("process_resident_memory_bytes", &[]).expect("rss");
    assert!(rss > 1_000_000.0, "rss {rss}");
    let started = m
        .value("process_start_time_seconds", &[])
        .expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "this test binary started within the hour: {started} (now {now})"
    );
}

/// Route labels in the shapes apps are built in: nested routers carry their full template, a
/// service routed with a wildcard its template, a wrong method on a known route its template
/// with 405; a custom fallback (an SPA's index.html) is `unmatched` whatever it answers, and so
/// is a `nest_service` (axum 0.8 gives it no public `MatchedPath`), which the README says.
#[tokio::test]
async fn route_labels_of_nested_routers_services_405s_and_fallbacks() {
    let handle = recorder();
    let api = Router::new().route("/projects/{id}", get(|| async { "project" }));
    let assets = tower::service_fn(|_req: axum::extract::Request| async {
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::from(
            "asset",
        )))
    });
    let app = Router::new()
        .route("/videos/{id}", get(|| async { "video" }))
        .nest("/v2", api)
        .route_service("/assets/{*file}", assets)
        .nest_service("/static", assets)
        .fallback(|| async { "index.html" })
        .merge(clip_health::axum::router(
            HealthRegistry::builder().build(),
            Some(handle),
        ))
        .layer(RedLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    for (method, path, status) in [
        (reqwest::Method::GET, "/v2/projects/7", 200),
        (reqwest::Method::GET, "/assets/app.3f9a.js", 200),
        (reqwest::Method::GET, "/static/app.3f9a.css", 200),
        (reqwest::Method::DELETE, "/videos/9", 405),
        (reqwest::Method::GET, "/some/spa/page", 200),
    ] {
        let response = client
            .request(method, format!("http://{addr}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    let m = scrape(&client, addr).await;
    let count = |method: &str, route: &str, status: &str| {
        m.value(
            "http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("GET", "/v2/projects/{id}", "200"), Some(1.0));
    assert_eq!(count("GET", "/assets/{*file}", "200"), Some(1.0));
    assert_eq!(count("DELETE", "/videos/{id}", "405"), Some(1.0));
    assert_eq!(
        count("GET", "unmatched", "200"),
        Some(2.0),
        "the SPA fallback and the nest_service"
    );
    for (_, labels, _) in &m.samples {
        if let Some(route) = labels.get("route") {
            assert!(
                !route.contains("3f9a") && !route.contains("spa"),
                "raw path: {route}"
            );
        }
    }
}
