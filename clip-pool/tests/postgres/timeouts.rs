//! Time bounds: connecting has its own timeout, and a dead or silent peer is noticed in well
//! under a minute.

use std::time::{Duration, Instant};

use clip_pool::PoolConfig;
use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres;

use crate::{SlowProxy, config};

/// A latency-driven API sets a short acquire timeout; the server (or its network) takes
/// longer than that to accept a connection: the pool must still manage to connect.
#[tokio::test]
async fn a_200ms_acquire_timeout_still_connects_to_a_server_that_takes_800ms() {
    let pg = LocalPostgres::start().await.unwrap();
    let slow = SlowProxy::start(pg.port(), Duration::from_millis(800)).await;
    let url = format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres?sslmode=disable",
        clip_pool::launcher::USER,
        clip_pool::launcher::PASSWORD,
        slow.port
    );
    let cfg = PoolConfig {
        acquire_timeout: Duration::from_millis(200),
        ..config(2)
    };
    let started = Instant::now();
    let pool = postgres::connect(&url, cfg.clone())
        .await
        .expect("the first connection takes 800 ms: within the connect timeout");
    assert!(started.elapsed() >= Duration::from_millis(800));
    let n: i32 = pool
        .execute(async |c| c.query_one("SELECT 1", &[]).await.map(|r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 1);

    // Lazily: the first calls time out after 200 ms, but the attempt they started goes on
    // and serves a later call.
    let lazy = postgres::connect_lazy(&url, cfg).unwrap();
    let started = Instant::now();
    loop {
        match lazy
            .execute(async |c| {
                c.query_one("SELECT 1", &[])
                    .await
                    .map(|r| r.get::<_, i32>(0))
            })
            .await
        {
            Ok(_) => break,
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(5),
                "still failing after {:?}: {e}",
                started.elapsed()
            ),
        }
    }
}

/// Reads a socket option of one of this process's sockets.
fn sockopt(fd: i32, level: i32, name: i32) -> i32 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of a c_int and a socklen_t.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt({fd}, {level}, {name})");
    value
}

/// The descriptor of this process's TCP socket bound to local port `port`.
fn socket_with_local_port(port: u16) -> i32 {
    let tcp = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    let inode = tcp
        .lines()
        .skip(1)
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields[1].rsplit(':').next()?, 16).ok()?;
            (local_port == port).then(|| fields[9].to_owned())
        })
        .expect("no socket with that local port");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .find_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            (target.to_str()? == format!("socket:[{inode}]"))
                .then(|| e.file_name().to_str()?.parse().ok())?
        })
        .expect("no descriptor for that socket")
}

#[tokio::test]
async fn the_pools_sockets_notice_a_dead_peer_in_well_under_a_minute() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    let port: i32 = pool
        .execute(async |c| {
            c.query_one(
                "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map(|r| r.get(0))
        })
        .await
        .unwrap();
    let fd = socket_with_local_port(port as u16);
    assert_eq!(sockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
    let idle = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE);
    let interval = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL);
    let probes = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT);
    let user_timeout_ms = sockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT);
    // An idle connection to a dead peer: found after idle + probes x interval.
    let idle_detection = idle + probes * interval;
    assert!(
        idle_detection <= 30,
        "an idle dead peer is noticed after {idle_detection} s ({idle} + {probes} x {interval})"
    );
    // Unacknowledged data (a query sent to a dead peer): TCP_USER_TIMEOUT, else ~15 minutes
    // of retransmissions.
    assert!(
        user_timeout_ms > 0 && user_timeout_ms <= 30_000,
        "TCP_USER_TIMEOUT is {user_timeout_ms} ms"
    );
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_by_the_server_and_the_connection_stays() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        statement_timeout: Some(Duration::from_millis(300)),
        ..crate::fixed(1)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let pid = async |pool: &postgres::PgPool| -> i32 {
        pool.execute(async |c| {
            c.query_one("SELECT pg_backend_pid()", &[])
                .await
                .map(|r| r.get(0))
        })
        .await
        .unwrap()
    };
    let before = pid(&pool).await;
    let started = Instant::now();
    let err = pool
        .execute(async |c| c.execute("SELECT pg_sleep(5)", &[]).await)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err.query_error().and_then(|e| e.code()),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
    assert!(!err.is_unavailable(), "a slow query is the caller's: {err}");
    assert_eq!(pid(&pool).await, before, "the connection was replaced");
}

/// The server stops answering under load (SIGSTOP: the kernel still acknowledges TCP, so
/// neither keepalive nor TCP_USER_TIMEOUT notice anything): every call still ends within its
/// bound with a typed error, and the pool serves again once the server resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_every_call_in_bounded_time_and_the_pool_recovers() {
    let mut pg = LocalPostgres::start().await.unwrap();
    let statement_timeout = Duration::from_millis(500);
    let acquire_timeout = Duration::from_secs(1);
    let cfg = PoolConfig {
        statement_timeout: Some(statement_timeout),
        acquire_timeout,
        connect_timeout: Duration::from_secs(1),
        ..config(4)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (pool, stop) = (pool.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let r = pool
                    .execute(async |c| {
                        c.query_one("SELECT 1", &[])
                            .await
                            .map(|r| r.get::<_, i32>(0))
                    })
                    .await;
                outcomes.push((started, started.elapsed(), r.map_err(|e| e.to_string())));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.pause();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.resume();
    let resumed = Instant::now();
    let deadline = resumed + Duration::from_secs(10);
    loop {
        let r = pool
            .execute(async |c| {
                c.query_one("SELECT 1", &[])
                    .await
                    .map(|r| r.get::<_, i32>(0))
            })
            .await;
        if r.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving 10 s after SIGCONT: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // A call ends by the longer of its two bounds: waiting for a connection (acquire timeout)
    // or for an answer (statement timeout + 1 s); a loaded machine gets a second more.
    let bound =
        acquire_timeout.max(statement_timeout + Duration::from_secs(1)) + Duration::from_secs(1);
    let mut failed = 0;
    for w in workers {
        for (_, took, outcome) in w.await.unwrap() {
            assert!(took <= bound, "a call took {took:?}: {outcome:?}");
            if let Err(e) = outcome {
                failed += 1;
                assert!(
                    e.contains("timeout waiting for server")
                        || e.contains("no database connection within")
                        || e.contains("cannot connect"),
                    "untyped failure: {e}"
                );
            }
        }
    }
    assert!(failed > 0, "no call failed while the server was stopped");
}
