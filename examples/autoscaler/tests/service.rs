//! The autoscaler in-process against fake instances serving real Prometheus text, through its
//! HTTP surface: what `/status` shows while scaling, an instance that stops answering, the
//! override, a restart in the middle of a cooldown.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{FakeInstance, Running, TOKEN, decision, settings};

const WITHIN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_scale_up_with_its_reasons_metrics_and_cooldowns() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeInstance::start(150.0).await;
    let b = FakeInstance::start(150.0).await;
    let c = FakeInstance::start(150.0).await;
    let mut vars = settings(&[&a, &b, &c], dir.path());
    vars.insert("SCALE_UP_COOLDOWN".into(), "60".into());
    let auto = Running::start(vars).await;

    let s = auto
        .wait_for("a scale-up", WITHIN, |s| {
            decision(s, "action") == "scale_up"
        })
        .await;
    assert_eq!(s["role"], "leader");
    assert_eq!(s["instances"]["ready"], 3);
    assert_eq!(s["instances"]["current"], 3);
    // 150 req/s per instance against a threshold of 100: ceil(3 * 150 / 100) = 5.
    assert_eq!(decision(&s, "target"), 5);
    assert_eq!(s["instances"]["target"], 5);
    let summary = decision(&s, "summary").as_str().unwrap();
    assert!(
        summary.starts_with("scale up 3 -> 5: request_rate"),
        "{summary}"
    );
    assert_eq!(decision(&s, "rule"), "scale_up");
    assert!(decision(&s, "reasons")["readings"].is_array(), "{s}");
    let rate = s["metrics"]["request_rate"].as_f64().unwrap();
    assert!((100.0..200.0).contains(&rate), "{rate}");
    let p95 = s["metrics"]["p95_ms"].as_f64().unwrap();
    assert!((25.0..=50.0).contains(&p95), "{p95}");
    assert_eq!(s["metrics"]["scraped"], 3);
    assert_eq!(s["metrics"]["queue_length"], 0.0);
    assert_eq!(s["events"][0]["action"], "scale_up");
    assert_eq!(s["events"][0]["from"], 3);
    assert_eq!(s["actuator"]["kind"], "dry-run");
    assert_eq!(s["actuator"]["desired"], 5);
    let up = &s["cooldowns"]["scale_up"];
    assert_eq!(up["seconds"], 60.0);
    assert!(up["remaining_seconds"].as_f64().unwrap() > 50.0, "{up}");
    assert!(
        s["instances"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["scrape"] == "ok")
    );

    // The fleet (which a dry run never changes) still asks for more: the cooldown holds it.
    let s = auto
        .wait_for("a hold in the cooldown", WITHIN, |s| {
            decision(s, "action") == "hold"
                && decision(s, "summary")
                    .as_str()
                    .unwrap()
                    .contains("cooldown")
        })
        .await;
    assert_eq!(s["events"].as_array().unwrap().len(), 1);

    let metrics = reqwest::get(format!("{}/metrics", auto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "clip_autoscaler_instances{state=\"target\"}",
        "clip_autoscaler_max_instances",
        "clip_autoscaler_decisions_total{action=\"scale_up\"}",
        "clip_autoscaler_tick_duration_seconds_bucket",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from /metrics:\n{metrics}"
        );
    }
    auto.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_stops_answering_is_missing_and_blocks_scale_down() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = [
        FakeInstance::start(5.0).await,
        FakeInstance::start(5.0).await,
        FakeInstance::start(5.0).await,
        FakeInstance::start(5.0).await,
    ];
    let auto = Running::start(settings(&fleet.iter().collect::<Vec<_>>(), dir.path())).await;
    auto.wait_for("a scale-down of the quiet fleet", WITHIN, |s| {
        decision(s, "action") == "scale_down"
    })
    .await;

    // As a SIGSTOPped process: connections accepted, nothing answered.
    fleet[2].set(|l| l.stalled = true);
    let stalled_id = fleet[2].url.trim_start_matches("http://").to_owned();
    let s = auto
        .wait_for("the stalled instance missing", WITHIN, |s| {
            s["metrics"]["missing"]
                .as_array()
                .is_some_and(|m| !m.is_empty())
        })
        .await;
    assert_eq!(s["metrics"]["missing"][0], stalled_id.as_str());
    let row = s["instances"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == stalled_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["scrape"], "missing");
    assert!(
        row["error"].as_str().unwrap().contains("no answer within"),
        "{row}"
    );
    assert_eq!(
        row["cpu_percent"],
        serde_json::Value::Null,
        "missing, not zero"
    );

    // Several ticks with the instance silent: every decision holds, with the reason.
    let events_before = s["events"].as_array().unwrap().len();
    let ticks_before = s["ticks"].as_u64().unwrap();
    let s = auto
        .wait_for("four more ticks", WITHIN, |s| {
            s["ticks"].as_u64().unwrap() >= ticks_before + 4
        })
        .await;
    assert_eq!(s["events"].as_array().unwrap().len(), events_before, "{s}");
    assert_eq!(decision(&s, "action"), "hold");
    let note = decision(&s, "note").as_str().unwrap();
    assert!(
        note.contains("no scale-down while 1 of the ready instances give no metrics"),
        "{note}"
    );
    assert!(
        decision(&s, "summary")
            .as_str()
            .unwrap()
            .contains("missing"),
        "{s}"
    );

    // It answers again: the quiet fleet scales down again.
    fleet[2].set(|l| l.stalled = false);
    auto.wait_for("a scale-down once it answers", WITHIN, |s| {
        s["events"].as_array().unwrap().len() > events_before
    })
    .await;
    auto.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_is_refused_without_the_token_then_set_observed_and_expired() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeInstance::start(5.0).await;
    let b = FakeInstance::start(5.0).await;
    let auto = Running::start(settings(&[&a, &b], dir.path())).await;
    auto.wait_for("a first decision", WITHIN, |s| {
        !s["last_decision"].is_null()
    })
    .await;

    let body = json!({ "target": 6, "reason": "launch day", "expires_in_seconds": 2.0 });
    let (code, problem) = auto
        .post_override("wrong-token-0123456789", body.clone())
        .await;
    assert_eq!(code, 401, "{problem}");
    let r = reqwest::Client::new()
        .post(format!("{}/override", auto.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (code, problem) = auto.post_override(TOKEN, json!({ "target": 6 })).await;
    assert_eq!(code, 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("reason"),
        "{problem}"
    );
    let (code, _) = auto
        .post_override(
            TOKEN,
            json!({ "target": 0, "reason": "x", "expires_in_seconds": 5 }),
        )
        .await;
    assert_eq!(code, 422);
    let s = auto.status().await;
    assert!(
        s["override"].is_null(),
        "a refused override changes nothing"
    );

    let (code, answer) = auto.post_override(TOKEN, body).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["override"]["target"], 6);
    let s = auto
        .wait_for("the override applied", WITHIN, |s| {
            decision(s, "rule") == "override"
        })
        .await;
    assert_eq!(decision(&s, "target"), 6);
    assert_eq!(s["override"]["reason"], "launch day");
    assert!(
        decision(&s, "summary")
            .as_str()
            .unwrap()
            .contains("launch day"),
        "{s}"
    );
    assert_eq!(s["actuator"]["desired"], 6);

    let s = auto
        .wait_for("the override expired", WITHIN, |s| {
            s["override"].is_null() && decision(s, "rule") != "override"
        })
        .await;
    assert_ne!(s["actuator"]["desired"], 6, "{s}");

    // Set again, then cleared before it expires.
    let (code, _) = auto
        .post_override(
            TOKEN,
            json!({ "target": 4, "reason": "test", "expires_in_seconds": 600 }),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(auto.status().await["override"]["target"], 4);
    let (code, answer) = auto.post_override(TOKEN, json!({ "clear": true })).await;
    assert_eq!(code, 200);
    assert!(answer["override"].is_null());
    assert!(auto.status().await["override"].is_null());
    auto.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_cooldown_keeps_it_and_the_override() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeInstance::start(150.0).await;
    let b = FakeInstance::start(150.0).await;
    let mut vars = settings(&[&a, &b], dir.path());
    vars.insert("SCALE_UP_COOLDOWN".into(), "300".into());

    let first = Running::start(vars.clone()).await;
    let s = first
        .wait_for("a scale-up", WITHIN, |s| {
            decision(s, "action") == "scale_up"
        })
        .await;
    let scaled_at = s["events"][0]["at"].clone();
    let (code, _) = first
        .post_override(
            TOKEN,
            json!({ "target": 2, "reason": "hold still", "expires_in_seconds": 3600 }),
        )
        .await;
    assert_eq!(code, 200);
    // A crash, not a clean stop: only what each tick saved survives.
    first.kill().await;

    let second = Running::start(vars.clone()).await;
    let s = second
        .wait_for("a decision after the restart", WITHIN, |s| {
            s["role"] == "leader" && s["ticks"].as_u64().unwrap() >= 1
        })
        .await;
    assert_eq!(
        s["events"][0]["at"], scaled_at,
        "the event history survived"
    );
    assert_eq!(
        s["override"]["reason"], "hold still",
        "the override survived"
    );
    assert_eq!(decision(&s, "rule"), "override");
    let (code, _) = second.post_override(TOKEN, json!({ "clear": true })).await;
    assert_eq!(code, 200);
    // Without the override the load asks for more, and the cooldown from before the restart
    // still holds it back.
    let s = second
        .wait_for("a hold in the old cooldown", WITHIN, |s| {
            decision(s, "rule") == "scale_up" && decision(s, "action") == "hold"
        })
        .await;
    let summary = decision(&s, "summary").as_str().unwrap();
    assert!(summary.contains("scale-up cooldown"), "{summary}");
    let left = s["cooldowns"]["scale_up"]["remaining_seconds"]
        .as_f64()
        .unwrap();
    assert!(left > 250.0 && left <= 300.0, "{left}");
    assert_eq!(s["events"].as_array().unwrap().len(), 1);
    second.stop().await;
}
