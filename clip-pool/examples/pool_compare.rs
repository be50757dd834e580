//! `SELECT 1` for a fixed time through clip-pool (16 connections, 64 concurrent tasks), with
//! `execute` (a connection per call) and with `execute_shared` (calls pipelined on shared
//! connections), then through `pgbench -M prepared -c 16` against the same local server, in
//! one run. Prints the three rates, `exclusive ratio=X` and `pool ratio=X` (our best mode /
//! pgbench's).
//!
//! `cargo run --release -p clip-pool --features launcher --example pool_compare -- [seconds]`

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clip_pool::PoolConfig;
use clip_pool::launcher::{LocalPostgres, PASSWORD, USER, postgres_bindir};

const CONNECTIONS: u32 = 16;
const TASKS: usize = 64;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pg = LocalPostgres::start().await?;

    let cfg = PoolConfig {
        min_connections: CONNECTIONS,
        pool_size: CONNECTIONS,
        max_connections: CONNECTIONS,
        ..PoolConfig::default()
    };
    let pool = clip_pool::postgres::connect(&pg.url(), cfg).await?;
    let exclusive = run(&pool, seconds, Mode::Exclusive).await?;
    let shared = run(&pool, seconds, Mode::Shared).await?;
    let stats = pool.stats();
    drop(pool);
    println!(
        "clip-pool execute (exclusive): {exclusive:.0} tps ({CONNECTIONS} connections, {TASKS} tasks, {seconds}s)"
    );
    println!(
        "clip-pool execute_shared (pipelined): {shared:.0} tps ({CONNECTIONS} connections, {TASKS} tasks, {seconds}s)"
    );
    println!(
        "acquire wait over both runs: p50 {:.3} ms, p99 {:.3} ms, max {:.1} ms; timeouts {}",
        stats.acquire_wait.p50_ms,
        stats.acquire_wait.p99_ms,
        stats.acquire_wait.max_ms,
        stats.timeouts
    );

    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(script.path(), "SELECT 1;\n")?;
    let out = Command::new(postgres_bindir()?.join("pgbench"))
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &CONNECTIONS.to_string(),
            "-j",
            "2",
        ])
        .args([
            "-T",
            &seconds.to_string(),
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
        ])
        .args(["-U", USER, "-f"])
        .arg(script.path())
        .arg("postgres")
        .env("PGPASSWORD", PASSWORD)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: f64 = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "pgbench printed no tps:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    println!("pgbench -M prepared -c {CONNECTIONS} -j 2: {theirs:.0} tps");
    println!("exclusive ratio={:.2}", exclusive / theirs);
    println!("pool ratio={:.2}", shared.max(exclusive) / theirs);
    Ok(())
}

#[derive(Clone, Copy)]
enum Mode {
    Exclusive,
    Shared,
}

/// `TASKS` tasks running `SELECT 1` in a loop for `seconds`; returns transactions per second.
async fn run(
    pool: &clip_pool::postgres::PgPool,
    seconds: u64,
    mode: Mode,
) -> Result<f64, Box<dyn std::error::Error>> {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..TASKS {
        let (pool, done, count) = (pool.clone(), done.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let one = match mode {
                    Mode::Exclusive => {
                        pool.execute(async |c| {
                            c.query_one("SELECT 1", &[])
                                .await
                                .map(|r| r.get::<_, i32>(0))
                        })
                        .await
                    }
                    Mode::Shared => {
                        pool.execute_shared(async |c| {
                            c.query_one("SELECT 1", &[])
                                .await
                                .map(|r| r.get::<_, i32>(0))
                        })
                        .await
                    }
                };
                one?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, clip_pool::PoolError<clip_pool::postgres::PgError>>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
