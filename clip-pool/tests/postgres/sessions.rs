//! No state crosses borrowers: what one closure leaves in its session (an open or aborted
//! transaction; with the full reset, settings too) never reaches the next borrower.

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgConnection, PgError};
use clip_pool::{PoolConfig, PoolError, ResetPolicy};

use crate::{fixed, observer};

/// Whether the session is inside a transaction block: a statement that is not the first of
/// its transaction (`now()`, the transaction's start, differs from the statement's start).
/// Over the simple protocol: one message, so outside a block it is its transaction's first.
async fn in_transaction(c: &PgConnection) -> Result<bool, PgError> {
    let messages = c
        .client()
        .simple_query("SELECT now() <> statement_timestamp()")
        .await?;
    Ok(messages.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0) == Some("t"),
        _ => false,
    }))
}

#[tokio::test]
async fn a_raw_begin_left_aborted_by_an_error_does_not_reach_the_next_borrower() {
    let pg = LocalPostgres::start().await.unwrap();
    // One connection: the next borrower gets the very same session.
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    let failed = pool
        .execute(async |c| {
            c.batch_execute("BEGIN").await?;
            c.query_one("SELECT 1/0", &[]).await?; // fails: the transaction is now aborted
            Ok::<_, PgError>(())
        })
        .await;
    assert!(failed.is_err());
    let (one, in_tx) = pool
        .execute(async |c| {
            let one: i32 = c.query_one("SELECT 1", &[]).await?.get(0);
            Ok::<_, PgError>((one, in_transaction(c).await?))
        })
        .await
        .expect("the next borrower must not see 'current transaction is aborted' (25P02)");
    assert_eq!(one, 1);
    assert!(!in_tx, "the next borrower must be outside any transaction");
}

#[tokio::test]
async fn uncommitted_work_is_rolled_back_not_handed_to_the_next_borrower() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    pool.execute(async |c| c.batch_execute("CREATE TABLE t (v int)").await)
        .await
        .unwrap();
    // Returns Ok with the transaction still open: neither committed nor rolled back.
    pool.execute(async |c| {
        c.batch_execute("BEGIN; INSERT INTO t VALUES (1)").await?;
        c.execute("INSERT INTO t VALUES (2)", &[]).await?;
        Ok::<_, PgError>(())
    })
    .await
    .unwrap();
    let (seen, in_tx) = pool
        .execute(async |c| {
            let n: i64 = c.query_one("SELECT count(*) FROM t", &[]).await?.get(0);
            Ok::<_, PgError>((n, in_transaction(c).await?))
        })
        .await
        .unwrap();
    assert_eq!(
        seen, 0,
        "the next borrower saw the previous one's uncommitted rows"
    );
    assert!(!in_tx);
    // And the rows were rolled back, not left pending: another session sees none, and no
    // session of the server holds a transaction open.
    let other = observer(&pg.url()).await;
    let n: i64 = other
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let open: i64 = other
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0, "a pooled session sits idle in a transaction");
}

