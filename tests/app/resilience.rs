//! Behaviour under pressure and failure: rate limits, load shedding, request timeouts,
//! SIGTERM under load, and the database going away and coming back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clip_pool::launcher::LocalPostgres;
use tokio::sync::mpsc;

use crate::ensure;
use crate::support::{
    ChildApp, Ctx, TestApp, TestResult, client, create_project, eventually, get_json, jpeg,
};

/// A request body sent as the test feeds it: the request stays in flight until the sender
/// is dropped.
fn trickle() -> (mpsc::Sender<Bytes>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pub async fn the_rate_limit_answers_429_after_the_burst(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("RATE_LIMIT_API_PER_SECOND", "1"),
            ("RATE_LIMIT_API_BURST", "5"),
        ],
    )
    .await?;
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = http.get(app.at("/api/projects")).send().await?;
        if response.status() == 429 {
            ensure!(
                retry_after(&response).is_some_and(|s| s >= 1),
                "429 has Retry-After"
            );
            let body: serde_json::Value = response.json().await?;
            ensure!(body["status"] == 429, "problem: {body}");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    ensure!(
        (5..=6).contains(&allowed),
        "the burst passes, no more: {statuses:?}"
    );
    ensure!(statuses.last() == Some(&429), "then 429: {statuses:?}");
    // Health and metrics are never limited; other groups have their own budget.
    for path in ["/health", "/api/health/ready", "/metrics", "/lb-health"] {
        for _ in 0..20 {
            let response = http.get(app.at(path)).send().await?;
            ensure!(response.status() == 200, "{path}: {}", response.status());
        }
    }
    let page = http.get(app.at("/")).send().await?;
    ensure!(
        page.status() == 200,
        "pages have their own limit: {}",
        page.status()
    );
    let metrics = app.metrics().await?;
    ensure!(
        metrics.contains("clip_http_shed_total{reason=\"rate_limit\"}"),
        "counted"
    );
    app.stop().await
}

pub async fn overload_is_shed_with_503(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("MAX_CONCURRENT_REQUESTS", "2")]).await?;
    let project = create_project(&app.url, "busy").await?;
    let http = client();
    // Two uploads whose bodies do not end hold both permits.
    let mut senders = Vec::new();
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let (tx, body) = trickle();
        tx.send(Bytes::from(jpeg(64, 64, false))).await?;
        senders.push(tx);
        uploads.push(tokio::spawn(
            http.post(app.at(&format!("/api/projects/{project}/assets")))
                .body(body)
                .send(),
        ));
    }
    let state = app.state.clone();
    eventually("two requests in flight", Duration::from_secs(10), || {
        let state = state.clone();
        async move { (state.requests_in_flight() == 2).then_some(()) }
    })
    .await?;
    let started = Instant::now();
    let shed = http.get(app.at("/api/projects")).send().await?;
    ensure!(shed.status() == 503, "shed: {}", shed.status());
    ensure!(
        started.elapsed() < Duration::from_secs(1),
        "shed at once, not queued"
    );
    ensure!(retry_after(&shed).is_some(), "Retry-After");
    let body: serde_json::Value = shed.json().await?;
    ensure!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("MAX_CONCURRENT_REQUESTS"),
        "{body}"
    );
    for path in ["/health", "/api/health/ready", "/metrics"] {
        let response = http.get(app.at(path)).send().await?;
        ensure!(
            response.status() == 200,
            "{path} under overload: {}",
            response.status()
        );
    }
    drop(senders);
    for upload in uploads {
        let response = upload.await??;
        ensure!(
            response.status() == 202,
            "the held uploads complete: {}",
            response.status()
        );
    }
    let after = http.get(app.at("/api/projects")).send().await?;
    ensure!(after.status() == 200, "served again: {}", after.status());
    app.stop().await
}

pub async fn a_request_past_its_timeout_answers_503(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[("REQUEST_TIMEOUT", "300")]).await?;
    let project = create_project(&app.url, "slow").await?;
    let (tx, body) = trickle();
    tx.send(Bytes::from_static(b"\xFF\xD8\xFF")).await?;
    let started = Instant::now();
    let response = client()
        .post(app.at(&format!("/api/projects/{project}/assets")))
        .body(body)
        .send()
        .await?;
    ensure!(response.status() == 503, "timeout: {}", response.status());
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the timeout: {:?}",
        started.elapsed()
    );
    let problem: serde_json::Value = response.json().await?;
    ensure!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("REQUEST_TIMEOUT"),
        "{problem}"
    );
    drop(tx);
    // The cut upload left no asset behind.
    let assets: serde_json::Value =
        get_json(&app.at(&format!("/api/projects/{project}/assets"))).await?;
    ensure!(
        assets["items"].as_array().map(Vec::len) == Some(0),
        "{assets}"
    );
    app.stop().await
}

