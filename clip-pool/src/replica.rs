//! Read replicas: reads go to a healthy replica (round robin), writes to the primary; a
//! replica that cannot lend a connection is skipped and the read falls back to the primary.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::Manager;
use crate::{Pool, PoolError, PoolStats};

/// A primary pool and its read-replica pools.
pub struct ReplicatedPool<M: Manager> {
    primary: Pool<M>,
    replicas: Arc<[Pool<M>]>,
    next: Arc<AtomicUsize>,
}

impl<M: Manager> Clone for ReplicatedPool<M> {
    fn clone(&self) -> Self {
        Self {
            primary: self.primary.clone(),
            replicas: self.replicas.clone(),
            next: self.next.clone(),
        }
    }
}

/// Stats of the primary and of each replica.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicatedStats {
    /// The primary's pool.
    pub primary: PoolStats,
    /// Each replica's pool, in the order given.
    pub replicas: Vec<PoolStats>,
}

impl<M> ReplicatedPool<M>
where
    M: Manager,
{
    /// Combines pools built separately (each with its own config and name).
    pub fn new(primary: Pool<M>, replicas: Vec<Pool<M>>) -> Self {
        Self {
            primary,
            replicas: replicas.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs a write (or a read that must see the latest writes) on the primary.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        self.primary.execute(f).await
    }

    /// Runs a read on the next replica that can lend a connection, else on the primary.
    ///
    /// A replica whose health reads down or exhausted (as of its last maintenance tick) is
    /// skipped at once (no wait); one that cannot lend a connection within its own acquire
    /// timeout is skipped too, so give replica pools a short `acquire_timeout`. `f` runs once, on the first connection
    /// obtained; its own error is not retried elsewhere.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        let n = self.replicas.len();
        let start = if n == 0 {
            0
        } else {
            self.next.fetch_add(1, Relaxed) % n
        };
        for i in 0..n {
            let replica = &self.replicas[(start + i) % n];
            // The last maintenance verdict: an exhausted replica would make this read wait
            // its whole acquire timeout before falling back; a down one is skipped at once.
            let health = replica.last_health();
            if !health.is_serving() {
                tracing::debug!(replica = %replica.config().name, ?health, "replica skipped");
                continue;
            }
            match replica.acquire().await {
                Ok(mut lent) => return replica.run(&mut lent, f).await,
                Err(e) => {
                    tracing::debug!(replica = %replica.config().name, error = ?e, "replica skipped, trying the next");
                }
            }
        }
        self.primary.execute(f).await
    }

    /// The primary pool.
    pub fn primary(&self) -> &Pool<M> {
        &self.primary
    }

    /// The replica pools.
    pub fn replicas(&self) -> &[Pool<M>] {
        &self.replicas
    }

    /// Stats of every pool.
    pub fn stats(&self) -> ReplicatedStats {
        ReplicatedStats {
            primary: self.primary.stats(),
            replicas: self.replicas.iter().map(Pool::stats).collect(),
        }
    }
}
