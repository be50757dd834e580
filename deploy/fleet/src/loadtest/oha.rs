//! Runs one step with `oha`: a constant request rate (`-q`) with latency correction, so a slow
//! response delays no later request's clock (no coordinated omission). Every answered request
//! lands in a SQLite file (`--db-url`); failures to get an answer are counted in the JSON
//! summary (`--output-format json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde::Deserialize;

use super::plan::Step;
use crate::FleetError;

/// How one step is run.
#[derive(Debug, Clone)]
pub struct OhaCommand {
    /// The oha executable.
    pub program: PathBuf,
    /// The URL requested.
    pub url: String,
    /// Per-request timeout (seconds): a request slower than this counts as an error.
    pub timeout_seconds: u64,
}

/// The part of oha's JSON summary the report uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OhaSummary {
    /// Responses by status code.
    #[serde(rename = "statusCodeDistribution", default)]
    pub status_codes: BTreeMap<String, u64>,
    /// Requests that got no response, by reason (connection refused, timeout, ...).
    #[serde(rename = "errorDistribution", default)]
    pub errors: BTreeMap<String, u64>,
}

/// What one step left behind.
#[derive(Debug, Clone)]
pub struct StepRun {
    /// When oha was started (its request times are relative to this, give or take its start-up).
    pub started: SystemTime,
    /// The SQLite file of answered requests.
    pub database: PathBuf,
    /// The JSON summary.
    pub summary: OhaSummary,
}

impl OhaCommand {
    /// Runs `step`, writing `step-N.json` and `step-N.db` into `dir`.
    pub fn run(&self, step: &Step, index: usize, dir: &Path) -> Result<StepRun, FleetError> {
        let json = dir.join(format!("step-{index}.json"));
        let database = dir.join(format!("step-{index}.db"));
        let started = SystemTime::now();
        let output = Command::new(&self.program)
            .arg(&self.url)
            .args(["-z", &format!("{}s", step.seconds)])
            .args(["-q", &format!("{}", step.rate.max(1.0))])
            .args(["-c", &step.users.max(1).to_string()])
            .arg("--latency-correction")
            // Requests in flight at the deadline are waited for, not counted as aborted.
            .arg("-w")
            .args(["-t", &format!("{}s", self.timeout_seconds)])
            // The local fleet's certificate is self-signed.
            .arg("--insecure")
            .arg("--no-tui")
            .args(["--output-format", "json", "-o"])
            .arg(&json)
            .arg("--db-url")
            .arg(&database)
            .stdin(Stdio::null())
            .output()
            .map_err(FleetError::io(format!(
                "starting {} (scripts/load-test.sh installs oha when it is missing)",
                self.program.display()
            )))?;
        if !output.status.success() {
            return Err(FleetError::Tool {
                program: "oha".into(),
                message: format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        let text = std::fs::read_to_string(&json)
            .map_err(FleetError::io(format!("reading {}", json.display())))?;
        let summary: OhaSummary = serde_json::from_str(&text).map_err(|e| FleetError::Tool {
            program: "oha".into(),
            message: format!("its JSON summary {} cannot be read: {e}", json.display()),
        })?;
        Ok(StepRun {
            started,
            database,
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_ohas_json_summary() {
        let text = r#"{"summary":{"successRate":0.98},"statusCodeDistribution":{"200":97,"503":1},
            "errorDistribution":{"connection refused":2},"latencyPercentiles":{"p50":0.001}}"#;
        let s: OhaSummary = serde_json::from_str(text).unwrap();
        assert_eq!(s.status_codes["200"], 97);
        assert_eq!(s.errors["connection refused"], 2);
    }
}
