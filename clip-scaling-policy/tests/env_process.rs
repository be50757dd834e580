//! `ScalingConfig::from_env` against the real process environment. The only test in this binary,
//! so setting variables cannot race another test reading them.
#![cfg(unix)] // non-UTF-8 values are built from bytes, a Unix notion

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use clip_scaling_policy::{ScalingConfig, ScalingError};

const SCALING_VARIABLES: [&str; 35] = [
    "AUTO_SCALING_ENABLED",
    "MIN_INSTANCES",
    "MAX_INSTANCES",
    "CPU_THRESHOLD",
    "CPU_SCALE_DOWN_THRESHOLD",
    "MEMORY_THRESHOLD",
    "MEMORY_SCALE_DOWN_THRESHOLD",
    "REQUEST_RATE_THRESHOLD",
    "REQUEST_RATE_SCALE_DOWN_THRESHOLD",
    "QUEUE_LENGTH_THRESHOLD",
    "QUEUE_LENGTH_SCALE_DOWN_THRESHOLD",
    "RESPONSE_TIME_THRESHOLD_MS",
    "RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS",
    "SCALE_UP_COOLDOWN",
    "SCALE_DOWN_COOLDOWN",
    "SCALE_DOWN_STABILIZATION",
    "SCALE_UP_MAX_PERCENT",
    "SCALE_UP_MAX_INSTANCES",
    "SCALE_UP_PERIOD",
    "SCALE_DOWN_MAX_PERCENT",
    "SCALE_DOWN_MAX_INSTANCES",
    "SCALE_DOWN_PERIOD",
    "INSTANCE_WARMUP",
    "METRICS_MAX_AGE",
    "SCALING_IGNORE_METRICS",
    "SCALING_MODE",
    "TRACKING_CPU_TARGET",
    "TRACKING_REQUEST_RATE_TARGET",
    "TRACKING_SCALE_DOWN_TOLERANCE",
    "TRACKING_WINDOW",
    "TRACKING_LEAD_TIME",
    "TRACKING_JOBS_PER_INSTANCE",
    "TRACKING_JOB_WAIT_SLO",
    "TRACKING_LATENCY_GUARD",
    "TRACKING_SEASONAL",
];

#[test]
fn from_env_reads_the_process_environment_and_refuses_non_utf8_by_name() {
    // SAFETY: no other thread of this test binary reads or writes the environment.
    unsafe {
        // Start from a clean slate whatever the shell running the tests exports.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if SCALING_VARIABLES
                .iter()
                .any(|v| name == *v || name == format!("VITE_{v}"))
            {
                std::env::remove_var(&*name);
            }
        }
        std::env::set_var("VITE_MAX_INSTANCES", "12");
        std::env::set_var("SCALE_UP_COOLDOWN", "45");
    }
    let c = ScalingConfig::from_env().expect("valid environment");
    assert_eq!(c.max_instances, 12);
    assert_eq!(c.scale_up_cooldown.as_secs(), 45);

    // SAFETY: as above.
    unsafe { std::env::set_var("MIN_INSTANCES", OsStr::from_bytes(b"4\xff")) };
    let err = ScalingConfig::from_env().expect_err("not UTF-8");
    assert!(
        matches!(&err, ScalingError::InvalidVariable { variable, .. } if variable == "MIN_INSTANCES"),
        "{err:?}"
    );
    // SAFETY: as above.
    unsafe {
        for name in ["VITE_MAX_INSTANCES", "SCALE_UP_COOLDOWN", "MIN_INSTANCES"] {
            std::env::remove_var(name);
        }
    }
    assert_eq!(ScalingConfig::from_env(), Ok(ScalingConfig::default()));
}
