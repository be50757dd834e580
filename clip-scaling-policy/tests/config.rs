//! Configuration: the guide's defaults, environment variables (with or without `VITE_`),
//! and validation errors that name the variable to fix.

use std::collections::HashMap;
use std::time::Duration;

use clip_scaling_policy::{MetricKind, ScalingConfig, ScalingError, ScalingPolicy};

fn from(vars: &[(&str, &str)]) -> Result<ScalingConfig, ScalingError> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ScalingConfig::from_lookup(|name| env.get(name).cloned())
}

#[test]
fn defaults_are_the_guides() {
    let c = ScalingConfig::default();
    assert!(c.enabled);
    assert_eq!((c.min_instances, c.max_instances), (3, 20));
    assert_eq!((c.cpu.up, c.cpu.down), (70.0, 35.0));
    assert_eq!((c.memory.up, c.memory.down), (80.0, 40.0));
    assert_eq!((c.request_rate.up, c.request_rate.down), (100.0, 30.0));
    assert_eq!((c.queue_length.up, c.queue_length.down), (50.0, 10.0));
    assert_eq!(
        (c.p95_response_time.up, c.p95_response_time.down),
        (2.0, 0.5)
    );
    assert_eq!(c.scale_up_cooldown, Duration::from_secs(60));
    assert_eq!(c.scale_down_cooldown, Duration::from_secs(300));
    assert_eq!(from(&[]).expect("empty env is valid"), c);
    assert!(ScalingPolicy::new(c).is_ok());
}

#[test]
fn reads_the_guides_variables_with_or_without_vite_prefix() {
    let c = from(&[
        ("AUTO_SCALING_ENABLED", "false"),
        ("VITE_MIN_INSTANCES", "2"),
        ("MAX_INSTANCES", "50"),
        ("CPU_THRESHOLD", "75.5"),
        ("VITE_MEMORY_THRESHOLD", "85"),
        ("REQUEST_RATE_THRESHOLD", "200"),
        ("SCALE_UP_COOLDOWN", "30"),
        ("VITE_SCALE_DOWN_COOLDOWN", "600"),
        ("QUEUE_LENGTH_THRESHOLD", "80"),
        ("RESPONSE_TIME_THRESHOLD_MS", "1500"),
        ("RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS", "250"),
        ("SCALE_DOWN_STABILIZATION", "120"),
        ("SCALE_UP_MAX_INSTANCES", "10"),
        ("INSTANCE_WARMUP", "45"),
        ("SCALING_IGNORE_METRICS", "queue_length, p95"),
    ])
    .expect("valid");
    assert!(!c.enabled);
    assert_eq!((c.min_instances, c.max_instances), (2, 50));
    assert_eq!(
        (c.cpu.up, c.memory.up, c.request_rate.up),
        (75.5, 85.0, 200.0)
    );
    assert_eq!(c.scale_up_cooldown, Duration::from_secs(30));
    assert_eq!(c.scale_down_cooldown, Duration::from_secs(600));
    assert_eq!(c.queue_length.up, 80.0);
    assert_eq!(
        (c.p95_response_time.up, c.p95_response_time.down),
        (1.5, 0.25)
    );
    assert_eq!(c.scale_down_stabilization, Duration::from_secs(120));
    assert_eq!(c.scale_up_step.max_instances, 10);
    assert_eq!(c.warmup, Duration::from_secs(45));
    assert!(!c.rule(MetricKind::QueueLength).enabled);
    assert!(!c.rule(MetricKind::P95ResponseTime).enabled);
    assert!(c.rule(MetricKind::CpuPercent).enabled);
    // The plain name wins over the prefixed one.
    let c = from(&[("MIN_INSTANCES", "4"), ("VITE_MIN_INSTANCES", "5")]).expect("valid");
    assert_eq!(c.min_instances, 4);
}

