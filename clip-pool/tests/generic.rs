//! The pool over a manager that is not PostgreSQL: any bb8 manager works.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use clip_pool::{BuildError, Pool, PoolConfig, PoolError, PoolHealth, ReplicatedPool};

/// Connections are numbers; the "server" can be switched off.
#[derive(Default)]
struct Numbers {
    next: AtomicU32,
    down: Arc<AtomicBool>,
    /// Connection attempts never answer (a host that drops packets).
    hang: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("number server is down")]
struct Down;

impl bb8::ManageConnection for Numbers {
    type Connection = u32;
    type Error = Down;
    async fn connect(&self) -> Result<u32, Down> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(Down);
        }
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }
    async fn is_valid(&self, _: &mut u32) -> Result<(), Down> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u32) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

fn cfg() -> PoolConfig {
    PoolConfig {
        min_connections: 2,
        pool_size: 3,
        max_connections: 4,
        acquire_timeout: Duration::from_millis(300),
        maintenance_interval: Duration::from_millis(20),
        ..PoolConfig::default()
    }
}

#[tokio::test]
async fn warms_the_floor_then_grows_to_the_target() {
    let pool = Pool::new(Numbers::default(), cfg()).await.unwrap();
    assert!(pool.stats().connections >= 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pool.stats().connections, 3, "{:?}", pool.stats());
    // Idle connections are lent longest-idle first: consecutive calls rotate over them.
    let first: u32 = pool.execute(async |n| Ok::<_, Down>(*n)).await.unwrap();
    let second: u32 = pool.execute(async |n| Ok::<_, Down>(*n)).await.unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_dead_server_fails_fast_and_the_pool_recovers() {
    let manager = Numbers::default();
    let down = manager.down.clone();
    let pool = Pool::new(manager, cfg()).await.unwrap();
    down.store(true, Ordering::SeqCst);
    let err = pool.execute(async |n| Ok::<_, Down>(*n)).await.unwrap_err();
    assert!(matches!(err, PoolError::Connect(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot connect to the database: number server is down"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.health().0, PoolHealth::Down);
    down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.execute(async |n| Ok::<_, Down>(*n)).await.unwrap();
    assert!(pool.health().0.is_serving());
}

#[tokio::test]
async fn an_idle_pool_reads_down_when_its_connections_die() {
    let manager = Numbers::default();
    let down = manager.down.clone();
    let pool = Pool::new(manager, cfg()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.stats().connections, 3);
    // No traffic: the dead connections are found by the maintenance task alone.
    down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = pool.stats();
    assert_eq!((s.connections, s.connections_closed), (0, 3), "{s:?}");
    assert_eq!(pool.health().0, PoolHealth::Down, "{:?}", pool.health());
}

#[tokio::test]
async fn reads_skip_an_exhausted_replica_without_waiting_for_it() {
    let primary = Pool::new(Numbers::default(), cfg()).await.unwrap();
    let replica_cfg = PoolConfig {
        name: "replica-0".into(),
        min_connections: 1,
        pool_size: 1,
        max_connections: 1,
        acquire_timeout: Duration::from_secs(1),
        exhausted_after: Duration::from_millis(50),
        ..cfg()
    };
    let replica = Pool::new(Numbers::default(), replica_cfg).await.unwrap();
    let db = ReplicatedPool::new(primary.clone(), vec![replica.clone()]);
    // A slow report holds the replica's only connection.
    let holder = tokio::spawn(async move {
        replica
            .execute(async |_| {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok::<_, Down>(())
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    db.read(async |_| Ok::<_, Down>(())).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "the read waited {:?} for an exhausted replica",
        started.elapsed()
    );
    assert_eq!(primary.stats().acquisitions, 1);
    holder.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_shared_call_dropped_mid_way_counts_as_a_shared_error() {
    let pool = Pool::new(Numbers::default(), cfg()).await.unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(50),
        pool.execute_shared(async |_| {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Down>(())
        }),
    )
    .await;
    assert!(cut.is_err());
    pool.execute_shared(async |_| Err::<(), _>(Down))
        .await
        .unwrap_err();
    let s = pool.stats();
    assert_eq!(
        (s.shared_calls, s.shared_errors, s.in_use),
        (2, 2, 0),
        "{s:?}"
    );
    // Neither closed its connection: a dropped call's connection drains back to the pool, and
    // the closure's own error says nothing about the connection.
    assert_eq!(
        (s.completed, s.query_errors, s.connections_closed),
        (2, 0, 0),
        "{s:?}"
    );
    assert_eq!(
        s.acquisitions,
        s.completed + s.query_errors + s.cancelled_running
    );
}

#[tokio::test]
async fn building_against_a_dead_server_returns_its_error() {
    let manager = Numbers::default();
    manager.down.store(true, Ordering::SeqCst);
    let err = Pool::new(manager, cfg()).await.unwrap_err();
    assert!(matches!(err, BuildError::Connect(_)), "{err}");
    let bad = PoolConfig {
        pool_size: 9,
        ..cfg()
    };
    let err = Pool::new(Numbers::default(), bad).await.unwrap_err();
    assert!(err.to_string().contains("DB_POOL_SIZE"), "{err}");
}

#[tokio::test]
async fn an_acquire_timeout_too_large_for_a_deadline_is_refused_not_a_panic() {
    // `execute` computes `Instant::now() + acquire_timeout`: with u64::MAX milliseconds that
    // addition panics, so the pool must refuse the value when it is built.
    let huge = PoolConfig {
        acquire_timeout: Duration::from_millis(u64::MAX),
        ..cfg()
    };
    let err = Pool::new(Numbers::default(), huge).await.unwrap_err();
    assert!(err.to_string().contains("DB_ACQUIRE_TIMEOUT"), "{err}");
    let huge = PoolConfig {
        max_lifetime: Some(Duration::MAX),
        ..cfg()
    };
    let err = Pool::new(Numbers::default(), huge).await.unwrap_err();
    assert!(err.to_string().contains("DB_MAX_LIFETIME"), "{err}");
}

#[tokio::test]
async fn maintenance_keeps_its_period_while_a_connection_attempt_hangs() {
    let manager = Numbers::default();
    let hang = manager.hang.clone();
    let cfg = PoolConfig {
        min_connections: 1,
        acquire_timeout: Duration::from_secs(3),
        leak_threshold: Some(Duration::from_millis(100)),
        ..cfg()
    };
    let pool = Pool::new(manager, cfg).await.unwrap();
    // The pool now wants to grow to its target, and that attempt hangs for the connect
    // timeout (3 s); leak warnings, health and gauges must not wait for it.
    hang.store(true, Ordering::SeqCst);
    pool.execute(async |_| {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok::<_, Down>(())
    })
    .await
    .unwrap();
    assert_eq!(pool.stats().leak_warnings, 1, "{:?}", pool.stats());
    assert_eq!(pool.stats().connecting, 1);
}

#[tokio::test]
async fn sustained_saturation_reads_exhausted() {
    let cfg = PoolConfig {
        exhausted_after: Duration::from_millis(100),
        acquire_timeout: Duration::from_secs(2),
        ..cfg()
    };
    let pool = Pool::new(Numbers::default(), cfg).await.unwrap();
    let mut holders = Vec::new();
    for _ in 0..4 {
        let pool = pool.clone();
        holders.push(tokio::spawn(async move {
            pool.execute(async |_| {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok::<_, Down>(())
            })
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (health, why) = pool.health();
    assert_eq!(health, PoolHealth::Exhausted, "{why}");
    assert!(why.contains("4 of 4 in use"), "{why}");
    for h in holders {
        h.await.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.health().0, PoolHealth::Healthy, "{:?}", pool.health());
}
