//! The health verdict reads what callers live through, not an instant's noise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres;
use clip_pool::{PoolConfig, PoolHealth};

use crate::fixed;

/// Four callers on sixteen connections never wait for one: the pool is healthy, whatever
/// instant the verdict is taken at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_whose_callers_never_wait_reads_healthy() {
    let pg = LocalPostgres::start().await.unwrap();
    let cfg = PoolConfig {
        maintenance_interval: Duration::from_millis(20),
        ..fixed(16)
    };
    let pool = postgres::connect(&pg.url(), cfg).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (pool, stop) = (pool.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                pool.execute(async |c| c.query_one("SELECT 1", &[]).await.map(|_| ()))
                    .await
                    .unwrap();
            }
        }));
    }
    let mut verdicts = Vec::new();
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        verdicts.push(pool.health());
        verdicts.push((pool.stats().health, "last maintenance tick".into()));
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    let unhealthy: Vec<_> = verdicts
        .iter()
        .filter(|(h, _)| *h != PoolHealth::Healthy)
        .collect();
    assert!(
        unhealthy.is_empty(),
        "{} of {} verdicts not healthy, e.g. {:?}",
        unhealthy.len(),
        verdicts.len(),
        unhealthy.first()
    );
}
