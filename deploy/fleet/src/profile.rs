//! The three environments (development, staging, production) and what each one sizes: how many
//! instances, the pool, the load balancer's rate limits, the containers' resources, and the
//! scaling thresholds. Every generator (nginx, Kubernetes, Docker Compose, the local deploy) reads
//! its numbers from here, so one environment means the same thing everywhere.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clip_pool::PoolConfig;
use clip_scaling_policy::ScalingConfig;
use serde::Serialize;

use crate::FleetError;

/// The `ENV` argument of `scripts/deploy-scaling.sh MODE ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine: small, generous rate limits, short HSTS.
    Development,
    /// Production's shape at a smaller size, to rehearse scaling before it matters.
    Staging,
    /// The guide's production settings: `ScalingConfig::default()` and the high-traffic pool.
    Production,
}

impl Environment {
    /// All environments, in promotion order.
    pub const ALL: [Environment; 3] = [Self::Development, Self::Staging, Self::Production];

    /// The lowercase name used on command lines and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Environment {
    type Err = FleetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" | "dev" => Ok(Self::Development),
            "staging" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            other => Err(FleetError::UnknownEnvironment(other.to_owned())),
        }
    }
}

/// One `limit_req` zone: a sustained rate per client address and the burst it may spend at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Requests per second (nginx `rate=Nr/s`), per client address.
    pub per_second: u32,
    /// Requests above the rate served at once before 429 (nginx `burst=N nodelay`).
    pub burst: u32,
}

/// The load balancer's per-endpoint rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimits {
    /// `/api/` except uploads.
    pub api: RateLimit,
    /// `POST /api/projects/{id}/assets`.
    pub uploads: RateLimit,
    /// `/img/` (renditions and on-demand transforms).
    pub images: RateLimit,
}

/// CPU and memory of one app container (Kubernetes `resources`, Compose `deploy.resources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Guaranteed CPU (Kubernetes quantity, e.g. `500m`).
    pub cpu_request: String,
    /// CPU ceiling; the HPA's CPU utilisation is relative to the request.
    pub cpu_limit: String,
    /// Guaranteed memory (e.g. `256Mi`).
    pub memory_request: String,
    /// Memory ceiling: the app's `clip_process_memory_usage_percent` is relative to it.
    pub memory_limit: String,
}

/// Production's limits per client, which staging rehearses.
const PRODUCTION_RATE_LIMITS: RateLimits = RateLimits {
    api: RateLimit {
        per_second: 50,
        burst: 100,
    },
    uploads: RateLimit {
        per_second: 2,
        burst: 10,
    },
    images: RateLimit {
        per_second: 100,
        burst: 200,
    },
};

/// Everything an environment decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Which environment this is.
    pub environment: Environment,
    /// Instances started by a deploy (the local fleet and Compose's `--scale app=N` default).
    pub instances: u32,
    /// The autoscaler's and the HPA's thresholds and bounds.
    pub scaling: ScalingConfig,
    /// The app's database pool.
    pub pool: PoolConfig,
    /// The load balancer's rate limits.
    pub rate_limits: RateLimits,
    /// Largest upload the load balancer passes to the app (nginx `client_max_body_size`).
    pub upload_max_bytes: u64,
    /// Largest video upload (`VIDEO_MAX_BYTES`, and nginx's limit on the video route).
    pub video_max_bytes: u64,
    /// Resources of one app container.
    pub resources: Resources,
    /// `REQUEST_TIMEOUT`: the app's deadline and the load balancer's read timeout.
    pub request_timeout: Duration,
    /// `GRACEFUL_SHUTDOWN_TIMEOUT`: how long a stopping instance may take to drain.
    pub graceful_shutdown_timeout: Duration,
    /// `MAX_CONCURRENT_REQUESTS` per instance.
    pub max_concurrent_requests: u32,
    /// `CDN_CACHE_TTL` (s): static assets.
    pub cdn_cache_ttl: u64,
    /// `API_CACHE_TTL` (s): dynamic content.
    pub api_cache_ttl: u64,
    /// `Strict-Transport-Security: max-age` (s).
    pub hsts_max_age: u64,
    /// `RUST_LOG` of the app.
    pub log_level: &'static str,
}

