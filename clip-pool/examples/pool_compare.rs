//! `SELECT 1` for a fixed time against one local PostgreSQL, in one run, five ways:
//!
//! - clip-pool `execute` (16 connections, 64 tasks, a connection per call, the natural
//!   `c.query_one("SELECT 1", &[])`);
//! - deadpool-postgres (16 connections, 64 tasks, its `prepare_cached`);
//! - raw tokio-postgres (16 clients, a prepared statement each, one query at a time, no pool);
//! - clip-pool `execute_shared` (16 connections, 64 tasks, calls pipelined);
//! - `pgbench -M prepared -c 16 -j 2`.
//!
//! The machine is shared, so the runs alternate: each round runs every side once, in an order
//! that rotates from round to round, and the ratios are taken round by round (both sides of a
//! ratio ran within seconds of each other) and summarised by their median. Ends with
//! `pool ratio=X`: the pipelined mode against pgbench.
//!
//! `cargo run --release -p clip-pool --features launcher --example pool_compare -- [seconds] [rounds] [sides]`
//!
//! `sides` (for profiling one of them) is a comma-separated subset of
//! `execute,deadpool,raw,shared,pgbench`; ratios need both of their sides.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clip_pool::PoolConfig;
use clip_pool::launcher::{LocalPostgres, PASSWORD, USER, postgres_bindir};

const CONNECTIONS: u32 = 16;
const TASKS: usize = 64;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Execute,
    Deadpool,
    Raw,
    Shared,
    Pgbench,
}

