//! The connection URL: what tokio-postgres understands, plus what it does not (`sslmode`
//! beyond `require`, `sslrootcert`, the transaction-pooler switch), with production
//! defaults for what the URL leaves out.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::ConfigError;

/// The port Supabase (Supavisor) serves its transaction-mode pooler on.
pub const SUPABASE_TRANSACTION_POOLER_PORT: u16 = 6543;

/// libpq's `sslmode`, all six, with libpq 16's semantics (see the crate README's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// Plain TCP first; TLS if the server refuses that (its `pg_hba.conf` wants TLS).
    Allow,
    /// TLS first; plain TCP if the server has no TLS or the handshake fails (libpq's
    /// default). The certificate chain is checked only when `sslrootcert` names a file.
    #[default]
    Prefer,
    /// TLS or fail; the certificate chain is checked only when `sslrootcert` names a file
    /// (then as `verify-ca`, as libpq does).
    Require,
    /// TLS with the certificate chain checked against `sslrootcert` (required), any host
    /// name.
    VerifyCa,
    /// TLS with the chain and the host name checked: what production should use.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(url_error(
                    "sslmode",
                    other,
                    "expected disable, allow, prefer, require, verify-ca or verify-full",
                ));
            }
        })
    }
}

impl SslMode {
    /// The name libpq uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`; only with `verify-full`).
    #[default]
    System,
    /// A PEM file, as managed providers ship their own CA (`sslrootcert=/path/ca.pem`).
    File(PathBuf),
}

/// How statements are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementMode {
    /// Named prepared statements cached per connection (up to the capacity): one round
    /// trip per query after the first use. For direct connections and session poolers.
    Cached {
        /// Statements kept per connection.
        capacity: usize,
    },
    /// Unnamed statements only (`query_typed`), for transaction-mode poolers (pgbouncer,
    /// Supavisor on port 6543) where a named statement prepared on one server connection is
    /// missing on the next.
    TransactionPooler,
}

/// Everything the pool needs to open PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// tokio-postgres' own configuration (hosts, user, database, timeouts, keepalives).
    pub config: tokio_postgres::Config,
    /// TLS policy.
    pub ssl_mode: SslMode,
    /// Root certificates, when `root_certs_given`.
    pub root_certs: RootCerts,
    /// Whether `sslrootcert` was given: without it nothing is verified (and `verify-ca` /
    /// `verify-full` are refused); with a file, every mode that uses TLS checks the chain.
    pub root_certs_given: bool,
    /// Named-and-cached or unnamed statements.
    pub statements: StatementMode,
}

/// Default TCP connect timeout per host when the URL sets none (the pool's own
/// `DB_CONNECT_TIMEOUT` bounds the whole attempt, TLS and authentication included).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default TCP keepalive idle time. With [`DEFAULT_KEEPALIVES_INTERVAL`] and
/// [`DEFAULT_KEEPALIVES_RETRIES`], an idle connection to a dead server (or through a dropped
/// NAT entry) is noticed after 10 + 3 x 5 = 25 s.
pub const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
/// Default time between unanswered keepalive probes.
pub const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
/// Default number of unanswered keepalive probes before the connection is dropped.
pub const DEFAULT_KEEPALIVES_RETRIES: u32 = 3;
/// Default `TCP_USER_TIMEOUT`: data the server has not acknowledged for this long (a query
/// sent to a dead server) drops the connection, instead of ~15 minutes of retransmissions.
pub const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(25);
/// Default statement-cache capacity per connection.
pub const DEFAULT_STATEMENT_CACHE: usize = 256;

