//! `clip-fleet`: the generators and the load-test driver that `scripts/deploy-scaling.sh` and
//! `scripts/load-test.sh` call. Run `clip-fleet --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use clip_fleet::kubernetes::{self, ManifestOptions};
use clip_fleet::net::parse_networks;
use clip_fleet::nginx::{NginxSettings, Upstream};
use clip_fleet::{Environment, FleetError, Mode, Profile, loadtest, profile};

#[derive(Parser)]
#[command(
    name = "clip-fleet",
    version,
    about = "Generators and load-test driver of the Creator Clip fleet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render the nginx configuration of a deploy mode.
    Nginx(NginxArgs),
    /// Render the Kubernetes manifests (deploy/kubernetes/scaling-config.yaml for production).
    Kubernetes(KubernetesArgs),
    /// Run a load test (what scripts/load-test.sh calls): phases, reports in Markdown and HTML.
    LoadTest(LoadTestArgs),
    /// Print an environment's variables: shell assignments (`KEY='value'`) for a deploy to
    /// source, or an env file (`KEY=value`) for Docker Compose.
    Env {
        /// development, staging or production.
        #[arg(long, value_enum)]
        env: Environment,
        /// `shell` or `env-file`.
        #[arg(long, value_enum, default_value = "shell")]
        format: EnvFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct LoadTestArgs {
    /// Base URL of the fleet (the load balancer), e.g. https://localhost:8443.
    #[arg(long)]
    url: String,
    /// Planned duration in seconds.
    #[arg(long)]
    duration: u64,
    /// Virtual users at full load.
    #[arg(long)]
    users: u32,
    /// Path requested.
    #[arg(long, env = "LOAD_TEST_PATH", default_value = "/api/projects")]
    path: String,
    /// Requests per second each virtual user sends.
    #[arg(long, env = "LOAD_TEST_RATE_PER_USER", default_value_t = 10.0)]
    rate_per_user: f64,
    /// The oha executable.
    #[arg(long, env = "OHA", default_value = "oha")]
    oha: PathBuf,
    /// The autoscaler's base URL (its /status is polled).
    #[arg(long, env = "AUTOSCALER_URL", default_value = "http://127.0.0.1:3002")]
    autoscaler_url: String,
    /// Per-request timeout in seconds.
    #[arg(long, env = "LOAD_TEST_TIMEOUT", default_value_t = 10)]
    timeout: u64,
    /// Directory for the reports and the per-step files.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum EnvFormat {
    Shell,
    EnvFile,
}

#[derive(clap::Args)]
struct NginxArgs {
    /// local, docker-compose or kubernetes.
    #[arg(long, value_enum)]
    mode: Mode,
    /// development, staging or production.
    #[arg(long, value_enum)]
    env: Environment,
    /// The local fleet's state directory (absolute): pid, logs, temp, certificate, upstream file.
    #[arg(long, env = "CLIP_FLEET_DIR", default_value = ".fleet/local")]
    fleet_dir: PathBuf,
    /// `user` directive (when the master runs as root).
    #[arg(long)]
    user: Option<String>,
    /// Address every listener binds (empty: all).
    #[arg(long, env = "LB_LISTEN_ADDRESS")]
    listen_address: Option<String>,
    /// Plain HTTP port (redirects to HTTPS when TLS is on).
    #[arg(long, env = "LB_HTTP_PORT")]
    http_port: Option<u16>,
    /// HTTPS port.
    #[arg(long, env = "LB_HTTPS_PORT")]
    https_port: Option<u16>,
    /// Port of /nginx-status and /lb-health.
    #[arg(long, env = "LB_STATUS_PORT")]
    status_port: Option<u16>,
    /// Terminate TLS and redirect HTTP to HTTPS (false behind a TLS-terminating ingress).
    #[arg(long, env = "LB_TLS", action = clap::ArgAction::Set, value_parser = BoolishValueParser::new(), default_value = "true")]
    tls: bool,
    /// Keep each client on one instance (cookie + consistent hash).
    #[arg(long, env = "SESSION_AFFINITY", action = clap::ArgAction::Set, value_parser = BoolishValueParser::new(), default_value = "false")]
    session_affinity: bool,
    /// Comma-separated networks allowed to read /nginx-status.
    #[arg(long, env = "LB_STATUS_ALLOW")]
    status_allow: Option<String>,
    /// Comma-separated networks allowed to read /metrics through the load balancer.
    #[arg(long, env = "LB_INTERNAL_NETWORKS")]
    internal_networks: Option<String>,
    /// Comma-separated networks exempt from rate limits (monitoring, load generators).
    #[arg(long, env = "LB_RATE_LIMIT_EXEMPT")]
    rate_limit_exempt: Option<String>,
    /// Comma-separated load balancers in front whose X-Forwarded-For is believed.
    #[arg(long, env = "LB_TRUSTED_PROXIES")]
    trusted_proxies: Option<String>,
    /// Comma-separated `host:port` instances, instead of the mode's default upstream.
    #[arg(long)]
    upstream_servers: Option<String>,
    /// Passive health check: failures that mark an instance down.
    #[arg(long, env = "LB_MAX_FAILS")]
    max_fails: Option<u32>,
    /// Passive health check: the window, and how long a failed instance stays out (seconds).
    #[arg(long, env = "LB_FAIL_TIMEOUT")]
    fail_timeout: Option<u32>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct KubernetesArgs {
    /// development, staging or production.
    #[arg(long, value_enum, default_value = "production")]
    env: Environment,
    /// The app's image.
    #[arg(long, env = "CLIP_APP_IMAGE")]
    app_image: Option<String>,
    /// The load balancer's image.
    #[arg(long, env = "CLIP_NGINX_IMAGE")]
    nginx_image: Option<String>,
    /// Leave the request-rate and queue metrics out of the HPA (clusters without the
    /// Prometheus adapter: otherwise the HPA cannot read them and never scales down).
    #[arg(long)]
    resource_metrics_only: bool,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clip-fleet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), FleetError> {
    match command {
        Command::Nginx(args) => {
            let output = args.output.clone();
            emit(output, &nginx(args)?)
        }
        Command::Kubernetes(args) => {
            let mut options = ManifestOptions::new(Profile::for_environment(args.env));
            if let Some(image) = args.app_image {
                options.app_image = image;
            }
            if let Some(image) = args.nginx_image {
                options.nginx_image = image;
            }
            options.custom_metrics = !args.resource_metrics_only;
            emit(args.output, &kubernetes::render(&options)?)
        }
        Command::LoadTest(args) => load_test(args),
        Command::Env {
            env,
            format,
            output,
        } => {
            let profile = Profile::for_environment(env);
            let text = match format {
                EnvFormat::Shell => {
                    let mut out = format!("INSTANCES='{}'\n", profile.instances);
                    for (key, value) in profile.app_env() {
                        out.push_str(&format!("{key}='{}'\n", value.replace('\'', "'\\''")));
                    }
                    out
                }
                EnvFormat::EnvFile => profile::env_file(&profile),
            };
            emit(output, &text)
        }
    }
}

fn load_test(args: LoadTestArgs) -> Result<(), FleetError> {
    let invalid = |what: &str, why: &str| FleetError::Invalid {
        what: what.into(),
        why: why.into(),
    };
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(invalid("URL", "must start with http:// or https://"));
    }
    if args.duration < 5 {
        return Err(invalid(
            "DURATION",
            "must be at least 5 seconds (one per phase)",
        ));
    }
    if args.users == 0 {
        return Err(invalid("USERS", "must be at least 1"));
    }
    if !(args.rate_per_user.is_finite() && args.rate_per_user > 0.0) {
        return Err(invalid(
            "LOAD_TEST_RATE_PER_USER",
            "must be a number above 0",
        ));
    }
    if !args.path.starts_with('/') {
        return Err(invalid("LOAD_TEST_PATH", "must start with /"));
    }
    let base = args.url.trim_end_matches('/');
    let config = loadtest::LoadTestConfig {
        target: format!("{base}{}", args.path),
        metrics_url: format!("{base}/metrics"),
        autoscaler_status_url: format!("{}/status", args.autoscaler_url.trim_end_matches('/')),
        duration: std::time::Duration::from_secs(args.duration),
        users: args.users,
        rate_per_user: args.rate_per_user,
        oha: args.oha,
        request_timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        out_dir: args.out.clone(),
    };
    let report = loadtest::run(&config)?;
    let markdown = loadtest::report::markdown(&report);
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(FleetError::io(format!("writing {}", path.display())))
    };
    write("report.md", &markdown)?;
    write("report.html", &loadtest::report::html(&report))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| FleetError::Serialize {
        what: "the load-test report",
        message: e.to_string(),
    })?;
    write("report.json", &json)?;
    emit(None, &markdown)
}

