//! Registry behaviour: aggregation, timeouts, panic guard, cache, flap tolerance, draining, startup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use Criticality::{Critical, NonCritical};
use Status::{Fail, Pass, Warn};
use clip_health::{Check, CheckOutcome, Criticality, HealthRegistry, Status, aggregate};

#[test]
fn aggregation_table() {
    let table: &[(&[(Criticality, Status)], Status)] = &[
        (&[], Pass),
        (&[(Critical, Pass), (NonCritical, Pass)], Pass),
        (&[(Critical, Warn), (NonCritical, Pass)], Warn),
        (&[(Critical, Pass), (NonCritical, Warn)], Warn),
        (&[(Critical, Pass), (NonCritical, Fail)], Warn),
        (&[(NonCritical, Fail), (NonCritical, Fail)], Warn),
        (&[(Critical, Fail)], Fail),
        (
            &[(NonCritical, Warn), (Critical, Fail), (NonCritical, Pass)],
            Fail,
        ),
        (&[(Critical, Warn), (Critical, Fail)], Fail),
    ];
    for (input, expected) in table {
        assert_eq!(
            aggregate(input.iter().copied()),
            *expected,
            "aggregate({input:?})"
        );
        assert_eq!(
            expected.http_status(),
            if *expected == Fail { 503 } else { 200 }
        );
    }
}

#[tokio::test]
async fn report_aggregates_criticality_and_keys_checks() {
    let health = HealthRegistry::builder()
        .check("postgres", Critical, Duration::from_secs(1), || async {
            Status::Pass
        })
        .check("cdn", NonCritical, Duration::from_secs(1), || async {
            Err::<(), _>("HTTP 502 from cdn.example.com")
        })
        .version("1.4.2")
        .build();
    let report = health.report().await;
    assert_eq!(report.status, Warn);
    assert_eq!(report.http_status(), 200);
    assert_eq!(report.version.as_deref(), Some("1.4.2"));
    let cdn = &report.checks["cdn:responseTime"][0];
    assert_eq!(cdn.status, Fail);
    assert_eq!(cdn.output.as_deref(), Some("HTTP 502 from cdn.example.com"));
    assert_eq!(cdn.observed_unit.as_deref(), Some("ms"));
    assert!(report.checks.contains_key("postgres:responseTime"));

    // Readiness looks at the critical checks only: the broken CDN does not pull traffic away.
    let ready = health.readiness().await;
    assert_eq!(ready.status, Pass);
    assert_eq!(
        ready.checks.keys().collect::<Vec<_>>(),
        ["postgres:responseTime"]
    );
}

#[tokio::test]
async fn hung_checks_time_out_concurrently() {
    let mut builder = HealthRegistry::builder();
    for i in 0..20 {
        builder = builder.check(
            format!("hung{i}"),
            Critical,
            Duration::from_millis(200),
            || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Status::Pass
            },
        );
    }
    let health = builder.build();
    let started = Instant::now();
    let report = health.readiness().await;
    let took = started.elapsed();
    // 20 checks of 200 ms each, run concurrently: the report is bounded by the largest timeout.
    assert!(took < Duration::from_millis(1500), "report took {took:?}");
    assert_eq!(report.status, Fail);
    for results in report.checks.values() {
        assert_eq!(results[0].status, Fail);
        let output = results[0].output.as_deref().unwrap_or_default();
        assert!(output.starts_with("timeout"), "{output}");
    }
}

#[tokio::test]
async fn panicking_check_reads_fail_with_its_message() {
    let health = HealthRegistry::builder()
        .check("redis", Critical, Duration::from_secs(1), || async {
            if true {
                panic!("redis client poisoned");
            }
            Status::Pass
        })
        .check("s3", Critical, Duration::from_secs(1), || async {
            Status::Pass
        })
        .build();
    let report = health.report().await;
    assert_eq!(report.status, Fail);
    let redis = &report.checks["redis:responseTime"][0];
    assert_eq!(redis.status, Fail);
    assert!(
        redis
            .output
            .as_deref()
            .unwrap_or_default()
            .contains("redis client poisoned")
    );
    assert_eq!(report.checks["s3:responseTime"][0].status, Pass);
}

