//! Pool sizing and timeouts: defaults, environment variables, validation.

use std::time::Duration;

use crate::ConfigError;

/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What the pool does to a connection's session when a borrower is done with it
/// (`DB_RESET`). Effective for PostgreSQL; other managers have no session to reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResetPolicy {
    /// `DB_RESET=transaction` (default): the next borrower is never inside the previous
    /// one's transaction, open or aborted. Free when the closure used only the connection's
    /// own query methods and [`crate::postgres::PgConnection::begin`] (they track the state);
    /// one round trip when it used the raw client, and a `ROLLBACK` when a transaction was
    /// left open. Session settings (`SET`, temp tables, ...) stay.
    #[default]
    Transaction,
    /// `DB_RESET=full`: `DISCARD ALL` after every borrower (rolling back first if needed):
    /// settings, roles, advisory locks, `LISTEN`, temp tables and prepared statements are
    /// cleared, and the statement cache with them. One round trip per call, plus a prepare
    /// per statement on the next call.
    Full,
}

impl std::str::FromStr for ResetPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "transaction" => Ok(ResetPolicy::Transaction),
            "full" | "discard" | "discard_all" => Ok(ResetPolicy::Full),
            _ => Err(()),
        }
    }
}

/// How a pool sizes itself and how long it waits.
///
/// The pool opens `min_connections` before it is handed out, settles at `pool_size` under
/// steady use, grows to `max_connections` under load, and closes connections above
/// `pool_size` once they have been surplus for `idle_timeout`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolConfig {
    /// Connections opened at start and always kept open (`DB_MIN_CONNECTIONS`, default 2).
    pub min_connections: u32,
    /// Hard ceiling of open connections (`DB_MAX_CONNECTIONS`, default 20).
    pub max_connections: u32,
    /// Steady target: the pool does not shrink below it (`DB_POOL_SIZE`, default 10).
    pub pool_size: u32,
    /// Longest an `execute` waits for a connection (`DB_ACQUIRE_TIMEOUT` ms, default 10 s).
    pub acquire_timeout: Duration,
    /// Longest one connection attempt may take: TCP, TLS, authentication, backend start
    /// (`DB_CONNECT_TIMEOUT` ms, default 5 s). Independent of the acquire timeout: an attempt
    /// that outlives the caller who triggered it still completes and serves the next one.
    pub connect_timeout: Duration,
    /// For PostgreSQL, the server cancels any statement running longer (SQLSTATE 57014), and
    /// a statement the server has not answered within this plus one second fails with a
    /// connection error and its connection is closed: a silent server cannot hang callers
    /// (`DB_STATEMENT_TIMEOUT` ms, default off; 0 disables).
    pub statement_timeout: Option<Duration>,
    /// What is reset between borrowers (`DB_RESET`: `transaction`, the default, or `full`).
    pub reset: ResetPolicy,
    /// How long a connection above `pool_size` may stay unneeded before it is closed
    /// (`DB_IDLE_TIMEOUT` ms, default 300 s).
    pub idle_timeout: Duration,
    /// Connections older than this are closed and replaced (`DB_MAX_LIFETIME` ms, default
    /// 30 min); `None` keeps them forever.
    pub max_lifetime: Option<Duration>,
    /// A closure holding a connection longer than this is logged as a probable leak, once,
    /// by the maintenance task (`DB_LEAK_THRESHOLD` ms, default 30 s); `None` disables it.
    pub leak_threshold: Option<Duration>,
    /// How long the pool must stay saturated (waiters, or >= 95 % in use) before its health
    /// reads exhausted (`DB_EXHAUSTED_AFTER` ms, default 5 s).
    pub exhausted_after: Duration,
    /// Period of the background maintenance: re-warming, shrinking, health, gauges
    /// (`DB_MAINTENANCE_INTERVAL` ms, default 1 s).
    pub maintenance_interval: Duration,
    /// After a failed connection attempt, calls fail at once with that error for this long
    /// instead of hammering a dead server; the next call then probes again
    /// (`DB_RECONNECT_BACKOFF` ms, default 250 ms).
    pub reconnect_backoff: Duration,
    /// Name in metrics labels and logs (`DB_POOL_NAME`, default "primary").
    pub name: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            min_connections: 2,
            max_connections: 20,
            pool_size: 10,
            acquire_timeout: Duration::from_millis(10_000),
            connect_timeout: Duration::from_millis(5_000),
            statement_timeout: None,
            reset: ResetPolicy::Transaction,
            idle_timeout: Duration::from_millis(300_000),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            leak_threshold: Some(Duration::from_secs(30)),
            exhausted_after: Duration::from_secs(5),
            maintenance_interval: Duration::from_secs(1),
            reconnect_backoff: Duration::from_millis(250),
            name: "primary".to_owned(),
        }
    }
}

