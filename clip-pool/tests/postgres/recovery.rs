use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clip_pool::PoolConfig;
use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres;

use crate::config;

/// kill -9 of the server under load, then a restart: no call waits past the acquire
/// timeout, and the pool serves again within a second of the server accepting connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_survives_a_crash_and_recovers_by_itself() {
    let mut pg = LocalPostgres::start().await.unwrap();
    let acquire_timeout = Duration::from_secs(2);
    let cfg = PoolConfig {
        acquire_timeout,
        ..config(8)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (pool, stop) = (pool.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            let mut successes = Vec::new();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = pool
                    .execute(async |c| {
                        c.query_one("SELECT 1", &[])
                            .await
                            .map(|r| r.get::<_, i32>(0))
                    })
                    .await;
                longest = longest.max(started.elapsed());
                match r {
                    Ok(_) => successes.push(Instant::now()),
                    Err(e) => {
                        failures.push(e);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (longest, successes, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.kill9();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_started = Instant::now();
    pg.restart().await.unwrap();
    let accepting_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut longest = Duration::ZERO;
    let mut first_after_restart: Option<Instant> = None;
    let mut successes_while_down = 0;
    let mut failures = Vec::new();
    for w in workers {
        let (l, successes, failed) = w.await.unwrap();
        longest = longest.max(l);
        failures.extend(failed);
        for t in successes {
            if t > killed_at + Duration::from_millis(200) && t < restart_started {
                successes_while_down += 1;
            }
            if t >= restart_started {
                first_after_restart = Some(first_after_restart.map_or(t, |f| f.min(t)));
            }
        }
    }
    assert!(
        longest <= acquire_timeout + Duration::from_millis(500),
        "a call waited {longest:?}"
    );
    assert_eq!(successes_while_down, 0);
    let recovered_in =
        first_after_restart.expect("no call succeeded after the restart") - accepting_at;
    assert!(
        recovered_in < Duration::from_secs(1),
        "recovered after {recovered_in:?}"
    );
    let s = pool.stats();
    assert_eq!(s.in_use, 0);
    assert_eq!(s.waiting, 0);
    // The crash was felt, and every call it failed reads as the database's unavailability
    // (a degraded answer), never as the caller's own query error.
    assert!(!failures.is_empty(), "no call failed across a kill -9");
    for e in &failures {
        assert!(e.is_unavailable(), "{e:?}");
    }
    assert_eq!(
        s.acquire_attempts,
        s.acquisitions + s.timeouts + s.connect_failures + s.cancelled_waiting
    );
    assert!(pool.health().0.is_serving(), "{:?}", pool.health());
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.get(s.rfind(')')? + 2..)?.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

fn postmaster_pid(pg: &LocalPostgres) -> u32 {
    let text = std::fs::read_to_string(pg.dir().join("data/postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// Backends call setsid(): a kill of the postmaster's process group alone would leave a
/// busy backend running (and a restart refused while it holds the shared memory).
#[tokio::test]
async fn kill9_takes_busy_backends_down_with_the_postmaster() {
    let mut pg = LocalPostgres::start().await.unwrap();
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let backend: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let backend = backend as u32;
    // CPU-bound: it does not watch for the postmaster's death, only a signal stops it.
    let busy = tokio::spawn(async move {
        client
            .simple_query("SELECT count(*) FROM generate_series(1, 10000000000)")
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(alive(backend));
    let postmaster = postmaster_pid(&pg);
    pg.kill9();
    let deadline = Instant::now() + Duration::from_secs(1);
    while alive(backend) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!alive(backend), "backend {backend} survived kill9");
    assert!(!alive(postmaster));
    assert!(busy.await.unwrap().is_err());

    // Restarting a running server replaces it instead of leaking the old postmaster.
    pg.restart().await.unwrap();
    let first = postmaster_pid(&pg);
    pg.restart().await.unwrap();
    assert!(!alive(first), "the old postmaster {first} was left running");
    assert_ne!(postmaster_pid(&pg), first);
}
