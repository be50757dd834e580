//! Settings read from the environment: how long results are cached and the token that unlocks details.

use std::fmt;
use std::time::Duration;

use crate::HealthError;

/// Settings of a [`HealthRegistry`](crate::HealthRegistry) that operators set per deployment.
///
/// Environment variables:
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `HEALTH_CACHE_TTL` (or `VITE_HEALTH_CACHE_TTL`) | how long a check result is reused, in ms (`0`: never reused) | `1000` |
/// | `HEALTH_DETAILS_TOKEN` | bearer token that unlocks check details on `/api/health` | none: details never shown |
/// | `HEALTH_DETAILS_TOKEN_FILE` | file holding that token (trailing newline ignored) | |
///
/// The token is a secret, so it is never read from a `VITE_` variable: Vite bundles those into
/// the public JavaScript. `VITE_HEALTH_DETAILS_TOKEN` or `VITE_HEALTH_DETAILS_TOKEN_FILE` being
/// set is an error that names the variable to rename.
#[derive(Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// How long a check's result is served from cache before the check runs again.
    pub cache_ttl: Duration,
    /// Callers presenting `Authorization: Bearer <token>` see check details on `/api/health`.
    pub details_token: Option<String>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(1),
            details_token: None,
        }
    }
}

impl fmt::Debug for HealthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthConfig")
            .field("cache_ttl", &self.cache_ttl)
            .field(
                "details_token",
                &self.details_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The variables holding (or naming a file holding) a secret: read without the `VITE_` prefix only.
const SECRET_VARS: [&str; 2] = ["HEALTH_DETAILS_TOKEN", "HEALTH_DETAILS_TOKEN_FILE"];

/// Longest accepted cache TTL: a health result older than this says nothing about now.
const MAX_CACHE_TTL: Duration = Duration::from_secs(300);

impl HealthConfig {
    /// Reads the variables in the table above from the process environment, then validates.
    pub fn from_env() -> Result<Self, HealthError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env) with any source of variables (tests, config files).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, HealthError> {
        let get = |name: &str| -> Option<(String, String)> {
            lookup(name)
                .map(|v| (name.to_owned(), v))
                .or_else(|| lookup(&format!("VITE_{name}")).map(|v| (format!("VITE_{name}"), v)))
        };
        let mut cfg = Self::default();
        if let Some((var, value)) = get("HEALTH_CACHE_TTL") {
            let ms: u64 = value.trim().parse().map_err(|_| HealthError::InvalidEnv {
                var,
                value: value.clone(),
                reason: "expected a whole number of milliseconds, e.g. 1000".into(),
            })?;
            cfg.cache_ttl = Duration::from_millis(ms);
        }
        for secret in SECRET_VARS {
            let public = format!("VITE_{secret}");
            if lookup(&public).is_some() {
                return Err(HealthError::InvalidEnv {
                    var: public,
                    value: "<redacted>".into(),
                    reason: format!(
                        "a secret must not carry the VITE_ prefix: Vite bundles VITE_* variables \
                         into the public JavaScript; rename it to {secret} and replace the token, \
                         which may already be published"
                    ),
                });
            }
        }
        if let Some(value) = lookup("HEALTH_DETAILS_TOKEN") {
            cfg.details_token = Some(value);
        } else if let Some(path) = lookup("HEALTH_DETAILS_TOKEN_FILE") {
            let var = "HEALTH_DETAILS_TOKEN_FILE".to_owned();
            let text = std::fs::read_to_string(&path)
                .map_err(|source| HealthError::SecretFile { var, path, source })?;
            cfg.details_token = Some(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the settings, naming the variable to fix.
    pub fn validate(&self) -> Result<(), HealthError> {
        if self.cache_ttl > MAX_CACHE_TTL {
            return Err(HealthError::InvalidEnv {
                var: "HEALTH_CACHE_TTL".into(),
                value: self.cache_ttl.as_millis().to_string(),
                reason: format!(
                    "at most {} ms: an older result says nothing about the dependency now",
                    MAX_CACHE_TTL.as_millis()
                ),
            });
        }
        if let Some(token) = &self.details_token
            && (token.is_empty() || token.chars().any(char::is_whitespace))
        {
            return Err(HealthError::InvalidEnv {
                var: "HEALTH_DETAILS_TOKEN".into(),
                value: "<redacted>".into(),
                reason: "must be non-empty and contain no whitespace (it is sent as `Authorization: Bearer <token>`)".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(
            HealthConfig::from_lookup(env(&[])).ok(),
            Some(HealthConfig::default())
        );
        assert_eq!(HealthConfig::default().cache_ttl, Duration::from_secs(1));
    }

    #[test]
    fn reads_plain_and_vite_names() {
        let cfg = HealthConfig::from_lookup(env(&[
            ("VITE_HEALTH_CACHE_TTL", "250"),
            ("HEALTH_DETAILS_TOKEN", "s3cret"),
        ]));
        let cfg = cfg.expect("valid");
        assert_eq!(cfg.cache_ttl, Duration::from_millis(250));
        assert_eq!(cfg.details_token.as_deref(), Some("s3cret"));
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "Debug must not leak the token"
        );
    }

    /// Vite bundles every `VITE_*` variable into the public JavaScript: a token under that
    /// prefix is refused, naming the variable to rename, never echoing the value.
    #[test]
    fn the_token_is_never_read_from_a_vite_variable() {
        for var in [
            "VITE_HEALTH_DETAILS_TOKEN",
            "VITE_HEALTH_DETAILS_TOKEN_FILE",
        ] {
            let result = HealthConfig::from_lookup(env(&[(var, "s3cret-from-vite")]));
            let err = result.expect_err(var).to_string();
            assert!(err.contains(var), "{err}");
            assert!(err.contains("HEALTH_DETAILS_TOKEN"), "{err}");
            assert!(!err.contains("s3cret-from-vite"), "{err}");
        }
        // Even beside the plain variable: the secret under the public prefix must go.
        let result = HealthConfig::from_lookup(env(&[
            ("HEALTH_DETAILS_TOKEN", "s3cret"),
            ("VITE_HEALTH_DETAILS_TOKEN", "s3cret"),
        ]));
        assert!(result.is_err());
    }

    #[test]
    fn errors_name_the_variable() {
        let err = HealthConfig::from_lookup(env(&[("VITE_HEALTH_CACHE_TTL", "1s")])).unwrap_err();
        assert!(err.to_string().contains("VITE_HEALTH_CACHE_TTL"), "{err}");
        let err = HealthConfig::from_lookup(env(&[("HEALTH_CACHE_TTL", "600000")])).unwrap_err();
        assert!(err.to_string().contains("HEALTH_CACHE_TTL"), "{err}");
        let err = HealthConfig::from_lookup(env(&[("HEALTH_DETAILS_TOKEN", "a b")])).unwrap_err();
        assert!(err.to_string().contains("HEALTH_DETAILS_TOKEN"), "{err}");
        assert!(
            !err.to_string().contains("a b"),
            "the message must not echo the secret"
        );
        let err =
            HealthConfig::from_lookup(env(&[("HEALTH_DETAILS_TOKEN_FILE", "/nonexistent/t")]))
                .unwrap_err();
        assert!(
            err.to_string().contains("HEALTH_DETAILS_TOKEN_FILE"),
            "{err}"
        );
    }
}
