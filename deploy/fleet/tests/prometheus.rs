//! The scrape config and alert rules pass Prometheus' own checks, and the alert rules' unit
//! tests (`deploy/prometheus/tests/alerts_test.yml`) pass, with Debian's promtool.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let prometheus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&prometheus)
        .output()
        .expect("promtool runs (scripts/install-deps.sh installs Debian's prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_are_valid() {
    let out = promtool(&["check", "rules", "alerts.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn scrape_config_is_valid() {
    let out = promtool(&["check", "config", "prometheus.yml"]);
    assert!(out.contains("is valid prometheus config file"), "{out}");
}

#[test]
fn alert_rules_fire_when_and_only_when_they_should() {
    let out = promtool(&["test", "rules", "tests/alerts_test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alerts_read_metric_names_the_crates_really_export() {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../prometheus/alerts.yml"),
    )
    .unwrap();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exported = |crate_dir: &str, name: &str| {
        walk(&sources.join(crate_dir).join("src"))
            .iter()
            .any(|text| text.contains(&format!("\"{name}\"")))
    };
    for (crate_dir, name) in [
        ("clip-health", "http_requests_total"),
        ("clip-health", "http_request_duration_seconds"),
        ("clip-pool", "clip_pool_utilization_ratio"),
        ("clip-pool", "clip_pool_acquire_seconds"),
        ("clip-cdn", "clip_cdn_fallbacks_total"),
        ("clip-cdn", "clip_cdn_requests_total"),
        ("clip-cdn", "clip_cdn_unavailable_total"),
    ] {
        assert!(rules.contains(name), "alerts.yml does not use {name}");
        assert!(
            exported(crate_dir, name),
            "{crate_dir} does not export {name}"
        );
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            texts.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            texts.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    texts
}
