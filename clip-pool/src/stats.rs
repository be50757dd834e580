//! Live counters of a pool (lock-free on the hot path), the snapshot callers read, and
//! the health verdict.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::ConnectError;
use crate::histogram::LatencyHistogram;
use crate::managed::Lease;

/// Utilization under which a pool reads healthy.
pub const HEALTHY_UTILIZATION: f64 = 0.80;
/// Utilization at which a sustained pool reads exhausted.
pub const EXHAUSTED_UTILIZATION: f64 = 0.95;
/// Average acquire wait under which a pool reads healthy.
pub const HEALTHY_AVG_WAIT: Duration = Duration::from_millis(100);

/// Counters shared by the pool, its connection manager wrapper and its maintenance task.
pub(crate) struct Counters {
    pub epoch: Instant,
    /// See [`Counters::clock_ms`].
    clock_ms: AtomicU64,
    pub open: AtomicU32,
    pub connecting: AtomicU32,
    pub in_use: AtomicU32,
    /// Connections being closed whose server backend may not have ended yet.
    pub closing: AtomicU32,
    /// Connections currently lent to the shared lane.
    pub shared_connections: AtomicU32,
    /// Callers blocked waiting for a permit or a connection (not those served at once).
    pub waiting: AtomicU32,
    /// Callers that had to wait, over the pool's life (the maintenance task diffs it).
    pub blocked: AtomicU64,
    /// Highest `in_use` since the maintenance task last looked.
    pub peak_in_use: AtomicU32,
    pub acquisitions: AtomicU64,
    pub timeouts: AtomicU64,
    pub connect_failures: AtomicU64,
    pub cancelled_waiting: AtomicU64,
    pub query_errors: AtomicU64,
    pub cancelled_running: AtomicU64,
    pub leak_warnings: AtomicU64,
    pub shared_calls: AtomicU64,
    pub shared_errors: AtomicU64,
    pub created: AtomicU64,
    pub closed: AtomicU64,
    pub connect_errors: AtomicU64,
    pub wait: LatencyHistogram,
    /// Average acquire wait over the recent window, in microseconds (maintenance task).
    pub recent_wait_us: AtomicU64,
    /// Millis since `epoch` when saturation began, 0 when not saturated (maintenance task).
    pub saturated_since_ms: AtomicU64,
    /// Millis since `epoch` of the last failed connection attempt, 0 when the last succeeded.
    pub connect_failed_at_ms: AtomicU64,
    pub last_connect_error: Mutex<Option<ConnectError>>,
    /// A caller is probing whether the database is back (one at a time while it is down).
    pub probing: AtomicBool,
    /// Leases of the open connections (pruned as connections close), for leak warnings.
    pub leases: Mutex<Vec<Weak<Lease>>>,
    /// Wakes the callers waiting for a connection: when an attempt fails (they fail fast if
    /// nothing is open) and on each tick of the deadline ticker (they check their deadline).
    pub wake_waiters: Notify,
    pub health: AtomicU8,
}

