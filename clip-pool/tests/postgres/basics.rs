use std::sync::Arc;
use std::time::{Duration, Instant};

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgError};
use clip_pool::{PoolConfig, PoolError};

use crate::{Logs, config};

#[tokio::test]
async fn execute_returns_the_closures_value_and_stats_add_up_under_concurrency() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), config(8)).await.unwrap();

    let n: i32 = pool
        .execute(async |c| c.query_one("SELECT 1", &[]).await.map(|r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 1);

    let mut tasks = Vec::new();
    for i in 0..32i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            pool.execute(async |c| {
                c.query_one("SELECT $1::int8 * 2", &[&i])
                    .await
                    .map(|r| r.get::<_, i64>(0))
            })
            .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), i as i64 * 2);
    }
    let err = pool
        .execute(async |c| c.query_one("SELECT nonsense", &[]).await)
        .await
        .unwrap_err();
    assert!(matches!(err, PoolError::Query(_)), "{err}");
    assert!(err.to_string().contains("nonsense"), "{err}");

    let s = pool.stats();
    assert_eq!(s.in_use, 0);
    assert_eq!(s.waiting, 0);
    assert_eq!(s.acquire_attempts, 34);
    assert_eq!(
        s.acquire_attempts,
        s.acquisitions + s.timeouts + s.connect_failures + s.cancelled_waiting
    );
    assert_eq!(
        s.acquisitions,
        s.completed + s.query_errors + s.cancelled_running
    );
    assert_eq!((s.completed, s.query_errors), (33, 1));
    assert!(s.connections >= 1 && s.connections <= 8, "{s:?}");
    assert_eq!(s.idle, s.connections);
    assert_eq!(s.utilization, 0.0);
}

#[tokio::test]
async fn statements_are_prepared_once_per_connection() {
    let pg = LocalPostgres::start().await.unwrap();
    // config(1) is one connection: floor, target and ceiling.
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    // The server saw one prepared statement for the text, however many times it ran.
    let prepared: i64 = pool
        .execute(async |c| {
            for _ in 0..5 {
                c.query_one("SELECT $1::text", &[&"y"]).await?;
            }
            c.client()
                .query_one(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::text'",
                    &[],
                )
                .await
                .map(|r| r.get(0))
                .map_err(PgError::from)
        })
        .await
        .unwrap();
    assert_eq!(prepared, 1);
}

#[tokio::test]
async fn a_statement_cached_before_a_schema_change_is_prepared_again() {
    let pg = LocalPostgres::start().await.unwrap();
    // config(1) is one connection: floor, target and ceiling.
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    let columns = async |c: &mut postgres::PgConnection| {
        c.query_one("SELECT * FROM m", &[]).await.map(|r| r.len())
    };
    pool.execute(async |c| {
        c.batch_execute("CREATE TABLE m (a int); INSERT INTO m VALUES (1)")
            .await
    })
    .await
    .unwrap();
    assert_eq!(pool.execute(columns).await.unwrap(), 1);
    pool.execute(async |c| c.batch_execute("ALTER TABLE m ADD COLUMN b int").await)
        .await
        .unwrap();
    // The server refuses the stale statement once; the cache must not keep serving it.
    let first = pool.execute(columns).await;
    if let Err(e) = &first {
        assert!(e.to_string().contains("cached plan"), "{e}");
    }
    assert_eq!(pool.execute(columns).await.unwrap(), 2);
}

#[tokio::test]
async fn exhaustion_times_out_with_the_waiting_count_visible() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        min_connections: 1,
        pool_size: 2,
        max_connections: 2,
        acquire_timeout: Duration::from_millis(500),
        ..config(2)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let hold = |pool: clip_pool::postgres::PgPool| async move {
        pool.execute(async |c| c.execute("SELECT pg_sleep(1.5)", &[]).await)
            .await
    };
    let holders = [
        tokio::spawn(hold(pool.clone())),
        tokio::spawn(hold(pool.clone())),
    ];
    // Both connections taken.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().in_use < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = pool
                .execute(async |c| c.execute("SELECT 1", &[]).await)
                .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = pool.stats();
    assert_eq!(during.waiting, 1, "{during:?}");
    assert_eq!(during.in_use, 2);
    assert_eq!(during.utilization, 1.0);

    let (result, waited) = waiter.await.unwrap();
    match result {
        Err(PoolError::Timeout {
            waited: w,
            waiting,
            max_connections,
        }) => {
            assert!(w >= Duration::from_millis(500), "{w:?}");
            assert_eq!((waiting, max_connections), (0, 2));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(waited < Duration::from_millis(1400), "{waited:?}");
    for h in holders {
        h.await.unwrap().unwrap();
    }
    let s = pool.stats();
    assert_eq!((s.timeouts, s.in_use, s.waiting), (1, 0, 0));
}

#[tokio::test]
async fn a_call_dropped_mid_query_never_hands_its_connection_on() {
    let pg = LocalPostgres::start().await.unwrap();
    // config(1) is one connection: floor, target and ceiling.
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    pool.execute(async |c| c.batch_execute("CREATE TABLE t (v int)").await)
        .await
        .unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        pool.execute(async |c| {
            c.batch_execute("BEGIN; INSERT INTO t VALUES (1)").await?;
            c.query_one("SELECT pg_sleep(30)", &[])
                .await
                .map_err(|e| e.into_inner())?;
            Ok::<_, tokio_postgres::Error>(())
        }),
    )
    .await;
    assert!(abandoned.is_err(), "the call should have been cut short");

    // The next caller gets a clean connection: no open transaction, its own result.
    let (count, in_tx): (i64, bool) = pool
        .execute(async |c| {
            let count = c.query_one("SELECT count(*) FROM t", &[]).await?.get(0);
            let in_tx = c
                .query_one("SELECT pg_current_xact_id_if_assigned() IS NOT NULL", &[])
                .await?
                .get(0);
            Ok::<_, PgError>((count, in_tx))
        })
        .await
        .unwrap();
    assert_eq!(
        count, 0,
        "the abandoned insert must not be visible or committed"
    );
    assert!(!in_tx, "the next caller must not inherit a transaction");
    let s = pool.stats();
    assert_eq!(s.cancelled_running, 1);
    assert_eq!(s.in_use, 0);
    assert!(s.connections_closed >= 1, "{s:?}");
}

