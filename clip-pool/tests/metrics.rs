//! The `clip_pool_*` metrics a dashboard is built on: names, the `pool` label, and values
//! that follow the pool's own stats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clip_pool::{Pool, PoolConfig, PoolError};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// A recorder keeping the last value of each series (histograms: their count), keyed
/// `name{pool=...}`.
#[derive(Clone, Default)]
struct Values(Arc<Mutex<HashMap<String, f64>>>);

impl Values {
    fn get(&self, series: &str) -> Option<f64> {
        self.0.lock().unwrap().get(series).copied()
    }
}

struct Series {
    key: String,
    values: Values,
}

impl Series {
    fn update(&self, f: impl FnOnce(&mut f64)) {
        f(self
            .values
            .0
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default());
    }
}

impl CounterFn for Series {
    fn increment(&self, v: u64) {
        self.update(|x| *x += v as f64);
    }
    fn absolute(&self, v: u64) {
        self.update(|x| *x = x.max(v as f64));
    }
}

impl GaugeFn for Series {
    fn increment(&self, v: f64) {
        self.update(|x| *x += v);
    }
    fn decrement(&self, v: f64) {
        self.update(|x| *x -= v);
    }
    fn set(&self, v: f64) {
        self.update(|x| *x = v);
    }
}

impl HistogramFn for Series {
    fn record(&self, _: f64) {
        self.update(|x| *x += 1.0);
    }
}

impl Values {
    fn series(&self, key: &Key) -> Arc<Series> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let key = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(key.clone()).or_default();
        Arc::new(Series {
            key,
            values: self.clone(),
        })
    }
}

impl Recorder for Values {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

/// Connections are numbers.
#[derive(Default)]
struct Numbers(std::sync::atomic::AtomicU32);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl bb8::ManageConnection for Numbers {
    type Connection = u32;
    type Error = Never;
    async fn connect(&self) -> Result<u32, Never> {
        Ok(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
    async fn is_valid(&self, _: &mut u32) -> Result<(), Never> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u32) -> bool {
        false
    }
}

#[tokio::test]
async fn the_documented_series_follow_the_stats() {
    let values = Values::default();
    let cfg = PoolConfig {
        name: "main".into(),
        min_connections: 1,
        pool_size: 1,
        max_connections: 1,
        acquire_timeout: Duration::from_millis(100),
        maintenance_interval: Duration::from_millis(20),
        ..PoolConfig::default()
    };
    let pool =
        metrics::with_local_recorder(&values, || Pool::new_lazy(Numbers::default(), cfg)).unwrap();
    for _ in 0..3 {
        pool.execute(async |_| Ok::<_, Never>(())).await.unwrap();
    }
    pool.execute(async |_| Err::<(), _>(Never))
        .await
        .unwrap_err();
    // One connection, held: the next call times out.
    let held = pool.execute(async |_| {
        let timed_out = pool.execute(async |_| Ok::<_, Never>(())).await;
        Ok::<_, Never>(matches!(timed_out, Err(PoolError::Timeout { .. })))
    });
    assert!(held.await.unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let s = pool.stats();
    let v = |name: &str| {
        values
            .get(&format!("{name}{{pool=main}}"))
            .unwrap_or_else(|| panic!("{name} not registered with pool=main: {:?}", values.0))
    };
    assert_eq!(v("clip_pool_connections"), f64::from(s.connections));
    assert_eq!(v("clip_pool_connections"), 1.0);
    assert_eq!(v("clip_pool_connections_idle"), 1.0);
    assert_eq!(v("clip_pool_connections_in_use"), 0.0);
    assert_eq!(v("clip_pool_waiting"), 0.0);
    assert_eq!(v("clip_pool_connections_max"), 1.0);
    assert_eq!(v("clip_pool_utilization_ratio"), 0.0);
    assert_eq!(v("clip_pool_health"), 0.0);
    assert_eq!(
        v("clip_pool_acquire_seconds"),
        5.0,
        "one sample per acquisition"
    );
    assert_eq!(v("clip_pool_acquisitions_total"), s.acquisitions as f64);
    assert_eq!(v("clip_pool_acquisitions_total"), 5.0);
    assert_eq!(v("clip_pool_timeouts_total"), 1.0);
    assert_eq!(v("clip_pool_query_errors_total"), 1.0);
    assert_eq!(v("clip_pool_connections_created_total"), 1.0);
    assert_eq!(v("clip_pool_connections_closed_total"), 0.0);
    assert_eq!(v("clip_pool_connect_errors_total"), 0.0);
    assert_eq!(v("clip_pool_leak_warnings_total"), 0.0);
}
