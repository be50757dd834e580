use clip_pool::PoolError;
use clip_pool::launcher::{LocalPgbouncer, LocalPostgres};
use clip_pool::postgres::{self, StatementMode};

use crate::fixed;

/// pgbouncer in transaction mode with two server connections shared by four clients.
async fn bouncer() -> (LocalPostgres, LocalPgbouncer) {
    let pg = LocalPostgres::start().await.unwrap();
    let bouncer = LocalPgbouncer::start(&pg, "transaction", 2).await.unwrap();
    (pg, bouncer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transaction_pooler_mode_works_through_pgbouncer() {
    let (_pg, bouncer) = bouncer().await;
    let pool = postgres::connect(
        &bouncer.url_with("sslmode=disable&pgbouncer=true"),
        fixed(4),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            pool.execute(async |c| {
                assert_eq!(c.statement_mode(), StatementMode::TransactionPooler);
                let a = c
                    .query_one("SELECT $1::int8 + 1", &[&i])
                    .await?
                    .get::<_, i64>(0);
                let b: String = c
                    .query_one("SELECT $1::text || '!'", &[&"hi"])
                    .await?
                    .get(0);
                Ok::<_, postgres::PgError>((a, b))
            })
            .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let (a, b) = t.await.unwrap().unwrap();
        assert_eq!((a, b.as_str()), (i as i64 + 1, "hi!"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_mode_fails_through_pgbouncer_and_says_why() {
    let (_pg, bouncer) = bouncer().await;
    let pool = postgres::connect(&bouncer.url_with("sslmode=disable"), fixed(4))
        .await
        .unwrap();
    // A statement prepared on one server connection is missing on the other: as soon as
    // a Bind lands elsewhere than its Parse, the call fails, with the explanation.
    let mut explained = 0;
    for _round in 0..20 {
        let mut tasks = Vec::new();
        for i in 0..16i64 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                pool.execute(async |c| {
                    c.query_one("SELECT $1::int8, pg_sleep(0.001)", &[&i])
                        .await
                        .map(|_| ())
                })
                .await
            }));
        }
        for t in tasks {
            if let Err(PoolError::Query(e)) = t.await.unwrap() {
                assert!(e.to_string().contains("pgbouncer=true"), "{e}");
                assert!(e.hint().is_some());
                explained += 1;
            }
        }
        if explained > 0 {
            break;
        }
    }
    assert!(
        explained > 0,
        "named statements through a transaction pooler should have clashed"
    );
}