fn counting_check(
    calls: &Arc<AtomicU32>,
    delay: Duration,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Status> + Send>> + Send + Sync + 'static {
    let calls = calls.clone();
    move || {
        let calls = calls.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Status::Pass
        })
    }
}

#[tokio::test]
async fn a_flood_of_probes_makes_one_call() {
    let calls = Arc::new(AtomicU32::new(0));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Critical,
            Duration::from_secs(1),
            counting_check(&calls, Duration::from_millis(50)),
        )
        .cache_ttl(Duration::from_secs(30))
        .build();
    let probes: Vec<_> = (0..100)
        .map(|_| {
            let health = health.clone();
            tokio::spawn(async move { health.readiness().await })
        })
        .collect();
    let mut times = Vec::new();
    for probe in probes {
        let report = probe.await.expect("probe task");
        assert_eq!(report.status, Pass);
        times.push(report.checks["postgres:responseTime"][0].time.clone());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "100 concurrent probes, one database call"
    );
    times.dedup();
    assert_eq!(
        times.len(),
        1,
        "every probe sees the one observation, with its time"
    );
}

#[tokio::test]
async fn the_cache_expires_after_its_ttl() {
    let calls = Arc::new(AtomicU32::new(0));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Critical,
            Duration::from_secs(1),
            counting_check(&calls, Duration::ZERO),
        )
        .cache_ttl(Duration::from_millis(100))
        .build();
    health.readiness().await;
    health.readiness().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    health.readiness().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn flap_tolerance_fails_only_after_n_consecutive_failures() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = failing.clone();
    let check = Check::new("postgres", Critical, Duration::from_secs(1), move || {
        let failing = flag.load(Ordering::SeqCst);
        async move {
            if failing {
                CheckOutcome::fail("connection reset")
            } else {
                CheckOutcome::pass()
            }
        }
    })
    .failure_threshold(3);
    let health = HealthRegistry::builder()
        .with_check(check)
        .cache_ttl(Duration::ZERO)
        .build();

    let statuses = async || {
        let r = health.readiness().await;
        (r.status, r.checks["postgres:responseTime"][0].clone())
    };
    let (s1, c1) = statuses().await;
    assert_eq!((s1, c1.status), (Warn, Warn));
    assert!(
        c1.output
            .as_deref()
            .unwrap_or_default()
            .contains("connection reset")
    );
    assert_eq!(statuses().await.0, Warn);
    assert_eq!(statuses().await.0, Fail, "third consecutive failure fails");
    assert_eq!(statuses().await.0, Fail);

    failing.store(false, Ordering::SeqCst);
    assert_eq!(statuses().await.0, Pass);
    failing.store(true, Ordering::SeqCst);
    assert_eq!(statuses().await.0, Warn, "a success resets the count");
}

#[tokio::test]
async fn draining_fails_readiness_at_once_but_not_liveness() {
    let calls = Arc::new(AtomicU32::new(0));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Critical,
            Duration::from_secs(1),
            counting_check(&calls, Duration::ZERO),
        )
        .build();
    assert_eq!(health.readiness().await.status, Pass);
    health.clone().start_draining();
    assert!(health.is_draining());
    let ready = health.readiness().await;
    assert_eq!(ready.status, Fail);
    assert_eq!(ready.http_status(), 503);
    assert!(
        ready
            .output
            .as_deref()
            .unwrap_or_default()
            .starts_with("draining")
    );
    assert_eq!(health.report().await.status, Fail);
    assert_eq!(health.liveness().status, Pass);
}

#[tokio::test]
async fn startup_gate_holds_readiness_until_marked_started() {
    let health = HealthRegistry::builder()
        .check("postgres", Critical, Duration::from_secs(1), || async {
            Status::Pass
        })
        .require_startup()
        .build();
    let ready = health.readiness().await;
    assert_eq!(ready.status, Fail);
    assert!(
        ready
            .output
            .as_deref()
            .unwrap_or_default()
            .starts_with("starting")
    );
    assert_eq!(health.liveness().status, Pass);
    health.mark_started();
    assert_eq!(health.readiness().await.status, Pass);

    let default = HealthRegistry::builder().build();
    assert!(
        default.is_started(),
        "without require_startup the registry starts ready"
    );
    assert_eq!(default.readiness().await.status, Pass);
}

