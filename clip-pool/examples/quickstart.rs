//! The pool in five minutes: connect, run queries concurrently, read stats and health.
//!
//! `DATABASE_URL=postgres://… cargo run -p clip-pool --features launcher --example quickstart`
//! Without `DATABASE_URL` it starts a throwaway local PostgreSQL first.

use clip_pool::PoolConfig;
use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::PgError;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _local) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let pg = LocalPostgres::start().await?;
            println!("started a local PostgreSQL on 127.0.0.1:{}", pg.port());
            (pg.url(), Some(pg))
        }
    };
    let cfg = PoolConfig::from_env()?; // DB_* / VITE_DB_* variables, guide defaults otherwise
    let pool = clip_pool::postgres::connect(&url, cfg).await?;

    pool.execute(async |c| {
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS projects (id serial PRIMARY KEY, title text NOT NULL)",
        )
        .await
        .map_err(PgError::from)
    })
    .await?;

    let mut tasks = Vec::new();
    for i in 0..50 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let title = format!("clip #{i}");
            pool.execute(async |c| {
                c.query_one(
                    "INSERT INTO projects (title) VALUES ($1) RETURNING id",
                    &[&title],
                )
                .await
                .map(|r| r.get::<_, i32>(0))
            })
            .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let count: i64 = pool
        .execute_shared(async |c| {
            c.query_one("SELECT count(*) FROM projects", &[])
                .await
                .map(|r| r.get(0))
        })
        .await?;
    println!("projects: {count}");

    let (health, why) = pool.health();
    println!("health: {health:?} ({why})");
    // PoolStats is serde::Serialize: an admin endpoint serves it as JSON as it is.
    println!("{:#?}", pool.stats());
    Ok(())
}
