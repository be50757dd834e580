//! What the tests share: the PostgreSQL server of the run, a database per test, the app
//! in-process or as a child process, an HTTP client, generated images, and waiting.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clip_app::state::AppState;
use clip_app::{App, AppConfig};
use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::PgPool;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What a test returns.
pub type TestResult<T = ()> = Result<T, Box<dyn StdError + Send + Sync>>;

/// Fails the test with `message` unless `condition`.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        // Bound first: `!(a <= b)` on floats would read as `a > b`, which it is not for NaN.
        let holds: bool = $condition;
        if !holds {
            return Err(format!($($message)+).into());
        }
    };
}

/// Set in a child process: run the app's binary code instead of the tests.
pub const CHILD_ENV: &str = "CLIP_APP_TEST_CHILD";

/// The run's PostgreSQL and what every test needs from it.
pub struct Ctx {
    pub pg: LocalPostgres,
    admin: PgPool,
    pub prometheus: PrometheusHandle,
    databases: AtomicU32,
}

impl Ctx {
    pub async fn start() -> TestResult<Ctx> {
        let pg = LocalPostgres::start().await?;
        let admin = clip_pool::postgres::connect(&pg.url(), small_pool()).await?;
        let prometheus = clip_app::telemetry::install_recorder()?;
        Ok(Ctx {
            pg,
            admin,
            prometheus,
            databases: AtomicU32::new(0),
        })
    }

    /// A new, empty database of the run's server: its URL.
    pub async fn database(&self) -> TestResult<String> {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let sql = format!("CREATE DATABASE {name}");
        self.admin
            .execute(async |c| c.batch_execute(&sql).await)
            .await?;
        Ok(url_of(&self.pg, &name))
    }
}

/// The URL of database `name` on `pg`.
pub fn url_of(pg: &LocalPostgres, name: &str) -> String {
    pg.url().replace("/postgres?", &format!("/{name}?"))
}

fn small_pool() -> clip_pool::PoolConfig {
    clip_pool::PoolConfig {
        min_connections: 1,
        pool_size: 1,
        max_connections: 2,
        ..clip_pool::PoolConfig::default()
    }
}

