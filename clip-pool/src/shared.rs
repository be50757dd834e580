//! Shared execution: closures that only need `&Connection` run side by side on the same
//! connection, so a driver that pipelines (tokio-postgres does) keeps several queries in
//! flight per connection instead of making callers queue for exclusive use.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::pool::Lent;
use crate::stats::Counters;
use crate::{Manager, Pool, PoolError};

/// A connection lent to the shared lane, used by `in_flight` calls at once.
pub(crate) struct SharedLease<M: Manager> {
    lent: Lent<M>,
    in_flight: AtomicUsize,
    /// Set after an error or a cancelled call: not chosen again, closed once its calls end.
    poisoned: AtomicBool,
}

impl<M: Manager> Drop for SharedLease<M> {
    fn drop(&mut self) {
        // The last user is gone: give the connection back, or close it if poisoned.
        self.lent.finish(!*self.poisoned.get_mut());
    }
}

/// The connections currently lent to shared calls.
pub(crate) struct SharedLane<M: Manager> {
    leases: Mutex<Vec<Arc<SharedLease<M>>>>,
}

impl<M: Manager> Default for SharedLane<M> {
    fn default() -> Self {
        Self {
            leases: Mutex::new(Vec::new()),
        }
    }
}

/// Ends one shared call: drops its claim, retires the lease when it was the last one.
struct Claim<'a, M: Manager> {
    lane: &'a SharedLane<M>,
    lease: Arc<SharedLease<M>>,
    counters: &'a Counters,
    completed: bool,
}

impl<M: Manager> Drop for Claim<'_, M> {
    fn drop(&mut self) {
        // Here rather than after the closure, so a call dropped mid-way counts too.
        if !self.completed {
            self.lease.poisoned.store(true, Relaxed);
            self.counters.shared_errors.fetch_add(1, Relaxed);
        }
        if self.lease.in_flight.fetch_sub(1, Relaxed) == 1
            && let Ok(mut leases) = self.lane.leases.lock()
            && self.lease.in_flight.load(Relaxed) == 0
        {
            // Idle again: back to the pool, so shared calls hold connections only under load.
            leases.retain(|l| !Arc::ptr_eq(l, &self.lease));
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
    /// A call takes an idle connection of the shared lane if there is one, else a new one
    /// while the lane holds fewer than `pool_size`, else joins the least busy. Connections
    /// return to the pool as soon as no shared call uses them. For statements that need no
    /// session state (no transaction, no `SET`): use [`Pool::execute`] for those. A call that
    /// fails or is dropped retires its connection, which is closed once its other calls end.
    /// The connection type must tolerate a cancelled call among others (tokio-postgres'
    /// `Client` does: it drains the abandoned response).
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
            Some(lease) => lease,
            None => {
                let lent = self.acquire().await.map_err(PoolError::from_acquire)?;
                let lease = Arc::new(SharedLease {
                    lent,
                    in_flight: AtomicUsize::new(1),
                    poisoned: AtomicBool::new(false),
                });
                if let Ok(mut leases) = lane.leases.lock() {
                    leases.push(lease.clone());
                }
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
        let result = f(&claim.lease.lent.conn().conn).await;
        claim.completed = result.is_ok();
        result.map_err(PoolError::Query)
    }

    /// A lease to join (its count already raised), or `None` to take a new connection.
    fn pick_shared(&self, lane: &SharedLane<M>) -> Option<Arc<SharedLease<M>>> {
        let leases = lane.leases.lock().ok()?;
        let least = leases
            .iter()
            .filter(|l| !l.poisoned.load(Relaxed))
            .min_by_key(|l| l.in_flight.load(Relaxed));
        let grow = leases.len() < self.inner.config.pool_size as usize
            && self.inner.permits.available_permits() > 0;
        match least {
            Some(l) if l.in_flight.load(Relaxed) == 0 || !grow => {
                l.in_flight.fetch_add(1, Relaxed);
                Some(l.clone())
            }
            _ => None,
        }
    }
}
