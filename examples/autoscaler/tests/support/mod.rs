//! Test fleets: small axum servers that answer `/metrics` with real Prometheus text (the
//! series a clip-app instance exports) at a load the test sets, and an autoscaler run
//! in-process against them.
#![allow(dead_code)]

pub mod process;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clip_autoscaler::{Autoscaler, AutoscalerConfig};
use serde_json::Value;
use tokio::sync::oneshot;

/// What a fake instance reports.
#[derive(Debug)]
pub struct Load {
    /// Requests per second it serves.
    pub request_rate: f64,
    /// CPU, % of its limit.
    pub cpu_percent: f64,
    /// Memory, % of its limit.
    pub memory_percent: f64,
    /// `clip_jobs_pending`.
    pub jobs_pending: f64,
    /// Stops answering (as a SIGSTOPped process: the connection is accepted, no answer comes).
    pub stalled: bool,
    requests: f64,
    cpu_seconds: f64,
    at: Instant,
}

/// An instance serving `/metrics` and `/api/health/ready`.
#[derive(Clone)]
pub struct FakeInstance {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    load: Arc<Mutex<Load>>,
}

impl FakeInstance {
    /// Starts one at `request_rate` req/s, everything else quiet.
    pub async fn start(request_rate: f64) -> Self {
        let load = Arc::new(Mutex::new(Load {
            request_rate,
            cpu_percent: 10.0,
            memory_percent: 20.0,
            jobs_pending: 0.0,
            stalled: false,
            requests: 0.0,
            cpu_seconds: 0.0,
            at: Instant::now(),
        }));
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/api/health/ready", get(ready))
            .with_state(load.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            load,
        }
    }

    /// Changes what it reports.
    pub fn set(&self, change: impl FnOnce(&mut Load)) {
        change(&mut self.load.lock().unwrap());
    }
}

async fn ready(State(load): State<Arc<Mutex<Load>>>) -> StatusCode {
    if load.lock().unwrap().stalled {
        std::future::pending::<()>().await;
    }
    StatusCode::OK
}

async fn metrics(State(load): State<Arc<Mutex<Load>>>) -> String {
    let stalled = load.lock().unwrap().stalled;
    if stalled {
        std::future::pending::<()>().await;
    }
    let mut l = load.lock().unwrap();
    let dt = l.at.elapsed().as_secs_f64();
    l.at = Instant::now();
    l.requests += l.request_rate * dt;
    l.cpu_seconds += l.cpu_percent / 100.0 * dt;
    let n = l.requests.floor();
    // Every request takes 20-50 ms: the p95 lies in the 0.05 bucket.
    format!(
        "# HELP http_requests_total HTTP requests\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{{method=\"GET\",route=\"/api/projects\",status=\"200\"}} {n}\n\
         http_requests_total{{method=\"GET\",route=\"/metrics\",status=\"200\"}} 7\n\
         # TYPE http_request_duration_seconds histogram\n\
         http_request_duration_seconds_bucket{{method=\"GET\",route=\"/api/projects\",status=\"200\",le=\"0.025\"}} {fast}\n\
         http_request_duration_seconds_bucket{{method=\"GET\",route=\"/api/projects\",status=\"200\",le=\"0.05\"}} {n}\n\
         http_request_duration_seconds_bucket{{method=\"GET\",route=\"/api/projects\",status=\"200\",le=\"+Inf\"}} {n}\n\
         http_request_duration_seconds_sum{{method=\"GET\",route=\"/api/projects\",status=\"200\"}} {sum}\n\
         http_request_duration_seconds_count{{method=\"GET\",route=\"/api/projects\",status=\"200\"}} {n}\n\
         # TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {cpu}\n\
         # TYPE clip_process_cpu_limit_cores gauge\n\
         clip_process_cpu_limit_cores 1\n\
         # TYPE clip_process_memory_usage_percent gauge\n\
         clip_process_memory_usage_percent {mem}\n\
         # TYPE clip_jobs_pending gauge\n\
         clip_jobs_pending {jobs}\n",
        fast = (n / 2.0).floor(),
        sum = n * 0.03,
        cpu = l.cpu_seconds,
        mem = l.memory_percent,
        jobs = l.jobs_pending,
    )
}

/// Settings of a test autoscaler: quick ticks, no cooldowns or stabilization unless a test
/// sets them, the guide's thresholds.
pub fn settings(targets: &[&FakeInstance], dir: &std::path::Path) -> HashMap<String, String> {
    let targets: Vec<&str> = targets.iter().map(|t| t.url.as_str()).collect();
    [
        ("AUTOSCALER_ACTUATOR", "dry-run".to_owned()),
        ("AUTOSCALER_TARGETS", targets.join(",")),
        ("AUTOSCALER_INTERVAL", "0.3".into()),
        ("AUTOSCALER_SCRAPE_TIMEOUT", "0.5".into()),
        (
            "AUTOSCALER_STATE_FILE",
            dir.join("state.json").display().to_string(),
        ),
        ("AUTOSCALER_TOKEN", TOKEN.into()),
        ("MIN_INSTANCES", "1".into()),
        ("MAX_INSTANCES", "10".into()),
        ("SCALE_UP_COOLDOWN", "0".into()),
        ("SCALE_DOWN_COOLDOWN", "0".into()),
        ("SCALE_DOWN_STABILIZATION", "0".into()),
        ("SCALE_UP_PERIOD", "0".into()),
        ("SCALE_DOWN_PERIOD", "0".into()),
        ("METRICS_MAX_AGE", "60".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The token tests use.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// An autoscaler running in this process, with its HTTP surface on a free port.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The autoscaler.
    pub autoscaler: Autoscaler,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Starts an autoscaler with `vars` as its environment.
    pub async fn start(vars: HashMap<String, String>) -> Self {
        let config = AutoscalerConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let autoscaler = Autoscaler::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = clip_autoscaler::http::router(autoscaler.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (stop, stopped) = oneshot::channel::<()>();
        let a = autoscaler.clone();
        let task = tokio::spawn(async move {
            a.run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            autoscaler,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops it the way SIGTERM does (state saved, lock released) and waits.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Ends it as a crash would: no final save; the lock goes with the task.
    pub async fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// `GET /status`.
    pub async fn status(&self) -> Value {
        reqwest::get(format!("{}/status", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls `/status` until `done` holds, for at most `within`; the last status otherwise
    /// fails the test with what it showed.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status().await;
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; /status: {}",
                serde_json::to_string_pretty(&s).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /override` with `token`.
    pub async fn post_override(&self, token: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/override", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The last decision's field `name`.
pub fn decision<'a>(status: &'a Value, name: &str) -> &'a Value {
    &status["last_decision"][name]
}
