//! Probes against slow and misbehaving checks, through a real listener: a probe that gives up,
//! a crowd of probes with no cache, and a check whose closure panics or blocks before it
//! returns its future.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clip_health::{Check, Criticality, HealthRegistry, Status};
use serde_json::Value;

const TOKEN: &str = "probe-test-token";

/// Serves `health`'s routes on a multi-thread runtime (the test's own).
async fn serve(health: HealthRegistry) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = clip_health::axum::router(health, None);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Serves `health`'s routes on a current-thread runtime of its own thread, as the example
/// server does: one thread answers every probe, so anything that blocks it blocks liveness.
fn serve_on_one_thread(health: HealthRegistry) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(listener, clip_health::axum::router(health, None)).await;
        });
    });
    addr
}

/// GET `path` with the details token; status and parsed body.
async fn get(
    client: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
) -> reqwest::Result<(u16, Value)> {
    let response = client
        .get(format!("http://{addr}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

fn output_of(body: &Value, key: &str) -> String {
    body["checks"][key][0]["output"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Kubelet's default probe timeout is 1 s; a database check may take its 2 s. The probe
/// leaving must not cancel the run it started: the result is cached and its failure counted.
#[tokio::test]
async fn a_probe_that_gives_up_does_not_cancel_the_check() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let hung_database = Check::new(
        "postgres",
        Criticality::Critical,
        Duration::from_secs(2),
        move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Status>()
        },
    )
    .failure_threshold(2);
    let health = HealthRegistry::builder()
        .with_check(hung_database)
        .details_token(TOKEN)
        // Long enough that the second probe below reads what the first one's run left.
        .cache_ttl(Duration::from_secs(30))
        .build();
    let addr = serve(health).await;

    let kubelet = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let started = Instant::now();
    let gave_up = get(&kubelet, addr, "/api/health/ready").await;
    assert!(
        gave_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the probe times out after 1 s: {gave_up:?}"
    );

    // The check's own 2 s timeout has passed: its run ended on its own and left its result.
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(started.elapsed())).await;
    let patient = reqwest::Client::new();
    let (status, body) = get(&patient, addr, "/api/health/ready")
        .await
        .expect("second probe");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second probe read the first run's cached result"
    );
    assert_eq!(status, 200, "one failure of two is a warning: {body}");
    let output = output_of(&body, "postgres:responseTime");
    assert!(
        output.starts_with("failed 1 of 2 consecutive times") && output.contains("timeout"),
        "the timed-out run counted toward the flap threshold: {output}"
    );
}

/// With no cache at all, probes that arrive while a run is in progress share it instead of
/// queueing one run each behind it.
#[tokio::test]
async fn concurrent_probes_share_one_run_even_without_a_cache() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_secs(5),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Status::Pass
                }
            },
        )
        .cache_ttl(Duration::ZERO)
        .details_token(TOKEN)
        .build();
    let addr = serve(health).await;

    // Queued one after another, 50 probes of a 500 ms check would take 25 s; each gives up at 5 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let probes: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let sent = Instant::now();
                let answer = get(&client, addr, "/api/health/ready").await;
                (answer.map(|(status, _)| status), sent.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for probe in probes {
        let (status, took) = probe.await.expect("probe task");
        assert_eq!(status.ok(), Some(200), "after {took:?}");
        slowest = slowest.max(took);
    }
    assert!(
        slowest < Duration::from_millis(2000),
        "every probe answers in about one run (500 ms); the slowest took {slowest:?}"
    );
    // One run serves the crowd; a probe delayed past its end by a loaded machine starts a second.
    let runs = calls.load(Ordering::SeqCst);
    assert!(runs <= 2, "{runs} runs for 50 concurrent probes");
}

/// A panic in the closure itself, before it hands back its future, is a failed check, not a
/// dropped connection.
#[tokio::test]
async fn a_panic_before_the_future_is_a_failed_check() {
    let health = HealthRegistry::builder()
        .check(
            "redis",
            Criticality::Critical,
            Duration::from_secs(1),
            || -> std::future::Ready<Status> { panic!("redis client poisoned") },
        )
        .details_token(TOKEN)
        .build();
    let addr = serve(health).await;
    let (status, body) = get(&reqwest::Client::new(), addr, "/api/health/ready")
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(status, 503);
    let output = output_of(&body, "redis:responseTime");
    assert!(
        output.contains("panicked") && output.contains("redis client poisoned"),
        "{output}"
    );
}

/// A closure that blocks its thread before returning its future (a synchronous pool `get`, a
/// blocking DNS lookup) is bounded by the check's timeout, and the one thread of a
/// current-thread server keeps answering liveness meanwhile.
#[tokio::test]
async fn a_blocking_closure_neither_stalls_liveness_nor_escapes_its_timeout() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Criticality::Critical,
            Duration::from_millis(300),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(2));
                std::future::ready(Status::Pass)
            },
        )
        .cache_ttl(Duration::ZERO)
        .details_token(TOKEN)
        .build();
    let addr = serve_on_one_thread(health);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let readiness = {
        let client = client.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let answer = get(&client, addr, "/api/health/ready").await;
            (answer, sent.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = Instant::now();
    let (live, _) = get(&client, addr, "/health").await.expect("liveness");
    let liveness_took = sent.elapsed();

    let (answer, readiness_took) = readiness.await.expect("readiness task");
    let (status, body) = answer.expect("readiness answer");
    assert_eq!(live, 200);
    assert!(
        liveness_took < Duration::from_secs(1),
        "liveness waited {liveness_took:?} on a blocked check"
    );
    assert_eq!(status, 503);
    let output = output_of(&body, "postgres:responseTime");
    assert!(output.starts_with("timeout"), "{output}");
    assert!(
        readiness_took < Duration::from_millis(1500),
        "readiness is bounded by the 300 ms timeout, not the 2 s block: {readiness_took:?}"
    );

    // While that call is still blocked, another probe does not pin one more thread on it.
    let (status, body) = get(&client, addr, "/api/health/ready")
        .await
        .expect("second readiness");
    assert_eq!(status, 503);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{body}");
}
