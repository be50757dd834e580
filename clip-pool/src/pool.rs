//! The pooled executor: `Pool::execute` lends a connection to an async closure, with an
//! acquire timeout, fast failure while the database is down, and dirty-connection eviction.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::Manager;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::managed::{Managed, Tracked};
use crate::metrics::PoolMetrics;
use crate::stats::{Counters, PoolHealth, PoolStats, snapshot};
use crate::{BuildError, ConfigError, ConnectError, PoolConfig, PoolError};

/// A pool of connections made by a [`bb8::ManageConnection`], lent to async closures.
///
/// Cheap to clone: clones share the connections, counters and background maintenance,
/// which stops when the last clone is dropped.
pub struct Pool<M: Manager> {
    pub(crate) inner: Arc<Inner<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.inner.config.name)
            .field("stats", &self.stats())
            .finish()
    }
}

pub(crate) struct Inner<M: Manager> {
    pub bb8: bb8::Pool<Managed<M>>,
    pub managed: Managed<M>,
    pub counters: Arc<Counters>,
    pub config: PoolConfig,
    pub metrics: PoolMetrics,
    /// Connections lent to `execute_shared` calls: a `SharedLane<M>`, made on first use
    /// (only pools whose connections are `Sync` can have one, hence the erased type).
    pub shared: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// One permit per connection, handed out in arrival order.
    pub permits: Arc<Semaphore>,
}

/// A connection lent by the pool; given back (or discarded when dirty or broken) on drop.
pub(crate) struct Lent<M: Manager> {
    conn: bb8::PooledConnection<'static, Managed<M>>,
    _permit: OwnedSemaphorePermit,
    counters: Arc<Counters>,
    finished: bool,
}

impl<M: Manager> Lent<M> {
    pub fn tracked(&mut self) -> &mut Tracked<M::Connection> {
        &mut self.conn
    }

    pub fn conn(&self) -> &Tracked<M::Connection> {
        &self.conn
    }

    /// Ends a lending that no single closure ran (a shared lease): counted as completed, or
    /// as an error with the connection closed when it is not known to be clean.
    pub fn finish(&mut self, clean: bool) {
        self.finished = true;
        if clean {
            self.counters.completed.fetch_add(1, Relaxed);
        } else {
            self.conn.dirty = true;
            self.counters.query_errors.fetch_add(1, Relaxed);
        }
    }
}

impl<M: Manager> Drop for Lent<M> {
    fn drop(&mut self) {
        if !self.finished {
            self.counters.cancelled_running.fetch_add(1, Relaxed);
        }
        self.counters.in_use.fetch_sub(1, Relaxed);
    }
}

/// Counts a caller as waiting until it has a connection or gives up.
struct Waiting<'a> {
    counters: &'a Counters,
    outcome_recorded: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.counters.waiting.fetch_sub(1, Relaxed);
        if !self.outcome_recorded {
            self.counters.cancelled_waiting.fetch_add(1, Relaxed);
        }
    }
}

