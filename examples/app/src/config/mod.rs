//! The app's configuration: every variable of the product guide, the contracts' server
//! variables, and the app's own knobs, read once at start-up and validated; a bad value
//! stops start-up with a message that names the variable.
//!
//! The crates read their own sections (`DB_*`: [`PoolConfig`], `CDN_*`: [`CdnConfig`],
//! `HEALTH_*`: [`HealthConfig`], the scaling thresholds: [`ScalingConfig`]); this module
//! reads the rest. The README lists every variable with its default.

mod env;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use clip_cdn::CdnConfig;
use clip_cdn::image::Format;
use clip_health::HealthConfig;
use clip_pool::PoolConfig;
use clip_scaling_policy::ScalingConfig;
use ipnet::IpNet;

use env::Env;
pub(crate) use env::parse_networks;

use crate::Error;

/// Everything the app needs to start.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Where it listens and how it names itself.
    pub server: ServerConfig,
    /// Which PostgreSQL it uses.
    pub database: DatabaseConfig,
    /// The connection pool (`DB_*`, `VITE_DB_*`).
    pub pool: PoolConfig,
    /// CDN URLs and the asset manager (`CDN_*`, `VITE_CDN_*`).
    pub cdn: CdnConfig,
    /// Health check caching and the details token (`HEALTH_*`).
    pub health: HealthConfig,
    /// The scaling thresholds the advisory verdict of `/api/admin/scaling` uses.
    pub scaling: ScalingConfig,
    /// HTTP behaviour: concurrency, timeouts, shutdown, proxies, body sizes.
    pub http: HttpConfig,
    /// Per-endpoint rate limits.
    pub rate_limits: RateLimits,
    /// Who may call the admin endpoints.
    pub admin: AdminConfig,
    /// Where uploads and renditions are stored.
    pub storage: StorageConfig,
    /// The job queue and its workers.
    pub jobs: JobsConfig,
    /// Image renditions and the `/img` origin.
    pub images: ImagesConfig,
    /// What the scaling dashboard reads besides this instance (`AUTOSCALER_URL`).
    pub dashboard: crate::dashboard::DashboardConfig,
}

/// Listening address and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `HOST` (default `0.0.0.0`).
    pub host: IpAddr,
    /// `PORT` (default 3000; 0 picks a free port).
    pub port: u16,
    /// `INSTANCE_ID` (default `<hostname>:<port>`): sent as `X-Instance-Id` on every response.
    pub instance_id: String,
}

/// Which PostgreSQL the app uses.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// `DATABASE_URL` or the file named by `DATABASE_URL_FILE` (TLS per `sslmode`).
    Url(String),
    /// Neither is set: a local PostgreSQL started by the app, its data kept in `CLIP_DATA_DIR`
    /// (default `./.clip-data`) and reused on the next start.
    Embedded {
        /// The cluster's directory.
        data_dir: PathBuf,
    },
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseConfig::Url(url) => f
                .debug_tuple("Url")
                .field(&clip_pool::postgres::redact(url))
                .finish(),
            DatabaseConfig::Embedded { data_dir } => f
                .debug_struct("Embedded")
                .field("data_dir", data_dir)
                .finish(),
        }
    }
}

/// HTTP behaviour under load, failure and shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `LOAD_BALANCER_ENABLED` (default true): behind a load balancer, `X-Forwarded-For` from
    /// `TRUSTED_PROXIES` names the client; when false it is ignored.
    pub load_balancer_enabled: bool,
    /// `SESSION_AFFINITY` (default false): responses set a `clip_instance` cookie naming this
    /// instance, for a load balancer that pins sessions on it.
    pub session_affinity: bool,
    /// `MAX_CONCURRENT_REQUESTS` (default 1000): above it, requests are shed at once with 503.
    pub max_concurrent_requests: usize,
    /// `REQUEST_TIMEOUT` ms (default 30000): a request still running then answers 503.
    pub request_timeout: Duration,
    /// `GRACEFUL_SHUTDOWN_TIMEOUT` ms (default 30000): the process exits within it after SIGTERM.
    pub graceful_shutdown_timeout: Duration,
    /// `SHUTDOWN_DRAIN_DELAY` ms (default 0): after SIGTERM, how long readiness reads 503
    /// while new connections are still accepted (for probes to notice) before the listener
    /// closes. Counts within the graceful timeout.
    pub shutdown_drain_delay: Duration,
    /// `TRUSTED_PROXIES` (default loopback): peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `API_CACHE_TTL` s (default 300): `Cache-Control` max-age of unversioned images.
    pub api_cache_ttl: Duration,
    /// `MAX_JSON_BODY_BYTES` (default 64 KiB): the largest JSON request body.
    pub max_json_body_bytes: usize,
    /// `MAX_UPLOAD_BYTES` (default 25 MiB): the largest upload.
    pub max_upload_bytes: usize,
}