/// What a borrower may set on its session, and how the next borrower reads it.
const SESSION_STATE: &str = "
    SELECT current_setting('search_path'),
           current_user::text,
           coalesce(current_setting('app.tenant', true), ''),
           (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
           (SELECT count(*) FROM pg_listening_channels()),
           (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
           (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)";

type State = (String, String, String, i64, i64, i64, i64);

async fn session_state(c: &PgConnection) -> Result<State, PgError> {
    let r = c.client().query_one(SESSION_STATE, &[]).await?;
    Ok((
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
    ))
}

/// One borrower changes everything a session holds, through the cached methods and the raw
/// client alike; `lock` is the advisory lock it takes.
async fn leave_state_behind(pool: &postgres::PgPool, lock: i64) {
    pool.execute(async |c| {
        c.execute("SET search_path = elsewhere, public", &[])
            .await?;
        c.execute("SET ROLE tenant_role", &[]).await?;
        c.query_one("SELECT set_config('app.tenant', 'acme', false)", &[])
            .await?;
        c.query_one("SELECT pg_advisory_lock($1)", &[&lock]).await?;
        c.execute("LISTEN jobs", &[]).await?;
        c.client()
            .batch_execute("CREATE TEMP TABLE scratch (v int); PREPARE q AS SELECT 1")
            .await?;
        Ok::<_, PgError>(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_full_reset_clears_everything_the_previous_borrower_set() {
    let pg = LocalPostgres::start().await.unwrap();
    let admin = observer(&pg.url()).await;
    admin
        .batch_execute("CREATE ROLE tenant_role; GRANT tenant_role TO clip")
        .await
        .unwrap();
    let fresh: State = (
        "\"$user\", public".into(),
        "clip".into(),
        String::new(),
        0,
        0,
        0,
        0,
    );

    // The default resets only the transaction: the session's settings stay (documented).
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    leave_state_behind(&pool, 41).await;
    let kept = pool
        .execute(async |c| session_state(c).await)
        .await
        .unwrap();
    assert_eq!(kept.1, "tenant_role", "{kept:?}");

    let full = PoolConfig {
        reset: ResetPolicy::Full,
        ..fixed(1)
    };
    let pool = postgres::connect(&pg.url(), full).await.unwrap();
    leave_state_behind(&pool, 42).await;
    let seen = pool
        .execute(async |c| session_state(c).await)
        .await
        .unwrap();
    assert_eq!(seen, fresh);
    // The advisory lock is free for anyone again.
    let free: bool = admin
        .query_one("SELECT pg_try_advisory_lock(42)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(free);
    // And the statement cache was cleared with the session: nothing of the previous borrower
    // is left prepared on the server.
    // (Over the simple protocol: a query of the extended one would be prepared itself.)
    let prepared = pool
        .execute(async |c| {
            let messages = c
                .client()
                .simple_query("SELECT count(*) FROM pg_prepared_statements")
                .await?;
            Ok::<_, PgError>(messages.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            }))
        })
        .await
        .unwrap();
    assert_eq!(prepared.as_deref(), Some("0"));

    // A transaction left open is rolled back first (DISCARD ALL semantics need that).
    pool.execute(async |c| {
        c.client()
            .batch_execute("BEGIN; SET LOCAL work_mem = '7MB'")
            .await
    })
    .await
    .unwrap();
    let in_tx = pool
        .execute(async |c| in_transaction(c).await)
        .await
        .unwrap();
    assert!(!in_tx);
}

#[tokio::test]
async fn begin_commits_with_cached_statements_and_a_dropped_transaction_rolls_back() {
    let pg = LocalPostgres::start().await.unwrap();
    let pool = postgres::connect(&pg.url(), fixed(1)).await.unwrap();
    pool.execute(async |c| c.client().batch_execute("CREATE TABLE t (v int)").await)
        .await
        .unwrap();
    for i in 0..3 {
        pool.execute(async |c| {
            let tx = c.begin().await?;
            tx.execute("INSERT INTO t VALUES ($1)", &[&i]).await?;
            tx.execute("UPDATE t SET v = v + 10 WHERE v = $1", &[&i])
                .await?;
            tx.commit().await
        })
        .await
        .unwrap();
    }
    // Committed, and the statements prepared once each, not once per transaction.
    let (rows, prepared): (i64, i64) = pool
        .execute(async |c| {
            let rows = c.query_one("SELECT count(*) FROM t", &[]).await?.get(0);
            let prepared = c
                .query_one(
                    "SELECT count(*) FROM pg_prepared_statements \
                     WHERE statement LIKE 'INSERT INTO t%' OR statement LIKE 'UPDATE t%'",
                    &[],
                )
                .await?
                .get(0);
            Ok::<_, PgError>((rows, prepared))
        })
        .await
        .unwrap();
    assert_eq!((rows, prepared), (3, 2));

    // An error inside the transaction, returned with `?`: the transaction is dropped, the
    // pool rolls it back, and the next borrower is outside it.
    let failed = pool
        .execute(async |c| {
            let tx = c.begin().await?;
            tx.execute("INSERT INTO t VALUES (100)", &[]).await?;
            tx.query_one("SELECT 1/0", &[]).await?;
            tx.commit().await
        })
        .await;
    assert!(matches!(failed, Err(PoolError::Query(_))), "{failed:?}");
    let (rows, in_tx) = pool
        .execute(async |c| {
            let rows: i64 = c.query_one("SELECT count(*) FROM t", &[]).await?.get(0);
            Ok::<_, PgError>((rows, in_transaction(c).await?))
        })
        .await
        .unwrap();
    assert_eq!((rows, in_tx), (3, false));
}