#[tokio::test]
async fn checks_report_their_own_measurements() {
    let check = Check::new("pool", NonCritical, Duration::from_secs(1), || async {
        CheckOutcome::warn("pool 85% used").observed(0.85, "ratio")
    })
    .measurement("utilization")
    .component_type("datastore");
    let report = HealthRegistry::builder()
        .with_check(check)
        .build()
        .report()
        .await;
    let pool = &report.checks["pool:utilization"][0];
    assert_eq!(pool.status, Warn);
    assert_eq!(pool.observed_value, Some(serde_json::json!(0.85)));
    assert_eq!(pool.observed_unit.as_deref(), Some("ratio"));
    assert_eq!(pool.component_type.as_deref(), Some("datastore"));
}

#[tokio::test]
async fn draining_readiness_does_not_wait_for_hung_checks() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let health = HealthRegistry::builder()
        .check("postgres", Critical, Duration::from_secs(30), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Status>()
        })
        .require_startup()
        .build();
    let started = Instant::now();
    assert_eq!(health.readiness().await.status, Fail, "starting");
    health.mark_started();
    health.start_draining();
    assert_eq!(health.readiness().await.status, Fail, "draining");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no dependency was called");
}

#[tokio::test]
async fn background_refresh_keeps_the_cache_warm_without_probes() {
    let calls = Arc::new(AtomicU32::new(0));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Critical,
            Duration::from_secs(1),
            counting_check(&calls, Duration::ZERO),
        )
        .cache_ttl(Duration::from_secs(60))
        .build();
    let refresher = health.spawn_background_refresh(Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refreshed = calls.load(Ordering::SeqCst);
    assert!(refreshed >= 3, "refreshed {refreshed} times in 200 ms");
    // Probes read what the refresher observed.
    for _ in 0..10 {
        assert_eq!(health.readiness().await.status, Pass);
    }
    assert!(
        calls.load(Ordering::SeqCst) <= refreshed + 1,
        "probes made no calls of their own"
    );

    // The task stops once the registry is gone.
    drop(health);
    tokio::time::timeout(Duration::from_secs(2), refresher)
        .await
        .expect("refresher ends when the registry is dropped")
        .expect("refresher did not panic");
}

#[tokio::test]
async fn refresh_joins_a_run_already_in_progress() {
    let calls = Arc::new(AtomicU32::new(0));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            Critical,
            Duration::from_secs(1),
            counting_check(&calls, Duration::from_millis(200)),
        )
        .cache_ttl(Duration::ZERO)
        .build();
    let probe = tokio::spawn({
        let health = health.clone();
        async move { health.readiness().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    health.refresh().await;
    assert_eq!(probe.await.expect("probe").status, Pass);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "refresh waited for the probe's run instead of running again behind it"
    );
}

/// Spring Boot's probe guidance: a dependency every replica shares (the one Postgres) that is
/// down for everyone should not take every replica out of rotation at once. Such a check
/// stays in the full report, where it still fails it, but readiness neither runs nor waits for it.
#[tokio::test]
async fn a_check_can_stay_out_of_readiness() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let shared_database = Check::new("postgres", Critical, Duration::from_secs(1), move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("connection refused") }
    })
    .affects_readiness(false);
    let health = HealthRegistry::builder()
        .with_check(shared_database)
        .check("local-disk", Critical, Duration::from_secs(1), || async {
            Status::Pass
        })
        .build();

    let ready = health.readiness().await;
    assert_eq!(ready.status, Pass);
    assert_eq!(
        ready.checks.keys().collect::<Vec<_>>(),
        ["local-disk:responseTime"]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "readiness did not run it");

    let report = health.report().await;
    assert_eq!(report.status, Fail, "the full report still fails on it");
    assert_eq!(report.http_status(), 503);
    assert_eq!(report.checks["postgres:responseTime"][0].status, Fail);
}