impl Counters {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            clock_ms: AtomicU64::new(1),
            open: AtomicU32::new(0),
            connecting: AtomicU32::new(0),
            in_use: AtomicU32::new(0),
            closing: AtomicU32::new(0),
            shared_connections: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            blocked: AtomicU64::new(0),
            peak_in_use: AtomicU32::new(0),
            acquisitions: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            cancelled_waiting: AtomicU64::new(0),
            query_errors: AtomicU64::new(0),
            cancelled_running: AtomicU64::new(0),
            leak_warnings: AtomicU64::new(0),
            shared_calls: AtomicU64::new(0),
            shared_errors: AtomicU64::new(0),
            created: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            wait: LatencyHistogram::new(),
            recent_wait_us: AtomicU64::new(0),
            saturated_since_ms: AtomicU64::new(0),
            connect_failed_at_ms: AtomicU64::new(0),
            last_connect_error: Mutex::new(None),
            probing: AtomicBool::new(false),
            leases: Mutex::new(Vec::new()),
            wake_waiters: Notify::new(),
            health: AtomicU8::new(PoolHealth::Healthy as u8),
        }
    }

    /// Millis since the pool's epoch, never 0 (0 means "unset" in the `_ms` fields).
    pub fn now_ms(&self) -> u64 {
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }

    /// The pool's clock as last read (by the maintenance task each tick, or a caller that
    /// had to wait): for lifetimes, where a tick's precision is plenty, so taking an idle
    /// connection reads no clock.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms.load(Relaxed)
    }

    /// Moves the pool's clock to `now` (never backwards).
    pub fn set_clock(&self, now: Instant) {
        let ms = (now.saturating_duration_since(self.epoch).as_millis() as u64).max(1);
        self.clock_ms.fetch_max(ms, Relaxed);
    }

    pub fn record_connect_failure(&self, error: ConnectError) {
        self.connect_errors.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last_connect_error.lock() {
            *last = Some(error);
        }
        self.connect_failed_at_ms.store(self.now_ms(), Relaxed);
        self.wake_waiters.notify_waiters();
    }

    pub fn register_lease(&self, lease: &Arc<Lease>) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.retain(|l| l.strong_count() > 0);
            leases.push(Arc::downgrade(lease));
        }
    }

    /// Reports, once each, the closures holding a connection for longer than `threshold`.
    pub fn warn_leaks(&self, pool: &str, threshold: Duration) -> u64 {
        // A lease may start after `now` is read: every difference below saturates.
        let now = self.now_ms();
        let threshold_ms = threshold.as_millis() as u64;
        let Ok(leases) = self.leases.lock() else {
            return 0;
        };
        let mut found = 0;
        for lease in leases.iter().filter_map(Weak::upgrade) {
            let since = lease.since_ms.load(Relaxed);
            if since == 0
                || now.saturating_sub(since) < threshold_ms
                || lease.warned.swap(true, Relaxed)
            {
                continue;
            }
            found += 1;
            tracing::warn!(
                pool,
                held_for = ?Duration::from_millis(now.saturating_sub(since)),
                threshold = ?threshold,
                "connection held past the leak threshold: a closure is slow, stuck, or never gives it back"
            );
        }
        self.leak_warnings.fetch_add(found, Relaxed);
        found
    }

    pub fn record_connect_success(&self) {
        self.connect_failed_at_ms.store(0, Relaxed);
    }

    pub fn last_connect_error(&self) -> Option<ConnectError> {
        self.last_connect_error.lock().ok().and_then(|e| e.clone())
    }

    /// The database looks down: nothing is open and the last attempt failed within
    /// `backoff`.
    pub fn failing(&self, backoff: Duration) -> Option<ConnectError> {
        let failed_at = self.connect_failed_at_ms.load(Relaxed);
        if failed_at == 0 || self.open.load(Relaxed) > 0 {
            return None;
        }
        if self.now_ms().saturating_sub(failed_at) >= backoff.as_millis() as u64 {
            return None;
        }
        self.last_connect_error()
    }

    /// Whether a caller may go on to ask for a connection. While the database is down
    /// (nothing open, the last attempt failed), only one caller at a time gets through once
    /// the back-off has passed: the probe; the others fail at once with the last error.
    pub fn gate(&self, backoff: Duration) -> Gate<'_> {
        if self.connect_failed_at_ms.load(Relaxed) == 0 || self.open.load(Relaxed) > 0 {
            return Gate::Open;
        }
        let down = match self.failing(backoff) {
            Some(e) => e,
            None if self
                .probing
                .compare_exchange(false, true, Relaxed, Relaxed)
                .is_ok() =>
            {
                return Gate::Probe(Probe(self));
            }
            None => match self.last_connect_error() {
                Some(e) => e,
                None => return Gate::Open,
            },
        };
        Gate::Down(down)
    }
}

/// What [`Counters::gate`] lets a caller do.
pub(crate) enum Gate<'a> {
    /// Ask for a connection.
    Open,
    /// Ask for one as the probe: the others wait for its outcome.
    Probe(Probe<'a>),
    /// Fail with the database's error.
    Down(ConnectError),
}

/// The one caller probing a down database; the next may probe once it is done.
pub(crate) struct Probe<'a>(&'a Counters);

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.0.probing.store(false, Relaxed);
    }
}