#[test]
fn unparsable_values_name_the_variable_as_set() {
    let cases = [
        ("VITE_AUTO_SCALING_ENABLED", "maybe"),
        ("MIN_INSTANCES", "-1"),
        ("MAX_INSTANCES", "many"),
        ("CPU_THRESHOLD", "NaN"),
        ("SCALE_UP_COOLDOWN", "-5"),
        ("SCALE_DOWN_COOLDOWN", "5m"),
        ("SCALING_IGNORE_METRICS", "cpu,disk"),
    ];
    for (var, value) in cases {
        let err = from(&[(var, value)]).expect_err(var);
        assert!(
            matches!(&err, ScalingError::InvalidVariable { variable, .. } if variable == var),
            "{var}: {err:?}"
        );
        assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
    }
}

#[test]
fn validate_refuses_what_cannot_drive_a_fleet_and_names_the_variable() {
    let cases: [(&[(&str, &str)], &str); 8] = [
        (
            &[("CPU_SCALE_DOWN_THRESHOLD", "70")],
            "CPU_SCALE_DOWN_THRESHOLD=70 is not below CPU_THRESHOLD=70",
        ),
        (
            &[("MEMORY_THRESHOLD", "30")],
            "MEMORY_SCALE_DOWN_THRESHOLD=40 is not below MEMORY_THRESHOLD=30",
        ),
        (
            &[("REQUEST_RATE_SCALE_DOWN_THRESHOLD", "150")],
            "REQUEST_RATE_SCALE_DOWN_THRESHOLD=150",
        ),
        (
            &[("RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS", "2000")],
            "RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS=2000 is not below RESPONSE_TIME_THRESHOLD_MS=2000",
        ),
        (
            &[("MIN_INSTANCES", "10"), ("MAX_INSTANCES", "5")],
            "MIN_INSTANCES=10 is above MAX_INSTANCES=5",
        ),
        (&[("MAX_INSTANCES", "0")], "MAX_INSTANCES=0"),
        (
            &[
                ("QUEUE_LENGTH_THRESHOLD", "0"),
                ("QUEUE_LENGTH_SCALE_DOWN_THRESHOLD", "0"),
            ],
            "QUEUE_LENGTH_THRESHOLD=0",
        ),
        (
            &[(
                "SCALING_IGNORE_METRICS",
                "cpu,memory,request_rate,queue_length,p95",
            )],
            "SCALING_IGNORE_METRICS",
        ),
    ];
    for (vars, expected) in cases {
        let err = from(vars).expect_err(expected);
        assert!(err.to_string().contains(expected), "{expected}: got {err}");
    }
    let c = ScalingConfig {
        min_instances: 21,
        ..ScalingConfig::default()
    };
    assert_eq!(
        ScalingPolicy::new(c).expect_err("min above max"),
        ScalingError::MinAboveMax { min: 21, max: 20 }
    );
}

#[test]
fn ignored_metrics_let_a_service_without_a_queue_scale_down() {
    use clip_scaling_policy::{Action, Metrics, ScalingState};
    let m = Metrics {
        cpu_percent: Some(10.0),
        memory_percent: Some(20.0),
        request_rate: Some(5.0),
        queue_length: None,
        p95_response_time: Some(Duration::from_millis(100)),
    };
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let strict = ScalingPolicy::new(ScalingConfig::default()).expect("valid");
    assert_eq!(
        strict.decide(&m, &ScalingState::new(8), now).action,
        Action::Hold
    );
    let relaxed =
        ScalingPolicy::new(from(&[("SCALING_IGNORE_METRICS", "queue_length")]).expect("valid"))
            .expect("valid");
    assert_eq!(
        relaxed.decide(&m, &ScalingState::new(8), now).action,
        Action::ScaleDown
    );
}

#[test]
fn millisecond_thresholds_are_reported_as_set() {
    let err = from(&[
        ("RESPONSE_TIME_THRESHOLD_MS", "300"),
        ("RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS", "700"),
    ])
    .expect_err("empty band");
    assert!(
        err.to_string().starts_with(
            "RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS=700 is not below RESPONSE_TIME_THRESHOLD_MS=300:"
        ),
        "{err}"
    );
    let c = from(&[("RESPONSE_TIME_THRESHOLD_MS", "1100")]).expect("valid");
    assert_eq!(c.p95_response_time.up, 1.1);
}
