//! What the fleet does while it is loaded: a thread polls the autoscaler's `GET /status` and
//! the app's `/metrics` (through the load balancer, so each poll reaches some instance and
//! tells which one by `X-Instance-Id`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One poll.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Seconds since the test started.
    pub at_seconds: f64,
    /// Instances the autoscaler reports (ready ones when it says so), when it answered.
    pub autoscaler_instances: Option<u32>,
    /// The autoscaler's last decision, in its own words.
    pub autoscaler_decision: Option<String>,
    /// `X-Instance-Id`s that answered this poll's `/metrics` requests.
    pub instances_answering: Vec<String>,
    /// `clip_process_cpu_usage_percent` of the instances that answered, averaged.
    pub cpu_percent: Option<f64>,
    /// `clip_jobs_pending` (fleet-wide, the same on every instance).
    pub jobs_pending: Option<f64>,
}

/// Where to poll.
#[derive(Debug, Clone)]
pub struct MonitorTargets {
    /// The autoscaler's `/status` URL.
    pub autoscaler_status: String,
    /// The app's `/metrics` URL through the load balancer.
    pub app_metrics: String,
    /// Time between polls.
    pub interval: Duration,
}

/// A running poller; [`Monitor::stop`] returns what it saw.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

/// `/metrics` requests per poll: a few, so several instances get a chance to answer.
const METRICS_REQUESTS_PER_POLL: usize = 3;

impl Monitor {
    /// Starts polling; `started` is the test's start.
    pub fn start(targets: MonitorTargets, started: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let samples = samples.clone();
            std::thread::Builder::new()
                .name("load-test-monitor".into())
                .spawn(move || {
                    let client = match reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(2))
                        .danger_accept_invalid_certs(true)
                        .build()
                    {
                        Ok(c) => c,
                        Err(e) => {
                            eprintln!("load-test: cannot poll the fleet: {e}");
                            return;
                        }
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let sample = poll(&client, &targets, started);
                        if let Ok(mut s) = samples.lock() {
                            s.push(sample);
                        }
                        let next = Instant::now() + targets.interval;
                        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
                .ok()
        };
        Self {
            stop,
            samples,
            thread,
        }
    }

    /// The latest sample, for the progress line.
    pub fn latest(&self) -> Option<Sample> {
        self.samples.lock().ok().and_then(|s| s.last().cloned())
    }

    /// Stops polling and returns every sample.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn poll(client: &reqwest::blocking::Client, targets: &MonitorTargets, started: Instant) -> Sample {
    let mut sample = Sample {
        at_seconds: started.elapsed().as_secs_f64(),
        ..Sample::default()
    };
    if let Ok(response) = client.get(&targets.autoscaler_status).send()
        && response.status().is_success()
        && let Ok(status) = response.json::<serde_json::Value>()
    {
        sample.autoscaler_instances = instance_count(&status);
        sample.autoscaler_decision = decision(&status);
    }
    let mut cpu = Vec::new();
    for _ in 0..METRICS_REQUESTS_PER_POLL {
        let Ok(response) = client.get(&targets.app_metrics).send() else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        if let Some(id) = response
            .headers()
            .get("x-instance-id")
            .and_then(|v| v.to_str().ok())
            && !sample.instances_answering.iter().any(|s| s == id)
        {
            sample.instances_answering.push(id.to_owned());
        }
        if let Ok(text) = response.text() {
            if let Some(v) = gauge(&text, "clip_process_cpu_usage_percent") {
                cpu.push(v);
            }
            if let Some(v) = gauge(&text, "clip_jobs_pending") {
                sample.jobs_pending = Some(v);
            }
        }
    }
    if !cpu.is_empty() {
        sample.cpu_percent = Some(cpu.iter().sum::<f64>() / cpu.len() as f64);
    }
    sample
}

/// The instance count in the autoscaler's `/status`: `instances.ready` (what serves), else
/// `instances.current`, else `instances` when it is a number.
pub fn instance_count(status: &serde_json::Value) -> Option<u32> {
    ["/instances/ready", "/instances/current", "/instances"]
        .iter()
        .find_map(|pointer| status.pointer(pointer).and_then(serde_json::Value::as_u64))
        .and_then(|n| u32::try_from(n).ok())
}

/// The last decision in `/status`: `last_decision.summary`, else `last_decision.action`.
pub fn decision(status: &serde_json::Value) -> Option<String> {
    ["/last_decision/summary", "/last_decision/action"]
        .iter()
        .find_map(|pointer| status.pointer(pointer).and_then(serde_json::Value::as_str))
        .map(str::to_owned)
}

/// The value of an unlabelled gauge in Prometheus text (the process gauges the app exports
/// carry no labels; anything labelled is not read here).
pub fn gauge(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_instance_count_and_decision_from_status() {
        let status = serde_json::json!({
            "instances": {"ready": 4, "starting": 1},
            "last_decision": {"action": "scale_up", "summary": "scale up 3 -> 4: cpu 85% > 70%"}
        });
        assert_eq!(instance_count(&status), Some(4));
        assert_eq!(
            decision(&status).as_deref(),
            Some("scale up 3 -> 4: cpu 85% > 70%")
        );
        assert_eq!(
            instance_count(&serde_json::json!({"instances": 3})),
            Some(3)
        );
        assert_eq!(instance_count(&serde_json::json!({"other": 3})), None);
    }

    #[test]
    fn reads_unlabelled_gauges_only() {
        let text = "# HELP clip_jobs_pending x\n# TYPE clip_jobs_pending gauge\nclip_jobs_pending 7\n\
                    clip_process_cpu_usage_percent 41.5\nclip_process_cpu_usage_percent_max 99\n";
        assert_eq!(gauge(text, "clip_jobs_pending"), Some(7.0));
        assert_eq!(gauge(text, "clip_process_cpu_usage_percent"), Some(41.5));
        assert_eq!(gauge(text, "missing"), None);
    }
}
