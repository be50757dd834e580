//! A call dropped while its statement runs (a request timeout, a client gone) stops that
//! statement on the server, and the server never holds more of this pool's backends than
//! `max_connections`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clip_pool::PoolConfig;
use clip_pool::launcher::{LocalPostgres, Options};
use clip_pool::postgres;

use crate::{backends, config, make_ca, make_server_cert, observer};

#[tokio::test]
async fn a_dropped_call_leaves_no_statement_running_on_the_server() {
    let pg = LocalPostgres::start().await.unwrap();
    let app = "cancel-one";
    let pool = postgres::connect(
        &pg.url_with(&format!("sslmode=disable&application_name={app}")),
        config(2),
    )
    .await
    .unwrap();
    let watch = observer(&pg.url()).await;
    watch
        .batch_execute("CREATE TABLE held (v int)")
        .await
        .unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        pool.execute(async |c| {
            c.batch_execute("BEGIN; LOCK held").await?;
            c.batch_execute("SELECT pg_sleep(30)").await
        }),
    )
    .await;
    assert!(cut.is_err(), "the call should have been cut short");
    let dropped_at = Instant::now();
    loop {
        let (_, active) = backends(&watch, app).await;
        if active == 0 {
            break;
        }
        assert!(
            dropped_at.elapsed() < Duration::from_secs(1),
            "the abandoned statement still runs on the server after {:?}",
            dropped_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its lock went with it: another session takes it at once.
    watch
        .batch_execute("SET lock_timeout = '1s'; BEGIN; LOCK held; ROLLBACK")
        .await
        .expect("the abandoned transaction still holds its lock");
}

/// A slow-query incident: every call times out, wave after wave, while the pool replaces
/// the connections it gave up on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_timeouts_never_gives_the_server_more_than_max_connections() {
    let pg = LocalPostgres::start().await.unwrap();
    let app = "cancel-burst";
    let max = 4;
    let cfg = PoolConfig {
        acquire_timeout: Duration::from_millis(400),
        ..config(max)
    };
    let pool = postgres::connect(
        &pg.url_with(&format!("sslmode=disable&application_name={app}")),
        cfg,
    )
    .await
    .unwrap();
    let watch = observer(&pg.url()).await;
    let most = Arc::new(AtomicI64::new(0));
    let sampling = {
        let most = most.clone();
        let app = app.to_owned();
        tokio::spawn(async move {
            loop {
                let (seen, _) = backends(&watch, &app).await;
                most.fetch_max(seen, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for _wave in 0..4 {
        let mut calls = Vec::new();
        for _ in 0..3 * max {
            let pool = pool.clone();
            calls.push(tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_millis(150),
                    pool.execute(async |c| c.batch_execute("SELECT pg_sleep(5)").await),
                )
                .await
            }));
        }
        for call in calls {
            assert!(
                call.await.unwrap().is_err(),
                "a 5 s statement finished in 150 ms"
            );
        }
    }
    // Settled: the pool serves again, with no statement of the incident left running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n: i32 = pool
        .execute(async |c| c.query_one("SELECT 1", &[]).await.map(|r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 1);
    sampling.abort();
    let most = most.load(Ordering::Relaxed);
    assert!(
        most <= i64::from(max),
        "the server held {most} backends of a pool of {max} connections"
    );
    let (_, active) = backends(&observer(&pg.url()).await, app).await;
    assert_eq!(active, 0, "statements of the incident still run");
}

/// The cancel request goes over TLS when the connection does (a server that accepts only
/// TLS would refuse a plain one).
#[tokio::test]
async fn a_dropped_call_on_a_tls_connection_is_cancelled_too() {
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca");
    let server = make_server_cert(certs.path(), "ca", "server", "IP:127.0.0.1");
    let mut pg = LocalPostgres::start_with(Options {
        tls: Some(server.clone()),
        ..Options::default()
    })
    .await
    .unwrap();
    // Plain TCP refused from now on: only a TLS cancel request can reach the server.
    pg.set_tls(Some(&server), true).await.unwrap();
    let app = "cancel-tls";
    let pool = postgres::connect(
        &pg.url_with(&format!("sslmode=require&application_name={app}")),
        config(2),
    )
    .await
    .unwrap();
    // The observer comes in over the Unix socket, which pg_hba.conf lets in without TLS.
    let watch = {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(pg.dir())
            .port(pg.port())
            .user(clip_pool::launcher::USER)
            .password(clip_pool::launcher::PASSWORD)
            .dbname("postgres");
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    };
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        pool.execute(async |c| c.execute("SELECT pg_sleep(30)", &[]).await),
    )
    .await;
    assert!(cut.is_err());
    let dropped_at = Instant::now();
    while backends(&watch, app).await.1 > 0 {
        assert!(
            dropped_at.elapsed() < Duration::from_secs(1),
            "the statement still runs after {:?}",
            dropped_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
