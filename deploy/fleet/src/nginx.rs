//! The load balancer's configuration: one template (`deploy/nginx/nginx.conf.template`) for the
//! three deploy modes, filled from the environment profile and the mode's ports and paths.

use serde::Serialize;

use crate::profile::{Profile, RateLimits};
use crate::{FleetError, Mode};

/// The template, compiled in so the binary renders the same file wherever it runs.
pub const TEMPLATE: &str = include_str!("../../nginx/nginx.conf.template");

/// Where a mode's load balancer finds its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A file of `server ...;` lines that the local fleet rewrites as instances come and go.
    Include(String),
    /// Fixed `host:port` addresses (a Compose service name, a Kubernetes Service).
    Servers(Vec<String>),
}

/// Everything the template needs. [`NginxSettings::for_mode`] gives a mode's defaults; change
/// fields (ports, paths, networks) before [`NginxSettings::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct NginxSettings {
    /// The deploy mode, written in the file's header.
    pub mode: Mode,
    /// The environment's sizes and limits.
    pub profile: Profile,
    /// `user` directive for the workers (set when the master runs as root on a host).
    pub user: Option<String>,
    /// Worker processes (`auto`: one per core).
    pub worker_processes: String,
    /// Connections per worker.
    pub worker_connections: u32,
    /// The master's pid file.
    pub pid_path: String,
    /// `error_log` target.
    pub error_log: String,
    /// `access_log` target.
    pub access_log: String,
    /// The `mime.types` file to include.
    pub mime_types: String,
    /// Where nginx buffers bodies (the workers must be able to write there).
    pub temp_dir: String,
    /// The static-asset cache.
    pub cache_dir: String,
    /// The instances.
    pub upstream: Upstream,
    /// `address:` prefix of every `listen` (empty: all addresses).
    pub listen_address: String,
    /// Plain HTTP port: redirects to HTTPS when `tls`, else serves the app.
    pub http_port: u16,
    /// HTTPS port.
    pub https_port: u16,
    /// Operators' port: `/nginx-status`, `/lb-health`.
    pub status_port: u16,
    /// `LB_TLS`: terminate TLS here and redirect HTTP to HTTPS. Off behind a TLS-terminating
    /// ingress or cloud load balancer.
    pub tls: bool,
    /// PEM certificate chain.
    pub tls_certificate: String,
    /// PEM private key.
    pub tls_certificate_key: String,
    /// `SESSION_AFFINITY`: keep a client on one instance (cookie, consistent hash).
    pub session_affinity: bool,
    /// `LB_STATUS_ALLOW`: networks that may read `/nginx-status`.
    pub status_allow: Vec<String>,
    /// `LB_INTERNAL_NETWORKS`: networks that may read `/metrics` through the load balancer.
    pub internal_networks: Vec<String>,
    /// `LB_RATE_LIMIT_EXEMPT`: networks the rate limits do not apply to (monitoring, load tests).
    pub rate_limit_exempt: Vec<String>,
    /// `LB_TRUSTED_PROXIES`: load balancers in front of this one whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Passive health check: failures within `fail_timeout` that mark an instance down.
    pub max_fails: u32,
    /// Passive health check window, and how long a failed instance stays out.
    pub fail_timeout_seconds: u32,
    /// Idle keep-alive connections each worker keeps to the instances.
    pub upstream_keepalive: u32,
}

#[derive(Serialize)]
struct Context<'a> {
    mode: &'static str,
    env: &'static str,
    user: Option<&'a str>,
    worker_processes: &'a str,
    worker_connections: u32,
    pid_path: &'a str,
    error_log: &'a str,
    access_log: &'a str,
    mime_types: &'a str,
    temp_dir: &'a str,
    cache_dir: &'a str,
    upstream_include: Option<&'a str>,
    upstream_servers: &'a [String],
    listen_address: String,
    http_port: u16,
    https_port: u16,
    https_port_suffix: String,
    status_port: u16,
    tls: bool,
    tls_certificate: &'a str,
    tls_certificate_key: &'a str,
    hsts_max_age: u64,
    hsts_subdomains: bool,
    session_affinity: bool,
    status_allow: &'a [String],
    internal_networks: &'a [String],
    rate_limit_exempt: &'a [String],
    trusted_proxies: &'a [String],
    rate_limits: RateLimits,
    upload_max_bytes: u64,
    video_max_bytes: u64,
    body_max_bytes: u64,
    request_timeout_seconds: u64,
    connect_timeout_seconds: u64,
    next_upstream_tries: u32,
    next_upstream_timeout_seconds: u64,
    max_fails: u32,
    fail_timeout_seconds: u32,
    upstream_keepalive: u32,
}

