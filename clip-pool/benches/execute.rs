//! One connection to a local PostgreSQL, `SELECT 1` (a round trip each), measured:
//!
//! - `execute` against raw `bb8::Pool::get` with bb8's check-out test off (what bb8 costs
//!   when it does no more than lend), and the cost of `stats()`;
//! - what the session reset between borrowers costs, per option: the default after a closure
//!   that used only the connection's own methods (nothing to do), after one that used the raw
//!   client (a round trip asks whether a transaction is open), `DB_RESET=full`, and a
//!   transaction through `begin()`; and, for comparison, the same statements sent by hand on
//!   a bare client (a `ROLLBACK` after every call, the check, `DISCARD ALL`).

use clip_pool::launcher::LocalPostgres;
use clip_pool::{PoolConfig, ResetPolicy};
use criterion::{Criterion, criterion_group, criterion_main};

fn one_connection(reset: ResetPolicy) -> PoolConfig {
    PoolConfig {
        min_connections: 1,
        pool_size: 1,
        max_connections: 1,
        reset,
        ..PoolConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pg = rt.block_on(LocalPostgres::start()).expect("local postgres");
    let connect = |reset| {
        rt.block_on(clip_pool::postgres::connect(
            &pg.url(),
            one_connection(reset),
        ))
        .expect("pool")
    };
    let ours = connect(ResetPolicy::Transaction);
    let full = connect(ResetPolicy::Full);
    let raw = rt.block_on(async {
        let config: tokio_postgres::Config = pg.url().parse().expect("url");
        let manager = bb8_postgres::PostgresConnectionManager::new(config, tokio_postgres::NoTls);
        bb8::Pool::builder()
            .max_size(1)
            .test_on_check_out(false)
            .build(manager)
            .await
            .expect("bb8 pool")
    });
    let raw_statement = rt.block_on(async {
        let conn = raw.get().await.expect("connection");
        conn.prepare("SELECT 1").await.expect("prepare")
    });
    let bare = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .expect("client");
        tokio::spawn(connection);
        client
    });
    let bare_statement = rt.block_on(bare.prepare("SELECT 1")).expect("prepare");

    let mut g = c.benchmark_group("select_1_one_connection");
    g.bench_function("clip_pool_execute", |b| {
        b.to_async(&rt).iter(|| async {
            ours.execute(async |c| {
                c.query_one("SELECT 1", &[])
                    .await
                    .map(|r| r.get::<_, i32>(0))
            })
            .await
            .expect("execute")
        })
    });
    g.bench_function("raw_bb8_get_and_query_check_out_test_off", |b| {
        b.to_async(&rt).iter(|| async {
            let conn = raw.get().await.expect("get");
            let row = conn.query_one(&raw_statement, &[]).await.expect("query");
            row.get::<_, i32>(0)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("reset_between_borrowers");
    g.bench_function("default_after_own_methods", |b| {
        b.to_async(&rt).iter(|| async {
            ours.execute(async |c| c.query_one("SELECT 1", &[]).await.map(|_| ()))
                .await
                .expect("execute")
        })
    });
    g.bench_function("default_after_raw_client", |b| {
        b.to_async(&rt).iter(|| async {
            ours.execute(async |c| {
                let s = c.prepare_cached("SELECT 1").await?;
                c.client()
                    .query_one(&s, &[])
                    .await
                    .map(|_| ())
                    .map_err(Into::into)
            })
            .await
            .map_err(|e: clip_pool::PoolError<clip_pool::postgres::PgError>| e)
            .expect("execute")
        })
    });
    g.bench_function("full", |b| {
        b.to_async(&rt).iter(|| async {
            full.execute(async |c| c.query_one("SELECT 1", &[]).await.map(|_| ()))
                .await
                .expect("execute")
        })
    });
    g.bench_function("begin_query_commit", |b| {
        b.to_async(&rt).iter(|| async {
            ours.execute(async |c| {
                let tx = c.begin().await?;
                tx.query_one("SELECT 1", &[]).await?;
                tx.commit().await
            })
            .await
            .expect("execute")
        })
    });
    g.bench_function("bare_client_query", |b| {
        b.to_async(&rt).iter(|| async {
            bare.query_one(&bare_statement, &[]).await.expect("query");
        })
    });
    g.bench_function("bare_client_query_then_rollback", |b| {
        b.to_async(&rt).iter(|| async {
            bare.query_one(&bare_statement, &[]).await.expect("query");
            // Outside a transaction: a WARNING each time, in the server's log too.
            bare.batch_execute("ROLLBACK").await.expect("rollback");
        })
    });
    g.bench_function("bare_client_query_then_discard_all", |b| {
        b.to_async(&rt).iter(|| async {
            bare.query_one("SELECT 1", &[]).await.expect("query");
            bare.batch_execute("DISCARD ALL").await.expect("discard");
        })
    });
    g.finish();

    c.bench_function("stats", |b| b.iter(|| std::hint::black_box(ours.stats())));
}

criterion_group!(benches, bench);
criterion_main!(benches);