impl Profile {
    /// The profile of `environment`.
    ///
    /// Production is the guide: `ScalingConfig::default()`, the "high-traffic" pool of the
    /// tuning section (5 / 50 / 20), one-year CDN TTL, five-minute API cache. Staging keeps
    /// production's thresholds at a smaller ceiling; development is small and lenient.
    pub fn for_environment(environment: Environment) -> Self {
        let guide_pool = PoolConfig::default();
        match environment {
            Environment::Development => Self {
                environment,
                instances: 3,
                scaling: ScalingConfig {
                    min_instances: 1,
                    max_instances: 5,
                    ..ScalingConfig::default()
                },
                pool: guide_pool,
                rate_limits: RateLimits {
                    api: RateLimit {
                        per_second: 200,
                        burst: 400,
                    },
                    uploads: RateLimit {
                        per_second: 10,
                        burst: 20,
                    },
                    images: RateLimit {
                        per_second: 400,
                        burst: 800,
                    },
                },
                upload_max_bytes: 50 * 1024 * 1024,
                video_max_bytes: 1024 * 1024 * 1024,
                resources: Resources {
                    cpu_request: "100m".into(),
                    cpu_limit: "1".into(),
                    memory_request: "128Mi".into(),
                    memory_limit: "512Mi".into(),
                },
                request_timeout: Duration::from_secs(30),
                graceful_shutdown_timeout: Duration::from_secs(30),
                max_concurrent_requests: 1000,
                cdn_cache_ttl: 300,
                api_cache_ttl: 0,
                hsts_max_age: 300,
                log_level: "info,clip_app=debug",
            },
            Environment::Staging => Self {
                environment,
                instances: 3,
                scaling: ScalingConfig {
                    max_instances: 10,
                    ..ScalingConfig::default()
                },
                pool: guide_pool,
                rate_limits: PRODUCTION_RATE_LIMITS,
                upload_max_bytes: 50 * 1024 * 1024,
                video_max_bytes: 1024 * 1024 * 1024,
                resources: Resources {
                    cpu_request: "250m".into(),
                    cpu_limit: "1".into(),
                    memory_request: "256Mi".into(),
                    memory_limit: "512Mi".into(),
                },
                request_timeout: Duration::from_secs(30),
                graceful_shutdown_timeout: Duration::from_secs(30),
                max_concurrent_requests: 1000,
                cdn_cache_ttl: 86_400,
                api_cache_ttl: 60,
                hsts_max_age: 86_400,
                log_level: "info",
            },
            Environment::Production => Self {
                environment,
                instances: 3,
                scaling: ScalingConfig::default(),
                pool: PoolConfig {
                    min_connections: 5,
                    max_connections: 50,
                    pool_size: 20,
                    ..guide_pool
                },
                rate_limits: PRODUCTION_RATE_LIMITS,
                upload_max_bytes: 50 * 1024 * 1024,
                video_max_bytes: 1024 * 1024 * 1024,
                resources: Resources {
                    cpu_request: "500m".into(),
                    cpu_limit: "2".into(),
                    memory_request: "256Mi".into(),
                    memory_limit: "1Gi".into(),
                },
                request_timeout: Duration::from_secs(30),
                graceful_shutdown_timeout: Duration::from_secs(30),
                max_concurrent_requests: 1000,
                cdn_cache_ttl: 31_536_000,
                api_cache_ttl: 300,
                hsts_max_age: 63_072_000,
                log_level: "info",
            },
        }
    }

