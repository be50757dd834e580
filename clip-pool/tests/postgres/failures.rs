use std::time::{Duration, Instant};

use clip_pool::launcher::{LocalPostgres, PASSWORD, free_port};
use clip_pool::postgres::{self, ConnectFailure, PgConnectError};
use clip_pool::{BuildError, PoolError};

use crate::config;

fn failure(e: &BuildError) -> ConnectFailure {
    match e {
        BuildError::Connect(c) => c
            .downcast_ref::<PgConnectError>()
            .map(PgConnectError::failure)
            .unwrap_or(ConnectFailure::Other),
        other => panic!("expected a connection error, got {other}"),
    }
}

#[tokio::test]
async fn a_wrong_password_is_reported_as_such_at_connect_time() {
    let pg = LocalPostgres::start().await.unwrap();
    let url = pg.url().replace(PASSWORD, "wrong");
    let started = Instant::now();
    let err = postgres::connect(&url, config(4)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(failure(&err), ConnectFailure::Authentication, "{err}");
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("check the user and password"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password must not leak into messages: {text}"
    );
}

#[tokio::test]
async fn a_closed_port_is_reported_as_refused_quickly() {
    let port = free_port().unwrap();
    let url = format!("postgres://clip:x@127.0.0.1:{port}/postgres?sslmode=disable");
    let started = Instant::now();
    let err = postgres::connect(&url, config(4)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(failure(&err), ConnectFailure::Refused, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_database_and_a_bad_url_are_named() {
    let pg = LocalPostgres::start().await.unwrap();
    let url = pg.url().replace("/postgres?", "/no_such_db?");
    let err = postgres::connect(&url, config(2)).await.unwrap_err();
    assert_eq!(failure(&err), ConnectFailure::UnknownDatabase, "{err}");

    let err = postgres::connect("postgres://u:p@127.0.0.1/db?sslmode=maybe", config(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(_)) && err.to_string().contains("sslmode"),
        "{err}"
    );
}

#[tokio::test]
async fn a_lazy_pool_fails_fast_with_the_real_error_while_the_database_is_absent() {
    let port = free_port().unwrap();
    let url = format!("postgres://clip:x@127.0.0.1:{port}/postgres?sslmode=disable");
    let pool = postgres::connect_lazy(&url, config(4)).unwrap();
    for _ in 0..20 {
        let started = Instant::now();
        let err = pool
            .execute(async |c| c.execute("SELECT 1", &[]).await)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        match err {
            PoolError::Connect(e) => assert!(e.to_string().contains("refused"), "{e}"),
            other => panic!("expected a connection error, got {other}"),
        }
    }
    let s = pool.stats();
    assert_eq!(s.connect_failures, 20);
    assert_eq!(s.in_use, 0);
    assert_eq!(pool.health().0, clip_pool::PoolHealth::Down);
}

/// A database coming back (or still down) must see one probe per back-off period, not one
/// connection attempt per waiting caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_database_sees_one_probe_per_backoff_not_one_per_caller() {
    // Accepts and hangs up at once: every attempt fails, and each one is counted.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counting = {
        let attempts = attempts.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(socket);
            }
        })
    };
    let cfg = clip_pool::PoolConfig {
        max_connections: 16,
        pool_size: 4,
        reconnect_backoff: Duration::from_millis(250),
        maintenance_interval: Duration::from_secs(1),
        ..config(16)
    };
    let url = format!("postgres://clip:x@127.0.0.1:{port}/postgres?sslmode=disable");
    let pool = postgres::connect_lazy(&url, cfg).unwrap();
    // The pool learns that the database is down (before that, every caller may try).
    let first = pool
        .execute(async |c| c.execute("SELECT 1", &[]).await)
        .await;
    assert!(matches!(first, Err(PoolError::Connect(_))), "{first:?}");
    let before = attempts.load(std::sync::atomic::Ordering::SeqCst);
    let until = Instant::now() + Duration::from_secs(1);
    let mut callers = Vec::new();
    for _ in 0..16 {
        let pool = pool.clone();
        callers.push(tokio::spawn(async move {
            while Instant::now() < until {
                let r = pool
                    .execute(async |c| c.execute("SELECT 1", &[]).await)
                    .await;
                assert!(matches!(r, Err(PoolError::Connect(_))), "{r:?}");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for c in callers {
        c.await.unwrap();
    }
    counting.abort();
    let attempts = attempts.load(std::sync::atomic::Ordering::SeqCst) - before;
    // About one probe per 250 ms, plus the maintenance task's once a second.
    assert!(
        attempts <= 10,
        "{attempts} connection attempts in 1 s from 16 callers"
    );
}