/// The health verdict on a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum PoolHealth {
    /// Utilization under 80 %, average wait under 100 ms, connections available.
    Healthy = 0,
    /// Serving, but over 80 % utilization, or waits above 100 ms on average, or briefly saturated.
    Degraded = 1,
    /// Saturated (>= 95 % in use or callers waiting) for longer than `exhausted_after`.
    Exhausted = 2,
    /// No connection open and the database refuses or cannot be reached.
    Down = 3,
}

impl PoolHealth {
    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            0 => PoolHealth::Healthy,
            1 => PoolHealth::Degraded,
            2 => PoolHealth::Exhausted,
            _ => PoolHealth::Down,
        }
    }

    /// True for `Healthy` and `Degraded`: the pool serves queries.
    pub fn is_serving(self) -> bool {
        matches!(self, PoolHealth::Healthy | PoolHealth::Degraded)
    }
}

/// Acquire-wait latency of successful acquisitions, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct WaitStats {
    /// Mean over the pool's life.
    pub avg_ms: f64,
    /// Mean over the last few seconds (what the health verdict uses).
    pub recent_avg_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Longest wait seen.
    pub max_ms: f64,
}

/// A snapshot of a pool, cheap to take (atomic loads, no lock shared with `execute`).
///
/// Counters add up once every call has returned: `acquire_attempts == acquisitions +
/// timeouts + connect_failures + cancelled_waiting` and `acquisitions == completed +
/// query_errors + cancelled_running + in_use`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStats {
    /// The pool's name (metrics label).
    pub name: String,
    /// Open connections: idle, in use, or closing.
    pub connections: u32,
    /// Open connections nobody holds.
    pub idle: u32,
    /// Connections held by a running closure.
    pub in_use: u32,
    /// Calls waiting for a connection (that could not take one at once).
    pub waiting: u32,
    /// Connections being closed whose server backend may not have ended yet: a call cut
    /// short keeps its connection's place until the server has cancelled its statement.
    pub closing: u32,
    /// Connections currently lent to `execute_shared` calls (at most `pool_size`, and
    /// always one fewer than `max_connections`).
    pub shared_connections: u32,
    /// Connection attempts under way.
    pub connecting: u32,
    /// Configured floor.
    pub min_connections: u32,
    /// Configured steady target.
    pub pool_size: u32,
    /// Configured ceiling.
    pub max_connections: u32,
    /// `in_use / max_connections`, 0..1.
    pub utilization: f64,
    /// Calls that asked for a connection.
    pub acquire_attempts: u64,
    /// Calls that got one.
    pub acquisitions: u64,
    /// Calls that gave up after the acquire timeout.
    pub timeouts: u64,
    /// Calls that failed because no connection could be opened.
    pub connect_failures: u64,
    /// Calls dropped while waiting.
    pub cancelled_waiting: u64,
    /// Closures that returned `Ok`.
    pub completed: u64,
    /// Closures that returned `Err`.
    pub query_errors: u64,
    /// Calls dropped while their closure ran (the connection was discarded, not reused).
    pub cancelled_running: u64,
    /// Closures that held a connection past the leak threshold.
    pub leak_warnings: u64,
    /// Closures run by `execute_shared` (a connection lent to the shared lane counts once
    /// in `acquisitions` and once in `completed`, or in `query_errors` if it was retired).
    pub shared_calls: u64,
    /// Shared closures that returned `Err` or were dropped.
    pub shared_errors: u64,
    /// Connections opened over the pool's life.
    pub connections_created: u64,
    /// Connections closed over the pool's life.
    pub connections_closed: u64,
    /// Failed connection attempts.
    pub connect_errors: u64,
    /// Acquire-wait latency.
    pub acquire_wait: WaitStats,
    /// The health verdict, as of the last maintenance tick.
    pub health: PoolHealth,
}

