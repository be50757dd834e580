//! The pooled executor: `Pool::execute` lends a connection to an async closure, with an
//! acquire timeout, fast failure while the database is down, a session reset between
//! borrowers, and eviction of connections that broke or were cut short.

use std::collections::VecDeque;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::Manager;
use crate::managed::{Managed, Tracked};
use crate::metrics::PoolMetrics;
use crate::release::Release;
use crate::stats::{Counters, Gate, PoolHealth, PoolStats, Probe, snapshot};
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

/// A connection as bb8 lends it, for as long as the pool holds it.
pub(crate) type Conn<M> = bb8::PooledConnection<'static, Managed<M>>;

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
    /// Session reset and closing for connection types that need them (PostgreSQL).
    pub release: Option<Arc<dyn Release<M::Connection>>>,
    /// Healthy connections nobody holds, longest idle first. Calls take them from here and
    /// give them back here: bb8 opens connections (and closes them) but is not on the path
    /// of every call, which then costs a lock and no clock read.
    pub idle: Mutex<VecDeque<Conn<M>>>,
}

/// A connection lent by the pool, with the permit its borrower holds; given back to the
/// idle queue on drop, or closed when dirty, cut short or broken.
pub(crate) struct Lent<M: Manager> {
    /// Taken out only in `drop`.
    conn: ManuallyDrop<Conn<M>>,
    inner: Arc<Inner<M>>,
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
        let c = &self.inner.counters;
        if !clean {
            self.conn.dirty = true;
            c.query_errors.fetch_add(1, Relaxed);
        }
    }
}

impl<M: Manager> Drop for Lent<M> {
    fn drop(&mut self) {
        let inner = &*self.inner;
        let c = &*inner.counters;
        if !self.finished {
            c.cancelled_running.fetch_add(1, Relaxed);
        }
        c.in_use.fetch_sub(1, Relaxed);
        // SAFETY: `conn` is never used after this: `self` is being dropped.
        let mut conn = unsafe { ManuallyDrop::take(&mut self.conn) };
        if conn.running || conn.dirty || inner.managed.manager.has_broken(conn.user_mut()) {
            // Closed by bb8 (it sees the same), not given back: the permit stays with it
            // until its backend is gone.
            conn.dirty = true;
            conn.parting_permit = Some(inner.permits.clone());
            drop(conn);
            return;
        }
        match inner.idle.lock() {
            Ok(mut idle) => idle.push_back(conn),
            Err(_) => drop(conn), // back to bb8 instead
        }
        inner.permits.add_permits(1);
    }
}

/// A permit taken from the pool's semaphore and not yet handed to a `Lent`: returned if the
/// caller gives up (or its future is dropped) before.
struct Permit<'a> {
    permits: &'a Semaphore,
    held: bool,
}

impl<'a> Permit<'a> {
    fn new(permits: &'a Semaphore, permit: tokio::sync::SemaphorePermit<'a>) -> Self {
        permit.forget();
        Self {
            permits,
            held: true,
        }
    }

    /// The `Lent` owns it from now on.
    fn hand_over(&mut self) {
        self.held = false;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.held {
            self.permits.add_permits(1);
        }
    }
}

/// Counts a caller as waiting from the moment it has to (not while it takes a free
/// connection at once) until it has a connection or gives up.
struct Waiting<'a> {
    counters: &'a Counters,
    blocked: bool,
    outcome_recorded: bool,
}

impl Waiting<'_> {
    fn block(&mut self) {
        if !self.blocked {
            self.blocked = true;
            self.counters.waiting.fetch_add(1, Relaxed);
            self.counters.blocked.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.blocked {
            self.counters.waiting.fetch_sub(1, Relaxed);
        }
        if !self.outcome_recorded {
            self.counters.cancelled_waiting.fetch_add(1, Relaxed);
        }
    }
}

/// Why no connection could be lent: a `PoolError` that cannot carry a closure's error.
pub(crate) type AcquireError = PoolError<std::convert::Infallible>;

/// Why a wait for a permit or a connection ended without one.
pub(crate) enum Refused {
    Timeout,
    Connect(ConnectError),
}

