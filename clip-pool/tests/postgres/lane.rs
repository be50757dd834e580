//! The shared (pipelined) lane: bounded by `pool_size`, fair to `execute`, and subject to
//! the pool's lifetime, broken and leak checks like any lent connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgError};
use clip_pool::{PoolConfig, PoolError};

use crate::{Logs, config, fixed};

/// A burst of shared calls on a pool still below its target: the lane must not take more
/// than `pool_size` connections while its first calls are still opening theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_burst_on_a_growing_pool_stays_within_pool_size() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        min_connections: 1,
        pool_size: 2,
        max_connections: 8,
        // No growth by the maintenance task during the burst: only the lane opens.
        maintenance_interval: Duration::from_secs(60),
        ..config(8)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            pool.execute_shared(async |c| {
                c.query_one("SELECT pg_sleep(0.05)", &[]).await.map(|_| ())
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Every connection the lane held was an acquisition (the floor's, and at most one more).
    let s = pool.stats();
    assert!(
        s.acquisitions <= 2 && s.connections_created <= 2,
        "the lane took {} connections, pool_size is 2: {s:?}",
        s.acquisitions
    );
}

/// The README's own advice: pipelined reads with `execute_shared`, transactions with
/// `execute`, on one pool whose target equals its ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_execute_calls_are_not_starved_by_a_saturated_shared_lane() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        acquire_timeout: Duration::from_secs(1),
        ..fixed(4)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    pool.execute(async |c| {
        c.batch_execute("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)")
            .await
    })
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..32 {
        let (pool, stop) = (pool.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                pool.execute_shared(async |c| {
                    c.query_one("SELECT n FROM counter", &[]).await.map(|_| ())
                })
                .await?;
            }
            Ok::<_, PoolError<PgError>>(())
        }));
    }
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (pool, stop) = (pool.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut done = 0u32;
            while !stop.load(Ordering::Relaxed) {
                pool.execute(async |c| {
                    c.batch_execute("BEGIN").await?;
                    c.execute("UPDATE counter SET n = n + 1", &[]).await?;
                    c.batch_execute("COMMIT").await?;
                    Ok::<_, PgError>(())
                })
                .await?;
                done += 1;
            }
            Ok::<_, PoolError<PgError>>(done)
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap().unwrap();
    }
    for w in writers {
        let done = w.await.unwrap().expect("an execute call timed out");
        assert!(done > 0);
    }
    assert_eq!(pool.stats().timeouts, 0);
}

#[tokio::test]
async fn a_query_error_keeps_the_shared_connection_a_connection_error_retires_it() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    let pid = async |pool: &postgres::PgPool| {
        pool.execute_shared(async |c| {
            c.query_one("SELECT pg_backend_pid()", &[])
                .await
                .map(|r| r.get::<_, i32>(0))
        })
        .await
        .unwrap()
    };
    let before = pid(&pool).await;
    // Control flow errors a user can trigger from outside: no row, a bad input value.
    let no_row = pool
        .execute_shared(async |c| c.query_one("SELECT 1 WHERE false", &[]).await)
        .await;
    assert!(matches!(no_row, Err(PoolError::Query(_))), "{no_row:?}");
    let bad_input = pool
        .execute_shared(async |c| c.query_one("SELECT 'x'::int", &[]).await)
        .await;
    assert!(
        matches!(bad_input, Err(PoolError::Query(_))),
        "{bad_input:?}"
    );
    pool.execute(async |c| {
        c.batch_execute("CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1)")
            .await
    })
    .await
    .unwrap();
    let duplicate = pool
        .execute_shared(async |c| c.execute("INSERT INTO u VALUES (1)", &[]).await)
        .await;
    assert!(
        matches!(duplicate, Err(PoolError::Query(_))),
        "a unique violation: {duplicate:?}"
    );
    assert_eq!(
        pid(&pool).await,
        before,
        "a query error closed the shared connection"
    );
    assert_eq!(pool.stats().connections_closed, 0);

    // The connection itself dies: retired, and the next call gets a new one.
    let killed = pool
        .execute_shared(async |c| {
            c.query_one("SELECT pg_terminate_backend(pg_backend_pid())", &[])
                .await
        })
        .await;
    assert!(killed.is_err());
    assert_ne!(pid(&pool).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_connections_age_out_under_sustained_load() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        max_lifetime: Some(Duration::from_millis(300)),
        ..fixed(2)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pids = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (pool, stop, pids) = (pool.clone(), stop.clone(), pids.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pid: i32 = pool
                    .execute_shared(async |c| {
                        c.query_one("SELECT pg_backend_pid()", &[])
                            .await
                            .map(|r| r.get(0))
                    })
                    .await
                    .unwrap();
                pids.lock().unwrap().insert(pid);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let seen = pids.lock().unwrap().len();
    assert!(
        seen > 2,
        "the lane used only {seen} backends over 2 s with a 300 ms max lifetime"
    );
}

#[tokio::test]
async fn a_stuck_shared_call_is_reported_as_a_leak() {
    let pg = LocalPostgres::start().await.unwrap();
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let cfg = PoolConfig {
        leak_threshold: Some(Duration::from_millis(100)),
        ..config(2)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    pool.execute_shared(async |c| c.query_one("SELECT pg_sleep(0.6)", &[]).await.map(|_| ()))
        .await
        .unwrap();
    assert_eq!(pool.stats().leak_warnings, 1, "{}", logs.text());
}
