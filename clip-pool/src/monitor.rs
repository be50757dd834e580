//! Background maintenance of a pool, once per `maintenance_interval`: closes idle
//! connections the server has dropped, keeps the floor open (re-warming after an outage),
//! grows gently to the steady target, closes the surplus once demand has stayed below it
//! for `idle_timeout`, and refreshes health, recent waits and the gauges.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::Manager;
use crate::pool::{Conn, Inner};
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
        // The first tick one period from now: the pool was just warmed up (or, lazy, has
        // nothing to look at yet).
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // Holding only a weak reference between ticks lets the pool drop, ending this task.
            let Some(inner) = pool.upgrade() else { break };
            maintain(&inner, &mut history).await;
        }
    });
}

/// Wakes the callers waiting for a connection a few times per acquire timeout, so each
/// notices its deadline (one timer for the pool instead of one per waiter); idle while
/// nobody waits.
pub(crate) fn spawn_deadline_ticker<M: Manager>(pool: Weak<Inner<M>>) {
    let Some(timeout) = pool.upgrade().map(|p| p.config.acquire_timeout) else {
        return;
    };
    let period = (timeout / 20).clamp(Duration::from_millis(5), Duration::from_millis(100));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(inner) = pool.upgrade() else { break };
            let c = &inner.counters;
            if c.waiting.load(Relaxed) > 0 {
                c.set_clock(Instant::now());
                c.wake_waiters.notify_waiters();
            }
        }
    });
}

async fn maintain<M: Manager>(inner: &Arc<Inner<M>>, history: &mut History) {
    let c = &*inner.counters;
    let cfg = &inner.config;
    let now = Instant::now();
    c.set_clock(now);

    sweep_idle(inner);
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
    let surplus = stats.connections.saturating_sub(target);
    if surplus > 0 && stats.waiting == 0 {
        close_idle(inner, surplus as usize, |_| true);
    }
}

/// Closes idle connections the server has dropped or that are past their lifetime, and
/// moves the ones bb8 still holds (just opened) to the pool's queue. Without traffic nothing
/// else would look at them: dead connections would count as open, the health never read
/// down.
fn sweep_idle<M: Manager>(inner: &Inner<M>) {
    let now_ms = inner.counters.clock_ms();
    close_idle(inner, usize::MAX, |conn| {
        inner.managed.must_close(conn, now_ms)
    });
    // bb8's own idle list holds a connection only between its opening and the first call
    // (or this sweep) that takes it. Not while a caller waits (that connection may be the
    // one bb8 opened for it, and the caller would then make bb8 open another), and a `get`
    // that found none would open one: look first, and take it like a caller would, with a
    // permit.
    let c = &inner.counters;
    while c.waiting.load(Relaxed) == 0
        && c.connecting.load(Relaxed) == 0
        && inner.bb8.state().idle_connections > 0
    {
        let Ok(permit) = inner.permits.try_acquire() else {
            return;
        };
        let mut get = std::pin::pin!(inner.bb8.get_owned());
        let waker = std::task::Waker::noop();
        let ready = get
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker));
        let std::task::Poll::Ready(Ok(conn)) = ready else {
            return;
        };
        match inner.idle.lock() {
            Ok(mut idle) => idle.push_back(conn),
            Err(_) => return,
        }
        drop(permit);
    }
}

/// Closes up to `count` idle connections for which `close` is true, longest idle first,
/// each holding a free permit (if there is one) until its backend is gone, so callers in
/// line keep their turn and the server never sees a replacement before the old one ends.
fn close_idle<M: Manager>(
    inner: &Inner<M>,
    count: usize,
    mut close: impl FnMut(&mut Conn<M>) -> bool,
) {
    let mut closing = Vec::new();
    if let Ok(mut idle) = inner.idle.lock() {
        let mut i = 0;
        while i < idle.len() && closing.len() < count {
            if close(&mut idle[i])
                && let Some(conn) = idle.remove(i)
            {
                closing.push(conn);
            } else {
                i += 1;
            }
        }
    }
    // Dropped outside the lock: bb8 sees them dirty and closes them.
    for mut conn in closing {
        conn.dirty = true;
        if let Ok(permit) = inner.permits.try_acquire() {
            permit.forget();
            conn.parting_permit = Some(inner.permits.clone());
        }
    }
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