impl<M> Pool<M>
where
    M: Manager,
{
    /// Builds a pool and opens `min_connections` before returning, so a wrong password, an
    /// unknown host or a TLS failure is reported now, as that error.
    pub async fn new(manager: M, config: PoolConfig) -> Result<Self, BuildError> {
        let pool = Self::build(manager, config)?;
        // Before the maintenance task starts: it would see nothing open yet and open the
        // floor a second time.
        pool.warm_up().await?;
        crate::monitor::spawn(Arc::downgrade(&pool.inner));
        crate::monitor::spawn_deadline_ticker(Arc::downgrade(&pool.inner));
        Ok(pool)
    }

    /// Builds a pool without connecting: for services that must start while the database
    /// is down. Connections open in the background; calls fail with [`PoolError::Connect`]
    /// until the database answers. Must be called inside a tokio runtime.
    pub fn new_lazy(manager: M, config: PoolConfig) -> Result<Self, ConfigError> {
        let pool = Self::build(manager, config)?;
        crate::monitor::spawn(Arc::downgrade(&pool.inner));
        crate::monitor::spawn_deadline_ticker(Arc::downgrade(&pool.inner));
        Ok(pool)
    }

    fn build(#[allow(unused_mut)] mut manager: M, config: PoolConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        #[cfg(feature = "postgres")]
        let release = crate::postgres::adapt(&mut manager, &config);
        #[cfg(not(feature = "postgres"))]
        let release = None;
        let counters = Arc::new(Counters::new());
        let manager = Arc::new(manager);
        let managed = || Managed {
            manager: manager.clone(),
            counters: counters.clone(),
            connect_timeout: config.connect_timeout,
            max_lifetime: config.max_lifetime,
            release: release.clone(),
        };
        let bb8 = bb8::Pool::builder()
            .max_size(config.max_connections)
            .min_idle(None)
            // Idle shrinking is ours (down to the steady target, not to zero), and so is the
            // lifetime (each connection's own, jittered).
            .idle_timeout(None)
            .max_lifetime(None)
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
            idle: Mutex::new(VecDeque::with_capacity(config.max_connections as usize)),
            counters,
            config,
            release,
        });
        Ok(Self { inner })
    }

    /// Opens `min_connections` concurrently; fails only when none could be opened.
    async fn warm_up(&self) -> Result<(), BuildError> {
        let want = self.inner.config.min_connections;
        let attempts = (0..want).map(|_| self.inner.open_one());
        let results = futures_util::future::join_all(attempts).await;
        let opened = results.iter().filter(|r| r.is_ok()).count();
        match results.into_iter().find_map(Result::err) {
            Some(e) if opened == 0 => Err(BuildError::Connect(e)),
            _ => Ok(()),
        }
    }

    /// Runs `f` with a pooled connection and gives the connection back.
    ///
    /// Waits at most the acquire timeout for a connection ([`PoolError::Timeout`]); while
    /// the database is down it fails at once with the real connection error
    /// ([`PoolError::Connect`]); `f`'s own error comes back as [`PoolError::Query`], or as
    /// [`PoolError::ConnectionLost`] when the connection broke under it. What `f` leaves in
    /// the session is reset before the next borrower (see [`crate::ResetPolicy`]). If this
    /// future is dropped while `f` runs, the connection is closed rather than reused, and
    /// (PostgreSQL) the server is asked to cancel the running statement.
    pub async fn execute<T, E, F>(&self, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        let mut lent = self.acquire().await.map_err(PoolError::from_acquire)?;
        self.run(&mut lent, f).await
    }

    pub(crate) async fn run<T, E, F>(&self, lent: &mut Lent<M>, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&mut M::Connection) -> Result<T, E>,
    {
        let inner = &*self.inner;
        let counters = &*inner.counters;
        let tracked = lent.tracked();
        // Still set if this future is dropped before the end (mid-closure or mid-reset).
        tracked.running = true;
        // The maintenance task reads the lease to warn about leaks: two atomic stores here
        // instead of a timer per call.
        tracked.lease.start(counters.now_ms());
        let result = f(tracked.user_mut()).await;
        let clean = match &inner.release {
            Some(release) if release.needs_reset(tracked.user()) => {
                release.reset(tracked.user_mut()).await
            }
            _ => true,
        };
        let broken = !clean || inner.managed.manager.has_broken(tracked.user_mut());
        tracked.dirty |= broken;
        tracked.running = false;
        tracked.lease.end(&inner.config.name, counters);
        lent.finished = true;
        match result {
            // Completed calls are counted by difference (see `snapshot`): one atomic less.
            Ok(v) => Ok(v),
            Err(e) => {
                counters.query_errors.fetch_add(1, Relaxed);
                Err(if broken {
                    PoolError::ConnectionLost(e)
                } else {
                    PoolError::Query(e)
                })
            }
        }
    }

    /// Waits for a healthy connection, bounded by the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<Lent<M>, AcquireError> {
        let inner = &*self.inner;
        let c = &*inner.counters;
        // While the database is known to be down, fail at once with its error; one caller
        // per back-off period goes through and probes (the others keep failing meanwhile).
        let probe = match c.gate(inner.config.reconnect_backoff) {
            Gate::Open => None,
            Gate::Probe(probe) => Some(probe),
            Gate::Down(e) => {
                c.connect_failures.fetch_add(1, Relaxed);
                return Err(PoolError::Connect(e));
            }
        };
        // The common case: a free permit and an idle connection, taken without waiting, a
        // timer or a clock read (the wait it records is 0).
        let mut permit = None;
        if probe.is_none()
            && let Ok(free) = inner.permits.try_acquire()
        {
            let mut free = Permit::new(&inner.permits, free);
            if let Some(conn) = self.take_idle() {
                free.hand_over();
                return Ok(self.lend(conn, Duration::ZERO));
            }
            permit = Some(free);
        }
        self.acquire_slowly(permit, probe).await
    }

    /// An idle connection fit to lend, closing the ones that are not.
    fn take_idle(&self) -> Option<Conn<M>> {
        let inner = &*self.inner;
        let now_ms = inner.counters.clock_ms();
        loop {
            let mut conn = inner.idle.lock().ok()?.pop_front()?;
            if inner.managed.must_close(&mut conn, now_ms) {
                // Closed outside the lock (bb8 sees it broken and drops it).
                conn.dirty = true;
                drop(conn);
                continue;
            }
            return Some(conn);
        }
    }

    /// Records a lending and wraps the connection (no `.await` between taking a connection
    /// and this, so a dropped call cannot lose one).
    fn lend(&self, conn: Conn<M>, waited: Duration) -> Lent<M> {
        let inner = &*self.inner;
        let c = &*inner.counters;
        c.acquisitions.fetch_add(1, Relaxed);
        c.wait.record(waited);
        inner.metrics.acquire_seconds.record(waited.as_secs_f64());
        let in_use = c.in_use.fetch_add(1, Relaxed) + 1;
        if in_use > c.peak_in_use.load(Relaxed) {
            c.peak_in_use.fetch_max(in_use, Relaxed);
        }
        Lent {
            conn: ManuallyDrop::new(conn),
            inner: self.inner.clone(),
            finished: false,
        }
    }

    /// The caller has to wait: for a permit, or for a connection to be opened.
    async fn acquire_slowly(
        &self,
        permit: Option<Permit<'_>>,
        _probe: Option<Probe<'_>>,
    ) -> Result<Lent<M>, AcquireError> {
        let inner = &*self.inner;
        let c = &*inner.counters;
        let started = Instant::now();
        let mut waiting = Waiting {
            counters: c,
            blocked: false,
            outcome_recorded: false,
        };
        let result = self
            .wait_for_connection(started + inner.config.acquire_timeout, &mut waiting, permit)
            .await;
        waiting.outcome_recorded = true;
        drop(waiting);
        let waited = started.elapsed();
        match result {
            Ok(conn) => Ok(self.lend(conn, waited)),
            Err(Refused::Connect(e)) => {
                c.connect_failures.fetch_add(1, Relaxed);
                Err(PoolError::Connect(e))
            }
            Err(Refused::Timeout) => {
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

    async fn wait_for_connection(
        &self,
        deadline: Instant,
        waiting: &mut Waiting<'_>,
        permit: Option<Permit<'_>>,
    ) -> Result<Conn<M>, Refused> {
        let inner = &*self.inner;
        // bb8 lets a caller that arrives as a connection comes back take it ahead of the
        // waiter it woke, so under load some waiters starve until they time out. A fair
        // (FIFO) semaphore with one permit per connection puts callers in line first.
        let mut permit = match permit {
            Some(permit) => permit,
            None => Permit::new(
                &inner.permits,
                self.wait_for(deadline, waiting, inner.permits.acquire())
                    .await?
                    .map_err(|_| Refused::Timeout)?,
            ),
        };
        loop {
            if let Some(conn) = self.take_idle() {
                permit.hand_over();
                return Ok(conn);
            }
            // None idle: with a permit, bb8 has room to open one (or holds a new one). Boxed:
            // the pool grows rarely, and its futures are large.
            let mut conn = Box::pin(self.wait_for(deadline, waiting, inner.bb8.get_owned()))
                .await?
                .map_err(|_| Refused::Timeout)?;
            // A connection the server closed (restart, failover, idle kill) or past its
            // lifetime is closed here, before the caller sees it.
            if inner
                .managed
                .must_close(&mut conn, inner.counters.clock_ms())
            {
                conn.dirty = true;
                continue;
            }
            permit.hand_over();
            return Ok(conn);
        }
    }

    /// Awaits `wait` until the deadline, giving up early when nothing is open and a
    /// connection attempt fails: waiting longer would be pointless.
    ///
    /// No timer per waiter: under load most calls wait for a permit, and a timer each
    /// (registered, then cancelled) was a measurable share of their cost. Waiters are woken
    /// by a failed connection attempt and by the pool's deadline ticker (a twentieth of the
    /// acquire timeout, between 5 and 100 ms), and then look at their deadline.
    async fn wait_for<T>(
        &self,
        deadline: Instant,
        waiting: &mut Waiting<'_>,
        wait: impl Future<Output = T>,
    ) -> Result<T, Refused> {
        let inner = &*self.inner;
        let mut wait = pin!(wait);
        // Fast path: ready at once, not counted as waiting.
        if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx))).await
        {
            return Ok(r);
        }
        waiting.block();
        loop {
            let woken = inner.counters.wake_waiters.notified();
            let mut woken = pin!(woken);
            woken.as_mut().enable();
            if let Some(e) = inner.counters.failing(inner.config.reconnect_backoff) {
                return Err(Refused::Connect(e));
            }
            if Instant::now() >= deadline {
                return Err(Refused::Timeout);
            }
            tokio::select! {
                biased;
                r = &mut wait => return Ok(r),
                () = woken => {}
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

    /// The health verdict (healthy, degraded, exhausted, down) and why, as of now.
    pub fn health(&self) -> (PoolHealth, String) {
        crate::monitor::assess(&self.inner, &self.stats())
    }

    /// The verdict of the last maintenance tick, without taking a new snapshot.
    pub(crate) fn last_health(&self) -> PoolHealth {
        PoolHealth::from_u8(self.inner.counters.health.load(Relaxed))
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
    /// Opens one connection and puts it in the idle queue (closed when the pool is already
    /// full). Nothing happens when every permit is taken: opening takes a caller's place, so
    /// the server never sees more of this pool's connections than `max_connections`.
    pub async fn open_one(&self) -> Result<(), ConnectError> {
        let Ok(permit) = self.permits.try_acquire() else {
            return Ok(());
        };
        let mut permit = Permit::new(&self.permits, permit);
        let conn = self.managed.open().await?;
        if let Err(bb8::AddError::NoCapacity(mut refused) | bb8::AddError::Broken(mut refused)) =
            self.bb8.add(conn)
        {
            // Closed at once: it keeps the permit until its backend is gone.
            refused.parting_permit = Some(self.permits.clone());
            permit.hand_over();
            return Ok(());
        }
        // bb8 now holds it idle: take it out to the pool's own queue (ready at once; if a
        // caller's bb8 `get` took it first, that caller gives it back to the queue).
        let mut get = pin!(self.bb8.get_owned());
        if let Poll::Ready(Ok(conn)) =
            std::future::poll_fn(|cx| Poll::Ready(get.as_mut().poll(cx))).await
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push_back(conn);
        }
        Ok(())
    }
}

impl<E> PoolError<E> {
    pub(crate) fn from_acquire(e: AcquireError) -> Self {
        e.map_query(|never| match never {})
    }
}
