//! The local fleet end to end on loopback: `scripts/deploy-scaling.sh local` with three real
//! app instances (built the way deploy/Dockerfile builds them), PostgreSQL and nginx; then
//! what a user checks of a load balancer: spread, failover, drains, access and rate limits,
//! the load-test script, status and stop. One fleet serves every step (starting one takes
//! seconds); each step says what it checks.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use support::binaries::{self, build_like_dockerfile};
use support::fleet::{Fleet, Load, client, client_without_keepalive};

const OUTSIDE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A GET as HTTP clients send it: a transport error (no response at all) is retried once, as
/// RFC 9110 allows for idempotent requests and as browsers and hyper do. It happens when nginx
/// reloads (every instance change does) and closes an idle keep-alive connection the moment the
/// client reuses it; an HTTP error status is never retried.
fn get(client: &reqwest::blocking::Client, url: &str) -> Result<(), String> {
    let mut first_error = None;
    for _ in 0..2 {
        match client.get(url).send() {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => return Err(format!("GET answered {}", r.status())),
            Err(e) if first_error.is_none() => first_error = Some(chain(&e)),
            Err(e) => {
                return Err(format!(
                    "GET failed twice: {}; then {}",
                    first_error.unwrap_or_default(),
                    chain(&e)
                ));
            }
        }
    }
    Err("unreachable".into())
}

fn get_projects(
    fleet_url: &str,
) -> impl Fn(&reqwest::blocking::Client, u64) -> Result<(), String> + use<> {
    let url = format!("{fleet_url}/api/projects");
    move |client, _| get(client, &url)
}

fn get_or_post(
    fleet_url: &str,
) -> impl Fn(&reqwest::blocking::Client, u64) -> Result<(), String> + use<> {
    let url = format!("{fleet_url}/api/projects");
    // A POST is never retried, so it goes on a connection of its own: no reload of nginx can
    // close it under the request (a reused idle one could be).
    let posts = client_without_keepalive();
    move |client, n| {
        if n % 4 != 0 {
            return get(client, &url);
        }
        match posts
            .post(&url)
            .json(&serde_json::json!({ "name": format!("drain test {n}") }))
            .send()
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("POST {n} answered {}", r.status())),
            Err(e) => Err(format!("POST {n} failed: {}", chain(&e))),
        }
    }
}