impl PgOptions {
    /// Parses a `postgres://` URL or a `key=value` connection string.
    ///
    /// Besides tokio-postgres' keys it accepts `sslmode` (all six libpq modes),
    /// `sslrootcert` (a PEM path, or `system`: the system's roots, implying `verify-full`,
    /// as in libpq 16), `pgbouncer=true` or
    /// `pool_mode=transaction` (transaction-pooler mode, implied by port 6543 unless
    /// `pgbouncer=false`), and `statement_cache_size`.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let (rest, ours) = split_params(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| url_error("DATABASE_URL", &redact(url), &e.to_string()))?;
        let mut ssl_mode = None;
        let mut root_certs = RootCerts::default();
        let mut root_certs_given = false;
        let mut pooler: Option<bool> = None;
        let mut capacity = DEFAULT_STATEMENT_CACHE;
        let mut keepalives_idle_given = false;
        for (key, value) in ours {
            match key.as_str() {
                "sslmode" => ssl_mode = Some(value.parse::<SslMode>()?),
                "sslrootcert" => {
                    root_certs_given = true;
                    root_certs = if value == "system" {
                        RootCerts::System
                    } else {
                        RootCerts::File(PathBuf::from(value))
                    };
                }
                "pgbouncer" => pooler = Some(parse_bool("pgbouncer", &value)?),
                "pool_mode" => {
                    pooler = Some(match value.as_str() {
                        "transaction" | "statement" => true,
                        "session" => false,
                        other => {
                            return Err(url_error(
                                "pool_mode",
                                other,
                                "expected transaction or session",
                            ));
                        }
                    })
                }
                "statement_cache_size" => {
                    capacity = value.parse().map_err(|_| {
                        url_error("statement_cache_size", &value, "expected a whole number")
                    })?
                }
                "keepalives_idle" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        url_error(
                            "keepalives_idle",
                            &value,
                            "expected a whole number of seconds",
                        )
                    })?;
                    keepalives_idle_given = true;
                    config.keepalives_idle(Duration::from_secs(secs.max(1)));
                }
                _ => {} // OUR_KEYS lists exactly the keys matched above
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if !keepalives_idle_given {
            config.keepalives_idle(DEFAULT_KEEPALIVES_IDLE);
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(DEFAULT_KEEPALIVES_INTERVAL);
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(DEFAULT_KEEPALIVES_RETRIES);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("clip-pool");
        }
        if config.get_hosts().is_empty() {
            return Err(url_error("DATABASE_URL", &redact(url), "names no host"));
        }
        let on_pooler_port = config
            .get_ports()
            .contains(&SUPABASE_TRANSACTION_POOLER_PORT);
        let statements = if pooler.unwrap_or(on_pooler_port) || capacity == 0 {
            StatementMode::TransactionPooler
        } else {
            StatementMode::Cached { capacity }
        };
        let ssl_mode = tls_policy(ssl_mode, &root_certs, root_certs_given)?;
        // The mode of a first attempt; `allow` and `prefer` may retry in the other one.
        config.ssl_mode(match ssl_mode {
            SslMode::Disable | SslMode::Allow => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(Self {
            config,
            ssl_mode,
            root_certs,
            root_certs_given,
            statements,
        })
    }
}

/// libpq 16's rules for `sslmode` with `sslrootcert`: `system` implies `verify-full` and
/// refuses anything weaker (any public CA would do for a name the attacker controls);
/// `verify-ca` and `verify-full` need a root certificate (libpq would look for
/// `~/.postgresql/root.crt`; a URL is the whole configuration here, so it must say which).
fn tls_policy(
    mode: Option<SslMode>,
    roots: &RootCerts,
    roots_given: bool,
) -> Result<SslMode, ConfigError> {
    let system = roots_given && *roots == RootCerts::System;
    match mode {
        None if system => Ok(SslMode::VerifyFull),
        None => Ok(SslMode::default()),
        Some(mode) if system && mode != SslMode::VerifyFull => Err(url_error(
            "sslmode",
            mode.as_str(),
            "weak sslmode may not be used with sslrootcert=system (use verify-full)",
        )),
        Some(mode @ (SslMode::VerifyCa | SslMode::VerifyFull)) if !roots_given => Err(url_error(
            "sslmode",
            mode.as_str(),
            "verifying the server needs its CA: add sslrootcert=/path/to/ca.pem (or \
             sslrootcert=system with verify-full for a publicly trusted certificate)",
        )),
        Some(mode) => Ok(mode),
    }
}

/// Keys tokio-postgres rejects or handles differently, taken out of the string first.
const OUR_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "pgbouncer",
    "pool_mode",
    "statement_cache_size",
    "keepalives_idle",
];

/// Splits our keys from the rest, for both URL and key=value forms.
fn split_params(input: &str) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let trimmed = input.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        // The query starts at the first `?` after the credentials, which tokio-postgres takes
        // up to the first `@`: a password pasted with a raw `?` is not a query.
        let credentials_end = trimmed.find('@').map_or(0, |at| at + 1);
        let Some(q) = trimmed[credentials_end..].find('?') else {
            return Ok((trimmed.to_owned(), Vec::new()));
        };
        let (base, query) = (
            &trimmed[..credentials_end + q],
            &trimmed[credentials_end + q + 1..],
        );
        let mut kept = Vec::new();
        let mut ours = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let value = url::form_urlencoded::parse(format!("v={v}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if OUR_KEYS.contains(&k) {
                ours.push((k.to_owned(), value));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, ours));
    }
    // key=value form: values may be single-quoted with backslash escapes.
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    let mut chars = trimmed.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // The key is not echoed: with an unquoted password holding a space, it would be a
            // piece of the password.
            return Err(url_error(
                "DATABASE_URL",
                &redact(input),
                "expected key=value pairs (quote values holding spaces: password='a b')",
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut raw = String::new();
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            raw.push('\'');
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => {
                        raw.push('\\');
                        if let Some(c) = chars.next() {
                            raw.push(c);
                            value.push(c);
                        }
                    }
                    Some('\'') => {
                        raw.push('\'');
                        break;
                    }
                    Some(c) => {
                        raw.push(c);
                        value.push(c);
                    }
                    None => {
                        return Err(url_error(
                            "DATABASE_URL",
                            &redact(input),
                            "unterminated quote",
                        ));
                    }
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
            raw = value.clone();
        }
        if OUR_KEYS.contains(&key.as_str()) {
            ours.push((key, value));
        } else {
            kept.push(format!("{key}={raw}"));
        }
    }
    Ok((kept.join(" "), ours))
}