    /// The app's and the autoscaler's environment variables for this profile, by the guide's
    /// names, in a stable order. A deploy passes them to every instance (the local fleet writes
    /// them into its env file, Compose and Kubernetes into the ConfigMap).
    pub fn app_env(&self) -> Vec<(&'static str, String)> {
        let s = &self.scaling;
        let ms = |d: Duration| d.as_millis().to_string();
        let secs = |d: Duration| d.as_secs().to_string();
        vec![
            ("APP_ENV", self.environment.name().to_owned()),
            ("RUST_LOG", self.log_level.to_owned()),
            ("DB_MIN_CONNECTIONS", self.pool.min_connections.to_string()),
            ("DB_MAX_CONNECTIONS", self.pool.max_connections.to_string()),
            ("DB_POOL_SIZE", self.pool.pool_size.to_string()),
            ("DB_ACQUIRE_TIMEOUT", ms(self.pool.acquire_timeout)),
            ("DB_IDLE_TIMEOUT", ms(self.pool.idle_timeout)),
            ("CDN_CACHE_TTL", self.cdn_cache_ttl.to_string()),
            ("API_CACHE_TTL", self.api_cache_ttl.to_string()),
            ("LOAD_BALANCER_ENABLED", "true".into()),
            // Rate limits are enforced once, at the load balancer, for the whole fleet: limits
            // per instance would multiply with the instance count and disagree with nginx's.
            ("RATE_LIMIT_ENABLED", "false".into()),
            // The app refuses what nginx would let through otherwise.
            ("MAX_UPLOAD_BYTES", self.upload_max_bytes.to_string()),
            ("VIDEO_MAX_BYTES", self.video_max_bytes.to_string()),
            (
                "MAX_CONCURRENT_REQUESTS",
                self.max_concurrent_requests.to_string(),
            ),
            ("REQUEST_TIMEOUT", ms(self.request_timeout)),
            (
                "GRACEFUL_SHUTDOWN_TIMEOUT",
                ms(self.graceful_shutdown_timeout),
            ),
            ("AUTO_SCALING_ENABLED", s.enabled.to_string()),
            ("MIN_INSTANCES", s.min_instances.to_string()),
            ("MAX_INSTANCES", s.max_instances.to_string()),
            ("CPU_THRESHOLD", s.cpu.up.to_string()),
            ("MEMORY_THRESHOLD", s.memory.up.to_string()),
            ("REQUEST_RATE_THRESHOLD", s.request_rate.up.to_string()),
            ("QUEUE_LENGTH_THRESHOLD", s.queue_length.up.to_string()),
            (
                "RESPONSE_TIME_THRESHOLD_MS",
                ((s.p95_response_time.up * 1000.0).round() as u64).to_string(),
            ),
            ("SCALE_UP_COOLDOWN", secs(s.scale_up_cooldown)),
            ("SCALE_DOWN_COOLDOWN", secs(s.scale_down_cooldown)),
        ]
    }
}

/// The profile's variables as a Docker Compose env file (`deploy/env/ENV.env`), with a header
/// that says where it comes from.
pub fn env_file(profile: &Profile) -> String {
    let env = profile.environment;
    let mut out = format!(
        "# Generated by `clip-fleet env --env {env} --format env-file` (deploy/fleet/src/profile.rs).\n\
         # Regenerate: cargo run -p clip-fleet -- env --env {env} --format env-file -o deploy/env/{env}.env\n"
    );
    for (key, value) in profile.app_env() {
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_is_the_guide() {
        let p = Profile::for_environment(Environment::Production);
        assert_eq!(p.scaling, ScalingConfig::default());
        assert_eq!(
            (
                p.pool.min_connections,
                p.pool.max_connections,
                p.pool.pool_size
            ),
            (5, 50, 20)
        );
        assert_eq!(p.cdn_cache_ttl, 31_536_000);
        assert_eq!(p.api_cache_ttl, 300);
    }

    #[test]
    fn every_profile_is_a_valid_configuration() {
        for env in Environment::ALL {
            let p = Profile::for_environment(env);
            p.scaling.validate().unwrap();
            p.pool.validate().unwrap();
            assert!(
                p.instances >= p.scaling.min_instances && p.instances <= p.scaling.max_instances
            );
        }
    }

    #[test]
    fn the_app_env_reads_back_as_the_same_scaling_config() {
        for env in Environment::ALL {
            let p = Profile::for_environment(env);
            let vars = p.app_env();
            let read = ScalingConfig::from_lookup(|k| {
                vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
            })
            .unwrap();
            assert_eq!(read.min_instances, p.scaling.min_instances);
            assert_eq!(read.max_instances, p.scaling.max_instances);
            assert_eq!(read.cpu.up, p.scaling.cpu.up);
            assert_eq!(read.p95_response_time.up, p.scaling.p95_response_time.up);
            assert_eq!(read.scale_down_cooldown, p.scaling.scale_down_cooldown);
            let pool = PoolConfig::from_lookup(|k| {
                vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
            })
            .unwrap();
            assert_eq!(pool.max_connections, p.pool.max_connections);
        }
    }

    #[test]
    fn environment_names_round_trip_and_unknown_ones_are_refused() {
        for env in Environment::ALL {
            assert_eq!(env.name().parse::<Environment>().unwrap(), env);
        }
        let err = "prdo".parse::<Environment>().unwrap_err().to_string();
        assert!(err.contains("prdo") && err.contains("production"), "{err}");
    }
}