/// An error with its causes, which say what really happened (reset, refused, closed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn instance_ids(fleet: &Fleet, requests: usize) -> BTreeSet<String> {
    let c = client(None);
    (0..requests)
        .filter_map(|_| {
            let r = c.get(format!("{}/api/projects", fleet.https)).send().ok()?;
            assert!(
                r.status().is_success(),
                "GET /api/projects answered {}",
                r.status()
            );
            r.headers()
                .get("x-instance-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect()
}

fn kill(pid: i32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_until_exited(pid: i32, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while Path::new(&format!("/proc/{pid}")).exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.split_whitespace().nth(2) == Some("Z") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn restart(fleet: &Fleet, port: u16) {
    let out = fleet.script("scripts/fleet/instance.sh", &["start", &port.to_string()]);
    assert!(
        out.status.success(),
        "instance.sh start {port}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        fleet.logs()
    );
}

fn step(name: &str) {
    eprintln!("== {name}");
}

#[test]
fn local_fleet_end_to_end() {
    let app = build_like_dockerfile("clip-app");
    let fleet = Fleet::start(&app, Path::new(env!("CARGO_BIN_EXE_clip-fleet")), 3);
    let c = client(None);

    step("requests spread over every instance");
    let ids = instance_ids(&fleet, 30);
    assert_eq!(ids.len(), 3, "instances that answered: {ids:?}");

    step("nginx answers /lb-health itself, redirects HTTP to HTTPS, sets the security headers");
    let r = c.get(format!("{}/lb-health", fleet.status)).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/api/projects", fleet.http))
        .send()
        .unwrap();
    assert_eq!(r.status(), 301);
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{}/api/projects", fleet.https));
    let r = c
        .get(format!("{}/api/projects", fleet.https))
        .send()
        .unwrap();
    for header in [
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(r.headers().contains_key(header), "missing {header}");
    }

    step("kill -9 one instance under load: no GET fails");
    let load = Load::start(4, get_projects(&fleet.https));
    load.wait_for(50, Duration::from_secs(20));
    let victim = fleet.ports[1];
    kill(fleet.pid(victim), "KILL");
    std::thread::sleep(Duration::from_secs(2));
    let outcome = load.stop();
    assert!(
        outcome.failures.is_empty(),
        "{} of {} GETs failed after kill -9, e.g. {:?}",
        outcome.failures.len(),
        outcome.ok + outcome.failures.len() as u64,
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    assert!(
        outcome.ok > 100,
        "only {} requests went through",
        outcome.ok
    );
    let listed = fleet.script("scripts/fleet/instance.sh", &["list"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!("{victim} ")) && listed.contains("dead"),
        "{listed}"
    );
    restart(&fleet, victim);
    assert_eq!(
        instance_ids(&fleet, 30).len(),
        3,
        "the restarted instance is back in rotation"
    );

    step("instance.sh stop (drain, then SIGTERM) under GET and POST load: no request fails");
    let load = Load::start(4, get_or_post(&fleet.https));
    load.wait_for(50, Duration::from_secs(20));
    let drained = fleet.ports[0];
    let pid = fleet.pid(drained);
    let out = fleet.script("scripts/fleet/instance.sh", &["stop", &drained.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(500));
    let outcome = load.stop();
    assert!(
        outcome.failures.is_empty(),
        "requests failed during the drain: {:?}",
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    wait_until_exited(pid, Duration::from_secs(5));
    let ids = instance_ids(&fleet, 20);
    assert_eq!(ids.len(), 2, "the drained instance still answers: {ids:?}");
    restart(&fleet, drained);

    step("SIGTERM straight to an instance under GET load: no GET fails");
    let load = Load::start(4, get_projects(&fleet.https));
    load.wait_for(50, Duration::from_secs(20));
    let terminated = fleet.ports[2];
    let pid = fleet.pid(terminated);
    kill(pid, "TERM");
    wait_until_exited(pid, Duration::from_secs(35));
    std::thread::sleep(Duration::from_millis(500));
    let outcome = load.stop();
    assert!(
        outcome.failures.is_empty(),
        "GETs failed while an instance shut down on SIGTERM: {:?}",
        &outcome.failures[..outcome.failures.len().min(5)]
    );
    restart(&fleet, terminated);

    step("/nginx-status answers the allowed network and refuses others");
    let r = c
        .get(format!("{}/nginx-status", fleet.status))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("Active connections"));
    let outside = client(Some(OUTSIDE));
    let r = outside
        .get(format!("{}/nginx-status", fleet.status))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = outside
        .get(format!("{}/metrics", fleet.https))
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "/metrics through the load balancer is internal"
    );

    step("rate limits answer 429 past the burst (uploads zone: 10 r/s, burst 20)");
    // 80 uploads at once from 8 connections: whatever the machine's speed, far more arrive
    // within a second than the burst and the rate let through.
    let burst = |source: Option<Ipv4Addr>| -> Vec<u16> {
        let url = format!("{}/api/projects/1/assets", fleet.https);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let c = client(source);
                    (0..10)
                        .map(|_| {
                            c.post(&url)
                                .body(Vec::new())
                                .send()
                                .unwrap()
                                .status()
                                .as_u16()
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    };
    let statuses = burst(Some(OUTSIDE));
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 20, "statuses past the burst: {statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s != 429).count() >= 20,
        "the burst itself passes: {statuses:?}"
    );
    // 127.0.0.1 is exempt in this fleet (LB_RATE_LIMIT_EXEMPT), as a load generator would be.
    let exempt = burst(None);
    assert!(!exempt.contains(&429), "{exempt:?}");

    step("the load-test script's smoke run writes both reports");
    let out_dir = tempfile::tempdir().unwrap();
    let mut command =
        std::process::Command::new(binaries::workspace().join("scripts/load-test.sh"));
    command
        .args([&fleet.https, "5", "2"])
        .envs(&fleet.env)
        .env("LOAD_TEST_OUT", out_dir.path())
        .env("AUTOSCALER_URL", "http://127.0.0.1:9");
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "load-test.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    for phase in ["baseline", "ramp", "sustained", "spike", "cool-down"] {
        assert!(md.contains(&format!("| {phase} |")), "{md}");
    }
    assert!(md.contains("✅ error rate 0.00 %"), "{md}");
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("report.json")).unwrap())
            .unwrap();
    let seen = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p[1].as_u64())
        .max()
        .unwrap_or(0);
    assert!(seen >= 2, "instances seen answering /metrics: {seen}");

    step("SESSION_AFFINITY=true keeps a client on one instance");
    let fleet_env = fleet.path().join("fleet.env");
    let settings = std::fs::read_to_string(&fleet_env).unwrap();
    std::fs::write(
        &fleet_env,
        settings.replace("SESSION_AFFINITY='false'", "SESSION_AFFINITY='true'"),
    )
    .unwrap();
    let out = fleet.script("scripts/fleet/nginx.sh", &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sticky = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .build()
        .unwrap();
    let pinned: BTreeSet<String> = (0..12)
        .map(|_| {
            let r = sticky
                .get(format!("{}/api/projects", fleet.https))
                .send()
                .unwrap();
            r.headers()["x-instance-id"].to_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        pinned.len(),
        1,
        "a client with the cookie moved: {pinned:?}"
    );
    // Clients without the cookie still spread (each gets one of its own).
    assert!(instance_ids(&fleet, 30).len() >= 2);
    std::fs::write(&fleet_env, settings).unwrap();
    let out = fleet.script("scripts/fleet/nginx.sh", &["reload"]);
    assert!(out.status.success());

    step("status reports every part up; stop takes the fleet down");
    let out = fleet.script("scripts/deploy-scaling.sh", &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(", ready, readiness 200").count(), 3, "{text}");
    let pids: Vec<i32> = fleet.ports.iter().map(|p| fleet.pid(*p)).collect();
    let nginx_pid: i32 = std::fs::read_to_string(fleet.path().join("nginx/nginx.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = fleet.script("scripts/deploy-scaling.sh", &["stop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for pid in pids.into_iter().chain([nginx_pid]) {
        wait_until_exited(pid, Duration::from_secs(5));
    }
    let out = fleet.script("scripts/deploy-scaling.sh", &["status"]);
    assert!(
        !out.status.success(),
        "status after stop must say the fleet is down"
    );
}

#[test]
fn every_cargo_build_of_the_dockerfile_names_a_workspace_binary() {
    let builds = binaries::dockerfile_cargo_builds();
    assert!(!builds.is_empty());
    let root = binaries::workspace();
    for args in &builds {
        assert!(args.contains(&"--locked".to_owned()), "{args:?}");
        assert!(args.contains(&"--release".to_owned()), "{args:?}");
        let package = binaries::flag_value(args, "-p").expect("-p PACKAGE");
        let manifest = match package {
            "clip-app" => root.join("examples/app/Cargo.toml"),
            "clip-autoscaler" => root.join("examples/autoscaler/Cargo.toml"),
            other => panic!("deploy/Dockerfile builds an unknown package {other}"),
        };
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        if package == "clip-autoscaler" && text.is_empty() {
            // Issue 13 adds examples/autoscaler; until then its image cannot be built, and the
            // Compose file's autoscaler service says so when started. Remove this branch then.
            eprintln!("deploy/Dockerfile: clip-autoscaler is not in this checkout yet");
            continue;
        }
        assert!(
            text.contains(&format!("name = \"{package}\"")),
            "{} does not define {package}",
            manifest.display()
        );
        let bin = binaries::flag_value(args, "--bin").expect("--bin NAME");
        assert!(
            text.contains(&format!("name = \"{bin}\"")) || bin == package,
            "{package} has no binary {bin}"
        );
    }
}