fn parse_bool(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(url_error(key, other, "expected true or false")),
    }
}

fn url_error(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: "DATABASE_URL",
        value: value.to_owned(),
        reason: format!("{key}: {reason}"),
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    // By hand rather than with `url::Url`: it refuses multi-host URLs
    // (`postgres://u:p@h1:5432,h2:5432/db`), which must not come back unredacted. Everything
    // from the first `:` after the scheme to the *last* `@` goes: a password pasted without
    // percent-encoding may hold `/`, `?`, `#`, `@` (over-redacting a host is harmless).
    let redacted = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let (userinfo, hosts) = (&rest[..at], &rest[at + 1..]);
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{hosts}"),
                    None => url.to_owned(),
                }
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    // A password given as a parameter (`?password=`, `password=` in key=value form).
    if redacted.contains("password") {
        return "<connection string with password>".to_owned();
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_form_keeps_the_rest_and_takes_ours() {
        let o = PgOptions::parse(
            "postgres://u:p@db.example:5432/app?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(o.ssl_mode, SslMode::VerifyFull);
        assert_eq!(o.root_certs, RootCerts::File("/ca.pem".into()));
        assert_eq!(o.config.get_application_name(), Some("x"));
        assert_eq!(
            o.config.get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        assert_eq!(o.config.get_keepalives_idle(), DEFAULT_KEEPALIVES_IDLE);
        assert_eq!(
            o.statements,
            StatementMode::Cached {
                capacity: DEFAULT_STATEMENT_CACHE
            }
        );
    }

    #[test]
    fn port_6543_implies_the_transaction_pooler_unless_told_otherwise() {
        let o = PgOptions::parse("postgres://u:p@pooler.supabase.com:6543/postgres").unwrap();
        assert_eq!(o.statements, StatementMode::TransactionPooler);
        let o = PgOptions::parse("postgres://u:p@h:6543/db?pgbouncer=false").unwrap();
        assert!(matches!(o.statements, StatementMode::Cached { .. }));
        let o = PgOptions::parse("postgres://u:p@h:6432/db?pgbouncer=true").unwrap();
        assert_eq!(o.statements, StatementMode::TransactionPooler);
    }

    #[test]
    fn key_value_form() {
        let o = PgOptions::parse(
            "host=127.0.0.1 port=5433 user=clip password='a b\\'c' sslmode=require keepalives_idle=10 connect_timeout=2",
        )
        .unwrap();
        assert_eq!(o.ssl_mode, SslMode::Require);
        assert_eq!(o.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(o.config.get_keepalives_idle(), Duration::from_secs(10));
        assert_eq!(
            o.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_values_name_the_key_and_hide_the_password() {
        let e = PgOptions::parse("postgres://u:secret@h/db?sslmode=sometimes").unwrap_err();
        assert!(e.to_string().contains("sslmode"), "{e}");
        let e = PgOptions::parse("postgres://u:secret@h/db?nonsense=1").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        // Multi-host URLs, which the `url` crate cannot parse, are redacted too.
        let e = PgOptions::parse("postgres://u:secret@h1:5432,h2:5433/db?nonsense=1").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(
            redact("postgres://u:secret@h1:5432,h2:5433/db?x=1"),
            "postgres://u:***@h1:5432,h2:5433/db?x=1"
        );
        assert_eq!(redact("postgresql://u@h/db"), "postgresql://u@h/db");
        assert!(!redact("postgres://h/db?password=secret").contains("secret"));
        let e = PgOptions::parse("host=h password='unterminated").unwrap_err();
        assert!(e.to_string().contains("quote"), "{e}");
        assert!(PgOptions::parse("postgres://u:p@h/db?statement_cache_size=many").is_err());
    }
}