impl PoolConfig {
    /// Reads the `DB_*` variables (each with or without the `VITE_` prefix, unprefixed
    /// first), falls back to the defaults for the absent ones, and validates the result.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// As [`PoolConfig::from_env`], with variables looked up through `lookup` (tests, config
    /// files, secret stores).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let d = Self::default();
        let cfg = Self {
            min_connections: env.u32("DB_MIN_CONNECTIONS")?.unwrap_or(d.min_connections),
            max_connections: env.u32("DB_MAX_CONNECTIONS")?.unwrap_or(d.max_connections),
            pool_size: env.u32("DB_POOL_SIZE")?.unwrap_or(d.pool_size),
            acquire_timeout: env
                .millis("DB_ACQUIRE_TIMEOUT")?
                .unwrap_or(d.acquire_timeout),
            connect_timeout: env
                .millis("DB_CONNECT_TIMEOUT")?
                .unwrap_or(d.connect_timeout),
            statement_timeout: env
                .optional_millis("DB_STATEMENT_TIMEOUT")?
                .unwrap_or(d.statement_timeout),
            reset: env
                .parsed("DB_RESET", "transaction or full", |s| s.parse().ok())?
                .unwrap_or(d.reset),
            idle_timeout: env.millis("DB_IDLE_TIMEOUT")?.unwrap_or(d.idle_timeout),
            max_lifetime: env
                .optional_millis("DB_MAX_LIFETIME")?
                .unwrap_or(d.max_lifetime),
            leak_threshold: env
                .optional_millis("DB_LEAK_THRESHOLD")?
                .unwrap_or(d.leak_threshold),
            exhausted_after: env
                .millis("DB_EXHAUSTED_AFTER")?
                .unwrap_or(d.exhausted_after),
            maintenance_interval: env
                .millis("DB_MAINTENANCE_INTERVAL")?
                .unwrap_or(d.maintenance_interval),
            reconnect_backoff: env
                .millis("DB_RECONNECT_BACKOFF")?
                .unwrap_or(d.reconnect_backoff),
            name: env.get("DB_POOL_NAME").map(|(_, v)| v).unwrap_or(d.name),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the invariants `1 <= min <= size <= max` and timeouts between 1 ms and a year;
    /// the error names the variable to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |variable: &'static str, reason: String| {
            Err(ConfigError::Invalid {
                variable,
                value: String::new(),
                reason,
            })
        };
        if self.max_connections == 0 {
            return invalid("DB_MAX_CONNECTIONS", "must be at least 1".into());
        }
        if self.pool_size == 0 {
            return invalid("DB_POOL_SIZE", "must be at least 1".into());
        }
        if self.min_connections == 0 {
            // `connect` opens at least one connection to report a bad URL or password at
            // start; a pool that must start without its database uses `connect_lazy`.
            return invalid(
                "DB_MIN_CONNECTIONS",
                "must be at least 1 (to start without the database, build the pool lazily)".into(),
            );
        }
        if self.min_connections > self.pool_size {
            return invalid(
                "DB_MIN_CONNECTIONS",
                format!(
                    "{} is above DB_POOL_SIZE ({}): the minimum cannot exceed the target",
                    self.min_connections, self.pool_size
                ),
            );
        }
        if self.pool_size > self.max_connections {
            return invalid(
                "DB_POOL_SIZE",
                format!(
                    "{} is above DB_MAX_CONNECTIONS ({}): the target cannot exceed the maximum",
                    self.pool_size, self.max_connections
                ),
            );
        }
        for (variable, value) in [
            ("DB_ACQUIRE_TIMEOUT", self.acquire_timeout),
            ("DB_CONNECT_TIMEOUT", self.connect_timeout),
            ("DB_IDLE_TIMEOUT", self.idle_timeout),
            ("DB_EXHAUSTED_AFTER", self.exhausted_after),
            ("DB_MAINTENANCE_INTERVAL", self.maintenance_interval),
        ] {
            if value.is_zero() {
                return invalid(variable, "must be a positive number of milliseconds".into());
            }
        }
        // Deadlines and timers add these to `Instant::now()`, which panics on overflow: an
        // absurd value (a typo, u64::MAX) must be refused here, not crash the first call.
        for (variable, value) in [
            ("DB_ACQUIRE_TIMEOUT", Some(self.acquire_timeout)),
            ("DB_CONNECT_TIMEOUT", Some(self.connect_timeout)),
            ("DB_STATEMENT_TIMEOUT", self.statement_timeout),
            ("DB_IDLE_TIMEOUT", Some(self.idle_timeout)),
            ("DB_EXHAUSTED_AFTER", Some(self.exhausted_after)),
            ("DB_MAINTENANCE_INTERVAL", Some(self.maintenance_interval)),
            ("DB_RECONNECT_BACKOFF", Some(self.reconnect_backoff)),
            ("DB_MAX_LIFETIME", self.max_lifetime),
            ("DB_LEAK_THRESHOLD", self.leak_threshold),
        ] {
            if value.is_some_and(|d| d > MAX_DURATION) {
                return invalid(
                    variable,
                    format!("must be at most {} ms (a year)", MAX_DURATION.as_millis()),
                );
            }
        }
        for (variable, value) in [
            ("DB_MAX_LIFETIME", self.max_lifetime),
            ("DB_STATEMENT_TIMEOUT", self.statement_timeout),
        ] {
            if value.is_some_and(|d| d.is_zero()) {
                return invalid(variable, "must be positive, or 0 to disable".into());
            }
        }
        Ok(())
    }
}