/// A GCRA rate: a sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second per client, sustained.
    pub per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub burst: u32,
}

/// Per-endpoint rate limits, keyed by client address. Health and metrics are never limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `RATE_LIMIT_ENABLED` (default true).
    pub enabled: bool,
    /// `RATE_LIMIT_API_PER_SECOND` / `_BURST` (100 / 200): `/api/projects`, `/api/jobs`.
    pub api: Rate,
    /// `RATE_LIMIT_UPLOAD_PER_SECOND` / `_BURST` (2 / 10): uploads.
    pub uploads: Rate,
    /// `RATE_LIMIT_IMG_PER_SECOND` / `_BURST` (200 / 400): `/img`, `/media`.
    pub images: Rate,
    /// `RATE_LIMIT_ADMIN_PER_SECOND` / `_BURST` (10 / 20): admin endpoints.
    pub admin: Rate,
    /// `RATE_LIMIT_PAGES_PER_SECOND` / `_BURST` (20 / 50): HTML pages.
    pub pages: Rate,
}

/// A secret that never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Who may call `/api/admin/*`, `/status` and `/admin/*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminConfig {
    /// `ADMIN_TOKEN` or the file named by `ADMIN_TOKEN_FILE`: the bearer token. Without one
    /// the admin endpoints are off (403), never open.
    pub token: Option<Secret>,
    /// `ADMIN_ALLOWED_NETWORKS` (CIDRs): when set, callers from elsewhere get 403.
    pub allowed_networks: Vec<IpNet>,
}

/// Where uploads and renditions live (`STORAGE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// Unset (or `postgres`): in the app's PostgreSQL, so every instance sees every file with
    /// no extra service.
    Postgres,
    /// An `object_store` URL: `file:///dir`, `s3://bucket/prefix`, `gs://..`, `az://..`.
    /// Credentials come from the provider's usual variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, `GOOGLE_*`, `AZURE_*`).
    ObjectStore(url::Url),
}

/// The job queue and its workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsConfig {
    /// `IMAGE_WORKERS` (default: one per core): image jobs run at once on this instance.
    pub image_workers: usize,
    /// `JOB_MAX_ATTEMPTS` (default 3): a job failing this often for a transient reason is dead.
    pub max_attempts: u32,
    /// `JOB_LEASE_TIMEOUT` ms (default 30000): a running job whose worker stopped renewing its
    /// lease this long ago (the instance died) is given to another worker.
    pub lease_timeout: Duration,
    /// `JOB_POLL_INTERVAL` ms (default 500): how often idle workers look for jobs queued by
    /// other instances (jobs queued here wake them at once).
    pub poll_interval: Duration,
    /// `JOB_RETRY_BASE` ms (default 1000): delay before the first retry, doubled each time.
    pub retry_base: Duration,
    /// `JOB_RETRY_MAX` ms (default 60000): the longest delay between retries.
    pub retry_max: Duration,
}

