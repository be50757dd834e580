//! `CdnConfig`: the `CDN_*` variables (with or without the `VITE_` prefix, secrets
//! without it only), their defaults, and the settings the product's defaults leave
//! implicit (origin, local directory, retry timing, circuit breaker, health probe, memory
//! bounds, transform allow-lists and signing keys).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Everything the [`Cdn`](crate::Cdn) needs. `Default` is the product's defaults.
/// `Debug` shows everything but the signing keys (only how many there are).
#[derive(Clone, PartialEq)]
pub struct CdnConfig {
    /// `CDN_ENABLED` (true): serve from the CDN; when false every URL points at the origin.
    pub enabled: bool,
    /// `CDN_BASE_URL` (none): e.g. `https://cdn.example.com`. Without it the CDN is off.
    pub base_url: Option<String>,
    /// `CDN_CACHE_TTL` in seconds (86400): how long a fetched asset stays in the memory cache.
    pub cache_ttl: Duration,
    /// `CDN_RETRY_ATTEMPTS` (3): retries after the first try, per source.
    pub retry_attempts: u32,
    /// `CDN_PRELOAD_CRITICAL` (true): [`Cdn::preload`](crate::Cdn::preload) warms critical assets.
    pub preload_critical: bool,
    /// `CDN_IMAGE_OPTIMIZATION` (true): image URLs carry transform options; when false
    /// [`ImageUrl`](crate::ImageUrl) links the original file.
    pub image_optimization: bool,
    /// `CDN_INLINE_ONERROR` (true): `to_html` puts the origin fallback in an inline
    /// `onerror` handler. Turn it off for pages with a strict Content-Security-Policy and
    /// serve [`FALLBACK_SCRIPT`](crate::FALLBACK_SCRIPT) instead (it reads the
    /// `data-fallback-src` attribute every image carries).
    pub inline_onerror: bool,
    /// `CDN_ORIGIN_URL` (none): the application's own base URL, the first fallback.
    /// Without it origin URLs are root-relative (`/images/a.jpg`).
    pub origin_url: Option<String>,
    /// `CDN_LOCAL_DIR` (none): a directory holding the assets, the last fallback.
    pub local_dir: Option<PathBuf>,
    /// `CDN_CACHE_MAX_BYTES` (268435456 = 256 MiB): bound of the memory cache.
    pub cache_max_bytes: u64,
    /// `CDN_MAX_ASSET_BYTES` (67108864 = 64 MiB): largest body one fetch reads (HTTP or
    /// local file); a bigger asset fails that source instead of filling memory.
    pub max_asset_bytes: u64,
    /// `CDN_MAX_INFLIGHT_BYTES` (268435456 = 256 MiB): bodies being read by all fetches
    /// together; a fetch waits for room (until its deadline). At least `max_asset_bytes`.
    pub max_inflight_bytes: u64,
    /// `CDN_REQUEST_TIMEOUT_MS` (5000): how long one HTTP attempt waits for the response
    /// headers (time to first byte); the body then has until `fetch_deadline`.
    pub request_timeout: Duration,
    /// `CDN_FETCH_DEADLINE_MS` (15000): all attempts against one source, backoff included.
    pub fetch_deadline: Duration,
    /// `CDN_RETRY_BASE_MS` (100): first backoff bound; doubles per retry (full jitter).
    pub retry_base: Duration,
    /// `CDN_RETRY_MAX_MS` (2000): largest backoff, also the cap on `Retry-After`.
    pub retry_max: Duration,
    /// `CDN_BREAKER_FAILURES` (5): consecutive failed fetches that open a host's circuit.
    pub breaker_failures: u32,
    /// `CDN_BREAKER_COOLDOWN_MS` (30000): how long an open circuit rejects before one probe.
    pub breaker_cooldown: Duration,
    /// `CDN_HEALTH_INTERVAL_MS` (10000; 0: off): how often the background probe asks the
    /// CDN for [`health_path`](CdnConfig::health_path), feeding its circuit even when the
    /// application only builds URLs. It starts with `Cdn::new` inside a tokio runtime, or
    /// with [`Cdn::spawn_health_probe`](crate::Cdn::spawn_health_probe).
    pub health_interval: Duration,
    /// `CDN_HEALTH_PATH` (none): the asset the probe asks for; without it, the manifest's
    /// first critical asset, else its first asset (no manifest, no probe).
    pub health_path: Option<String>,
    /// `CDN_COALESCE_TIMEOUT_MS` (10000): how long a caller waits on a fetch already in flight.
    pub coalesce_timeout: Duration,
    /// `CDN_PRELOAD_CONCURRENCY` (8): parallel fetches during preload.
    pub preload_concurrency: usize,
    /// `CDN_IMAGE_WIDTHS` (comma list): widths the origin renders; `srcset` uses only these.
    pub allowed_widths: Vec<u32>,
    /// `CDN_IMAGE_QUALITIES` (comma list): qualities the origin renders for unsigned URLs.
    pub allowed_qualities: Vec<u8>,
    /// `CDN_IMAGE_RATIOS` (comma list of `W:H`): aspect ratios an unsigned URL with both
    /// width and height may have (its height is the width times the ratio, rounded).
    /// `cdn.image(..)` snaps a box to the nearest one; signed URLs keep any box.
    pub allowed_ratios: Vec<(u32, u32)>,
    /// `CDN_SIGNING_KEYS` or `CDN_SIGNING_KEYS_FILE` (none): comma list; the first signs
    /// transform URLs, all verify (rotation: prepend the new key, drop the old one later).
    pub signing_keys: Vec<String>,
}