fn nginx(args: NginxArgs) -> Result<String, FleetError> {
    let fleet_dir = args.fleet_dir.to_string_lossy().into_owned();
    if args.mode == Mode::Local && !args.fleet_dir.is_absolute() {
        return Err(FleetError::Invalid {
            what: "CLIP_FLEET_DIR".into(),
            why: format!(
                "`{fleet_dir}` must be an absolute path (nginx resolves relative ones against its own prefix)"
            ),
        });
    }
    let mut s = NginxSettings::for_mode(args.mode, Profile::for_environment(args.env), &fleet_dir);
    s.user = args.user;
    s.tls = args.tls;
    s.session_affinity = args.session_affinity;
    if let Some(a) = args.listen_address {
        s.listen_address = a;
    }
    if let Some(p) = args.http_port {
        s.http_port = p;
    }
    if let Some(p) = args.https_port {
        s.https_port = p;
    }
    if let Some(p) = args.status_port {
        s.status_port = p;
    }
    if let Some(list) = args.status_allow {
        s.status_allow = parse_networks("LB_STATUS_ALLOW", &list)?;
    }
    if let Some(list) = args.internal_networks {
        s.internal_networks = parse_networks("LB_INTERNAL_NETWORKS", &list)?;
    }
    if let Some(list) = args.rate_limit_exempt {
        s.rate_limit_exempt = parse_networks("LB_RATE_LIMIT_EXEMPT", &list)?;
    }
    if let Some(list) = args.trusted_proxies {
        s.trusted_proxies = parse_networks("LB_TRUSTED_PROXIES", &list)?;
    }
    if let Some(list) = args.upstream_servers {
        s.upstream = Upstream::Servers(
            list.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    if let Some(n) = args.max_fails {
        s.max_fails = n;
    }
    if let Some(n) = args.fail_timeout {
        s.fail_timeout_seconds = n;
    }
    s.render()
}

fn emit(output: Option<PathBuf>, text: &str) -> Result<(), FleetError> {
    match output {
        Some(path) => std::fs::write(&path, text)
            .map_err(FleetError::io(format!("writing {}", path.display()))),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(FleetError::io("writing to standard output")),
    }
}