/// Environment lookups that accept `NAME` or `VITE_NAME` and name the variable in errors.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value and the spelling it was found under.
    fn get(&self, name: &'static str) -> Option<(String, String)> {
        if let Some(v) = (self.0)(name) {
            return Some((name.to_owned(), v));
        }
        let prefixed = format!("VITE_{name}");
        (self.0)(&prefixed).map(|v| (prefixed, v))
    }

    fn u32(&self, name: &'static str) -> Result<Option<u32>, ConfigError> {
        self.parsed(name, "a whole number", |s| s.parse::<u32>().ok())
    }

    fn millis(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        self.parsed(name, "a whole number of milliseconds", |s| {
            s.parse::<u64>().ok().map(Duration::from_millis)
        })
    }

    /// Milliseconds where `0` means "disabled".
    fn optional_millis(&self, name: &'static str) -> Result<Option<Option<Duration>>, ConfigError> {
        self.parsed(name, "a whole number of milliseconds (0 disables)", |s| {
            let ms = s.parse::<u64>().ok()?;
            Some((ms > 0).then(|| Duration::from_millis(ms)))
        })
    }

    fn parsed<T>(
        &self,
        name: &'static str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((spelling, raw)) = self.get(name) else {
            return Ok(None);
        };
        match parse(raw.trim()) {
            Some(v) => Ok(Some(v)),
            None => Err(ConfigError::Invalid {
                variable: name,
                value: raw,
                reason: format!("{spelling} must be {expected}"),
            }),
        }
    }
}
