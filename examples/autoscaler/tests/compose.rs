//! The docker-compose actuator through the real binary, with a fake `docker` first on PATH that
//! records its arguments (no Docker engine runs here): the exact Compose command, the nginx
//! reload, and a failing engine that leaves no cooldown behind.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use support::process::Process;
use support::{FakeInstance, TOKEN};

const FAKE_DOCKER: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_DOCKER_LOG"
if [ -n "$FAKE_DOCKER_FAIL" ]; then
    echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
    exit 1
fi
"#;

fn setup(dir: &Path, instances: &[&FakeInstance], fail: bool) -> HashMap<String, String> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let docker = bin.join("docker");
    std::fs::write(&docker, FAKE_DOCKER).unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let targets: Vec<&str> = instances.iter().map(|i| i.url.as_str()).collect();
    let mut vars: HashMap<String, String> = [
        ("PATH", path),
        (
            "FAKE_DOCKER_LOG",
            dir.join("docker.argv").display().to_string(),
        ),
        ("AUTOSCALER_ACTUATOR", "docker-compose".into()),
        ("AUTOSCALER_TARGETS", targets.join(",")),
        ("AUTOSCALER_INTERVAL", "0.3".into()),
        (
            "AUTOSCALER_STATE_FILE",
            dir.join("state.json").display().to_string(),
        ),
        ("AUTOSCALER_TOKEN", TOKEN.into()),
        ("SCALE_UP_COOLDOWN", "60".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if fail {
        vars.insert("FAKE_DOCKER_FAIL".into(), "1".into());
    }
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_the_compose_service_with_the_documented_command_then_reloads_nginx() {
    let a = FakeInstance::start(150.0).await;
    let b = FakeInstance::start(150.0).await;
    let c = FakeInstance::start(150.0).await;
    let dir = tempfile::tempdir().unwrap();
    let vars = setup(dir.path(), &[&a, &b, &c], false);
    tokio::task::spawn_blocking(move || {
        let auto = Process::start("compose", dir.path(), &vars);
        let s = auto.wait_for("/status", Duration::from_secs(20), |s| {
            !s["events"][0].is_null()
        });
        assert_eq!(s["events"][0]["from"], 3);
        assert_eq!(s["events"][0]["to"], 5);
        auto.wait_for("/status", Duration::from_secs(20), |s| {
            s["actuator"]["last_action"]
                .as_str()
                .is_some_and(|a| a.contains("scaled app to 5"))
        });
        // Held by the cooldown from now on: no second command.
        std::thread::sleep(Duration::from_secs(1));
        let argv = std::fs::read_to_string(dir.path().join("docker.argv")).unwrap();
        assert_eq!(
            argv.lines().collect::<Vec<_>>(),
            [
                "compose -f deploy/docker-compose.scale.yml up -d --scale app=5 --no-recreate",
                "compose -f deploy/docker-compose.scale.yml exec -T nginx nginx -s reload",
            ]
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_docker_is_reported_and_starts_no_cooldown() {
    let a = FakeInstance::start(150.0).await;
    let dir = tempfile::tempdir().unwrap();
    let vars = setup(dir.path(), &[&a], true);
    tokio::task::spawn_blocking(move || {
        let auto = Process::start("compose-failing", dir.path(), &vars);
        let s = auto.wait_for("/status", Duration::from_secs(20), |s| {
            s["last_decision"]["applied"] == false
        });
        assert_eq!(s["last_decision"]["action"], "scale_up");
        let note = s["last_decision"]["note"].as_str().unwrap();
        assert!(
            note.contains("Cannot connect to the Docker daemon"),
            "{note}"
        );
        assert!(
            s["actuator"]["last_error"]
                .as_str()
                .unwrap()
                .contains("docker compose"),
            "{s}"
        );
        assert!(
            s["last_tick"]["error"]
                .as_str()
                .unwrap()
                .contains("docker-compose actuator"),
            "{s}"
        );
        assert!(
            s["events"].as_array().unwrap().is_empty(),
            "nothing happened: no event"
        );
        assert!(
            s["cooldowns"]["scale_up"]["since"].is_null(),
            "and no cooldown: the next tick tries again"
        );
        // It does try again, every tick.
        std::thread::sleep(Duration::from_secs(1));
        let tries = std::fs::read_to_string(dir.path().join("docker.argv"))
            .unwrap()
            .lines()
            .count();
        assert!(tries >= 2, "{tries} tries");
    })
    .await
    .unwrap();
}
