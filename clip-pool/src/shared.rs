//! Shared execution: closures that only need `&Connection` run side by side on the same
//! connection, so a driver that pipelines (tokio-postgres does) keeps several queries in
//! flight per connection instead of making callers queue for exclusive use.
//!
//! The lane holds at most `pool_size` connections and always leaves one of the pool's
//! `max_connections` to `execute`; a connection it holds is retired (no new call joins it)
//! after a short age, so it drains back to the pool under sustained load, where lifetime,
//! broken and leak checks apply, and where waiting `execute` calls get their turn.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pool::Lent;
use crate::release::Release;
use crate::stats::Counters;
use crate::{Manager, Pool, PoolError};

/// How long a connection serves the lane before it is retired and drains back to the pool.
const LEASE_AGE: Duration = Duration::from_secs(1);

/// A connection lent to the shared lane, used by `in_flight` calls at once.
pub(crate) struct SharedLease<M: Manager> {
    /// Taken out only in `drop`, to give the connection back.
    lent: ManuallyDrop<Lent<M>>,
    in_flight: AtomicUsize,
    /// No new call joins it: it drains and goes back to the pool.
    retired: AtomicBool,
    /// Closed, not given back, once its calls end (its connection broke).
    poisoned: AtomicBool,
    retire_at: Instant,
    release: Option<Arc<dyn Release<M::Connection>>>,
    counters: Arc<Counters>,
}

impl<M: Manager> SharedLease<M> {
    fn conn(&self) -> &M::Connection {
        self.lent.conn().user()
    }

    /// Whether new calls may join it (retiring it if not).
    fn open_to_calls(&self, now: Instant) -> bool {
        if self.retired.load(Relaxed) {
            return false;
        }
        let broken = self
            .release
            .as_ref()
            .is_some_and(|r| r.is_broken(self.conn()));
        if broken {
            self.poisoned.store(true, Relaxed);
        }
        if broken || now >= self.retire_at {
            self.retired.store(true, Relaxed);
            return false;
        }
        true
    }
}

impl<M: Manager> Drop for SharedLease<M> {
    fn drop(&mut self) {
        // The last call is done: give the connection back (after a session reset if one of
        // the calls used it in a way that needs one), or close it.
        // SAFETY: `lent` is never used after this: `self` is being dropped.
        let mut lent = unsafe { ManuallyDrop::take(&mut self.lent) };
        self.counters.shared_connections.fetch_sub(1, Relaxed);
        if *self.poisoned.get_mut() {
            lent.finish(false);
            return;
        }
        let release = match &self.release {
            Some(r) if r.needs_reset(lent.conn().user()) => r.clone(),
            _ => return lent.finish(true),
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return lent.finish(false);
        };
        runtime.spawn(async move {
            // Closed, not reused, if this reset is itself cut short.
            lent.tracked().running = true;
            let clean = release.reset(lent.tracked().user_mut()).await;
            lent.tracked().running = false;
            lent.finish(clean);
        });
    }
}

/// The connections currently lent to shared calls.
pub(crate) struct SharedLane<M: Manager> {
    state: Mutex<LaneState<M>>,
}

struct LaneState<M: Manager> {
    /// Leases new calls may join.
    leases: Vec<Arc<SharedLease<M>>>,
    /// Calls acquiring a connection for the lane right now.
    opening: u32,
}

impl<M: Manager> Default for SharedLane<M> {
    fn default() -> Self {
        Self {
            state: Mutex::new(LaneState {
                leases: Vec::new(),
                opening: 0,
            }),
        }
    }
}

/// Where a shared call runs.
enum Pick<'a, M: Manager> {
    /// On a lease of the lane (its count already raised).
    Join(Arc<SharedLease<M>>),
    /// On a new lease: this call acquires its connection.
    Open(Opening<'a, M>),
    /// The lane is at its cap and all its leases are draining: like `execute`.
    Alone,
}

/// A lane slot reserved for a connection being acquired, released if the call gives up.
struct Opening<'a, M: Manager> {
    lane: &'a SharedLane<M>,
}

impl<M: Manager> Drop for Opening<'_, M> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.lane.state.lock() {
            state.opening -= 1;
        }
    }
}

/// Ends one shared call: drops its claim, gives the lease back when it was the last one.
struct Claim<'a, M: Manager> {
    lane: &'a SharedLane<M>,
    lease: Arc<SharedLease<M>>,
    counters: &'a Counters,
    completed: bool,
}