/// Private networks: where Prometheus and operators live in Compose and Kubernetes.
const PRIVATE_NETWORKS: [&str; 5] = [
    "127.0.0.1/32",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
];
const LOOPBACK: [&str; 2] = ["127.0.0.1/32", "::1/128"];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl NginxSettings {
    /// A mode's defaults. `fleet_dir` is the local fleet's state directory (unused by the
    /// container modes, whose paths are the nginx image's).
    pub fn for_mode(mode: Mode, profile: Profile, fleet_dir: &str) -> Self {
        let containers = |upstream: &str| Self {
            mode,
            user: None, // the image's nginx binary already runs its workers as `nginx`
            worker_processes: "auto".into(),
            worker_connections: 4096,
            pid_path: "/var/run/nginx.pid".into(),
            error_log: "stderr".into(),
            access_log: "/dev/stdout".into(),
            mime_types: "/etc/nginx/mime.types".into(),
            temp_dir: "/var/cache/nginx".into(),
            cache_dir: "/var/cache/nginx/static".into(),
            upstream: Upstream::Servers(vec![upstream.to_owned()]),
            listen_address: String::new(),
            http_port: 80,
            https_port: 443,
            status_port: 8080,
            tls: true,
            tls_certificate: "/etc/nginx/tls/tls.crt".into(),
            tls_certificate_key: "/etc/nginx/tls/tls.key".into(),
            session_affinity: false,
            status_allow: strings(&PRIVATE_NETWORKS),
            internal_networks: strings(&PRIVATE_NETWORKS),
            rate_limit_exempt: Vec::new(),
            trusted_proxies: Vec::new(),
            max_fails: 3,
            fail_timeout_seconds: 10,
            upstream_keepalive: 64,
            profile: profile.clone(),
        };
        match mode {
            Mode::Local => Self {
                mode,
                profile,
                user: None,
                worker_processes: "2".into(),
                worker_connections: 1024,
                pid_path: format!("{fleet_dir}/nginx/nginx.pid"),
                error_log: format!("{fleet_dir}/logs/nginx-error.log"),
                access_log: format!("{fleet_dir}/logs/nginx-access.log"),
                mime_types: "/etc/nginx/mime.types".into(),
                temp_dir: format!("{fleet_dir}/nginx/tmp"),
                cache_dir: format!("{fleet_dir}/nginx/cache"),
                upstream: Upstream::Include(format!("{fleet_dir}/nginx/upstream.conf")),
                listen_address: "127.0.0.1".into(),
                http_port: 8000,
                https_port: 8443,
                status_port: 8080,
                tls: true,
                tls_certificate: format!("{fleet_dir}/nginx/tls/tls.crt"),
                tls_certificate_key: format!("{fleet_dir}/nginx/tls/tls.key"),
                session_affinity: false,
                status_allow: strings(&LOOPBACK),
                internal_networks: strings(&LOOPBACK),
                rate_limit_exempt: Vec::new(),
                trusted_proxies: Vec::new(),
                max_fails: 3,
                fail_timeout_seconds: 10,
                upstream_keepalive: 32,
            },
            Mode::DockerCompose => containers("app:3000"),
            Mode::Kubernetes => containers(crate::kubernetes::APP_SERVICE_ADDRESS),
        }
    }

    /// Renders the configuration.
    pub fn render(&self) -> Result<String, FleetError> {
        let p = &self.profile;
        let (upstream_include, upstream_servers) = match &self.upstream {
            Upstream::Include(path) => (Some(path.as_str()), &[][..]),
            Upstream::Servers(servers) => {
                if servers.is_empty() {
                    return Err(FleetError::Invalid {
                        what: "the upstream".into(),
                        why: "no app instance address given".into(),
                    });
                }
                (None, servers.as_slice())
            }
        };
        let request_timeout_seconds = p.request_timeout.as_secs().max(1);
        let listen_address = if self.listen_address.is_empty() {
            String::new()
        } else if self.listen_address.contains(':') {
            format!("[{}]:", self.listen_address)
        } else {
            format!("{}:", self.listen_address)
        };
        let context = Context {
            mode: self.mode.name(),
            env: p.environment.name(),
            user: self.user.as_deref(),
            worker_processes: &self.worker_processes,
            worker_connections: self.worker_connections,
            pid_path: &self.pid_path,
            error_log: &self.error_log,
            access_log: &self.access_log,
            mime_types: &self.mime_types,
            temp_dir: &self.temp_dir,
            cache_dir: &self.cache_dir,
            upstream_include,
            upstream_servers,
            listen_address,
            http_port: self.http_port,
            https_port: self.https_port,
            https_port_suffix: if self.https_port == 443 {
                String::new()
            } else {
                format!(":{}", self.https_port)
            },
            status_port: self.status_port,
            tls: self.tls,
            tls_certificate: &self.tls_certificate,
            tls_certificate_key: &self.tls_certificate_key,
            hsts_max_age: p.hsts_max_age,
            // A developer's `localhost` must not pin every subdomain to HTTPS for a year.
            hsts_subdomains: p.environment != crate::Environment::Development,
            session_affinity: self.session_affinity,
            status_allow: &self.status_allow,
            internal_networks: &self.internal_networks,
            rate_limit_exempt: &self.rate_limit_exempt,
            trusted_proxies: &self.trusted_proxies,
            rate_limits: p.rate_limits,
            upload_max_bytes: p.upload_max_bytes,
            video_max_bytes: p.video_max_bytes,
            body_max_bytes: 1024 * 1024,
            request_timeout_seconds,
            connect_timeout_seconds: 2,
            next_upstream_tries: 3,
            // Retries stop once this much of the request's time is spent.
            next_upstream_timeout_seconds: (request_timeout_seconds / 3).max(1),
            max_fails: self.max_fails,
            fail_timeout_seconds: self.fail_timeout_seconds,
            upstream_keepalive: self.upstream_keepalive,
        };
        let mut env = minijinja::Environment::new();
        env.add_template("nginx.conf", TEMPLATE)
            .map_err(FleetError::Template)?;
        let template = env
            .get_template("nginx.conf")
            .map_err(FleetError::Template)?;
        let mut out = template
            .render(minijinja::value::Serde(&context))
            .map_err(FleetError::Template)?;
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }
}
