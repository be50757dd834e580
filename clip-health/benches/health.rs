//! Hot paths of clip-health: recording one request in the RED layer, rendering `/metrics`, a
//! cached readiness probe and the overhead of one guarded check run.

use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::MatchedPath;
use clip_health::axum::{LivenessLayer, RedLayer};
use clip_health::{Criticality, HealthRegistry, Status};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response};
use metrics_exporter_prometheus::PrometheusRecorder;
use tower::{Layer, Service};

fn recorder() -> PrometheusRecorder {
    clip_health::prometheus::builder()
        .expect("static buckets are valid")
        .build_recorder()
}

fn red_layer(c: &mut Criterion) {
    // Handles resolve against the global recorder, as in a server.
    let _handle = clip_health::prometheus::builder()
        .expect("static buckets are valid")
        .install_recorder()
        .expect("first recorder of this process");
    let layer = RedLayer::new();
    let mut group = c.benchmark_group("red");

    // The layer's own bookkeeping for one finished request: cached handle lookup, counter, histogram.
    group.bench_function("record_one_request", |b| {
        b.iter(|| {
            layer.record(
                &Method::GET,
                black_box("/clips/{id}"),
                200,
                Duration::from_micros(250),
            )
        })
    });

    // The whole layer around a service that answers at once: call, poll, record.
    let mut service = layer.layer(tower::service_fn(|_req: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(()))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let route = matched_path();
    // Includes building the request (one extension insert), as axum's router would have done.
    group.bench_function("service_call", |b| {
        b.iter(|| {
            let mut req = Request::new(());
            req.extensions_mut().insert(route.clone());
            let mut fut = std::pin::pin!(service.call(req));
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(res)) => black_box(res),
                _ => unreachable!("the inner service answers at once"),
            }
        })
    });
    group.finish();
}

/// axum sets `MatchedPath` while routing; outside a router, route one request to capture it.
fn matched_path() -> MatchedPath {
    use axum::Router;
    use axum::routing::get;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let captured = std::sync::Arc::new(std::sync::Mutex::new(None));
        let store = captured.clone();
        let mut app: Router = Router::new()
            .route("/clips/{id}", get(|| async { "" }))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let store = store.clone();
                    async move {
                        *store.lock().expect("lock") =
                            req.extensions().get::<MatchedPath>().cloned();
                        next.run(req).await
                    }
                },
            ));
        let req = Request::builder()
            .uri("/clips/42")
            .body(axum::body::Body::empty())
            .expect("request");
        let _ = tower::Service::call(&mut app, req).await;
        captured
            .lock()
            .expect("lock")
            .clone()
            .expect("matched path")
    })
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    // 1 000 counter series: 100 routes x 5 statuses x 2 methods.
    let recorder = recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for route in 0..100 {
            for status in [200, 201, 404, 500, 503] {
                for method in ["GET", "POST"] {
                    let labels = [
                        ("method", method.to_owned()),
                        ("route", format!("/r{route}/{{id}}")),
                        ("status", status.to_string()),
                    ];
                    metrics::counter!("http_requests_total", &labels).increment(7);
                }
            }
        }
    });
    group.bench_function("metrics_1000_counter_series", |b| {
        b.iter(|| black_box(handle.render()))
    });

    // The RED layer's 1 000 label sets: each a counter and a 14-bucket histogram (17 000 lines).
    let recorder = self::recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let layer = RedLayer::new();
        for route in 0..100 {
            for status in [200, 201, 404, 500, 503] {
                for method in [Method::GET, Method::POST] {
                    layer.record(
                        &method,
                        &format!("/r{route}/{{id}}"),
                        status,
                        Duration::from_millis(route),
                    );
                }
            }
        }
    });
    group.bench_function("metrics_1000_red_label_sets", |b| {
        b.iter(|| black_box(handle.render()))
    });
    group.finish();
}

fn readiness(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(2),
            || async { Status::Pass },
        )
        .check(
            "redis",
            Criticality::Critical,
            Duration::from_secs(2),
            || async { Status::Pass },
        )
        .cache_ttl(Duration::from_secs(3600))
        .build();
    c.bench_function("readiness/cached_two_checks", |b| {
        b.iter(|| rt.block_on(async { black_box(health.readiness().await.to_json()) }))
    });

    // What one guarded run costs beyond the check itself: the detached run task, the closure
    // called on the blocking pool, its future on a task of its own, the timeout, the cache.
    let uncached = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(2),
            || async { Status::Pass },
        )
        .cache_ttl(Duration::ZERO)
        .build();
    c.bench_function("readiness/one_run_no_cache", |b| {
        b.iter(|| rt.block_on(async { black_box(uncached.readiness().await.status) }))
    });
}

/// `GET /health` in process (no socket): what routing, the liveness handler and the RED layer
/// add to hyper's own per-request cost, and what the fast path in front of them saves.
fn liveness_in_process(c: &mut Criterion) {
    let mut group = c.benchmark_group("liveness_in_process");
    let health = HealthRegistry::builder().build();
    let red = RedLayer::new();
    let with_red = clip_health::axum::router(health.clone(), None).layer(red.clone());
    bench_get_health(
        &mut group,
        "router",
        clip_health::axum::router(health, None),
    );
    bench_get_health(&mut group, "router_with_red_layer", with_red.clone());
    // The fast path in front of the router with the RED layer, recording in its series.
    let fast_path = LivenessLayer::recording(&red).layer(with_red);
    bench_get_health(&mut group, "fast_path_with_red", fast_path);
    let fast_path_alone = LivenessLayer::new().layer(clip_health::axum::router(
        HealthRegistry::builder().build(),
        None,
    ));
    bench_get_health(&mut group, "fast_path_without_metrics", fast_path_alone);
    group.finish();
}

fn bench_get_health<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut service: S,
) where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    group.bench_function(name, |b| {
        b.iter(|| {
            let req = Request::get("/health")
                .body(axum::body::Body::empty())
                .expect("request");
            let mut fut = std::pin::pin!(service.call(req));
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(res)) => black_box(res),
                _ => unreachable!("liveness answers at once"),
            }
        })
    });
}

criterion_group!(benches, red_layer, render, readiness, liveness_in_process);
criterion_main!(benches);
