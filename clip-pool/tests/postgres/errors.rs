//! Errors classify right (the caller's bug or the database's unavailability) and say each
//! cause once.

use std::error::Error;
use std::time::{Duration, Instant};

use clip_pool::launcher::{LocalPostgres, PASSWORD};
use clip_pool::postgres::{self, PgError};
use clip_pool::{PoolConfig, PoolError};

use crate::{config, fixed, observer};

#[tokio::test]
async fn a_connection_lost_inside_a_closure_reads_unavailable() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    // The server goes away mid-call (a restart, a crash, a failover): here an administrator
    // ends this very backend.
    let err = pool
        .execute(async |c| {
            c.query_one("SELECT pg_terminate_backend(pg_backend_pid())", &[])
                .await
                .map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(err, PoolError::ConnectionLost(_)), "{err:?}");
    // The caller's own mistakes still read as such.
    let err = pool
        .execute(async |c| c.query_one("SELECT nonsense", &[]).await)
        .await
        .unwrap_err();
    assert!(!err.is_unavailable(), "{err:?}");
}

/// A primary demoted to a read-only standby (failover without a restart of its clients):
/// writes fail with SQLSTATE 25006, and the connection must not stay in the write pool.
#[tokio::test]
async fn a_read_only_primary_is_evicted_from_the_write_pool() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    pool.execute(async |c| c.batch_execute("CREATE TABLE w (v int)").await)
        .await
        .unwrap();
    let admin = observer(&pg.url()).await;
    admin
        .batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
        .await
        .unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        match pool
            .execute(async |c| c.execute("INSERT INTO w VALUES (1)", &[]).await)
            .await
        {
            Err(e) => break e,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "the reload never reached the backend"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let code = err.query_error().and_then(PgError::code).cloned();
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err}"
    );
    assert!(err.is_unavailable(), "{err:?}");
    // Closed (once its backend has gone), not handed to the next writer.
    let deadline = Instant::now() + Duration::from_secs(2);
    while pool.stats().connections_closed == 0 {
        assert!(Instant::now() < deadline, "{:?}", pool.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Each layer's text, outermost first.
fn layers(e: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s.to_string());
        next = s.source();
    }
    out
}

/// What anyhow's `{:#}` or a tracing error reporter prints: every layer of the chain. A
/// cause repeated in an outer layer's message shows up twice.
fn assert_said_once(e: &(dyn Error + 'static)) {
    let all = layers(e);
    for (i, inner) in all.iter().enumerate().skip(1) {
        for outer in &all[..i] {
            assert!(
                !outer.contains(inner.as_str()),
                "{inner:?} is repeated in the chain {all:#?}"
            );
        }
    }
}

#[tokio::test]
async fn an_error_chain_says_each_cause_once() {
    let pg = LocalPostgres::start().await.unwrap();
    let wrong_password = pg.url().replace(PASSWORD, "wrong");
    let build = postgres::connect(&wrong_password, config(1))
        .await
        .unwrap_err();
    assert_said_once(&build);

    let lazy = postgres::connect_lazy(&wrong_password, config(1)).unwrap();
    let connect = lazy
        .execute(async |c| c.execute("SELECT 1", &[]).await)
        .await
        .unwrap_err();
    assert!(matches!(connect, PoolError::Connect(_)));
    assert_said_once(&connect);

    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    let query = pool
        .execute(async |c| c.query_one("SELECT nonsense", &[]).await)
        .await
        .unwrap_err();
    assert_said_once(&query);
    assert!(query.to_string().contains("nonsense"), "{query}");

    let timeout_cfg = PoolConfig {
        acquire_timeout: Duration::from_millis(50),
        ..fixed(1)
    };
    let busy = postgres::connect(&pg.url(), timeout_cfg).await.unwrap();
    let timeout = busy
        .execute(async |_| {
            Ok::<_, PgError>(
                busy.execute(async |c| c.execute("SELECT 1", &[]).await)
                    .await,
            )
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_said_once(&timeout);
}
