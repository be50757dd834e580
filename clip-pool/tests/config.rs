//! PoolConfig: the guide's defaults, its variables with and without `VITE_`, validation.

use std::collections::HashMap;
use std::time::Duration;

use clip_pool::{ConfigError, PoolConfig, ResetPolicy};

fn from(vars: &[(&str, &str)]) -> Result<PoolConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    PoolConfig::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults_are_the_guides() {
    let c = from(&[]).unwrap();
    assert_eq!(c, PoolConfig::default());
    assert_eq!(
        (c.min_connections, c.max_connections, c.pool_size),
        (2, 20, 10)
    );
    assert_eq!(c.acquire_timeout, Duration::from_millis(10_000));
    assert_eq!(c.idle_timeout, Duration::from_millis(300_000));
    assert_eq!(c.connect_timeout, Duration::from_millis(5_000));
    assert_eq!(c.statement_timeout, None);
    assert_eq!(c.reset, ResetPolicy::Transaction);
}

#[test]
fn connect_and_statement_timeouts_and_the_reset_policy_are_read() {
    let c = from(&[
        ("DB_CONNECT_TIMEOUT", "8000"),
        ("DB_STATEMENT_TIMEOUT", "2500"),
        ("DB_RESET", "full"),
        ("DB_ACQUIRE_TIMEOUT", "200"),
    ])
    .unwrap();
    assert_eq!(c.connect_timeout, Duration::from_secs(8));
    assert_eq!(c.statement_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(c.reset, ResetPolicy::Full);
    // The acquire timeout no longer bounds connecting.
    assert_eq!(c.acquire_timeout, Duration::from_millis(200));
    assert_eq!(
        from(&[("DB_STATEMENT_TIMEOUT", "0")])
            .unwrap()
            .statement_timeout,
        None
    );
    let err = from(&[("DB_RESET", "sometimes")]).unwrap_err();
    assert!(err.to_string().contains("DB_RESET"), "{err}");
    assert!(err.to_string().contains("transaction or full"), "{err}");
}

#[test]
fn the_guides_variables_are_read_with_or_without_the_vite_prefix() {
    let c = from(&[
        ("VITE_DB_MIN_CONNECTIONS", "5"),
        ("VITE_DB_MAX_CONNECTIONS", "50"),
        ("DB_POOL_SIZE", "20"),
        ("VITE_DB_ACQUIRE_TIMEOUT", "2500"),
        ("DB_IDLE_TIMEOUT", "60000"),
        ("DB_LEAK_THRESHOLD", "0"),
    ])
    .unwrap();
    assert_eq!(
        (c.min_connections, c.max_connections, c.pool_size),
        (5, 50, 20)
    );
    assert_eq!(c.acquire_timeout, Duration::from_millis(2500));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.leak_threshold, None);
    // The unprefixed spelling wins when both are set.
    let c = from(&[("DB_POOL_SIZE", "7"), ("VITE_DB_POOL_SIZE", "9")]).unwrap();
    assert_eq!(c.pool_size, 7);
}

#[test]
fn validation_names_the_variable_to_fix() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("DB_MIN_CONNECTIONS", "12")], "DB_MIN_CONNECTIONS"),
        (&[("DB_POOL_SIZE", "30")], "DB_POOL_SIZE"),
        (&[("DB_MAX_CONNECTIONS", "0")], "DB_MAX_CONNECTIONS"),
        (
            &[("DB_POOL_SIZE", "0"), ("DB_MIN_CONNECTIONS", "0")],
            "DB_POOL_SIZE",
        ),
        (&[("DB_ACQUIRE_TIMEOUT", "0")], "DB_ACQUIRE_TIMEOUT"),
        (&[("VITE_DB_MIN_CONNECTIONS", "0")], "DB_MIN_CONNECTIONS"),
        (&[("VITE_DB_IDLE_TIMEOUT", "soon")], "DB_IDLE_TIMEOUT"),
        (&[("DB_MAX_CONNECTIONS", "-3")], "DB_MAX_CONNECTIONS"),
        (
            &[("DB_MAX_CONNECTIONS", "99999999999")],
            "DB_MAX_CONNECTIONS",
        ),
        // Parses as u64, but would overflow `Instant::now() + timeout` in the first call.
        (
            &[("DB_ACQUIRE_TIMEOUT", "18446744073709551615")],
            "DB_ACQUIRE_TIMEOUT",
        ),
        (
            &[("DB_MAINTENANCE_INTERVAL", "18446744073709551615")],
            "DB_MAINTENANCE_INTERVAL",
        ),
        (
            &[("VITE_DB_MAX_LIFETIME", "18446744073709551615")],
            "DB_MAX_LIFETIME",
        ),
        (&[("DB_CONNECT_TIMEOUT", "0")], "DB_CONNECT_TIMEOUT"),
        (
            &[("DB_STATEMENT_TIMEOUT", "18446744073709551615")],
            "DB_STATEMENT_TIMEOUT",
        ),
    ];
    for (vars, variable) in cases {
        let err = from(vars).unwrap_err();
        let ConfigError::Invalid {
            variable: named, ..
        } = &err;
        assert_eq!(named, variable, "{vars:?}: {err}");
        assert!(err.to_string().contains(variable), "{err}");
    }
    let err = from(&[("VITE_DB_IDLE_TIMEOUT", "soon")]).unwrap_err();
    assert!(err.to_string().contains("\"soon\""), "{err}");
    assert!(
        err.to_string().contains("VITE_DB_IDLE_TIMEOUT"),
        "the spelling used is named: {err}"
    );
}
