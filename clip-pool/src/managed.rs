//! The bb8 manager the pool really runs: wraps the user's manager to count connections,
//! time-limit and record connection attempts, give each connection its own (jittered)
//! lifetime, and close connections left dirty through the connection type's release hook.

use std::hash::BuildHasher;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::Manager;
use crate::release::{Release, Slot};
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
    /// A closure starts using the connection.
    pub fn start(&self, now_ms: u64) {
        // Cleared first: a scan that read the previous lending's start just before it ended
        // may have set `warned` after `end` cleared it; that stale flag must not hide this
        // lending's leak (nor make its end log a warning that never was).
        self.warned.store(false, Relaxed);
        self.since_ms.store(now_ms, Relaxed);
    }

    /// The closure is done; closes the story of a reported leak. Plain loads and stores (no
    /// read-modify-write on every call): a scan racing this may leave `warned` set, which the
    /// next `start` clears.
    pub fn end(&self, pool: &str, counters: &Counters) {
        let since = self.since_ms.load(Relaxed);
        self.since_ms.store(0, Relaxed);
        if self.warned.load(Relaxed) && since != 0 {
            self.warned.store(false, Relaxed);
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
    /// Boxed so that lending it moves a pointer, not the connection (a PostgreSQL one is
    /// over 300 bytes, and a call moves it several times); taken out only in `drop`.
    conn: ManuallyDrop<Box<C>>,
    /// Close instead of reuse (surplus, found broken, session not known to be clean).
    pub dirty: bool,
    /// Set while a closure runs on it; still set if the call was dropped mid-way, so the
    /// connection is closed (and its statement cancelled) instead of reused.
    pub running: bool,
    /// The semaphore of a permit this connection holds while it closes (handed over by the
    /// borrower that gave it up), returned once its backend is gone.
    pub parting_permit: Option<Arc<Semaphore>>,
    /// Replaced from this moment on (its own, jittered, max lifetime), in milliseconds of
    /// the pool's clock; 0 never.
    expires_ms: u64,
    pub lease: Arc<Lease>,
    release: Option<Arc<dyn Release<C>>>,
    counters: Arc<Counters>,
}

impl<C> Tracked<C> {
    /// The user's connection.
    pub fn user(&self) -> &C {
        &self.conn
    }

    /// The user's connection.
    pub fn user_mut(&mut self) -> &mut C {
        &mut self.conn
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms != 0 && now_ms >= self.expires_ms
    }
}

impl<C> Drop for Tracked<C> {
    fn drop(&mut self) {
        // SAFETY: `conn` is never used after this: `self` is being dropped.
        let conn = unsafe { ManuallyDrop::take(&mut self.conn) };
        let slot = Slot::new(self.counters.clone(), self.parting_permit.take());
        match &self.release {
            Some(release) => release.close(conn, self.running, slot),
            None => drop((conn, slot)),
        }
    }
}

pub(crate) struct Managed<M: Manager> {
    pub manager: Arc<M>,
    pub counters: Arc<Counters>,
    pub connect_timeout: Duration,
    pub max_lifetime: Option<Duration>,
    pub release: Option<Arc<dyn Release<M::Connection>>>,
}

/// At most this share of `max_lifetime` is taken off each connection's lifetime, at random,
/// so connections opened together are not all replaced in the same moment (HikariCP: 2.5 %).
const LIFETIME_JITTER: f64 = 0.025;

/// `lifetime` shortened by a random part of up to `LIFETIME_JITTER`.
pub(crate) fn jittered(lifetime: Duration, seed: u64) -> Duration {
    let random = std::collections::hash_map::RandomState::new().hash_one(seed);
    let unit = (random >> 11) as f64 / (1u64 << 53) as f64; // uniform in [0, 1)
    lifetime.mul_f64(1.0 - LIFETIME_JITTER * unit)
}

/// Counts an attempt as under way for as long as it is, even if its future is dropped.
struct Connecting<'a>(&'a Counters);

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        self.0.connecting.fetch_sub(1, Relaxed);
    }
}

