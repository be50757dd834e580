//! The bb8 manager the pool really runs: wraps the user's manager to count connections,
//! time-limit and record connection attempts, and discard connections left dirty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::Manager;
use crate::stats::Counters;
use crate::{ConnectError, ConnectTimeout};

/// When a lent connection was lent, for leak warnings by the maintenance task.
#[derive(Default)]
pub(crate) struct Lease {
    /// Millis since the pool's epoch when the closure started; 0 while not lent.
    pub since_ms: AtomicU64,
    /// Whether this lending has already been reported.
    pub warned: AtomicBool,
}

impl Lease {
    /// The closure is done; closes the story of a reported leak.
    pub fn end(&self, pool: &str, counters: &Counters) {
        let since = self.since_ms.swap(0, Relaxed);
        if self.warned.swap(false, Relaxed) {
            tracing::warn!(
                pool,
                held_for = ?Duration::from_millis(counters.now_ms().saturating_sub(since)),
                "connection given back after a leak warning"
            );
        }
    }
}

/// A user's connection as the pool holds it.
pub(crate) struct Tracked<C> {
    pub conn: C,
    /// Set while a closure runs; still set if the closure's future was dropped mid-way,
    /// so the connection is closed instead of reused (it may hold an open transaction or
    /// a half-read result).
    pub dirty: bool,
    pub lease: Arc<Lease>,
    counters: Arc<Counters>,
}

impl<C> Drop for Tracked<C> {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Relaxed);
        self.counters.closed.fetch_add(1, Relaxed);
    }
}

pub(crate) struct Managed<M> {
    pub manager: Arc<M>,
    pub counters: Arc<Counters>,
    pub connect_timeout: Duration,
}

impl<M: Manager> Managed<M> {
    /// One connection attempt, bounded in time, recorded either way.
    pub async fn open(&self) -> Result<Tracked<M::Connection>, ConnectError> {
        let c = &self.counters;
        c.connecting.fetch_add(1, Relaxed);
        let attempt = tokio::time::timeout(self.connect_timeout, self.manager.connect()).await;
        c.connecting.fetch_sub(1, Relaxed);
        let result = match attempt {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(ConnectError::new(e)),
            Err(_) => Err(ConnectError::new(ConnectTimeout(self.connect_timeout))),
        };
        match result {
            Ok(conn) => {
                c.open.fetch_add(1, Relaxed);
                c.created.fetch_add(1, Relaxed);
                c.record_connect_success();
                let lease = Arc::new(Lease::default());
                c.register_lease(&lease);
                Ok(Tracked {
                    conn,
                    dirty: false,
                    lease,
                    counters: c.clone(),
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "database connection attempt failed");
                c.record_connect_failure(e.clone());
                Err(e)
            }
        }
    }
}

impl<M: Manager> bb8::ManageConnection for Managed<M> {
    type Connection = Tracked<M::Connection>;
    type Error = ConnectError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        self.open().await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.manager
            .is_valid(&mut conn.conn)
            .await
            .map_err(ConnectError::new)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.dirty || self.manager.has_broken(&mut conn.conn)
    }
}