impl<M: Manager> Drop for Claim<'_, M> {
    fn drop(&mut self) {
        if !self.completed {
            // Dropped mid-way: its statement still runs on the connection (the driver drains
            // it), so no new call queues behind it.
            self.lease.retired.store(true, Relaxed);
            self.counters.shared_errors.fetch_add(1, Relaxed);
        }
        if self.lease.in_flight.fetch_sub(1, Relaxed) == 1
            && let Ok(mut state) = self.lane.state.lock()
            && self.lease.in_flight.load(Relaxed) == 0
        {
            // Idle again: back to the pool, so shared calls hold connections only under load.
            state.leases.retain(|l| !Arc::ptr_eq(l, &self.lease));
        }
    }
}

impl<M: Manager> Pool<M>
where
    M::Connection: Sync,
{
    /// Runs `f` with a connection that other `execute_shared` calls may be using at the same
    /// time; the driver pipelines their queries.
    ///
    /// A call joins an idle connection of the shared lane if there is one, else takes a new
    /// one while the lane holds fewer than `pool_size` (and fewer than `max_connections - 1`:
    /// one is always left to [`Pool::execute`]), else joins the least busy. Connections go
    /// back to the pool as soon as no shared call uses them, and after a second of service
    /// under sustained load. For short statements that need no session state (no
    /// transaction, no `SET`): a slow statement delays the calls queued behind it on its
    /// connection. A call's own error (no row, a constraint) leaves the connection in the
    /// lane; a broken connection is closed ([`PoolError::ConnectionLost`]).
    pub async fn execute_shared<T, E, F>(&self, f: F) -> Result<T, PoolError<E>>
    where
        F: AsyncFnOnce(&M::Connection) -> Result<T, E>,
    {
        let lane = self
            .inner
            .shared
            .get_or_init(|| Box::new(SharedLane::<M>::default()))
            .downcast_ref::<SharedLane<M>>();
        let Some(lane) = lane else {
            // Unreachable: the lane is only ever made here, as a SharedLane<M>.
            return self.execute(async move |c| f(&*c).await).await;
        };
        let lease = match self.pick_shared(lane) {
            Pick::Join(lease) => lease,
            Pick::Alone => return self.execute(async move |c| f(&*c).await).await,
            Pick::Open(opening) => {
                let mut lent = self.acquire().await.map_err(PoolError::from_acquire)?;
                let counters = &self.inner.counters;
                lent.tracked().lease.start(counters.now_ms());
                counters.shared_connections.fetch_add(1, Relaxed);
                let retire_after = match self.inner.config.leak_threshold {
                    // Well before it could read as a leak.
                    Some(leak) => LEASE_AGE.min(leak / 2),
                    None => LEASE_AGE,
                };
                let lease = Arc::new(SharedLease {
                    lent: ManuallyDrop::new(lent),
                    in_flight: AtomicUsize::new(1),
                    retired: AtomicBool::new(false),
                    poisoned: AtomicBool::new(false),
                    retire_at: Instant::now() + retire_after,
                    release: self.inner.release.clone(),
                    counters: counters.clone(),
                });
                if let Ok(mut state) = lane.state.lock() {
                    state.leases.push(lease.clone());
                }
                drop(opening);
                lease
            }
        };
        let counters = &*self.inner.counters;
        counters.shared_calls.fetch_add(1, Relaxed);
        let mut claim = Claim {
            lane,
            lease,
            counters,
            completed: false,
        };
        let result = f(claim.lease.conn()).await;
        claim.completed = true;
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                counters.shared_errors.fetch_add(1, Relaxed);
                let lease = &claim.lease;
                let broken = lease
                    .release
                    .as_ref()
                    .is_some_and(|r| r.is_broken(lease.conn()));
                if broken {
                    lease.poisoned.store(true, Relaxed);
                    lease.retired.store(true, Relaxed);
                    Err(PoolError::ConnectionLost(e))
                } else {
                    Err(PoolError::Query(e))
                }
            }
        }
    }

    /// Where the next shared call runs.
    fn pick_shared<'a>(&self, lane: &'a SharedLane<M>) -> Pick<'a, M> {
        let Ok(mut state) = lane.state.lock() else {
            return Pick::Alone;
        };
        let now = Instant::now();
        state.leases.retain(|l| l.open_to_calls(now));
        let cfg = &self.inner.config;
        let cap = cfg.pool_size.min(cfg.max_connections - 1).max(1);
        let held = self.inner.counters.shared_connections.load(Relaxed) + state.opening;
        let can_open = held < cap && self.inner.permits.available_permits() > 0;
        let least = state
            .leases
            .iter()
            .min_by_key(|l| l.in_flight.load(Relaxed));
        match least {
            Some(l) if l.in_flight.load(Relaxed) == 0 || !can_open => {
                l.in_flight.fetch_add(1, Relaxed);
                Pick::Join(l.clone())
            }
            _ if held < cap => {
                state.opening += 1;
                Pick::Open(Opening { lane })
            }
            _ => Pick::Alone,
        }
    }
}
