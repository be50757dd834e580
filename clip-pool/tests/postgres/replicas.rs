use std::time::{Duration, Instant};

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgError};

use crate::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_replica_writes_to_the_primary_and_reads_fall_back() {
    let primary = LocalPostgres::start().await.unwrap();
    let mut replica = primary.start_replica().await.unwrap();
    let pool = postgres::connect_replicated(&primary.url(), &[&replica.url()], config(4))
        .await
        .unwrap();
    let in_recovery = async |c: &mut postgres::PgConnection| {
        c.query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map(|r| r.get::<_, bool>(0))
    };

    assert!(
        pool.read(in_recovery).await.unwrap(),
        "a read must land on the replica"
    );
    assert!(
        !pool.write(in_recovery).await.unwrap(),
        "a write must land on the primary"
    );
    pool.write(async |c| {
        c.batch_execute("CREATE TABLE r (v int); INSERT INTO r VALUES (7)")
            .await
    })
    .await
    .unwrap();
    // Streaming replication brings the row over.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = pool
            .read(async |c| {
                c.client()
                    .query_opt("SELECT v FROM r", &[])
                    .await
                    .map(|r| r.map(|r| r.get::<_, i32>(0)))
                    .map_err(PgError::from)
            })
            .await;
        if let Ok(Some(7)) = got {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row never reached the replica: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    replica.stop().await.unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        assert!(
            !pool.read(in_recovery).await.unwrap(),
            "reads must fall back to the primary"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let stats = pool.stats();
    assert_eq!(stats.replicas.len(), 1);
    assert!(stats.replicas[0].connect_failures > 0, "{stats:?}");
}
