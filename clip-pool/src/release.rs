//! What happens to a connection between two borrowers, and when it is closed, for connection
//! types that need more than bb8's `has_broken`: PostgreSQL rolls back what a borrower left
//! open (or resets the whole session), and asks the server to cancel a statement whose caller
//! went away. Other managers have no hook and their connections are reused or dropped as is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::Semaphore;

use crate::stats::Counters;

/// A future borrowed from a hook.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The per-connection-type behaviour the pool calls at the end of each borrow.
pub(crate) trait Release<C>: Send + Sync {
    /// Whether `conn`'s session must be cleaned before the next borrower (no I/O: this runs
    /// after every call).
    fn needs_reset(&self, conn: &C) -> bool;

    /// Cleans the session; `false` when the connection cannot be trusted any more and must be
    /// closed.
    fn reset<'a>(&'a self, conn: &'a mut C) -> BoxFuture<'a, bool>;

    /// Whether the connection is known to be broken, readable through a shared reference
    /// (the shared lane cannot call the manager's `has_broken`, which takes `&mut`).
    fn is_broken(&self, conn: &C) -> bool;

    /// Takes over a connection the pool closes. `interrupted`: a call was cut short while it
    /// ran on it (the server may still be running its statement). `slot` must live until the
    /// server has let go of the connection, so the pool counts it until then.
    fn close(&self, conn: Box<C>, interrupted: bool, slot: Slot);
}

/// The pool's claim on a connection being closed: while it lives the connection still counts
/// as open, and, for a call cut short, its permit stays taken, so the server never sees more
/// of this pool's backends than `max_connections` while it winds them down.
pub(crate) struct Slot {
    counters: Arc<Counters>,
    /// The semaphore of the permit the connection holds, if it holds one.
    permit: Option<Arc<Semaphore>>,
}

impl Slot {
    pub fn new(counters: Arc<Counters>, permit: Option<Arc<Semaphore>>) -> Self {
        counters.closing.fetch_add(1, Relaxed);
        Self { counters, permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counters.closing.fetch_sub(1, Relaxed);
        self.counters.open.fetch_sub(1, Relaxed);
        self.counters.closed.fetch_add(1, Relaxed);
        if let Some(permits) = self.permit.take() {
            permits.add_permits(1);
        }
    }
}