pub async fn sigterm_under_load_completes_every_accepted_request(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let deadline = Duration::from_secs(8);
    let mut child = ChildApp::spawn(&[
        ("DATABASE_URL", db.as_str()),
        ("SHUTDOWN_DRAIN_DELAY", "1500"),
        ("GRACEFUL_SHUTDOWN_TIMEOUT", "8000"),
        ("RATE_LIMIT_ENABLED", "false"),
    ])?;
    let base = child.url.clone();
    let project = create_project(&base, "draining").await?;

    // An idle keep-alive connection must not hold the exit back.
    let keep_alive = client();
    keep_alive.get(format!("{base}/health")).send().await?;

    // Load as a load balancer sends it: new requests until readiness fails (the drain
    // delay keeps the listener open meanwhile), each on a new connection; every one of them
    // must be answered.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()?;
    let stop_load = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (http, url, stop, answered) = (
            fresh.clone(),
            format!("{base}/api/projects"),
            stop_load.clone(),
            answered.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(e) => failures.push(format!("failed: {e:?}")),
                }
            }
            failures
        }));
    }
    // A slow upload in flight across the signal.
    let (tx, body) = trickle();
    tx.send(Bytes::from(jpeg(64, 64, false))).await?;
    let slow = tokio::spawn(
        fresh
            .post(format!("{base}/api/projects/{project}/assets"))
            .body(body)
            .send(),
    );
    eventually("load running", Duration::from_secs(10), || {
        let answered = answered.clone();
        async move { (answered.load(Ordering::Relaxed) > 20).then_some(()) }
    })
    .await?;

    child.signal("TERM")?;
    let signalled = Instant::now();
    // Readiness fails while the listener still answers.
    let mut saw_not_ready = false;
    loop {
        match fresh.get(format!("{base}/api/health/ready")).send().await {
            Ok(r) if r.status() == 503 => {
                saw_not_ready = true;
                stop_load.store(true, Ordering::Relaxed);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
        if signalled.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(
        saw_not_ready,
        "readiness answered 503 before the listener closed"
    );
    // The upload in flight finishes after the signal.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    drop(tx);
    let uploaded = slow.await??;
    ensure!(
        uploaded.status() == 202,
        "the upload in flight completed: {}",
        uploaded.status()
    );

    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait(deadline + Duration::from_secs(2));
        (status, child.stderr())
    })
    .await?;
    let exited_after = signalled.elapsed();
    let (status, stderr) = status;
    let status = status.map_err(|e| format!("{e}; stderr: {stderr}"))?;
    stop_load.store(true, Ordering::Relaxed);
    ensure!(status.success(), "clean exit: {status:?}: {stderr}");
    ensure!(
        exited_after < deadline,
        "exited within GRACEFUL_SHUTDOWN_TIMEOUT: {exited_after:?}"
    );
    for task in load {
        let failures = task.await?;
        ensure!(
            failures.is_empty(),
            "accepted requests failed: {failures:?}"
        );
    }
    drop(keep_alive);
    Ok(())
}

pub async fn a_database_outage_fails_fast_and_recovers(ctx: Arc<Ctx>) -> TestResult {
    let mut pg = LocalPostgres::start().await?;
    let app = TestApp::start(&ctx, &pg.url(), &[("DB_ACQUIRE_TIMEOUT", "5000")]).await?;
    let http = client();
    create_project(&app.url, "before the outage").await?;
    let ready = http.get(app.at("/api/health/ready")).send().await?;
    ensure!(ready.status() == 200, "ready: {}", ready.status());

    pg.kill9();
    eventually("readiness to fail", Duration::from_secs(10), || async {
        let r = http.get(app.at("/api/health/ready")).send().await.ok()?;
        (r.status() == 503).then_some(())
    })
    .await?;
    let live = http.get(app.at("/health")).send().await?;
    ensure!(
        live.status() == 200,
        "liveness stays 200: {}",
        live.status()
    );
    for _ in 0..5 {
        let started = Instant::now();
        let response = http.get(app.at("/api/projects")).send().await?;
        let took = started.elapsed();
        ensure!(
            response.status() == 503,
            "while down: {}",
            response.status()
        );
        ensure!(
            response.headers().contains_key("retry-after"),
            "Retry-After"
        );
        ensure!(
            took < Duration::from_secs(2),
            "fails fast, not after the 5 s acquire timeout: {took:?}"
        );
        let body = response.text().await?;
        ensure!(
            !body.contains("127.0.0.1") && !body.contains("refused"),
            "no internal detail: {body}"
        );
    }

    pg.restart().await?;
    eventually(
        "readiness to come back",
        Duration::from_secs(15),
        || async {
            let r = http.get(app.at("/api/health/ready")).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await?;
    let page = http.get(app.at("/api/projects")).send().await?;
    ensure!(page.status() == 200, "serving again: {}", page.status());
    create_project(&app.url, "after the outage").await?;
    app.stop().await
}