/// Image renditions and the `/img` origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesConfig {
    /// `RENDITION_WIDTHS` (default `320,640,1280`): widths rendered for every upload.
    pub rendition_widths: Vec<u32>,
    /// `RENDITION_FORMATS` (default `webp,jpg`): formats rendered for every width.
    pub rendition_formats: Vec<Format>,
    /// `IMG_CACHE_MAX_BYTES` (default 64 MiB): the in-memory cache of `/img` answers.
    pub cache_max_bytes: u64,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// The largest width or height a rendition may have (as clip-cdn's transform URLs).
const MAX_RENDITION_SIDE: u32 = 16_384;

impl AppConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map); unset ones take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let env = Env::new(&lookup);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

        let host = env
            .parsed("HOST", "an IP address such as 0.0.0.0 or 127.0.0.1", |s| {
                s.parse().ok()
            })?
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let port = env
            .number("PORT", 0u16, u16::MAX, "a port number (0 picks a free one)")?
            .unwrap_or(3000);
        let instance_id = match env.get("INSTANCE_ID") {
            Some((_, id)) => id,
            None => format!("{}:{port}", hostname()),
        };

        let database = match env.secret("DATABASE_URL")? {
            Some(url) => DatabaseConfig::Url(url),
            None => DatabaseConfig::Embedded {
                data_dir: env
                    .get("CLIP_DATA_DIR")
                    .map_or_else(|| PathBuf::from("./.clip-data"), |(_, v)| v.into()),
            },
        };

        let defaults = HttpConfig::default();
        let http = HttpConfig {
            load_balancer_enabled: env
                .boolean("LOAD_BALANCER_ENABLED")?
                .unwrap_or(defaults.load_balancer_enabled),
            session_affinity: env
                .boolean("SESSION_AFFINITY")?
                .unwrap_or(defaults.session_affinity),
            max_concurrent_requests: env
                .number(
                    "MAX_CONCURRENT_REQUESTS",
                    1usize,
                    1_000_000,
                    "a whole number between 1 and 1000000",
                )?
                .unwrap_or(defaults.max_concurrent_requests),
            request_timeout: env
                .millis("REQUEST_TIMEOUT")?
                .unwrap_or(defaults.request_timeout),
            graceful_shutdown_timeout: env
                .millis("GRACEFUL_SHUTDOWN_TIMEOUT")?
                .unwrap_or(defaults.graceful_shutdown_timeout),
            shutdown_drain_delay: env
                .number(
                    "SHUTDOWN_DRAIN_DELAY",
                    0u64,
                    86_400_000,
                    "milliseconds (0 closes the listener at once)",
                )?
                .map_or(defaults.shutdown_drain_delay, Duration::from_millis),
            trusted_proxies: env
                .networks("TRUSTED_PROXIES")?
                .unwrap_or(defaults.trusted_proxies),
            api_cache_ttl: env
                .number("API_CACHE_TTL", 0u64, 31_536_000, "seconds (0 to 31536000)")?
                .map_or(defaults.api_cache_ttl, Duration::from_secs),
            max_json_body_bytes: env
                .number(
                    "MAX_JSON_BODY_BYTES",
                    64usize,
                    16 * MIB,
                    "bytes between 64 and 16777216",
                )?
                .unwrap_or(defaults.max_json_body_bytes),
            max_upload_bytes: env
                .number(
                    "MAX_UPLOAD_BYTES",
                    1024usize,
                    4096 * MIB,
                    "bytes between 1024 and 4294967296",
                )?
                .unwrap_or(defaults.max_upload_bytes),
        };

        let defaults = RateLimits::default();
        let rate = |name: &str, default: Rate| -> Result<Rate, Error> {
            let per_second = format!("RATE_LIMIT_{name}_PER_SECOND");
            let burst = format!("RATE_LIMIT_{name}_BURST");
            let expected = "a whole number of requests between 1 and 1000000000";
            Ok(Rate {
                per_second: env
                    .number(&per_second, 1u32, 1_000_000_000, expected)?
                    .unwrap_or(default.per_second),
                burst: env
                    .number(&burst, 1u32, 1_000_000_000, expected)?
                    .unwrap_or(default.burst),
            })
        };
        let rate_limits = RateLimits {
            enabled: env
                .boolean("RATE_LIMIT_ENABLED")?
                .unwrap_or(defaults.enabled),
            api: rate("API", defaults.api)?,
            uploads: rate("UPLOAD", defaults.uploads)?,
            images: rate("IMG", defaults.images)?,
            admin: rate("ADMIN", defaults.admin)?,
            pages: rate("PAGES", defaults.pages)?,
        };

        let admin = AdminConfig {
            token: env.secret("ADMIN_TOKEN")?.map(Secret),
            allowed_networks: env.networks("ADMIN_ALLOWED_NETWORKS")?.unwrap_or_default(),
        };

        let storage = match env.get("STORAGE_URL") {
            None => StorageConfig::Postgres,
            Some((_, v)) if v.eq_ignore_ascii_case("postgres") => StorageConfig::Postgres,
            Some((spelling, v)) => StorageConfig::ObjectStore(storage_url(&spelling, &v)?),
        };

        let defaults = JobsConfig::default();
        let jobs = JobsConfig {
            image_workers: env
                .number(
                    "IMAGE_WORKERS",
                    1usize,
                    256,
                    "a whole number between 1 and 256",
                )?
                .unwrap_or(cores),
            max_attempts: env
                .number(
                    "JOB_MAX_ATTEMPTS",
                    1u32,
                    100,
                    "a whole number between 1 and 100",
                )?
                .unwrap_or(defaults.max_attempts),
            lease_timeout: env
                .millis("JOB_LEASE_TIMEOUT")?
                .unwrap_or(defaults.lease_timeout),
            poll_interval: env
                .millis("JOB_POLL_INTERVAL")?
                .unwrap_or(defaults.poll_interval),
            retry_base: env.millis("JOB_RETRY_BASE")?.unwrap_or(defaults.retry_base),
            retry_max: env.millis("JOB_RETRY_MAX")?.unwrap_or(defaults.retry_max),
        };

        let defaults = ImagesConfig::default();
        let images = ImagesConfig {
            rendition_widths: env
                .list(
                    "RENDITION_WIDTHS",
                    "comma-separated widths in pixels, such as 320,640,1280",
                    |s| {
                        s.parse()
                            .ok()
                            .filter(|w| (1..=MAX_RENDITION_SIDE).contains(w))
                    },
                )?
                .unwrap_or(defaults.rendition_widths),
            rendition_formats: env
                .list(
                    "RENDITION_FORMATS",
                    "comma-separated formats among webp, jpg, png",
                    |s| Format::from_name(s).filter(|f| *f != Format::Gif),
                )?
                .unwrap_or(defaults.rendition_formats),
            cache_max_bytes: env
                .number(
                    "IMG_CACHE_MAX_BYTES",
                    0u64,
                    64 * 1024 * MIB as u64,
                    "bytes (0 disables the cache)",
                )?
                .unwrap_or(defaults.cache_max_bytes),
        };

        let config = AppConfig {
            server: ServerConfig {
                host,
                port,
                instance_id,
            },
            database,
            pool: PoolConfig::from_lookup(&lookup).map_err(Error::PoolConfig)?,
            cdn: CdnConfig::from_lookup(&lookup).map_err(Error::Cdn)?,
            health: HealthConfig::from_lookup(&lookup).map_err(Error::Health)?,
            scaling: ScalingConfig::from_lookup(&lookup).map_err(Error::Scaling)?,
            http,
            rate_limits,
            admin,
            storage,
            jobs,
            images,
            dashboard: crate::dashboard::DashboardConfig::from_lookup(&lookup)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what single variables cannot: relations between them.
    pub fn validate(&self) -> Result<(), Error> {
        if self.http.shutdown_drain_delay >= self.http.graceful_shutdown_timeout {
            return Err(Error::config(
                "SHUTDOWN_DRAIN_DELAY",
                Some(self.http.shutdown_drain_delay.as_millis().to_string()),
                format!(
                    "must be below GRACEFUL_SHUTDOWN_TIMEOUT ({} ms): requests in flight need time to finish",
                    self.http.graceful_shutdown_timeout.as_millis()
                ),
            ));
        }
        if self.jobs.retry_base > self.jobs.retry_max {
            return Err(Error::config(
                "JOB_RETRY_BASE",
                Some(self.jobs.retry_base.as_millis().to_string()),
                format!(
                    "must not exceed JOB_RETRY_MAX ({} ms)",
                    self.jobs.retry_max.as_millis()
                ),
            ));
        }
        let id = &self.server.instance_id;
        if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::config(
                "INSTANCE_ID",
                Some(id.clone()),
                "must be 1 to 200 visible ASCII characters (it is sent as a header and a metric label)",
            ));
        }
        if let Some(token) = &self.admin.token
            && (token.expose().len() < 16 || token.expose().chars().any(char::is_whitespace))
        {
            return Err(Error::config(
                "ADMIN_TOKEN",
                None,
                "must be at least 16 characters without whitespace (it is sent as `Authorization: Bearer <token>`)",
            ));
        }
        Ok(())
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            load_balancer_enabled: true,
            session_affinity: false,
            max_concurrent_requests: 1000,
            request_timeout: Duration::from_millis(30_000),
            graceful_shutdown_timeout: Duration::from_millis(30_000),
            shutdown_drain_delay: Duration::ZERO,
            trusted_proxies: parse_networks("127.0.0.0/8,::1/128").unwrap_or_default(),
            api_cache_ttl: Duration::from_secs(300),
            max_json_body_bytes: 64 * KIB,
            max_upload_bytes: 25 * MIB,
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            api: Rate {
                per_second: 100,
                burst: 200,
            },
            uploads: Rate {
                per_second: 2,
                burst: 10,
            },
            images: Rate {
                per_second: 200,
                burst: 400,
            },
            admin: Rate {
                per_second: 10,
                burst: 20,
            },
            pages: Rate {
                per_second: 20,
                burst: 50,
            },
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            image_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_attempts: 3,
            lease_timeout: Duration::from_millis(30_000),
            poll_interval: Duration::from_millis(500),
            retry_base: Duration::from_millis(1_000),
            retry_max: Duration::from_millis(60_000),
        }
    }
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            rendition_widths: vec![320, 640, 1280],
            rendition_formats: vec![Format::WebP, Format::Jpeg],
            cache_max_bytes: 64 * MIB as u64,
        }
    }
}

