//! Background maintenance of a pool, once per `maintenance_interval`: closes idle
//! connections the server has dropped, keeps the floor open (re-warming after an outage),
//! grows gently to the steady target, closes the surplus once demand has stayed below it
//! for `idle_timeout`, and refreshes health, recent waits and the gauges.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use crate::Manager;
use crate::managed::Managed;
use crate::pool::Inner;
use crate::stats::{EXHAUSTED_UTILIZATION, PoolHealth, PoolStats, snapshot, verdict};

/// The window over which "average connection wait" is judged.
const RECENT_WAIT_WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
struct History {
    /// (when, highest in-use since the previous tick), over the last `idle_timeout`.
    demand: VecDeque<(Instant, u32)>,
    /// (when, acquisitions, summed wait in µs), over the last `RECENT_WAIT_WINDOW`.
    waits: VecDeque<(Instant, u64, u64)>,
    /// Connections being opened for the floor or the target, off this task.
    opening: Option<tokio::task::JoinHandle<()>>,
    /// `Counters::blocked` at the previous tick.
    blocked: u64,
}

pub(crate) fn spawn<M: Manager>(pool: Weak<Inner<M>>) {
    let Some(interval) = pool.upgrade().map(|p| p.config.maintenance_interval) else {
        return;
    };
    tokio::spawn(async move {
        let mut history = History::default();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // Holding only a weak reference between ticks lets the pool drop, ending this task.
            let Some(inner) = pool.upgrade() else { break };
            maintain(&inner, &mut history).await;
        }
    });
}

async fn maintain<M: Manager>(inner: &Arc<Inner<M>>, history: &mut History) {
    let c = &*inner.counters;
    let cfg = &inner.config;
    let now = Instant::now();

    // Only while nobody uses the pool: callers evict dead connections themselves, and a
    // caller that found the idle list empty during the sweep would make bb8 open another.
    if c.in_use.load(Relaxed) == 0 && c.waiting.load(Relaxed) == 0 {
        evict_broken_idle(inner).await;
    }
    let in_use = c.in_use.load(Relaxed);
    let peak = c.peak_in_use.swap(in_use, Relaxed).max(in_use);
    history.demand.push_back((now, peak));
    while history
        .demand
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) > cfg.idle_timeout)
    {
        history.demand.pop_front();
    }
    let demand = history.demand.iter().map(|(_, p)| *p).max().unwrap_or(0);

    let (count, sum_us) = c.wait.totals();
    history.waits.push_back((now, count, sum_us));
    while history.waits.len() > 1
        && history
            .waits
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) > RECENT_WAIT_WINDOW)
    {
        history.waits.pop_front();
    }
    if let Some(&(_, c0, s0)) = history.waits.front() {
        let recent = (sum_us - s0).checked_div(count - c0).unwrap_or(0);
        c.recent_wait_us.store(recent, Relaxed);
    }

    if let Some(threshold) = cfg.leak_threshold {
        let found = c.warn_leaks(&cfg.name, threshold);
        inner.metrics.leak_warnings.increment(found);
    }

    let mut stats = snapshot(
        &cfg.name,
        (cfg.min_connections, cfg.pool_size, cfg.max_connections),
        c,
    );
    // Saturation over the tick, not at one instant: a caller had to wait for a connection
    // since the last tick, or (nearly) every connection is in use now.
    let blocked = c.blocked.load(Relaxed);
    let blocked_in_tick = blocked - history.blocked;
    history.blocked = blocked;
    let saturated = stats.utilization >= EXHAUSTED_UTILIZATION || blocked_in_tick > 0;
    if !saturated {
        c.saturated_since_ms.store(0, Relaxed);
    } else if c.saturated_since_ms.load(Relaxed) == 0 {
        c.saturated_since_ms.store(c.now_ms(), Relaxed);
    }
    let (health, _) = assess(inner, &stats);
    c.health.store(health as u8, Relaxed);
    stats.health = health;
    inner.metrics.publish(&stats);

    resize(inner, &stats, demand, history).await;
}

