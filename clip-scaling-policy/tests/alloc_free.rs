//! `decide` (and `record` once the state is warm) never touch the heap: a counting global
//! allocator proves it. Counting is per thread, so other tests running in parallel do not
//! disturb it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use clip_scaling_policy::{
    Action, Metrics, ScalingConfig, ScalingMode, ScalingPolicy, ScalingState,
};
use common::{at, idle, mid, served};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
    let policy = ScalingPolicy::new(ScalingConfig::default()).expect("valid");
    let d = policy.decide(&mid(), &ScalingState::new(3), at(0.0));
    assert!(
        allocations_during(|| drop(d.message())) > 0,
        "the message is built on demand"
    );
}

#[test]
fn decide_and_record_do_not_allocate_with_a_full_history() {
    let policy = ScalingPolicy::new(ScalingConfig::default()).expect("valid");
    let mut state = ScalingState::new(10);
    // A week of samples every 15 s, alternating load: full event ring, busy stabilization window.
    let mut now = 0.0;
    for i in 0..40_320u32 {
        let m = match i % 120 {
            0..40 => Metrics {
                cpu_percent: Some(95.0),
                ..mid()
            },
            40..80 => mid(),
            _ => idle(),
        };
        let d = policy.decide(&m, &state, at(now));
        state.record(&d, at(now));
        now += 15.0;
    }
    assert_eq!(
        state.events().len(),
        clip_scaling_policy::DEFAULT_EVENT_CAPACITY
    );

    let samples = [
        Metrics {
            cpu_percent: Some(300.0),
            ..mid()
        },
        mid(),
        idle(),
        Metrics {
            queue_length: None,
            ..idle()
        },
        Metrics {
            cpu_percent: Some(f64::NAN),
            memory_percent: Some(f64::INFINITY),
            ..idle()
        },
        Metrics::default(),
    ];
    let mut actions = Vec::new();
    let mut hot = state.clone();
    hot.set_override(15, "load test", at(now + 3_600.0));
    for m in &samples {
        for s in [&state, &hot] {
            for later in [0.0, 61.0, 301.0] {
                let mut action = Action::Hold;
                let n = allocations_during(|| {
                    let d = policy.decide(m, s, at(now + later));
                    action = d.action;
                    drop(std::hint::black_box(d));
                });
                assert_eq!(n, 0, "decide allocated {n} times on {m:?}");
                actions.push(action);
            }
        }
    }
    // The cases cover every action, so every path was measured.
    for a in [Action::ScaleUp, Action::ScaleDown, Action::Hold] {
        assert!(actions.contains(&a), "{a:?} never happened: {actions:?}");
    }

    // record, on a warm state, reuses its buffers.
    for (i, m) in samples.iter().cycle().take(600).enumerate() {
        let t = at(now + 15.0 * i as f64);
        let d = policy.decide(m, &state, t);
        let n = allocations_during(|| state.record(&d, t));
        assert_eq!(n, 0, "record allocated {n} times");
    }
}

#[test]
fn tracking_decide_and_record_do_not_allocate_once_warm() {
    let policy = ScalingPolicy::new(ScalingConfig {
        mode: ScalingMode::Tracking,
        ..ScalingConfig::default()
    })
    .expect("valid");
    let mut state = ScalingState::new(5);
    // Three days, a decision a minute, with a daily burst: full demand buckets, ready ring and
    // seasonal history (allocated at the first tracking record, once).
    let mut now = 0.0;
    for minute in 0..3 * 1_440u32 {
        let total = if minute % 1_440 / 10 == 60 {
            2_000.0
        } else {
            500.0
        };
        state.set_ready(Some(state.current()));
        let m = Metrics {
            queue_length: Some(f64::from(minute % 97)),
            ..served(total / f64::from(state.current()))
        };
        let d = policy.decide(&m, &state, at(now));
        state.record(&d, at(now));
        now += 60.0;
    }
    let samples = [
        served(300.0),
        served(50.0),
        served(1.0),
        Metrics {
            queue_length: Some(5_000.0),
            ..served(80.0)
        },
        Metrics {
            p95_response_time: Some(std::time::Duration::from_secs(5)),
            ..served(80.0)
        },
        Metrics {
            request_rate: None,
            ..served(80.0)
        },
        Metrics {
            cpu_percent: Some(f64::NAN),
            request_rate: Some(f64::INFINITY),
            ..served(80.0)
        },
        Metrics::default(),
    ];
    let mut actions = Vec::new();
    let mut hot = state.clone();
    hot.set_override(15, "load test", at(now + 3_600.0));
    let mut below_min = state.clone();
    below_min.set_current(1);
    let mut none_ready = state.clone();
    none_ready.set_ready(Some(0));
    for m in &samples {
        for s in [&state, &hot, &below_min, &none_ready] {
            for later in [0.0, 61.0, 301.0, 86_400.0 - 150.0] {
                let mut action = Action::Hold;
                let n = allocations_during(|| {
                    let d = policy.decide_observed(m, at(now + later - 60.0), s, at(now + later));
                    action = d.action;
                    drop(std::hint::black_box(d));
                });
                assert_eq!(n, 0, "decide allocated {n} times on {m:?}");
                actions.push(action);
            }
        }
    }
    for a in [Action::ScaleUp, Action::ScaleDown, Action::Hold] {
        assert!(actions.contains(&a), "{a:?} never happened: {actions:?}");
    }
    for (i, m) in samples.iter().cycle().take(600).enumerate() {
        let t = at(now + 15.0 * i as f64);
        let d = policy.decide(m, &state, t);
        let n = allocations_during(|| state.record(&d, t));
        assert_eq!(n, 0, "record allocated {n} times");
    }
}