/// Parses `STORAGE_URL`; only schemes `object_store` serves are accepted.
fn storage_url(spelling: &str, value: &str) -> Result<url::Url, Error> {
    let bad = |reason: String| Error::config(spelling, Some(value.to_owned()), reason);
    let url = url::Url::parse(value).map_err(|e| {
        bad(format!(
            "not a URL ({e}): use postgres, file:///absolute/dir, s3://bucket/prefix, gs://bucket, az://container"
        ))
    })?;
    match url.scheme() {
        "file" if url.path().len() > 1 => Ok(url),
        "file" => Err(bad(
            "a file URL needs an absolute directory: file:///var/lib/clip".into(),
        )),
        "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" => Ok(url),
        other => Err(bad(format!(
            "unsupported scheme {other:?}: use postgres, file, s3, gs or az"
        ))),
    }
}

/// This machine's name for the default instance id.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<AppConfig, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AppConfig::from_lookup(move |name| map.get(name).cloned())
    }

    fn message(pairs: &[(&str, &str)]) -> String {
        match config(pairs) {
            Ok(c) => panic!("accepted {pairs:?}: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_follow_the_guide_and_the_contracts() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.server.port, 3000);
        assert_eq!(c.server.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(c.server.instance_id.ends_with(":3000"));
        assert_eq!(
            c.database,
            DatabaseConfig::Embedded {
                data_dir: "./.clip-data".into()
            }
        );
        assert_eq!(c.http.max_concurrent_requests, 1000);
        assert_eq!(c.http.request_timeout, Duration::from_secs(30));
        assert_eq!(c.http.graceful_shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.pool.max_connections, 20);
        assert_eq!(c.scaling.max_instances, 20);
        assert_eq!(c.storage, StorageConfig::Postgres);
        assert_eq!(c.admin, AdminConfig::default());
    }

    #[test]
    fn the_guides_vite_spelling_is_read_for_settings() {
        let c = config(&[
            ("VITE_DB_MAX_CONNECTIONS", "30"),
            ("VITE_MAX_CONCURRENT_REQUESTS", "50"),
            ("VITE_CDN_ENABLED", "false"),
        ])
        .expect("valid");
        assert_eq!(c.pool.max_connections, 30);
        assert_eq!(c.http.max_concurrent_requests, 50);
        assert!(!c.cdn.enabled);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (pairs, variable) in [
            (&[("PORT", "http")][..], "PORT"),
            (
                &[("MAX_CONCURRENT_REQUESTS", "0")],
                "MAX_CONCURRENT_REQUESTS",
            ),
            (&[("REQUEST_TIMEOUT", "30s")], "REQUEST_TIMEOUT"),
            (&[("VITE_REQUEST_TIMEOUT", "-1")], "VITE_REQUEST_TIMEOUT"),
            (&[("STORAGE_URL", "ftp://x/y")], "STORAGE_URL"),
            (&[("STORAGE_URL", "not a url")], "STORAGE_URL"),
            (
                &[("ADMIN_ALLOWED_NETWORKS", "10.0.0.0/33")],
                "ADMIN_ALLOWED_NETWORKS",
            ),
            (&[("TRUSTED_PROXIES", "loopback")], "TRUSTED_PROXIES"),
            (&[("DB_POOL_SIZE", "50")], "DB_POOL_SIZE"),
            (&[("CDN_CACHE_TTL", "soon")], "CDN_CACHE_TTL"),
            (&[("CPU_THRESHOLD", "hot")], "CPU_THRESHOLD"),
            (&[("RENDITION_FORMATS", "webp,gif")], "RENDITION_FORMATS"),
            (&[("RATE_LIMIT_API_BURST", "0")], "RATE_LIMIT_API_BURST"),
            (
                &[
                    ("SHUTDOWN_DRAIN_DELAY", "5000"),
                    ("GRACEFUL_SHUTDOWN_TIMEOUT", "2000"),
                ],
                "SHUTDOWN_DRAIN_DELAY",
            ),
            (&[("ADMIN_TOKEN", "short")], "ADMIN_TOKEN"),
            (&[("INSTANCE_ID", "two words")], "INSTANCE_ID"),
        ] {
            let text = message(pairs);
            assert!(text.contains(variable), "{pairs:?}: {text}");
        }
    }

    #[test]
    fn secrets_come_from_the_variable_or_its_file_never_from_vite() {
        let dir = std::env::temp_dir().join(format!("clip-app-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("token");
        std::fs::write(&file, "from-a-file-0123456789\n").expect("write");
        let c = config(&[("ADMIN_TOKEN_FILE", file.to_str().expect("utf-8"))]).expect("valid");
        assert_eq!(
            c.admin.token.as_ref().map(Secret::expose),
            Some("from-a-file-0123456789")
        );
        assert!(!format!("{c:?}").contains("from-a-file"), "Debug leaks");

        let text = message(&[("VITE_ADMIN_TOKEN", "0123456789abcdef0123")]);
        assert!(text.contains("VITE_ADMIN_TOKEN") && !text.contains("0123456789abcdef"));
        let text = message(&[("DATABASE_URL_FILE", "/nonexistent/clip-db-url")]);
        assert!(text.contains("DATABASE_URL_FILE"), "{text}");

        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@db/x")]).expect("valid");
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "Debug leaks the password"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn storage_urls() {
        let c = config(&[("STORAGE_URL", "file:///var/lib/clip")]).expect("valid");
        assert!(matches!(c.storage, StorageConfig::ObjectStore(u) if u.scheme() == "file"));
        let c = config(&[("STORAGE_URL", "postgres")]).expect("valid");
        assert_eq!(c.storage, StorageConfig::Postgres);
        assert!(message(&[("STORAGE_URL", "file://")]).contains("absolute directory"));
    }
}