/// Settings every test app starts from: loopback, a free port, small pools, fast workers.
pub fn base_vars() -> Vec<(&'static str, String)> {
    [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DB_MIN_CONNECTIONS", "1"),
        ("DB_POOL_SIZE", "2"),
        ("DB_MAX_CONNECTIONS", "8"),
        ("DB_ACQUIRE_TIMEOUT", "2000"),
        ("IMAGE_WORKERS", "1"),
        // The video tests ask for video workers; the others need no ffmpeg.
        ("VIDEO_WORKERS", "0"),
        ("JOB_POLL_INTERVAL", "100"),
        ("RENDITION_WIDTHS", "64,128"),
        ("GRACEFUL_SHUTDOWN_TIMEOUT", "5000"),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// The configuration of `base_vars` overridden by `vars`.
pub fn config(vars: &[(&str, &str)]) -> TestResult<AppConfig> {
    let mut map: HashMap<String, String> = base_vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Ok(AppConfig::from_lookup(|name| map.get(name).cloned())?)
}

/// An app served in-process on a loopback port.
pub struct TestApp {
    pub url: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), clip_app::Error>>,
}

impl TestApp {
    /// Builds and serves an app on `database_url` with `vars` over the base settings.
    pub async fn start(
        ctx: &Ctx,
        database_url: &str,
        vars: &[(&str, &str)],
    ) -> TestResult<TestApp> {
        let app = App::build(config(vars)?, database_url, Some(ctx.prometheus.clone())).await?;
        let state = app.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(TestApp {
            url,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// `self.url + path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The app's `/metrics` page, as Prometheus would scrape it.
    pub async fn metrics(&self) -> TestResult<String> {
        Ok(client()
            .get(self.at("/metrics"))
            .send()
            .await?
            .text()
            .await?)
    }

    /// Signals a graceful shutdown and waits for it.
    pub async fn stop(mut self) -> TestResult {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client for the tests (no proxy, bounded waits).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// Polls `probe` until it gives a value or `limit` passes.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if started.elapsed() > limit {
            return Err(format!("{what}: not within {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the job reaches a final state; returns its JSON.
pub async fn finished_job(
    app_url: &str,
    job: i64,
    limit: Duration,
) -> TestResult<serde_json::Value> {
    let client = client();
    let url = format!("{app_url}/api/jobs/{job}");
    eventually(&format!("job {job} to finish"), limit, || {
        let request = client.get(&url);
        async move {
            let job: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
            matches!(job["state"].as_str(), Some("succeeded" | "failed" | "dead")).then_some(job)
        }
    })
    .await
}

/// A JPEG of `width` x `height`: a gradient (small) or noise (slow to encode and decode).
pub fn jpeg(width: u32, height: u32, noisy: bool) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        if noisy {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let [r, g, b, _] = seed.to_le_bytes();
            image::Rgb([r, g, b])
        } else {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        }
    });
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    image
        .write_with_encoder(encoder)
        .map(|()| out)
        .unwrap_or_default()
}

/// Creates a project; its id.
pub async fn create_project(app_url: &str, name: &str) -> TestResult<i64> {
    let response = client()
        .post(format!("{app_url}/api/projects"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?;
    ensure!(
        response.status() == 201,
        "create project: {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    body["id"].as_i64().ok_or_else(|| "no id".into())
}

/// Uploads `bytes` as a raw body; the response JSON (asset and job).
pub async fn upload(
    app_url: &str,
    project: i64,
    name: &str,
    bytes: Vec<u8>,
) -> TestResult<serde_json::Value> {
    let response = client()
        .post(format!(
            "{app_url}/api/projects/{project}/assets?filename={name}"
        ))
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await?;
    ensure!(
        response.status() == 202,
        "upload: {} {:?}",
        response.status(),
        response.text().await
    );
    Ok(response.json().await?)
}

/// The app's binary code running in a child process (`kill -9`, SIGTERM).
pub struct ChildApp {
    pub process: std::process::Child,
    pub url: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChildApp {
    /// Starts this test binary as the app with `vars` over the base settings; waits until
    /// it listens.
    pub fn spawn(vars: &[(&str, &str)]) -> TestResult<ChildApp> {
        let dir = tempfile::tempdir()?;
        let stderr = dir.path().join("stderr.log");
        let mut command = Command::new(std::env::current_exe()?);
        command
            .env(CHILD_ENV, "1")
            .env_remove("ADMIN_TOKEN")
            .env_remove("STORAGE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?);
        for (k, v) in base_vars() {
            command.env(k, v);
        }
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut process = command.spawn()?;
        let stdout = process.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line
                    .split(" listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                {
                    let _ = tx.send(address.to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => Ok(ChildApp {
                process,
                url: format!("http://{address}"),
                stderr,
                _dir: dir,
            }),
            Err(_) => {
                let _ = process.kill();
                let _ = process.wait();
                Err(format!(
                    "the child app did not start: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
                .into())
            }
        }
    }

    /// Sends a signal (`KILL`, `TERM`).
    pub fn signal(&self, signal: &str) -> TestResult {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.process.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }

    /// What it wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for it to exit, at most `limit`; its exit status.
    pub fn wait(&mut self, limit: Duration) -> TestResult<std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > limit {
                return Err(format!("still running after {limit:?}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// Runs the app's binary code (this process is a child started by [`ChildApp::spawn`]).
pub fn run_child() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("child: no runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(clip_app::run::from_env()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clip-app: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// GETs `url` and parses the JSON answer (whatever its status).
pub async fn get_json(url: &str) -> TestResult<serde_json::Value> {
    Ok(client().get(url).send().await?.json().await?)
}