/// Widths a responsive image is offered in by default (common device widths).
pub const DEFAULT_WIDTHS: [u32; 12] = [
    64, 128, 256, 320, 480, 640, 750, 960, 1080, 1280, 1600, 1920,
];
/// Largest `CDN_CACHE_TTL` accepted: ten years.
const MAX_CACHE_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Largest millisecond setting accepted: one day.
const MAX_TIMING: Duration = Duration::from_secs(86_400);
/// Largest width or height a transform URL may carry: WebP's limit.
pub(crate) const MAX_IMAGE_SIDE: u32 = 16_383;

/// Qualities an unsigned transform URL may ask for by default.
pub const DEFAULT_QUALITIES: [u8; 6] = [60, 70, 75, 80, 85, 90];

/// Aspect ratios (width:height) an unsigned transform URL with both sides may have by
/// default: the common photo, video and social formats, landscape and portrait.
pub const DEFAULT_RATIOS: [(u32, u32); 14] = [
    (1, 1),
    (5, 4),
    (4, 5),
    (4, 3),
    (3, 4),
    (3, 2),
    (2, 3),
    (16, 10),
    (10, 16),
    (16, 9),
    (9, 16),
    (2, 1),
    (1, 2),
    (21, 9),
];

impl Default for CdnConfig {
    fn default() -> Self {
        CdnConfig {
            enabled: true,
            base_url: None,
            cache_ttl: Duration::from_secs(86_400),
            retry_attempts: 3,
            preload_critical: true,
            image_optimization: true,
            inline_onerror: true,
            origin_url: None,
            local_dir: None,
            cache_max_bytes: 256 * 1024 * 1024,
            max_asset_bytes: 64 * 1024 * 1024,
            max_inflight_bytes: 256 * 1024 * 1024,
            request_timeout: Duration::from_millis(5_000),
            fetch_deadline: Duration::from_millis(15_000),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(2_000),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(30_000),
            health_interval: Duration::from_millis(10_000),
            health_path: None,
            coalesce_timeout: Duration::from_millis(10_000),
            preload_concurrency: 8,
            allowed_widths: DEFAULT_WIDTHS.to_vec(),
            allowed_qualities: DEFAULT_QUALITIES.to_vec(),
            allowed_ratios: DEFAULT_RATIOS.to_vec(),
            signing_keys: Vec::new(),
        }
    }
}

