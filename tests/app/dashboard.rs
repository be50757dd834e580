//! The scaling dashboard in headless Chromium: the page asks for the admin token and
//! refuses a wrong one; with the right one its figures and charts appear and follow a
//! burst of requests; an autoscaler that does not answer is said so plainly, one that does
//! shows the fleet. No console error, none refused by the page's Content-Security-Policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, client};

const TOKEN: &str = "dashboard-token-for-tests-42";
const WIDTH: u32 = 1280;

/// A port nothing listens on.
fn closed_port() -> TestResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Opens the dashboard and signs in with `token`.
async fn sign_in(browser: &Browser, url: &str, token: &str) -> TestResult {
    browser.open(url).await?;
    browser
        .wait_for(
            "the token form",
            "return !document.getElementById('token-form').hidden && document.getElementById('dash').hidden",
        )
        .await?;
    browser.type_into("#token", token).await?;
    browser.click("#token-form button[type=submit]").await
}

/// The figure a KPI shows, with the page's `k` and `M` suffixes ("3.4k" is 3400).
fn number(text: &Value) -> Option<f64> {
    let text = text.as_str()?;
    let scale = if text.contains('M') {
        1e6
    } else if text.contains('k') {
        1e3
    } else {
        1.0
    };
    let digits: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse::<f64>().ok().map(|n| n * scale)
}