impl<M> Pool<M>
where
    M: Manager,
{
    /// Builds a pool and opens `min_connections` before returning, so a wrong password, an
    /// unknown host or a TLS failure is reported now, as that error.
    pub async fn new(manager: M, config: PoolConfig) -> Result<Self, BuildError> {
        let pool = Self::new_lazy(manager, config)?;
        pool.warm_up().await?;
        Ok(pool)
    }

    /// Builds a pool without connecting: for services that must start while the database
    /// is down. Connections open in the background; calls fail with [`PoolError::Connect`]
    /// until the database answers. Must be called inside a tokio runtime.
    pub fn new_lazy(manager: M, config: PoolConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let counters = Arc::new(Counters::new());
        let manager = Arc::new(manager);
        // Connection attempts never outlast a caller's wait.
        let connect_timeout = config.acquire_timeout;
        let managed = || Managed {
            manager: manager.clone(),
            counters: counters.clone(),
            connect_timeout,
        };
        let bb8 = bb8::Pool::builder()
            .max_size(config.max_connections)
            .min_idle(None)
            // Idle shrinking is ours (down to the steady target, not to zero).
            .idle_timeout(None)
            .max_lifetime(config.max_lifetime)
            .connection_timeout(config.acquire_timeout)
            // One attempt per waiter: a failure reaches the waiters at once instead of being
            // retried with growing back-off, and the next call probes again.
            .retry_connection(false)
            .test_on_check_out(false)
            .queue_strategy(bb8::QueueStrategy::Fifo)
            .build_unchecked(managed());
        let inner = Arc::new(Inner {
            bb8,
            managed: managed(),
            metrics: PoolMetrics::new(&config.name),
            shared: Default::default(),
            permits: Arc::new(Semaphore::new(config.max_connections as usize)),
            counters,
            config,
        });
        crate::monitor::spawn(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// Opens `min_connections` concurrently; fails only when none could be opened.
    async fn warm_up(&self) -> Result<(), BuildError> {
        let want = self.inner.config.min_connections;
        let mut first_error = None;
        let mut opened = 0;
        let attempts = (0..want).map(|_| self.inner.open_one());
        for result in join_all(attempts).await {
            match result {
                Ok(()) => opened += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (opened, first_error) {
            (0, Some(e)) => Err(BuildError::Connect(e)),
            _ => Ok(()),
        }
    }

    /// Runs `f` with a pooled connection and gives the connection back.
    ///
    /// Waits at most the acquire timeout for a connection ([`PoolError::Timeout`]); while
    /// the database is down it fails at once with the real connection error
    /// ([`PoolError::Connect`]); `f`'s own error comes back as [`PoolError::Query`]. If this
    /// future is dropped while `f` runs, the connection is closed rather than reused.
    pub async fn execute<T, E, F>(&self, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        let mut lent = self.acquire().await.map_err(PoolError::from_acquire)?;
        let result = self.run(&mut lent, f).await;
        result.map_err(PoolError::Query)
    }

    pub(crate) async fn run<T, E, F>(&self, lent: &mut Lent<M>, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        let counters = &self.inner.counters;
        let tracked = lent.tracked();
        tracked.dirty = true;
        // The maintenance task reads the lease to warn about leaks: two atomic stores here
        // instead of a timer per call.
        tracked.lease.since_ms.store(counters.now_ms(), Relaxed);
        let result = f(&mut tracked.conn).await;
        tracked.lease.end(&self.inner.config.name, counters);
        // Completed: whatever the closure opened it also closed (a dropped transaction
        // guard rolls back); only a cancelled closure leaves the connection dirty.
        tracked.dirty = false;
        lent.finished = true;
        match &result {
            Ok(_) => counters.completed.fetch_add(1, Relaxed),
            Err(_) => counters.query_errors.fetch_add(1, Relaxed),
        };
        result
    }

    /// Waits for a healthy connection, bounded by the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<Lent<M>, AcquireError> {
        let inner = &*self.inner;
        let c = &*inner.counters;
        c.attempts.fetch_add(1, Relaxed);
        c.waiting.fetch_add(1, Relaxed);
        let mut waiting = Waiting {
            counters: c,
            outcome_recorded: false,
        };
        let started = Instant::now();
        let result = self
            .acquire_until(started + inner.config.acquire_timeout)
            .await;
        waiting.outcome_recorded = true;
        drop(waiting);
        let waited = started.elapsed();
        match result {
            Ok((permit, conn)) => {
                c.acquisitions.fetch_add(1, Relaxed);
                c.wait.record(waited);
                inner.metrics.acquire_seconds.record(waited.as_secs_f64());
                let in_use = c.in_use.fetch_add(1, Relaxed) + 1;
                c.peak_in_use.fetch_max(in_use, Relaxed);
                Ok(Lent {
                    conn,
                    _permit: permit,
                    counters: inner.counters.clone(),
                    finished: false,
                })
            }
            Err(PoolError::Connect(e)) => {
                c.connect_failures.fetch_add(1, Relaxed);
                Err(PoolError::Connect(e))
            }
            Err(PoolError::Timeout { .. }) => {
                c.timeouts.fetch_add(1, Relaxed);
                inner.metrics.timeouts.increment(1);
                Err(PoolError::Timeout {
                    waited,
                    waiting: c.waiting.load(Relaxed) as usize,
                    max_connections: inner.config.max_connections,
                })
            }
        }
    }

    async fn acquire_until(
        &self,
        deadline: Instant,
    ) -> Result<
        (
            OwnedSemaphorePermit,
            bb8::PooledConnection<'static, Managed<M>>,
        ),
        AcquireError,
    > {
        let inner = &*self.inner;
        // While the database is known to be down, fail at once with its error; one call per
        // back-off period goes through and probes.
        if let Some(e) = inner.counters.failing_since(inner.config.reconnect_backoff) {
            return Err(PoolError::Connect(e));
        }
        // bb8 lets a caller that arrives as a connection comes back take it ahead of the
        // waiter it woke, so under load some waiters starve until they time out. A fair
        // (FIFO) semaphore with one permit per connection puts callers in line first.
        let permit = self
            .wait_for(deadline, inner.permits.clone().acquire_owned())
            .await?
            .map_err(|_| AcquireError::timeout())?;
        loop {
            let mut conn = self
                .wait_for(deadline, inner.bb8.get_owned())
                .await?
                .map_err(|_| AcquireError::timeout())?;
            // A connection the server closed (restart, failover, idle kill) is evicted here,
            // before the caller sees it.
            if inner.managed.manager.has_broken(&mut conn.conn) {
                conn.dirty = true;
                continue;
            }
            return Ok((permit, conn));
        }
    }

    /// Awaits `wait` until the deadline, giving up early when nothing is open and a
    /// connection attempt fails: waiting longer would be pointless.
    async fn wait_for<T>(
        &self,
        deadline: Instant,
        wait: impl Future<Output = T>,
    ) -> Result<T, AcquireError> {
        let inner = &*self.inner;
        let mut wait = pin!(tokio::time::timeout_at(deadline.into(), wait));
        // Fast path: ready at once (an idle connection, a free permit), no notification needed.
        if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx))).await
        {
            return r.map_err(|_| AcquireError::timeout());
        }
        loop {
            let failed = inner.counters.connect_failed.notified();
            let mut failed = pin!(failed);
            failed.as_mut().enable();
            if let Some(e) = inner.counters.failing_since(inner.config.reconnect_backoff) {
                return Err(PoolError::Connect(e));
            }
            tokio::select! {
                biased;
                r = &mut wait => return r.map_err(|_| AcquireError::timeout()),
                () = failed => {
                    if let Some(e) = inner.counters.failing_since(inner.config.reconnect_backoff) {
                        return Err(PoolError::Connect(e));
                    }
                }
            }
        }
    }

    /// A snapshot of sizes, counters and wait latency: atomic loads only.
    pub fn stats(&self) -> PoolStats {
        let cfg = &self.inner.config;
        snapshot(
            &cfg.name,
            (cfg.min_connections, cfg.pool_size, cfg.max_connections),
            &self.inner.counters,
        )
    }

    /// The guide's verdict (healthy, degraded, exhausted, down) and why, as of now.
    pub fn health(&self) -> (PoolHealth, String) {
        crate::monitor::assess(&self.inner, &self.stats())
    }

    /// The configuration this pool runs with.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The last connection error, if the last attempt failed.
    pub fn last_connect_error(&self) -> Option<ConnectError> {
        let c = &self.inner.counters;
        (c.connect_failed_at_ms.load(Relaxed) != 0)
            .then(|| c.last_connect_error())
            .flatten()
    }
}

impl<M: Manager> Inner<M> {
    /// Opens one connection and hands it to bb8 (dropped when the pool is already full).
    pub async fn open_one(&self) -> Result<(), ConnectError> {
        let conn = self.managed.open().await?;
        // A full pool refuses it; dropping it closes it.
        let _ = self.bb8.add(conn);
        Ok(())
    }
}

/// Why no connection could be lent: a `PoolError` with no closure error possible.
pub(crate) type AcquireError = PoolError<std::convert::Infallible>;

impl AcquireError {
    /// A timeout whose figures `acquire` fills in.
    fn timeout() -> Self {
        PoolError::Timeout {
            waited: Duration::ZERO,
            waiting: 0,
            max_connections: 0,
        }
    }
}

impl<E> PoolError<E> {
    pub(crate) fn from_acquire(e: AcquireError) -> Self {
        e.map_query(|never| match never {})
    }
}

/// Awaits futures concurrently, keeping the results in input order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
