//! A local fleet for a test: `scripts/deploy-scaling.sh local` on free loopback ports in a
//! temporary directory, stopped (`scripts/deploy-scaling.sh stop`) when dropped.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::binaries::workspace;

/// `count` consecutive free loopback ports (checked by binding each).
fn free_ports(count: u16) -> u16 {
    let seed = (std::process::id() % 2000) as u16;
    for attempt in 0..500u16 {
        let base = 20_000 + ((seed + attempt * 37) % 2000) * 10;
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {count} consecutive free loopback ports");
}

/// A running local fleet.
pub struct Fleet {
    /// Its state directory.
    pub dir: tempfile::TempDir,
    /// Environment every fleet script gets.
    pub env: BTreeMap<String, String>,
    /// `https://127.0.0.1:PORT`.
    pub https: String,
    /// `http://127.0.0.1:PORT` (redirects to HTTPS).
    pub http: String,
    /// `http://127.0.0.1:PORT` of /nginx-status and /lb-health.
    pub status: String,
    /// The instances' ports.
    pub ports: Vec<u16>,
}

impl Fleet {
    /// Deploys `instances` instances of `app_bin` in the development environment, with the
    /// rate limits exempting 127.0.0.1 (the tests' load) but not 127.0.0.2.
    pub fn start(app_bin: &Path, fleet_bin: &Path, instances: u16) -> Fleet {
        // Under /tmp: the postgres user must reach the data directory.
        let dir = tempfile::Builder::new()
            .prefix("clip-fleet-test-")
            .tempdir_in("/tmp")
            .unwrap();
        // tempfile makes it private; the postgres user must be able to traverse it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let base = free_ports(8 + instances);
        let (http, https, status, pg, app_base) = (base, base + 1, base + 2, base + 3, base + 4);
        let env: BTreeMap<String, String> = [
            ("CLIP_FLEET_DIR", dir.path().display().to_string()),
            ("CLIP_APP_BIN", app_bin.display().to_string()),
            ("CLIP_FLEET_BIN", fleet_bin.display().to_string()),
            ("LB_HTTP_PORT", http.to_string()),
            ("LB_HTTPS_PORT", https.to_string()),
            ("LB_STATUS_PORT", status.to_string()),
            ("FLEET_PG_PORT", pg.to_string()),
            ("APP_BASE_PORT", app_base.to_string()),
            ("AUTOSCALER_PORT", (app_base + instances + 2).to_string()),
            ("LB_RATE_LIMIT_EXEMPT", "127.0.0.1/32".into()),
            // A quick fail_timeout, so an instance killed by one scenario is tried again
            // soon after it is restarted for the next.
            ("LB_FAIL_TIMEOUT", "2".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let fleet = Fleet {
            dir,
            https: format!("https://127.0.0.1:{https}"),
            http: format!("http://127.0.0.1:{http}"),
            status: format!("http://127.0.0.1:{status}"),
            ports: (1..=instances).map(|i| app_base + i).collect(),
            env,
        };
        let out = fleet.script(
            "scripts/deploy-scaling.sh",
            &["local", "development", &instances.to_string()],
        );
        assert!(
            out.status.success(),
            "deploy-scaling.sh local failed:\n{}\n{}\nlogs: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fleet.logs()
        );
        fleet
    }

    /// Runs a fleet script with the fleet's environment.
    pub fn script(&self, script: &str, args: &[&str]) -> Output {
        Command::new(workspace().join(script))
            .args(args)
            .envs(&self.env)
            .env_remove("CLIP_AUTOSCALER_BIN")
            .output()
            .unwrap_or_else(|e| panic!("{script} runs: {e}"))
    }

    /// The ends of the fleet's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("logs")) {
            for entry in entries.flatten() {
                let content = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = content.lines().rev().take(15).collect();
                text.push_str(&format!("\n--- {}\n", entry.path().display()));
                for line in tail.into_iter().rev() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// The pid of the instance on `port`.
    pub fn pid(&self, port: u16) -> i32 {
        std::fs::read_to_string(self.dir.path().join(format!("instances/{port}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The state directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let out = self.script("scripts/deploy-scaling.sh", &["stop"]);
        if !out.status.success() {
            eprintln!(
                "deploy-scaling.sh stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// An HTTPS client that accepts the fleet's self-signed certificate, optionally from another
/// loopback source address.
pub fn client(source: Option<Ipv4Addr>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15));
    if let Some(ip) = source {
        builder = builder.local_address(IpAddr::V4(ip));
    }
    builder.build().unwrap()
}

/// A client that opens a new connection for every request (no keep-alive reuse).
pub fn client_without_keepalive() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// What a background load saw.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests that failed, with why.
    pub failures: Vec<String>,
}

/// Requests sent in a loop by a few threads until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    /// `threads` threads sending `request` (which returns Err(description) on failure).
    pub fn start<F>(threads: usize, request: F) -> Load
    where
        F: Fn(&reqwest::blocking::Client, u64) -> Result<(), String> + Send + Sync + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let request = Arc::new(request);
        let threads = (0..threads)
            .map(|t| {
                let (stop, ok, request) = (stop.clone(), ok.clone(), request.clone());
                std::thread::spawn(move || {
                    let client = client(None);
                    let mut failures = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        match request(&client, (t as u64) << 32 | n) {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.push(e),
                        }
                    }
                    failures
                })
            })
            .collect();
        Load { stop, ok, threads }
    }

    /// Waits until at least `n` requests succeeded (the load is really flowing).
    pub fn wait_for(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.ok.load(Ordering::Relaxed) < n {
            assert!(
                Instant::now() < deadline,
                "the load did not reach {n} requests"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and reports.
    pub fn stop(self) -> LoadOutcome {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|_| vec!["a load thread panicked".into()])
            })
            .collect();
        LoadOutcome {
            ok: self.ok.load(Ordering::Relaxed),
            failures,
        }
    }
}