/// Opens what the floor or the gentle growth asks for; closes surplus idle connections.
async fn resize<M: Manager>(
    inner: &Arc<Inner<M>>,
    stats: &PoolStats,
    demand: u32,
    history: &mut History,
) {
    let cfg = &inner.config;
    let open = stats.connections + stats.connecting;
    if open < cfg.min_connections {
        spawn_opening(inner, cfg.min_connections - open, history);
        return;
    }
    if open < cfg.pool_size {
        spawn_opening(inner, 1, history);
        return;
    }
    let target = cfg.pool_size.max(demand).min(cfg.max_connections);
    let mut surplus = stats.connections.saturating_sub(target);
    let mut idle = stats.idle;
    while surplus > 0 && idle > 0 && stats.waiting == 0 {
        // bb8 lends the longest-idle connection first (FIFO); marking it dirty closes it.
        let Some(mut taken) = take_idle(inner).await else {
            break;
        };
        taken.conn.dirty = true;
        surplus -= 1;
        idle -= 1;
    }
}

/// Hands each idle connection through bb8 once: giving it back closes it if the manager
/// reports it broken (server restarted, failover, idle kill). Without traffic, nothing
/// else would: dead connections would count as open and the health never read down.
async fn evict_broken_idle<M: Manager>(inner: &Inner<M>) {
    for _ in 0..inner.bb8.state().idle_connections {
        if take_idle(inner).await.is_none() {
            return;
        }
    }
}

/// An idle connection taken by the maintenance task, with the permit a caller would hold.
struct Taken<'a, M: Manager> {
    /// Declared first so it goes back to bb8 before the permit frees a caller to look.
    conn: bb8::PooledConnection<'a, Managed<M>>,
    permit: Option<OwnedSemaphorePermit>,
    managed: &'a Managed<M>,
}

impl<M: Manager> Drop for Taken<'_, M> {
    fn drop(&mut self) {
        if self.managed.must_close(&mut self.conn) {
            // Closed, not given back: the permit stays with it until its backend is gone.
            self.conn.parting_permit = self.permit.take();
        }
    }
}

/// An idle connection for the maintenance task, taken like a caller would (with a permit,
/// so callers in line keep their turn), or `None` rather than wait or open a new one.
async fn take_idle<M: Manager>(inner: &Inner<M>) -> Option<Taken<'_, M>> {
    let permit = inner.permits.clone().try_acquire_owned().ok()?;
    // bb8 opens a connection for a `get` that finds none idle: look first.
    if inner.bb8.state().idle_connections == 0 {
        return None;
    }
    let conn = tokio::time::timeout(Duration::from_millis(1), inner.bb8.get())
        .await
        .ok()?
        .ok()?;
    Some(Taken {
        conn,
        permit: Some(permit),
        managed: &inner.managed,
    })
}

/// Opens `count` connections in a task of their own, one batch at a time: an attempt can
/// last the whole connect timeout (a host that drops packets), and health, gauges and leak
/// warnings must keep their period meanwhile.
fn spawn_opening<M: Manager>(inner: &Arc<Inner<M>>, count: u32, history: &mut History) {
    if history.opening.as_ref().is_some_and(|h| !h.is_finished()) {
        return;
    }
    let pool = Arc::downgrade(inner);
    history.opening = Some(tokio::spawn(async move {
        for _ in 0..count {
            let Some(inner) = pool.upgrade() else { return };
            if inner.open_one().await.is_err() {
                break; // the database is down: one failed probe per tick is enough
            }
        }
    }));
}

/// The health verdict and its reason for a snapshot of this pool.
pub(crate) fn assess<M: Manager>(inner: &Inner<M>, stats: &PoolStats) -> (PoolHealth, String) {
    let c = &*inner.counters;
    let since = c.saturated_since_ms.load(Relaxed);
    let saturated_for =
        (since != 0).then(|| Duration::from_millis(c.now_ms().saturating_sub(since)));
    let down = stats.connections == 0 && c.connect_failed_at_ms.load(Relaxed) != 0;
    verdict(stats, saturated_for, inner.config.exhausted_after, down)
}