pub async fn the_dashboard_draws_live_figures_behind_the_token(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let http = client();

    // Without ADMIN_TOKEN the page is off, as every admin path.
    let off = TestApp::start(&ctx, &db, &[]).await?;
    let response = http.get(off.at("/admin/scaling")).send().await?;
    ensure!(
        response.status() == 403,
        "the page without ADMIN_TOKEN: {}",
        response.status()
    );
    off.stop().await?;

    let autoscaler = format!("http://127.0.0.1:{}", closed_port()?);
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("ADMIN_TOKEN", TOKEN),
            ("AUTOSCALER_URL", &autoscaler),
            ("INSTANCE_ID", "dash-1"),
        ],
    )
    .await?;
    // The page loads without the token and holds no figure; its data needs the token.
    let page = http.get(app.at("/admin/scaling")).send().await?;
    ensure!(page.status() == 200, "the page: {}", page.status());
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        policy.contains("script-src 'self'"),
        "a strict CSP: {policy:?}"
    );
    let html = page.text().await?;
    ensure!(
        html.contains("Admin token") && !html.contains("max_connections"),
        "the page is a shell without figures"
    );
    let data = http.get(app.at("/api/admin/dashboard")).send().await?;
    ensure!(
        data.status() == 401,
        "the data without the token: {}",
        data.status()
    );

    let browser = Browser::start(WIDTH, 900).await?;
    let result = async {
        sign_in(&browser, &app.at("/admin/scaling"), "not-the-token-0000000").await?;
        let refused = browser
            .wait_for(
                "the wrong token to be refused",
                "return document.getElementById('token-error').textContent",
            )
            .await?;
        ensure!(
            refused.as_str().unwrap_or("").contains("refused"),
            "what a wrong token says: {refused}"
        );
        // The refusal itself is the one error so far.
        let errors = browser.console_errors().await?;
        ensure!(
            errors.len() == 1 && errors[0].contains("/api/admin/dashboard") && errors[0].contains("401"),
            "console errors before signing in: {errors:?}"
        );

        browser.type_into("#token", TOKEN).await?;
        browser.click("#token-form button[type=submit]").await?;
        // Two samples make a line: the charts draw within a few seconds.
        browser
            .wait_for(
                "the figures and charts",
                "return !document.getElementById('dash').hidden \
                 && document.getElementById('kpi-cpu').textContent.includes('%') \
                 && document.querySelector('#chart-cpu path.line') !== null",
            )
            .await?;
        let before = browser
            .eval("return document.querySelector('#chart-requests path.line')?.getAttribute('d') || ''")
            .await?;

        // A burst of requests from eight concurrent callers, kept up until the page shows
        // it (a debug build on a loaded CI machine answers one caller only ~15 times a second).
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let url = app.at("/api/projects");
                let http = http.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut sent = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = http.get(&url).send().await;
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        let started = Instant::now();
        let rps = loop {
            let shown = browser
                .eval("return document.getElementById('kpi-rps').textContent")
                .await?;
            if number(&shown).is_some_and(|n| n >= 20.0) {
                break Ok(shown);
            }
            if started.elapsed() > Duration::from_secs(30) {
                break Err(format!("the request rate did not rise: {shown}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let after = browser
            .eval("return document.querySelector('#chart-requests path.line')?.getAttribute('d') || ''")
            .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut sent = 0;
        for caller in callers {
            sent += caller.await?;
        }
        let rps = rps.map_err(|e| format!("{e} ({sent} requests sent)"))?;
        ensure!(after? != before, "the requests chart moved");
        ensure!(sent > 0, "the burst sent requests");

        let state = browser
            .eval("return document.getElementById('autoscaler-state').textContent")
            .await?;
        ensure!(state == "Not reachable", "the autoscaler's state: {state}");
        let said = browser
            .eval("return document.getElementById('autoscaler').textContent")
            .await?;
        let said = said.as_str().unwrap_or("");
        ensure!(
            said.contains(&format!("does not answer at {autoscaler}/status"))
                && said.to_lowercase().contains("refused"),
            "says plainly the autoscaler does not answer: {said}"
        );
        let instances = browser
            .eval("return document.getElementById('kpi-instances').textContent")
            .await?;
        ensure!(instances == "1", "without the autoscaler, this instance alone: {instances}");
        let readings = browser
            .eval("return document.querySelectorAll('#readings tr').length")
            .await?;
        ensure!(readings == 5, "the five triggers: {readings}");

        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors on the dashboard: {errors:?}");
        browser.fit_page(WIDTH, 2400).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shot = browser.screenshot("dashboard").await?;
        eprintln!("dashboard at {rps}: {}", shot.display());
        Ok(())
    }
    .await;
    browser.close().await?;
    app.stop().await?;
    result
}

/// A `/status` in the shape clip-autoscaler documents (examples/autoscaler, `status.rs`),
/// taken during a scale-up: served by a stand-in while the autoscaler is not part of this
/// workspace.
fn fleet_status() -> Value {
    let now = time::OffsetDateTime::now_utc();
    let at = |seconds_ago: i64| {
        (now - time::Duration::seconds(seconds_ago))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let instance = |port: u16, state: &str, cpu: Option<f64>, rate: Option<f64>| {
        json!({
            "id": format!("local-{port}"), "url": format!("http://127.0.0.1:{port}/metrics"),
            "state": state, "scrape": if cpu.is_some() { "ok" } else { "not_scraped" },
            "error": null, "cpu_percent": cpu, "memory_percent": cpu.map(|_| 2.4),
            "request_rate": rate,
        })
    };
    json!({
        "role": "leader",
        "leader_lock": ".fleet/local/autoscaler.lock",
        "started_at": at(900),
        "interval_seconds": 15.0,
        "ticks": 60,
        "last_tick": { "at": at(4), "duration_ms": 3.1, "error": null },
        "instances": {
            "current": 4, "ready": 3, "starting": 1, "draining": 0, "target": 4, "min": 3, "max": 20,
            "list": [
                instance(4001, "ready", Some(82.5), Some(131.0)),
                instance(4002, "ready", Some(79.1), Some(126.4)),
                instance(4003, "ready", Some(77.8), Some(124.9)),
                instance(4004, "starting", None, None),
            ],
        },
        "metrics": {
            "cpu_percent": 79.8, "memory_percent": 2.4, "request_rate": 127.4,
            "queue_length": 12.0, "p95_ms": 41.0, "requests_in_window": 5733.0,
            "scraped": 3, "missing": [],
        },
        "last_decision": {
            "at": at(4), "action": "scale_up", "current": 3, "target": 4,
            "summary": "scale up 3 -> 4: cpu 79.8% above 70%, request rate 127.4/s above 100/s",
            "rule": "scale_up", "reasons": {}, "applied": true, "note": null,
        },
        "cooldowns": {
            "scale_up": { "seconds": 60.0, "remaining_seconds": 56.0, "since": at(4) },
            "scale_down": { "seconds": 300.0, "remaining_seconds": 296.0, "since": at(4) },
        },
        "override": null,
        "events": [
            { "at": at(4), "action": "scale_up", "from": 3, "to": 4, "rule": "scale_up",
              "summary": "scale up 3 -> 4: cpu 79.8% above 70%, request rate 127.4/s above 100/s" },
            { "at": at(720), "action": "scale_down", "from": 4, "to": 3, "rule": "scale_down",
              "summary": "scale down 4 -> 3: every metric below its scale-down threshold" },
        ],
        "actuator": { "kind": "local", "busy": true },
        "policy": { "mode": "guide", "enabled": true, "thresholds": [] },
    })
}

pub async fn the_dashboard_shows_the_autoscalers_fleet(ctx: Arc<Ctx>) -> TestResult {
    let status = fleet_status();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let autoscaler = format!("http://{}", listener.local_addr()?);
    let stand_in = tokio::spawn(async move {
        let router =
            axum::Router::new().route("/status", get(move || async move { axum::Json(status) }));
        axum::serve(listener, router).await
    });
    let db = ctx.database().await?;
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("ADMIN_TOKEN", TOKEN),
            ("AUTOSCALER_URL", &autoscaler),
            ("INSTANCE_ID", "dash-2"),
        ],
    )
    .await?;
    let browser = Browser::start(WIDTH, 900).await?;
    let result = async {
        sign_in(&browser, &app.at("/admin/scaling"), TOKEN).await?;
        browser
            .wait_for(
                "the fleet",
                "return document.getElementById('autoscaler-state').textContent.startsWith('Reachable') \
                 && document.querySelector('#chart-cpu path.line') !== null",
            )
            .await?;
        let instances = browser
            .eval("return [document.getElementById('kpi-instances').textContent, document.getElementById('kpi-instances-sub').textContent]")
            .await?;
        ensure!(
            instances[0] == "3" && instances[1].as_str().unwrap_or("").contains("1 starting"),
            "the fleet's instances: {instances}"
        );
        let panel = browser
            .eval("return document.getElementById('autoscaler').textContent")
            .await?;
        let panel = panel.as_str().unwrap_or("");
        ensure!(
            panel.contains("scale up 3 -> 4: cpu 79.8% above 70%") && panel.contains("local-4004"),
            "the last decision and the instances: {panel}"
        );
        let events = browser
            .eval("return Array.from(document.querySelectorAll('#events li')).map(li => li.textContent)")
            .await?;
        ensure!(
            events.as_array().is_some_and(|e| e.iter().any(|e| e.as_str().unwrap_or("").contains("scale up: 3 → 4"))),
            "the fleet's scaling events: {events}"
        );
        let errors = browser.console_errors().await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        browser.fit_page(WIDTH, 2400).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.screenshot("dashboard-fleet").await?;
        Ok(())
    }
    .await;
    browser.close().await?;
    app.stop().await?;
    stand_in.abort();
    result
}