#[tokio::test]
async fn holding_a_connection_past_the_leak_threshold_is_reported() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        leak_threshold: Some(Duration::from_millis(100)),
        ..config(2)
    };
    // The warning is what an operator sees: capture it (this test's runtime runs the
    // maintenance task on this thread, where the subscriber is the default).
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    // Checked once per maintenance tick (100 ms in these tests).
    pool.execute(async |c| c.execute("SELECT pg_sleep(0.6)", &[]).await)
        .await
        .unwrap();
    pool.execute(async |c| c.execute("SELECT 1", &[]).await)
        .await
        .unwrap();
    assert_eq!(pool.stats().leak_warnings, 1);
    let text = logs.text();
    let warning = text
        .lines()
        .find(|l| l.contains("leak threshold"))
        .unwrap_or_else(|| panic!("no leak warning logged:\n{text}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("held_for="),
        "how long it was held: {warning}"
    );
    assert!(warning.contains("pool=\"primary\""), "{warning}");
    assert!(
        text.contains("given back after a leak warning"),
        "the end of the story is logged too:\n{text}"
    );
}

#[tokio::test]
async fn the_pool_shrinks_surplus_connections_back_to_its_target() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        min_connections: 1,
        pool_size: 2,
        max_connections: 6,
        idle_timeout: Duration::from_millis(300),
        ..config(6)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            pool.execute(async |c| {
                barrier.wait().await;
                c.execute("SELECT pg_sleep(0.1)", &[]).await
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(pool.stats().connections, 6);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().connections > 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = pool.stats();
    assert_eq!(s.connections, 2, "{s:?}");
    assert!(s.connections_closed >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_calls_pipeline_on_few_connections_and_give_them_back() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        min_connections: 1,
        pool_size: 2,
        max_connections: 4,
        ..config(4)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    // Once the pool stands at its target, the shared lane finds its connections idle; while
    // it grows, a call could race the maintenance task's opening and see a third one.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().connections < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let mut tasks = Vec::new();
    for i in 0..32i32 {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            pool.execute_shared(async |c| {
                let row = c
                    .query_one("SELECT pg_backend_pid(), $1::int4 + 1", &[&i])
                    .await?;
                Ok::<_, PgError>((row.get::<_, i32>(0), row.get::<_, i32>(1)))
            })
            .await
        }));
    }
    let mut pids = std::collections::HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (pid, v) = t.await.unwrap().unwrap();
        assert_eq!(v, i as i32 + 1);
        pids.insert(pid);
    }
    assert!(
        pids.len() <= 2,
        "shared calls used {} connections, pool_size is 2",
        pids.len()
    );
    let s = pool.stats();
    assert_eq!(
        (s.shared_calls, s.shared_errors, s.in_use),
        (32, 0, 0),
        "{s:?}"
    );
    assert_eq!(
        s.acquisitions,
        s.completed + s.query_errors + s.cancelled_running
    );

    // A failing shared call retires its connection; the others are unaffected.
    let err = pool
        .execute_shared(async |c| c.query_one("SELECT nonsense", &[]).await)
        .await
        .unwrap_err();
    assert!(matches!(err, PoolError::Query(_)));
    let n: i32 = pool
        .execute_shared(async |c| c.query_one("SELECT 7", &[]).await.map(|r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 7);
    assert_eq!(pool.stats().in_use, 0);
}

/// The floor is opened once: the maintenance task must not race the warm-up and open a
/// second floor's worth that bb8 then refuses (after a full handshake each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_up_opens_exactly_the_floor() {
    let pg = LocalPostgres::start().await.unwrap();
    let app = "warm-up";
    let cfg = crate::fixed(8);
    let pool = postgres::connect(
        &pg.url_with(&format!("sslmode=disable&application_name={app}")),
        cfg,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = pool.stats();
    assert_eq!((s.connections, s.connections_created), (8, 8), "{s:?}");
    let (seen, _) = crate::backends(&crate::observer(&pg.url()).await, app).await;
    assert_eq!(seen, 8);
}