const SIDES: [Side; 5] = [
    Side::Execute,
    Side::Deadpool,
    Side::Raw,
    Side::Shared,
    Side::Pgbench,
];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Execute => "execute",
            Side::Deadpool => "deadpool",
            Side::Raw => "raw",
            Side::Shared => "shared",
            Side::Pgbench => "pgbench",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Side::Execute => "clip-pool execute",
            Side::Deadpool => "deadpool-postgres",
            Side::Raw => "raw tokio-postgres",
            Side::Shared => "clip-pool execute_shared",
            Side::Pgbench => "pgbench -M prepared",
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let only: Option<String> = args.next();
    let wanted = |side: Side| {
        only.as_deref()
            .is_none_or(|list| list.split(',').any(|s| s == side.name()))
    };
    let pg = LocalPostgres::start().await?;
    let url = pg.url();

    let cfg = PoolConfig {
        min_connections: CONNECTIONS,
        pool_size: CONNECTIONS,
        max_connections: CONNECTIONS,
        ..PoolConfig::default()
    };
    let ours = clip_pool::postgres::connect(&url, cfg).await?;
    let deadpool = deadpool_pool(&url)?;
    let pgbench_script = tempfile::NamedTempFile::new()?;
    std::fs::write(pgbench_script.path(), "SELECT 1;\n")?;

    // tps[round][side]
    let mut tps = vec![[0.0f64; SIDES.len()]; rounds];
    for (round, row) in tps.iter_mut().enumerate() {
        for i in 0..SIDES.len() {
            let side = SIDES[(i + round) % SIDES.len()];
            if !wanted(side) {
                continue;
            }
            let (rate, cpu) = match side {
                Side::Execute => run_ours(&ours, seconds, false).await?,
                Side::Shared => run_ours(&ours, seconds, true).await?,
                Side::Deadpool => run_deadpool(&deadpool, seconds).await?,
                Side::Raw => run_raw(&url, seconds).await?,
                Side::Pgbench => (run_pgbench(&pg, pgbench_script.path(), seconds)?, None),
            };
            let cpu = cpu.map_or(String::new(), |c| {
                format!("  client CPU {:5.1} us/call", c.as_secs_f64() * 1e6)
            });
            println!(
                "round {}: {:<26} {rate:>9.0} tps{cpu}",
                round + 1,
                side.label()
            );
            row[side as usize] = rate;
        }
    }
    let stats = ours.stats();
    println!(
        "clip-pool acquire wait over all its runs: p50 {:.3} ms, p99 {:.3} ms, max {:.1} ms; timeouts {}",
        stats.acquire_wait.p50_ms,
        stats.acquire_wait.p99_ms,
        stats.acquire_wait.max_ms,
        stats.timeouts
    );
    println!(
        "setup: {CONNECTIONS} connections (raw: {CONNECTIONS} clients), {TASKS} tasks (raw: {CONNECTIONS}), {seconds}s per run, {rounds} rounds, sides alternating"
    );
    for side in SIDES.into_iter().filter(|s| wanted(*s)) {
        let all: Vec<f64> = tps.iter().map(|r| r[side as usize]).collect();
        println!("median {:<26} {:>9.0} tps", side.label(), median(&all));
    }
    let ratio = |a: Side, b: Side| {
        median(
            &tps.iter()
                .map(|r| r[a as usize] / r[b as usize])
                .collect::<Vec<_>>(),
        )
    };
    for (label, a, b) in [
        ("execute/deadpool", Side::Execute, Side::Deadpool),
        ("execute/raw", Side::Execute, Side::Raw),
        ("deadpool/raw", Side::Deadpool, Side::Raw),
        ("exclusive", Side::Execute, Side::Pgbench),
        // Last: the line scripts/compare/pool.sh ends with.
        ("pool", Side::Shared, Side::Pgbench),
    ] {
        if wanted(a) && wanted(b) {
            println!("{label} ratio={:.2}", ratio(a, b));
        }
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU time this process has used (user + system), for the cost per call of each side.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one `rusage` into the zeroed value it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Stops the loops of one run and counts their calls.
#[derive(Clone, Default)]
struct Run {
    done: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

impl Run {
    fn going(&self) -> bool {
        !self.done.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Lets the spawned loops run for `seconds`, stops them; calls per second, and this
    /// process's CPU time per call.
    async fn finish(
        self,
        seconds: u64,
        started: Instant,
        tasks: Vec<tokio::task::JoinHandle<Result<(), BoxError>>>,
    ) -> Result<(f64, Duration), BoxError> {
        let cpu = cpu_time();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        self.done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await??;
        }
        let calls = self.calls.load(Ordering::Relaxed).max(1);
        let per_call = (cpu_time() - cpu) / calls as u32;
        Ok((calls as f64 / started.elapsed().as_secs_f64(), per_call))
    }
}

/// Calls per second, and client CPU per call.
type Measured = (f64, Option<Duration>);

async fn run_ours(
    pool: &clip_pool::postgres::PgPool,
    seconds: u64,
    shared: bool,
) -> Result<Measured, BoxError> {
    let run = Run::default();
    let started = Instant::now();
    let tasks = (0..TASKS)
        .map(|_| {
            let (pool, run) = (pool.clone(), run.clone());
            tokio::spawn(async move {
                while run.going() {
                    let n: i32 = if shared {
                        pool.execute_shared(async |c| {
                            c.query_one("SELECT 1", &[]).await.map(|r| r.get(0))
                        })
                        .await?
                    } else {
                        pool.execute(async |c| c.query_one("SELECT 1", &[]).await.map(|r| r.get(0)))
                            .await?
                    };
                    std::hint::black_box(n);
                    run.count();
                }
                Ok(())
            })
        })
        .collect();
    run.finish(seconds, started, tasks)
        .await
        .map(|(rate, cpu)| (rate, Some(cpu)))
}

fn deadpool_pool(url: &str) -> Result<deadpool_postgres::Pool, BoxError> {
    let config: tokio_postgres::Config = url.parse()?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(CONNECTIONS as usize)
        .build()?)
}

async fn run_deadpool(pool: &deadpool_postgres::Pool, seconds: u64) -> Result<Measured, BoxError> {
    let run = Run::default();
    let started = Instant::now();
    let tasks = (0..TASKS)
        .map(|_| {
            let (pool, run) = (pool.clone(), run.clone());
            tokio::spawn(async move {
                while run.going() {
                    let client = pool.get().await?;
                    let statement = client.prepare_cached("SELECT 1").await?;
                    let n: i32 = client.query_one(&statement, &[]).await?.get(0);
                    std::hint::black_box(n);
                    run.count();
                }
                Ok(())
            })
        })
        .collect();
    run.finish(seconds, started, tasks)
        .await
        .map(|(rate, cpu)| (rate, Some(cpu)))
}

async fn run_raw(url: &str, seconds: u64) -> Result<Measured, BoxError> {
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let statement = client.prepare("SELECT 1").await?;
        clients.push((client, statement));
    }
    let run = Run::default();
    let started = Instant::now();
    let tasks = clients
        .into_iter()
        .map(|(client, statement)| {
            let run = run.clone();
            tokio::spawn(async move {
                while run.going() {
                    let n: i32 = client.query_one(&statement, &[]).await?.get(0);
                    std::hint::black_box(n);
                    run.count();
                }
                Ok(())
            })
        })
        .collect();
    run.finish(seconds, started, tasks)
        .await
        .map(|(rate, cpu)| (rate, Some(cpu)))
}

fn run_pgbench(
    pg: &LocalPostgres,
    script: &std::path::Path,
    seconds: u64,
) -> Result<f64, BoxError> {
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
        .arg(script)
        .arg("postgres")
        .env("PGPASSWORD", PASSWORD)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "pgbench printed no tps:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into()
        })
}
