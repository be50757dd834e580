//! `execute` overhead against raw `bb8::Pool::get` plus the same query, on one connection
//! to a local PostgreSQL; and the cost of `stats()`.

use clip_pool::PoolConfig;
use clip_pool::launcher::LocalPostgres;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pg = rt.block_on(LocalPostgres::start()).expect("local postgres");
    let one = PoolConfig {
        min_connections: 1,
        pool_size: 1,
        max_connections: 1,
        ..PoolConfig::default()
    };
    let ours = rt
        .block_on(clip_pool::postgres::connect(&pg.url(), one.clone()))
        .expect("pool");
    let raw = rt.block_on(async {
        let config: tokio_postgres::Config = pg.url().parse().expect("url");
        let manager = bb8_postgres::PostgresConnectionManager::new(config, tokio_postgres::NoTls);
        bb8::Pool::builder()
            .max_size(1)
            .build(manager)
            .await
            .expect("bb8 pool")
    });
    let raw_statement = rt.block_on(async {
        let conn = raw.get().await.expect("connection");
        conn.prepare("SELECT 1").await.expect("prepare")
    });

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
    g.bench_function("raw_bb8_get_and_query", |b| {
        b.to_async(&rt).iter(|| async {
            let conn = raw.get().await.expect("get");
            let row = conn.query_one(&raw_statement, &[]).await.expect("query");
            row.get::<_, i32>(0)
        })
    });
    g.finish();

    c.bench_function("stats", |b| b.iter(|| std::hint::black_box(ours.stats())));
}

criterion_group!(benches, bench);
criterion_main!(benches);