impl std::fmt::Debug for CdnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field cannot be forgotten here.
        let CdnConfig {
            enabled,
            base_url,
            cache_ttl,
            retry_attempts,
            preload_critical,
            image_optimization,
            inline_onerror,
            origin_url,
            local_dir,
            cache_max_bytes,
            max_asset_bytes,
            max_inflight_bytes,
            request_timeout,
            fetch_deadline,
            retry_base,
            retry_max,
            breaker_failures,
            breaker_cooldown,
            health_interval,
            health_path,
            coalesce_timeout,
            preload_concurrency,
            allowed_widths,
            allowed_qualities,
            allowed_ratios,
            signing_keys,
        } = self;
        f.debug_struct("CdnConfig")
            .field("enabled", enabled)
            .field("base_url", base_url)
            .field("cache_ttl", cache_ttl)
            .field("retry_attempts", retry_attempts)
            .field("preload_critical", preload_critical)
            .field("image_optimization", image_optimization)
            .field("inline_onerror", inline_onerror)
            .field("origin_url", origin_url)
            .field("local_dir", local_dir)
            .field("cache_max_bytes", cache_max_bytes)
            .field("max_asset_bytes", max_asset_bytes)
            .field("max_inflight_bytes", max_inflight_bytes)
            .field("request_timeout", request_timeout)
            .field("fetch_deadline", fetch_deadline)
            .field("retry_base", retry_base)
            .field("retry_max", retry_max)
            .field("breaker_failures", breaker_failures)
            .field("breaker_cooldown", breaker_cooldown)
            .field("health_interval", health_interval)
            .field("health_path", health_path)
            .field("coalesce_timeout", coalesce_timeout)
            .field("preload_concurrency", preload_concurrency)
            .field("allowed_widths", allowed_widths)
            .field("allowed_qualities", allowed_qualities)
            .field("allowed_ratios", allowed_ratios)
            .field(
                "signing_keys",
                &format_args!("<{} keys, redacted>", signing_keys.len()),
            )
            .finish()
    }
}

/// Reads `NAME` or `VITE_NAME` through `get` (unprefixed wins).
fn var(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .or_else(|| get(&format!("VITE_{name}")))
        .map(|v| v.trim().to_owned())
}

/// Reads a secret: `NAME` only. `VITE_NAME` is refused: Vite inlines every `VITE_*`
/// variable into the JavaScript it bundles, so a secret there is already public.
fn secret(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    vite: &'static str,
) -> Result<Option<String>> {
    if get(vite).is_some() {
        return Err(bad(
            vite,
            "<redacted>",
            &format!(
                "secrets are never read from VITE_ variables (Vite bundles them into public \
                 JavaScript): rename it {name}, and rotate the key if a bundle was built with it"
            ),
        ));
    }
    Ok(get(name).map(|v| v.trim().to_owned()))
}

fn bad(variable: &'static str, value: &str, reason: &str) -> Error {
    Error::Config {
        variable,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse<T: std::str::FromStr>(variable: &'static str, value: &str, what: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| bad(variable, value, &format!("expected {what}")))
}

fn boolean(variable: &'static str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(variable, value, "expected true or false")),
    }
}

fn list<T: std::str::FromStr>(variable: &'static str, value: &str, what: &str) -> Result<Vec<T>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse(variable, s, what))
        .collect()
}

/// `16:9, 4:3` -> `[(16, 9), (4, 3)]`.
fn ratios(variable: &'static str, value: &str) -> Result<Vec<(u32, u32)>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (w, h) = s
                .split_once(':')
                .ok_or_else(|| bad(variable, value, "expected W:H ratios like 16:9,4:3"))?;
            Ok((
                parse(variable, w.trim(), "W:H ratios like 16:9")?,
                parse(variable, h.trim(), "W:H ratios like 16:9")?,
            ))
        })
        .collect()
}

