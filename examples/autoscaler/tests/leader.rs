//! One active autoscaler per fleet: a second one stays passive and takes over when the first
//! dies, by a lock file (two real processes, the first killed with SIGKILL) or by a
//! PostgreSQL advisory lock (a real server, whose restart makes the leader step down).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use clip_autoscaler::leader::LockSpec;
use serde_json::json;
use support::process::Process;
use support::{FakeInstance, TOKEN};

fn vars(instance: &FakeInstance, dir: &std::path::Path) -> HashMap<String, String> {
    [
        ("AUTOSCALER_ACTUATOR", "dry-run".to_owned()),
        ("AUTOSCALER_TARGETS", instance.url.clone()),
        ("AUTOSCALER_INTERVAL", "0.3".into()),
        (
            "AUTOSCALER_STATE_FILE",
            dir.join("state.json").display().to_string(),
        ),
        (
            "AUTOSCALER_LOCK_FILE",
            dir.join("autoscaler.lock").display().to_string(),
        ),
        ("AUTOSCALER_TOKEN", TOKEN.into()),
        ("MIN_INSTANCES", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn post_override(url: &str, body: serde_json::Value) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{url}/override"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_autoscaler_stays_passive_and_takes_over_when_the_first_is_killed() {
    let instance = FakeInstance::start(5.0).await;
    let dir = tempfile::tempdir().unwrap();
    let vars = vars(&instance, dir.path());
    tokio::task::spawn_blocking(move || {
        let within = Duration::from_secs(20);
        let mut first = Process::start("first", dir.path(), &vars);
        first.wait_for("/health", within, |h| h["role"] == "leader");
        let second = Process::start("second", dir.path(), &vars);
        let s = second.wait_for("/status", within, |s| s["role"] == "passive");
        assert!(
            s["leader_lock"].as_str().unwrap().starts_with("flock "),
            "{s}"
        );
        assert_eq!(
            post_override(
                &second.url,
                json!({ "target": 3, "reason": "x", "expires_in_seconds": 60 })
            ),
            409,
            "a passive autoscaler refuses overrides"
        );

        // The leader's override, seen by the passive one through the state file.
        let body = json!({ "target": 3, "reason": "failover drill", "expires_in_seconds": 600 });
        assert_eq!(post_override(&first.url, body), 200);
        second.wait_for("/status", within, |s| {
            s["override"]["reason"] == "failover drill"
        });
        // Still passive a few ticks later: one leader at a time.
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(second.status().unwrap()["role"], "passive");
        assert_eq!(second.status().unwrap()["ticks"], 0);

        first.kill9();
        let s = second.wait_for("/status", within, |s| {
            s["role"] == "leader" && s["ticks"].as_u64() > Some(0)
        });
        assert_eq!(
            s["override"]["reason"], "failover drill",
            "the new leader kept the override"
        );
        assert_eq!(s["last_decision"]["rule"], "override");
        drop(second);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_postgres_advisory_lock_elects_one_leader_and_a_lost_connection_ends_its_term() {
    let mut pg = clip_pool::launcher::LocalPostgres::start().await.unwrap();
    let lock = LockSpec::Postgres {
        url: pg.url(),
        key: "clip-autoscaler/test".into(),
    };
    let first = lock
        .try_acquire()
        .await
        .unwrap()
        .expect("the first one leads");
    assert!(first.still_held().await);
    assert!(
        lock.try_acquire().await.unwrap().is_none(),
        "the second one waits"
    );
    drop(first);
    // The server drops the lock with the session; the client closes it in the background.
    let mut second = None;
    for _ in 0..50 {
        second = lock.try_acquire().await.unwrap();
        if second.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = second.expect("the second one leads once the first is gone");

    // The database restarts: the session, and with it the lock, is gone; the leader notices.
    pg.restart().await.unwrap();
    assert!(!second.still_held().await);
    drop(second);
    let third = lock.try_acquire().await.unwrap();
    assert!(third.is_some(), "anyone may lead again");
}