impl<M: Manager> Managed<M> {
    /// One connection attempt, bounded by the connect timeout, recorded either way.
    pub async fn open(&self) -> Result<Tracked<M::Connection>, ConnectError> {
        let c = &self.counters;
        c.connecting.fetch_add(1, Relaxed);
        let connecting = Connecting(c);
        let attempt = tokio::time::timeout(self.connect_timeout, self.manager.connect()).await;
        let result = match attempt {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(ConnectError::new(e)),
            Err(_) => Err(ConnectError::new(ConnectTimeout(self.connect_timeout))),
        };
        match result {
            Ok(conn) => {
                // Open before no longer connecting: a snapshot never sees the floor missing.
                c.open.fetch_add(1, Relaxed);
                drop(connecting);
                let created = c.created.fetch_add(1, Relaxed);
                c.record_connect_success();
                let lease = Arc::new(Lease::default());
                c.register_lease(&lease);
                Ok(Tracked {
                    conn: ManuallyDrop::new(Box::new(conn)),
                    dirty: false,
                    running: false,
                    parting_permit: None,
                    expires_ms: self.max_lifetime.map_or(0, |l| {
                        c.now_ms()
                            .saturating_add(jittered(l, created).as_millis() as u64)
                    }),
                    lease,
                    release: self.release.clone(),
                    counters: c.clone(),
                })
            }
            Err(e) => {
                drop(connecting);
                tracing::warn!(error = %e, "database connection attempt failed");
                c.record_connect_failure(e.clone());
                Err(e)
            }
        }
    }

    /// Whether the connection must not be lent again: left dirty, cut short, past its
    /// lifetime (`now_ms` on the pool's clock), or reported broken by the user's manager.
    pub fn must_close(&self, conn: &mut Tracked<M::Connection>, now_ms: u64) -> bool {
        conn.dirty
            || conn.running
            || conn.expired(now_ms)
            || self.manager.has_broken(conn.user_mut())
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
            .is_valid(conn.user_mut())
            .await
            .map_err(ConnectError::new)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.must_close(conn, self.counters.clock_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_spread_over_the_last_two_and_a_half_percent() {
        let lifetime = Duration::from_secs(1800);
        let all: Vec<Duration> = (0..200).map(|i| jittered(lifetime, i)).collect();
        let shortest = all.iter().min().copied().unwrap_or_default();
        let longest = all.iter().max().copied().unwrap_or_default();
        assert!(shortest >= lifetime.mul_f64(0.975), "{shortest:?}");
        assert!(longest <= lifetime, "{longest:?}");
        // 200 draws over a 45 s window: spread over most of it, not one instant.
        assert!(
            longest - shortest > Duration::from_secs(30),
            "{shortest:?}..{longest:?}"
        );
    }

    #[test]
    fn a_stale_warning_flag_does_not_hide_the_next_leak() {
        let c = Counters::new();
        let lease = Arc::new(Lease::default());
        c.register_lease(&lease);
        // The previous lending ended while a scan was between reading its start and marking
        // it warned: the flag is left set.
        lease.start(1);
        lease.end("t", &c);
        lease.warned.store(true, Relaxed);
        // The next lending leaks: it must be reported.
        lease.start(1);
        assert_eq!(c.warn_leaks("t", Duration::ZERO), 1);
    }

    struct Hang;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl bb8::ManageConnection for Hang {
        type Connection = ();
        type Error = Never;
        async fn connect(&self) -> Result<(), Never> {
            std::future::pending().await
        }
        async fn is_valid(&self, _: &mut ()) -> Result<(), Never> {
            Ok(())
        }
        fn has_broken(&self, _: &mut ()) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn an_attempt_dropped_mid_way_is_no_longer_counted_as_connecting() {
        let managed = Managed {
            manager: Arc::new(Hang),
            counters: Arc::new(Counters::new()),
            connect_timeout: Duration::from_secs(60),
            max_lifetime: None,
            release: None,
        };
        let attempt = tokio::time::timeout(Duration::from_millis(20), managed.open()).await;
        assert!(attempt.is_err());
        assert_eq!(managed.counters.connecting.load(Relaxed), 0);
    }
}
