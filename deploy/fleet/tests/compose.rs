//! `deploy/docker-compose.scale.yml` is accepted by Debian's `docker-compose config` in every
//! environment, runs with the guide's commands (from deploy/, `--scale app=N`), and the files
//! it mounts (env files, nginx configs) are fresh generations from the profiles.

use std::path::{Path, PathBuf};
use std::process::Command;

use clip_fleet::nginx::NginxSettings;
use clip_fleet::{Environment, Mode, Profile, profile};
use serde_yaml_ng::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `docker-compose config` run as the guide runs compose commands: from deploy/.
fn compose_config(env: Environment) -> Value {
    let out = Command::new("docker-compose")
        .args(["-f", "docker-compose.scale.yml", "config"])
        .env("CLIP_ENV", env.name())
        .current_dir(deploy_dir())
        .output()
        .expect("docker-compose runs (scripts/install-deps.sh installs Debian's docker-compose)");
    assert!(
        out.status.success(),
        "docker-compose config refused the file ({env}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml_ng::from_slice(&out.stdout).unwrap()
}

/// `(source, target)` of a service's volumes, which `config` prints as `source:target:mode`.
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            let source = parts.next().unwrap().to_owned();
            let target = parts.next().unwrap().to_owned();
            (source, target)
        })
        .collect()
}

fn seconds(value: &Value) -> u64 {
    let text = value.as_str().unwrap();
    let (number, unit) = text.split_at(text.len() - 1);
    match unit {
        "s" => number.parse().unwrap(),
        "m" => number.parse::<u64>().unwrap() * 60,
        _ => panic!("unexpected duration {text}"),
    }
}

#[test]
fn compose_accepts_the_file_in_every_environment() {
    for env in Environment::ALL {
        let config = compose_config(env);
        let services = &config["services"];
        for name in ["postgres", "app", "nginx", "autoscaler", "prometheus"] {
            assert!(services[name].is_mapping(), "no service {name}");
        }
        let app = &services["app"];
        // Instances publish no host port, or `--scale app=N` would collide on it.
        assert!(app["ports"].is_null(), "app must not publish ports");
        assert_eq!(app["build"]["target"].as_str(), Some("app"));
        assert_eq!(
            app["environment"]["APP_ENV"].as_str(),
            Some(env.name()),
            "env file of {env}"
        );
        let profile = Profile::for_environment(env);
        let grace = seconds(&app["stop_grace_period"]);
        assert!(
            grace > profile.graceful_shutdown_timeout.as_secs(),
            "stop_grace_period {grace}s must exceed GRACEFUL_SHUTDOWN_TIMEOUT"
        );
        let (source, _) = mounts(&services["nginx"])
            .into_iter()
            .find(|(_, target)| target == "/etc/nginx/nginx.conf")
            .expect("nginx.conf is mounted");
        let source = PathBuf::from(source);
        assert!(
            source.ends_with(format!("nginx/compose/{env}.conf")),
            "{source:?}"
        );
        assert!(source.exists(), "{source:?} is missing");
    }
}

#[test]
fn compose_accepts_the_guides_scale_command() {
    // No Docker engine runs here, so `up` cannot; what compose checks before talking to the
    // engine (the file, the service name, the --scale syntax) is checked by `config --services`
    // with the same flags it would parse for `up -d --scale app=5`.
    let out = Command::new("docker-compose")
        .args(["-f", "docker-compose.scale.yml", "config", "--services"])
        .current_dir(deploy_dir())
        .output()
        .unwrap();
    let services = String::from_utf8_lossy(&out.stdout);
    assert!(services.lines().any(|s| s == "app"), "{services}");
    let help = Command::new("docker-compose")
        .args(["up", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--scale SERVICE=NUM"));
}

#[test]
fn the_mounted_files_are_fresh_generations() {
    let deploy = deploy_dir();
    for env in Environment::ALL {
        let p = Profile::for_environment(env);
        let env_file = deploy.join(format!("env/{env}.env"));
        assert_eq!(
            std::fs::read_to_string(&env_file).unwrap(),
            profile::env_file(&p),
            "{} is stale: cargo run -p clip-fleet -- env --env {env} --format env-file -o deploy/env/{env}.env",
            env_file.display()
        );
        let conf = deploy.join(format!("nginx/compose/{env}.conf"));
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            NginxSettings::for_mode(Mode::DockerCompose, p, "")
                .render()
                .unwrap(),
            "{} is stale: cargo run -p clip-fleet -- nginx --mode docker-compose --env {env} -o deploy/nginx/compose/{env}.conf",
            conf.display()
        );
    }
}

#[test]
fn the_prometheus_service_mounts_the_checked_files() {
    let config = compose_config(Environment::Production);
    let volumes = mounts(&config["services"]["prometheus"]);
    for file in ["prometheus.yml", "alerts.yml"] {
        assert!(
            volumes.iter().any(
                |(source, target)| source.ends_with(&format!("prometheus/{file}"))
                    && target == &format!("/etc/prometheus/{file}")
            ),
            "{file} not mounted"
        );
    }
}
