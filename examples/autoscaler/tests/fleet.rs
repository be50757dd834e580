//! End to end on loopback: `scripts/deploy-scaling.sh local` (PostgreSQL, three real clip-app
//! instances, nginx) starts this autoscaler with the `local` actuator and lowered thresholds.
//! A load step scales the fleet up; an instance that stops answering (SIGSTOP) blocks the
//! scale-down that would follow; once it answers again, the fleet scales back down under a
//! light load. No client request may fail in any of it, and `/status` explains each step.
//!
//! The scale-up reaction time (load step to the first response from a new instance behind
//! nginx) is printed as `e2e: scale-up reaction ...` (run with `--nocapture` to see it).

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The app and the fleet's generator, debug builds, each with the command the fleet's own
/// tests and `deploy-scaling.sh` use (one package per command: the same features, so the
/// builds are shared rather than redone).
fn build_binaries() -> (PathBuf, PathBuf) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in ["clip-app", "clip-fleet"] {
        let status = Command::new(&cargo)
            .args(["build", "--locked", "-p", package, "--bin", package])
            .current_dir(workspace())
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p {package} failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    (
        target.join("debug/clip-app"),
        target.join("debug/clip-fleet"),
    )
}

fn free_ports(count: u16) -> u16 {
    let seed = (std::process::id() % 1000) as u16;
    for attempt in 0..500u16 {
        let base = 30_000 + ((seed + attempt * 41) % 2000) * 10;
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {count} consecutive free loopback ports");
}

/// The test's settings for the autoscaler, over the profile's (deploy-scaling.sh exports the
/// profile's variables, then runs this wrapper, which exports these and runs the autoscaler).
const TEST_POLICY: &[(&str, &str)] = &[
    ("AUTOSCALER_HOST", "127.0.0.1"),
    ("AUTOSCALER_INTERVAL", "1"),
    ("AUTOSCALER_SCRAPE_TIMEOUT", "1.5"),
    ("AUTOSCALER_LOG", "info,clip_autoscaler=debug"),
    ("MIN_INSTANCES", "3"),
    ("MAX_INSTANCES", "5"),
    // The request rate drives this test: a debug build's CPU under load depends on the machine.
    ("REQUEST_RATE_THRESHOLD", "15"),
    ("REQUEST_RATE_SCALE_DOWN_THRESHOLD", "5"),
    ("CPU_THRESHOLD", "95"),
    ("CPU_SCALE_DOWN_THRESHOLD", "90"),
    ("SCALE_UP_COOLDOWN", "5"),
    ("SCALE_DOWN_COOLDOWN", "4"),
    ("SCALE_DOWN_STABILIZATION", "3"),
    ("SCALE_DOWN_PERIOD", "1"),
    ("SCALE_UP_PERIOD", "1"),
];

struct Fleet {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    lb: String,
    autoscaler: String,
    /// A process this test stopped with SIGSTOP, continued on drop whatever happens.
    stopped: Mutex<Option<u32>>,
}

impl Fleet {
    fn start(app: &Path, fleet_bin: &Path) -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("clip-autoscaler-e2e-")
            .tempdir_in("/tmp")
            .unwrap();
        // PostgreSQL runs as its own user and nginx's workers as nobody: both must get in.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let wrapper = dir.path().join("autoscaler.sh");
        let mut script = String::from("#!/bin/sh\n");
        for (k, v) in TEST_POLICY {
            script.push_str(&format!("export {k}='{v}'\n"));
        }
        script.push_str(&format!(
            "exec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_clip-autoscaler")
        ));
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

        let base = free_ports(16);
        let (http, https, status, pg, autoscaler, app_base) =
            (base, base + 1, base + 2, base + 3, base + 4, base + 5);
        let env: BTreeMap<String, String> = [
            ("CLIP_FLEET_DIR", dir.path().display().to_string()),
            ("CLIP_APP_BIN", app.display().to_string()),
            ("CLIP_FLEET_BIN", fleet_bin.display().to_string()),
            ("CLIP_AUTOSCALER_BIN", wrapper.display().to_string()),
            ("LB_HTTP_PORT", http.to_string()),
            ("LB_HTTPS_PORT", https.to_string()),
            ("LB_STATUS_PORT", status.to_string()),
            ("FLEET_PG_PORT", pg.to_string()),
            ("AUTOSCALER_PORT", autoscaler.to_string()),
            ("APP_BASE_PORT", app_base.to_string()),
            ("LB_TLS", "false".into()),
            ("LB_RATE_LIMIT_EXEMPT", "127.0.0.1/32".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let fleet = Fleet {
            dir,
            env,
            lb: format!("http://127.0.0.1:{http}"),
            autoscaler: format!("http://127.0.0.1:{autoscaler}"),
            stopped: Mutex::new(None),
        };
        let out = fleet.script("scripts/deploy-scaling.sh", &["local", "development", "3"]);
        assert!(
            out.status.success(),
            "deploy-scaling.sh local failed:\n{}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fleet.logs()
        );
        fleet
    }

    fn script(&self, script: &str, args: &[&str]) -> Output {
        Command::new(workspace().join(script))
            .args(args)
            .envs(&self.env)
            .output()
            .unwrap()
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["autoscaler.log", "nginx-error.log"] {
            let content = std::fs::read_to_string(self.dir.path().join("logs").join(name))
                .unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            text.push_str(&format!(
                "\n--- {name}\n{}\n",
                lines[lines.len().saturating_sub(40)..].join("\n")
            ));
        }
        text
    }

    fn status(&self) -> Value {
        reqwest::blocking::get(format!("{}/status", self.autoscaler))
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    }

    /// Polls `/status` until `done` holds; logs each new decision on the way.
    fn wait_for(&self, what: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        let mut last_summary = String::new();
        loop {
            let s = self.status();
            let summary = s["last_decision"]["summary"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if summary != last_summary {
                eprintln!(
                    "e2e: ready {} starting {} draining {} | {summary}",
                    s["instances"]["ready"], s["instances"]["starting"], s["instances"]["draining"]
                );
                last_summary = summary;
            }
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}\n/status: {}\n{}",
                serde_json::to_string_pretty(&s).unwrap(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn pid(&self, port: u16) -> u32 {
        std::fs::read_to_string(self.dir.path().join(format!("instances/{port}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn signal(pid: u32, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{signal} {pid}");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Some(pid) = self.stopped.lock().unwrap().take() {
            Fleet::signal(pid, "CONT");
        }
        let out = self.script("scripts/deploy-scaling.sh", &["stop"]);
        if !out.status.success() {
            eprintln!(
                "deploy-scaling.sh stop: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Clients sending `GET /api/projects` through nginx until stopped, each waiting `pause`
/// between requests; every failure is kept, and when each instance first answered.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    retried: Arc<AtomicU64>,
    first_seen: Arc<Mutex<HashMap<String, Instant>>>,
    threads: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(url: &str, clients: usize, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let retried = Arc::new(AtomicU64::new(0));
        let first_seen = Arc::new(Mutex::new(HashMap::new()));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, retried, first_seen) = (
                    stop.clone(),
                    ok.clone(),
                    retried.clone(),
                    first_seen.clone(),
                );
                let url = format!("{url}/api/projects");
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .unwrap();
                    let mut failures = Vec::new();
                    // Bounded in time whatever happens to the test.
                    let deadline = Instant::now() + Duration::from_secs(90);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        // As browsers and most HTTP clients do (RFC 9112, 9.3.1): a GET whose
                        // keep-alive connection the server closed before any answer is sent
                        // again, once. nginx closes idle keep-alive connections when it reloads
                        // (each start and stop reloads it), and a request crossing that close on
                        // the wire is lost; the retries are counted and printed, not hidden.
                        let mut response = client.get(&url).send();
                        if response.as_ref().is_err_and(closed_before_answer) {
                            retried.fetch_add(1, Ordering::Relaxed);
                            response = client.get(&url).send();
                        }
                        match response {
                            Ok(r) if r.status().is_success() => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                if let Some(id) = r
                                    .headers()
                                    .get("x-instance-id")
                                    .and_then(|v| v.to_str().ok())
                                {
                                    first_seen
                                        .lock()
                                        .unwrap()
                                        .entry(id.to_owned())
                                        .or_insert_with(Instant::now);
                                }
                            }
                            Ok(r) => failures.push(format!("GET answered {}", r.status())),
                            Err(e) => failures.push(format!("GET failed: {}", chain(&e))),
                        }
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                    failures
                })
            })
            .collect();
        Load {
            stop,
            ok,
            retried,
            first_seen,
            threads,
        }
    }

    fn first_seen(&self) -> HashMap<String, Instant> {
        self.first_seen.lock().unwrap().clone()
    }

    /// Stops; the requests answered, those sent twice (see above), and the failures.
    fn stop(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (
            self.ok.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
            failures,
        )
    }
}

/// The server closed a reused connection before answering: the request never reached it.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    let text = chain(e);
    text.contains("connection closed before message completed")
        || text.contains("Connection reset by peer")
}

/// An error with its causes (reqwest's own text omits them).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn events(s: &Value, action: &str) -> usize {
    s["events"]
        .as_array()
        .map_or(0, |e| e.iter().filter(|e| e["action"] == action).count())
}

fn port_of(id: &str) -> u16 {
    id.trim_start_matches("local-").parse().unwrap()
}

#[test]
fn the_fleet_scales_up_under_load_and_back_down_with_no_failed_request() {
    let started = Instant::now();
    let (app, fleet_bin) = build_binaries();
    let fleet = Fleet::start(&app, &fleet_bin);
    eprintln!("e2e: fleet up in {:.1} s", started.elapsed().as_secs_f64());

    let s = fleet.wait_for(
        "the autoscaler leading a fleet of 3",
        Duration::from_secs(30),
        |s| {
            s["role"] == "leader"
                && s["instances"]["ready"] == 3
                && s["metrics"]["request_rate"].is_number()
        },
    );
    assert_eq!(s["actuator"]["kind"], "local");
    let initial: Vec<String> = s["instances"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();

    // --- Scale up: a load step.
    let load_step = Instant::now();
    let load = Load::start(&fleet.lb, 6, Duration::ZERO);
    let s = fleet.wait_for("a scale-up decision", Duration::from_secs(30), |s| {
        events(s, "scale_up") >= 1
    });
    let decided = load_step.elapsed();
    let up = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "scale_up")
        .unwrap()
        .clone();
    assert_eq!(up["from"], 3);
    assert!(
        up["summary"].as_str().unwrap().contains("request_rate"),
        "{up}"
    );
    let during = fleet.wait_for("instances starting", Duration::from_secs(10), |s| {
        s["instances"]["starting"].as_u64() > Some(0) || s["instances"]["ready"].as_u64() > Some(3)
    });
    eprintln!(
        "e2e: /status during the scale-up: {}",
        serde_json::to_string_pretty(&serde_json::json!({
            "instances": { "current": during["instances"]["current"], "ready": during["instances"]["ready"],
                           "starting": during["instances"]["starting"], "target": during["instances"]["target"] },
            "last_decision": { "action": during["last_decision"]["action"], "summary": during["last_decision"]["summary"] },
            "metrics": during["metrics"],
            "cooldowns": during["cooldowns"],
            "actuator": during["actuator"],
            "events": during["events"],
        }))
        .unwrap()
    );
    let target = up["to"].as_u64().unwrap();
    fleet.wait_for("the new instances ready", Duration::from_secs(60), |s| {
        s["instances"]["ready"].as_u64() == Some(target) && s["instances"]["starting"] == 0
    });
    // Ready behind nginx: the load itself reaches a new instance.
    let deadline = Instant::now() + Duration::from_secs(20);
    let served_by_new = loop {
        let seen = load.first_seen();
        if let Some(t) = seen
            .iter()
            .filter(|(id, _)| !initial.contains(id))
            .map(|(_, t)| *t)
            .min()
        {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no new instance answered through nginx: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "e2e: scale-up reaction: load step -> scale-up decision {:.1} s -> first response from a new instance through nginx {:.1} s",
        decided.as_secs_f64(),
        served_by_new.duration_since(load_step).as_secs_f64()
    );
    let new_instances: Vec<String> = load
        .first_seen()
        .into_keys()
        .filter(|id| !initial.contains(id))
        .collect();
    let (ok, retried, failures) = load.stop();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the scale-up: {:?}",
        failures.len(),
        ok,
        &failures[..failures.len().min(5)]
    );
    eprintln!(
        "e2e: {ok} requests during the scale-up, none failed ({retried} sent twice after nginx closed their keep-alive connection at a reload); new instances {new_instances:?}"
    );

    // --- An instance that stops answering: its metrics are missing, no scale-down follows.
    let silent = new_instances.iter().max().unwrap().clone();
    let pid = fleet.pid(port_of(&silent));
    Fleet::signal(pid, "STOP");
    *fleet.stopped.lock().unwrap() = Some(pid);
    let s = fleet.wait_for(
        "the stopped instance missing",
        Duration::from_secs(20),
        |s| {
            s["metrics"]["missing"]
                .as_array()
                .is_some_and(|m| m.iter().any(|id| id == silent.as_str()))
        },
    );
    let downs_before = events(&s, "scale_down");
    // Longer than the scale-down cooldown and stabilization together, with the fleet idle.
    let s = fleet.wait_for("eight ticks with it silent", Duration::from_secs(30), |t| {
        t["ticks"].as_u64() >= s["ticks"].as_u64().map(|n| n + 8)
    });
    assert_eq!(
        events(&s, "scale_down"),
        downs_before,
        "no scale-down while {silent} is silent: {s}"
    );
    assert_eq!(s["last_decision"]["action"], "hold");
    let note = s["last_decision"]["note"].as_str().unwrap_or_default();
    assert!(note.contains(&silent), "{note}");
    assert_eq!(
        s["instances"]["ready"].as_u64(),
        Some(target),
        "the silent instance is still counted"
    );
    Fleet::signal(pid, "CONT");
    fleet.stopped.lock().unwrap().take();

    // --- Scale down, under a light load that must not notice.
    let light = Load::start(&fleet.lb, 1, Duration::from_millis(100));
    let s = fleet.wait_for("a scale-down", Duration::from_secs(30), |s| {
        events(s, "scale_down") > downs_before
    });
    let down = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "scale_down")
        .unwrap()
        .clone();
    eprintln!("e2e: {}", down["summary"]);
    fleet.wait_for(
        "back to 3 instances, drained and stopped",
        Duration::from_secs(60),
        |s| {
            s["instances"]["ready"] == 3
                && s["instances"]["draining"] == 0
                && s["instances"]["starting"] == 0
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let (ok, retried_down, failures) = light.stop();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the scale-down: {:?}",
        failures.len(),
        ok,
        &failures[..failures.len().min(5)]
    );
    let list = fleet.script("scripts/fleet/instance.sh", &["list"]);
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(
        listed.lines().filter(|l| l.ends_with(" ready")).count(),
        3,
        "{listed}"
    );
    assert_eq!(
        listed.lines().count(),
        3,
        "stopped instances are gone: {listed}"
    );
    eprintln!(
        "e2e: {ok} requests during the scale-down, none failed ({retried_down} sent twice); whole test {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