impl CdnConfig {
    /// Reads the process environment. See [`CdnConfig::from_lookup`].
    pub fn from_env() -> Result<CdnConfig> {
        CdnConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get` (a map in tests, the environment in
    /// [`from_env`](CdnConfig::from_env)); unset ones keep their defaults. Validates.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CdnConfig> {
        let mut c = CdnConfig::default();
        let ms = |name: &'static str, v: &str| {
            parse::<u64>(name, v, "milliseconds").map(Duration::from_millis)
        };
        if let Some(v) = var(&get, "CDN_ENABLED") {
            c.enabled = boolean("CDN_ENABLED", &v)?;
        }
        if let Some(v) = var(&get, "CDN_BASE_URL") {
            c.base_url = (!v.is_empty()).then(|| v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = var(&get, "CDN_CACHE_TTL") {
            c.cache_ttl = Duration::from_secs(parse("CDN_CACHE_TTL", &v, "seconds")?);
        }
        if let Some(v) = var(&get, "CDN_RETRY_ATTEMPTS") {
            c.retry_attempts = parse("CDN_RETRY_ATTEMPTS", &v, "a count")?;
        }
        if let Some(v) = var(&get, "CDN_PRELOAD_CRITICAL") {
            c.preload_critical = boolean("CDN_PRELOAD_CRITICAL", &v)?;
        }
        if let Some(v) = var(&get, "CDN_IMAGE_OPTIMIZATION") {
            c.image_optimization = boolean("CDN_IMAGE_OPTIMIZATION", &v)?;
        }
        if let Some(v) = var(&get, "CDN_INLINE_ONERROR") {
            c.inline_onerror = boolean("CDN_INLINE_ONERROR", &v)?;
        }
        if let Some(v) = var(&get, "CDN_ORIGIN_URL") {
            c.origin_url = (!v.is_empty()).then(|| v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = var(&get, "CDN_LOCAL_DIR") {
            c.local_dir = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = var(&get, "CDN_CACHE_MAX_BYTES") {
            c.cache_max_bytes = parse("CDN_CACHE_MAX_BYTES", &v, "bytes")?;
        }
        if let Some(v) = var(&get, "CDN_MAX_ASSET_BYTES") {
            c.max_asset_bytes = parse("CDN_MAX_ASSET_BYTES", &v, "bytes")?;
        }
        if let Some(v) = var(&get, "CDN_MAX_INFLIGHT_BYTES") {
            c.max_inflight_bytes = parse("CDN_MAX_INFLIGHT_BYTES", &v, "bytes")?;
        }
        if let Some(v) = var(&get, "CDN_REQUEST_TIMEOUT_MS") {
            c.request_timeout = ms("CDN_REQUEST_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_FETCH_DEADLINE_MS") {
            c.fetch_deadline = ms("CDN_FETCH_DEADLINE_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_RETRY_BASE_MS") {
            c.retry_base = ms("CDN_RETRY_BASE_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_RETRY_MAX_MS") {
            c.retry_max = ms("CDN_RETRY_MAX_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_BREAKER_FAILURES") {
            c.breaker_failures = parse("CDN_BREAKER_FAILURES", &v, "a count")?;
        }
        if let Some(v) = var(&get, "CDN_BREAKER_COOLDOWN_MS") {
            c.breaker_cooldown = ms("CDN_BREAKER_COOLDOWN_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_HEALTH_INTERVAL_MS") {
            c.health_interval = ms("CDN_HEALTH_INTERVAL_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_HEALTH_PATH") {
            c.health_path = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var(&get, "CDN_COALESCE_TIMEOUT_MS") {
            c.coalesce_timeout = ms("CDN_COALESCE_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = var(&get, "CDN_PRELOAD_CONCURRENCY") {
            c.preload_concurrency = parse("CDN_PRELOAD_CONCURRENCY", &v, "a count")?;
        }
        if let Some(v) = var(&get, "CDN_IMAGE_WIDTHS") {
            c.allowed_widths = list("CDN_IMAGE_WIDTHS", &v, "comma-separated pixel widths")?;
        }
        if let Some(v) = var(&get, "CDN_IMAGE_QUALITIES") {
            c.allowed_qualities = list(
                "CDN_IMAGE_QUALITIES",
                &v,
                "comma-separated qualities 1..=100",
            )?;
        }
        if let Some(v) = var(&get, "CDN_IMAGE_RATIOS") {
            c.allowed_ratios = ratios("CDN_IMAGE_RATIOS", &v)?;
        }
        let keys = secret(&get, "CDN_SIGNING_KEYS", "VITE_CDN_SIGNING_KEYS")?;
        let keys_file = secret(&get, "CDN_SIGNING_KEYS_FILE", "VITE_CDN_SIGNING_KEYS_FILE")?;
        if let Some(v) = keys {
            c.signing_keys = v
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect();
        } else if let Some(path) = keys_file {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                bad(
                    "CDN_SIGNING_KEYS_FILE",
                    &path,
                    &format!("cannot read it: {e}"),
                )
            })?;
            c.signing_keys = text
                .split([',', '\n'])
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect();
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values; the error names the offending variable.
    pub fn validate(&self) -> Result<()> {
        for (variable, url) in [
            ("CDN_BASE_URL", &self.base_url),
            ("CDN_ORIGIN_URL", &self.origin_url),
        ] {
            if let Some(url) = url {
                match reqwest::Url::parse(url) {
                    Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                        return Err(bad(
                            variable,
                            url,
                            "a base URL takes no query or fragment: asset paths are appended to it",
                        ));
                    }
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                    _ => {
                        return Err(bad(
                            variable,
                            url,
                            "expected an absolute http(s) URL like https://cdn.example.com",
                        ));
                    }
                }
            }
        }
        let positive = [
            ("CDN_REQUEST_TIMEOUT_MS", self.request_timeout),
            ("CDN_FETCH_DEADLINE_MS", self.fetch_deadline),
            ("CDN_COALESCE_TIMEOUT_MS", self.coalesce_timeout),
        ];
        for (variable, d) in positive {
            if d.is_zero() {
                return Err(bad(variable, "0", "must be above 0"));
            }
        }
        // Upper bounds keep `Instant + duration` and moka's TTL (at most 1000 years) from
        // panicking on a mistyped value; no sane setting comes near them.
        let bounded = [
            ("CDN_CACHE_TTL", self.cache_ttl, MAX_CACHE_TTL),
            ("CDN_REQUEST_TIMEOUT_MS", self.request_timeout, MAX_TIMING),
            ("CDN_FETCH_DEADLINE_MS", self.fetch_deadline, MAX_TIMING),
            ("CDN_RETRY_BASE_MS", self.retry_base, MAX_TIMING),
            ("CDN_RETRY_MAX_MS", self.retry_max, MAX_TIMING),
            ("CDN_BREAKER_COOLDOWN_MS", self.breaker_cooldown, MAX_TIMING),
            ("CDN_HEALTH_INTERVAL_MS", self.health_interval, MAX_TIMING),
            ("CDN_COALESCE_TIMEOUT_MS", self.coalesce_timeout, MAX_TIMING),
        ];
        for (variable, d, max) in bounded {
            if d > max {
                return Err(bad(
                    variable,
                    &format!("{d:?}"),
                    &format!("at most {max:?}"),
                ));
            }
        }
        if self.max_asset_bytes == 0 {
            return Err(bad("CDN_MAX_ASSET_BYTES", "0", "must be at least 1"));
        }
        if self.max_inflight_bytes < self.max_asset_bytes {
            return Err(bad(
                "CDN_MAX_INFLIGHT_BYTES",
                &self.max_inflight_bytes.to_string(),
                "must be at least CDN_MAX_ASSET_BYTES (the largest asset must fit)",
            ));
        }
        if self.retry_base > self.retry_max {
            return Err(bad(
                "CDN_RETRY_BASE_MS",
                &self.retry_base.as_millis().to_string(),
                "must not exceed CDN_RETRY_MAX_MS",
            ));
        }
        if self.retry_attempts > 20 {
            return Err(bad(
                "CDN_RETRY_ATTEMPTS",
                &self.retry_attempts.to_string(),
                "at most 20",
            ));
        }
        if self.breaker_failures == 0 {
            return Err(bad("CDN_BREAKER_FAILURES", "0", "must be at least 1"));
        }
        if self.preload_concurrency == 0 {
            return Err(bad("CDN_PRELOAD_CONCURRENCY", "0", "must be at least 1"));
        }
        if self.allowed_widths.is_empty()
            || self
                .allowed_widths
                .iter()
                .any(|w| !(1..=MAX_IMAGE_SIDE).contains(w))
        {
            return Err(bad(
                "CDN_IMAGE_WIDTHS",
                &format!("{:?}", self.allowed_widths),
                "need widths in 1..=16383 (what the origin's transform parser accepts)",
            ));
        }
        if self.allowed_qualities.is_empty()
            || self
                .allowed_qualities
                .iter()
                .any(|q| !(1..=100).contains(q))
        {
            return Err(bad(
                "CDN_IMAGE_QUALITIES",
                &format!("{:?}", self.allowed_qualities),
                "need qualities in 1..=100",
            ));
        }
        if self.allowed_ratios.is_empty()
            || self
                .allowed_ratios
                .iter()
                .any(|&(w, h)| !(1..=100).contains(&w) || !(1..=100).contains(&h))
        {
            return Err(bad(
                "CDN_IMAGE_RATIOS",
                &format!("{:?}", self.allowed_ratios),
                "need W:H ratios with both sides in 1..=100, like 16:9",
            ));
        }
        if self.signing_keys.iter().any(|k| k.len() < 16) {
            return Err(bad(
                "CDN_SIGNING_KEYS",
                "<redacted>",
                "each key needs at least 16 characters",
            ));
        }
        Ok(())
    }

    /// Whether URLs point at the CDN (enabled and a base URL set).
    pub fn cdn_active(&self) -> bool {
        self.enabled && self.base_url.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_the_guides() {
        let c = CdnConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c, CdnConfig::default());
        assert!(c.enabled && c.preload_critical && c.image_optimization);
        assert_eq!(
            (c.cache_ttl, c.retry_attempts, c.base_url),
            (Duration::from_secs(86_400), 3, None)
        );
    }

    #[test]
    fn reads_vite_prefixed_and_plain_names() {
        let c = CdnConfig::from_lookup(lookup(&[
            ("VITE_CDN_ENABLED", "false"),
            ("VITE_CDN_BASE_URL", "https://cdn.example.com/"),
            ("CDN_CACHE_TTL", "31536000"),
            ("VITE_CDN_RETRY_ATTEMPTS", "5"),
            ("CDN_IMAGE_WIDTHS", "100, 200"),
            ("CDN_IMAGE_RATIOS", "16:9, 1:1"),
        ]))
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.base_url.as_deref(), Some("https://cdn.example.com"));
        assert_eq!(c.cache_ttl, Duration::from_secs(31_536_000));
        assert_eq!(c.retry_attempts, 5);
        assert_eq!(c.allowed_widths, [100, 200]);
        assert_eq!(c.allowed_ratios, [(16, 9), (1, 1)]);
    }

    /// Values this large used to panic later (moka's TTL limit, `Instant + Duration`).
    #[test]
    fn absurd_durations_are_refused_not_panicked_on() {
        for name in [
            "CDN_CACHE_TTL",
            "CDN_FETCH_DEADLINE_MS",
            "CDN_REQUEST_TIMEOUT_MS",
            "CDN_RETRY_MAX_MS",
            "CDN_BREAKER_COOLDOWN_MS",
            "CDN_COALESCE_TIMEOUT_MS",
        ] {
            let err = CdnConfig::from_lookup(lookup(&[(name, "18446744073709551615")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
        let c = CdnConfig::from_lookup(lookup(&[("CDN_CACHE_TTL", "315360000")])).unwrap();
        assert!(crate::Cdn::new(c).is_ok(), "ten years is accepted");
    }

    /// Vite inlines every VITE_* variable into the public JavaScript bundle: a signing key
    /// there is published. It is refused, loudly, rather than used or silently ignored.
    #[test]
    fn signing_keys_are_never_read_from_vite_variables() {
        let key_file = std::env::temp_dir().join(format!("clip-cdn-keys-{}", std::process::id()));
        std::fs::write(&key_file, "from-a-file-0123456789").unwrap();
        for name in ["VITE_CDN_SIGNING_KEYS", "VITE_CDN_SIGNING_KEYS_FILE"] {
            let value = if name.ends_with("_FILE") {
                key_file.display().to_string()
            } else {
                "leaked-key-0123456789".to_owned()
            };
            match CdnConfig::from_lookup(lookup(&[(name, &value)])) {
                Err(Error::Config { variable, .. }) => assert_eq!(variable, name),
                other => panic!("{name}: expected a configuration error, got {other:?}"),
            }
        }
        let c = CdnConfig::from_lookup(lookup(&[(
            "CDN_SIGNING_KEYS_FILE",
            &key_file.display().to_string(),
        )]))
        .unwrap();
        assert_eq!(c.signing_keys, ["from-a-file-0123456789"]);
        std::fs::remove_file(key_file).unwrap();
    }

    /// `Cdn::config()` is public and configs get logged: the keys must not be in `Debug`.
    #[test]
    fn debug_redacts_the_signing_keys() {
        let c = CdnConfig {
            signing_keys: vec![
                "secret-key-0123456789".into(),
                "older-key-0123456789".into(),
            ],
            base_url: Some("https://cdn.example.com".into()),
            ..CdnConfig::default()
        };
        let shown = format!("{c:?} {c:#?} {:?}", crate::Cdn::new(c.clone()).unwrap());
        assert!(
            !shown.contains("secret-key") && !shown.contains("older-key"),
            "{shown}"
        );
        assert!(
            shown.contains("https://cdn.example.com"),
            "the rest is shown: {shown}"
        );
        assert!(shown.contains("2 keys"), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("VITE_CDN_ENABLED", "maybe"),
            ("CDN_CACHE_TTL", "a day"),
            ("CDN_BASE_URL", "cdn.example.com"),
            ("CDN_IMAGE_QUALITIES", "0"),
            ("CDN_SIGNING_KEYS", "short"),
            ("CDN_IMAGE_WIDTHS", "100,20000"),
            ("CDN_IMAGE_RATIOS", "16/9"),
            ("CDN_IMAGE_RATIOS", "0:1"),
            ("CDN_MAX_ASSET_BYTES", "0"),
        ] {
            let err = CdnConfig::from_lookup(lookup(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name.trim_start_matches("VITE_")), "{err}");
        }
    }
}