pub(crate) fn snapshot(name: &str, sizes: (u32, u32, u32), c: &Counters) -> PoolStats {
    let (min_connections, pool_size, max_connections) = sizes;
    let in_use = c.in_use.load(Relaxed);
    // A connection is counted open before it is handed out and closed after it is given
    // back, so a snapshot racing both can only undercount `open`; never report fewer.
    let closing = c.closing.load(Relaxed);
    // Attempts and completions are not counted on the hot path: every attempt ends as one of
    // the outcomes (or is still waiting), every lending as one of its ends (or is in use).
    let acquisitions = c.acquisitions.load(Relaxed);
    let timeouts = c.timeouts.load(Relaxed);
    let connect_failures = c.connect_failures.load(Relaxed);
    let cancelled_waiting = c.cancelled_waiting.load(Relaxed);
    let waiting = c.waiting.load(Relaxed);
    let query_errors = c.query_errors.load(Relaxed);
    let cancelled_running = c.cancelled_running.load(Relaxed);
    let connections = c.open.load(Relaxed).max(in_use + closing);
    let wait = c.wait.summary();
    PoolStats {
        name: name.to_owned(),
        connections,
        idle: connections.saturating_sub(in_use + closing),
        in_use,
        waiting,
        closing,
        shared_connections: c.shared_connections.load(Relaxed),
        connecting: c.connecting.load(Relaxed),
        min_connections,
        pool_size,
        max_connections,
        utilization: f64::from(in_use) / f64::from(max_connections.max(1)),
        acquire_attempts: acquisitions
            + timeouts
            + connect_failures
            + cancelled_waiting
            + u64::from(waiting),
        acquisitions,
        timeouts,
        connect_failures,
        cancelled_waiting,
        completed: acquisitions
            .saturating_sub(query_errors + cancelled_running + u64::from(in_use)),
        query_errors,
        cancelled_running,
        leak_warnings: c.leak_warnings.load(Relaxed),
        shared_calls: c.shared_calls.load(Relaxed),
        shared_errors: c.shared_errors.load(Relaxed),
        connections_created: c.created.load(Relaxed),
        connections_closed: c.closed.load(Relaxed),
        connect_errors: c.connect_errors.load(Relaxed),
        acquire_wait: WaitStats {
            avg_ms: wait.avg_us / 1e3,
            recent_avg_ms: c.recent_wait_us.load(Relaxed) as f64 / 1e3,
            p50_ms: wait.p50_us / 1e3,
            p95_ms: wait.p95_us / 1e3,
            p99_ms: wait.p99_us / 1e3,
            max_ms: wait.max_us / 1e3,
        },
        health: PoolHealth::from_u8(c.health.load(Relaxed)),
    }
}

/// The verdict for a snapshot, given how long the pool has been saturated.
pub(crate) fn verdict(
    s: &PoolStats,
    saturated_for: Option<Duration>,
    exhausted_after: Duration,
    down: bool,
) -> (PoolHealth, String) {
    if down {
        return (
            PoolHealth::Down,
            "no connection open and the database cannot be reached".into(),
        );
    }
    if let Some(d) = saturated_for
        && d >= exhausted_after
    {
        return (
            PoolHealth::Exhausted,
            format!(
                "saturated for {:.1}s: {} of {} in use, {} waiting",
                d.as_secs_f64(),
                s.in_use,
                s.max_connections,
                s.waiting
            ),
        );
    }
    let mut reasons = Vec::new();
    if s.utilization >= HEALTHY_UTILIZATION {
        reasons.push(format!("utilization {:.0}% >= 80%", s.utilization * 100.0));
    }
    if s.acquire_wait.recent_avg_ms >= HEALTHY_AVG_WAIT.as_secs_f64() * 1e3 {
        reasons.push(format!(
            "average wait {:.1}ms >= 100ms",
            s.acquire_wait.recent_avg_ms
        ));
    }
    if s.waiting > 0 {
        reasons.push(format!("{} callers waiting", s.waiting));
    }
    if reasons.is_empty() {
        (
            PoolHealth::Healthy,
            format!("utilization {:.0}%", s.utilization * 100.0),
        )
    } else {
        (PoolHealth::Degraded, reasons.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_started_after_the_scan_began_does_not_underflow() {
        let c = Counters::new();
        let lease = Arc::new(Lease::default());
        c.register_lease(&lease);
        // Lent just after `warn_leaks` read the clock; a zero threshold (a hand-built
        // config) made `now - since` underflow and panic.
        lease.since_ms.store(c.now_ms() + 1_000, Relaxed);
        assert_eq!(c.warn_leaks("t", Duration::ZERO), 1);
    }
}