/// Draft §3.1: status values are case-insensitive, with `ok`/`up` for pass and `error`/`down`
/// for fail, so reports of Spring or Terminus peers parse too.
#[test]
fn statuses_of_other_implementations_parse() {
    for (text, status) in [
        ("pass", Pass),
        ("UP", Pass),
        ("ok", Pass),
        ("Warn", Warn),
        ("FAIL", Fail),
        ("error", Fail),
        ("DOWN", Fail),
    ] {
        let report: clip_health::HealthReport =
            serde_json::from_str(&format!(r#"{{"status":"{text}"}}"#)).expect(text);
        assert_eq!(report.status, status, "{text}");
    }
    let unknown = serde_json::from_str::<clip_health::HealthReport>(r#"{"status":"maybe"}"#);
    let err = unknown.expect_err("unknown status").to_string();
    assert!(err.contains("maybe"), "{err}");
    // We still write the draft's own spelling.
    assert_eq!(serde_json::to_string(&Pass).expect("json"), r#""pass""#);
}

/// Draft §4: names must not contain ':' (the report key is `component:measurement`), and a
/// check that can never answer (timeout 0) or holds probes for minutes is a mistake; so are
/// builder settings outside what `HealthConfig::validate` accepts.
#[test]
fn try_build_refuses_what_the_draft_and_the_config_refuse() {
    let pass = || async { Status::Pass };
    let check = |name: &str, timeout| Check::new(name.to_owned(), Critical, timeout, pass);
    let second = Duration::from_secs(1);
    let refused = [
        (
            HealthRegistry::builder().with_check(check("pg:main", second)),
            "pg:main",
        ),
        (
            HealthRegistry::builder().with_check(check("pg", second).measurement("a:b")),
            "a:b",
        ),
        (
            HealthRegistry::builder().with_check(check("", second)),
            "empty",
        ),
        (
            HealthRegistry::builder().with_check(check("pg", Duration::ZERO)),
            "timeout",
        ),
        (
            HealthRegistry::builder().with_check(check("pg", Duration::from_secs(3600))),
            "timeout",
        ),
        (
            HealthRegistry::builder().cache_ttl(Duration::from_secs(3600)),
            "HEALTH_CACHE_TTL",
        ),
        (
            HealthRegistry::builder().details_token(""),
            "HEALTH_DETAILS_TOKEN",
        ),
    ];
    for (builder, says) in refused {
        let err = builder.try_build().expect_err(says).to_string();
        assert!(err.contains(says), "{err}");
    }
    let fine = HealthRegistry::builder()
        .with_check(check("postgres", Duration::from_secs(2)).measurement("connections"))
        .try_build();
    assert!(fine.is_ok());
}

#[tokio::test]
async fn component_type_defaults_to_component() {
    let report = HealthRegistry::builder()
        .check("queue", NonCritical, Duration::from_secs(1), || async {
            Status::Pass
        })
        .build()
        .report()
        .await;
    assert_eq!(
        report.checks["queue:responseTime"][0]
            .component_type
            .as_deref(),
        Some("component")
    );
}

/// A registry outlives runtimes (a static in tests, a library that builds its own): a run
/// dropped with its runtime, before or while it runs, must not leave the check stuck.
#[test]
fn a_run_dropped_with_its_runtime_does_not_wedge_the_check() {
    let health = HealthRegistry::builder()
        .check("postgres", Critical, Duration::from_secs(5), || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Status::Pass
        })
        .cache_ttl(Duration::ZERO)
        .build();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    for let_it_start in [false, true] {
        let doomed = runtime();
        doomed.block_on(async {
            // Poll a probe once: it starts a run (a task not polled yet), then give up on it.
            let mut probe = std::pin::pin!(health.readiness());
            std::future::poll_fn(|cx| {
                let _ = probe.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            if let_it_start {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        drop(doomed);
        let ready = runtime().block_on(health.readiness());
        assert_eq!(ready.status, Pass, "run started: {let_it_start}: {ready:?}");
    }
}
