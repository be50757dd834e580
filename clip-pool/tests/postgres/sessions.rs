//! No state crosses borrowers: what one closure leaves in its session (an open or aborted
//! transaction; with the full reset, settings too) never reaches the next borrower.

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgConnection, PgError};

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
