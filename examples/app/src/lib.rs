//! # clip-app: the Creator Clip server
//!
//! The four clip crates composed into a service: projects and uploads on PostgreSQL
//! through clip-pool, image renditions rendered by clip-cdn's optimizer from a job queue
//! every instance shares, an image origin for the CDN, health and metrics from
//! clip-health, and the advisory verdict of clip-scaling-policy; behind the production
//! layers of tower-http, tower and governor.
//!
//! [`App`] builds it all from an [`AppConfig`] (tests run it in-process); the `clip-app`
//! binary adds the environment, an embedded PostgreSQL and the signals ([`run`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), clip_app::Error> {
//! let config = clip_app::AppConfig::from_env()?;
//! let app = clip_app::App::build(config, "postgres://clip@127.0.0.1/clip", None).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.map_err(|e| {
//!     clip_app::Error::Io { context: "binding".into(), source: e }
//! })?;
//! app.serve(listener, clip_app::shutdown::signal()).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod dashboard;
pub mod db;
mod error;
mod health;
pub mod http;
pub mod jobs;
mod media_type;
pub mod pages;
pub mod problem;
pub mod routes;
pub mod run;
pub mod scaling;
pub mod shutdown;
pub mod state;
pub mod static_files;
pub mod storage;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::serve::ListenerExt;
use clip_cdn::Cdn;
use clip_cdn::image::Optimizer;
use clip_health::axum::RedLayer;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use config::AppConfig;
pub use error::Error;

use crate::db::Db;
use crate::http::rate_limit::LimiterConfig;
use crate::jobs::{JobContext, Queue, Workers};
use crate::scaling::{RequestWindow, ScalingAdvisor};
use crate::shutdown::Shutdown;
use crate::state::{AppState, Parts};
use crate::storage::Storage;

/// How often the rate limiters forget clients that went quiet.
const LIMITER_PURGE_EVERY: Duration = Duration::from_secs(60);

/// The server, built and not yet serving.
pub struct App {
    state: AppState,
    router: Router,
    limiters: Vec<LimiterConfig>,
    red: RedLayer,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("instance", &self.state.config.server.instance_id)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Connects to `database_url`, applies the migrations, opens the storage backend and
    /// builds the routes. `/metrics` is served when a Prometheus handle is given (install
    /// the recorder once per process: `clip_health::prometheus::install()`).
    pub async fn build(
        config: AppConfig,
        database_url: &str,
        prometheus: Option<PrometheusHandle>,
    ) -> Result<Self, Error> {
        telemetry::describe(&config.server.instance_id);
        let pool = clip_pool::postgres::connect(database_url, config.pool.clone()).await?;
        let db = Db::new(pool);
        let applied = db.migrate().await?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        let storage = Storage::open_backend(&config.storage, &db).await?;
        // Unique per start: a restarted instance must not mistake its predecessor's
        // leases for its own.
        let owner = format!(
            "{}#{}",
            config.server.instance_id,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let queue = Queue::new(db.clone(), owner, config.jobs.clone());
        // Known before the first probe; the maintenance task keeps it current.
        queue.sample_pending().await?;
        let cdn = Cdn::new(config.cdn.clone()).map_err(Error::Cdn)?;
        let health = health::registry(&config, &db, &queue, &cdn);
        let window = Arc::new(RequestWindow::default());
        let scaling = Arc::new(ScalingAdvisor::new(
            config.scaling.clone(),
            window.clone(),
            queue.clone(),
        )?);
        let state = AppState::new(Parts {
            optimizer: Optimizer::new(config.jobs.image_workers),
            img_cache: routes::img::image_cache(config.images.cache_max_bytes),
            in_flight: Arc::new(Semaphore::new(config.http.max_concurrent_requests)),
            started: Instant::now(),
            config,
            db,
            storage,
            queue,
            cdn,
            health,
            scaling,
        });
        let red = RedLayer::new();
        let routes = routes::router(&state, prometheus, &red, window)?;
        Ok(Self {
            state,
            router: routes.router,
            limiters: routes.limiters,
            red,
        })
    }

    /// The shared state (tests inspect the queue, the pool, the health registry).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` and runs the workers until `signal` resolves, then shuts down
    /// gracefully (see [`shutdown`]) and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let App {
            state,
            router,
            limiters,
            red,
        } = self;
        let config = &state.config;
        let service = http::stack(router, config, &red)?;
        let background = CancellationToken::new();
        let workers = Workers::spawn(
            state.queue.clone(),
            JobContext {
                db: state.db.clone(),
                storage: state.storage.clone(),
                optimizer: state.optimizer.clone(),
                images: config.images.clone(),
                max_source_bytes: config.http.max_upload_bytes as u64,
            },
            config.jobs.image_workers,
        );
        let maintenance = jobs::spawn_maintenance(
            state.queue.clone(),
            state.storage.clone(),
            background.clone(),
        );
        let advisor = state.scaling.clone().spawn(background.clone());
        let purge = spawn_limiter_purge(limiters, background.clone());
        let process = telemetry::spawn_process_sampler(background.clone());

        let shutdown = Shutdown::new(config.http.graceful_shutdown_timeout);
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            on_signal.begin();
        });
        let stop_accepting = {
            let shutdown = shutdown.clone();
            let health = state.health.clone();
            let delay = config.http.shutdown_drain_delay;
            async move {
                shutdown.begun().await;
                health.start_draining();
                tracing::info!(
                    ?delay,
                    "draining: readiness fails; the listener closes after the delay"
                );
                tokio::time::sleep(delay).await;
            }
        };
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY refused");
            }
        });
        let server = axum::serve(
            listener,
            axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service),
        )
        .with_graceful_shutdown(stop_accepting);
        state.health.mark_started();

        let http = async {
            let served = tokio::select! {
                served = server => served.map_err(Error::io("serving HTTP")),
                () = shutdown.deadline_reached() => {
                    tracing::warn!("requests still running at GRACEFUL_SHUTDOWN_TIMEOUT were cut");
                    Ok(())
                }
            };
            shutdown.begin(); // a server that failed stops the workers too
            served
        };
        let jobs = async {
            shutdown.begun().await;
            let deadline = shutdown
                .deadline()
                .unwrap_or_else(Instant::now)
                // Room to queue the interrupted jobs again before the deadline.
                .checked_sub(
                    (config.http.graceful_shutdown_timeout / 10).min(Duration::from_secs(1)),
                )
                .unwrap_or_else(Instant::now);
            workers.shutdown(deadline).await
        };
        let (served, _released) = tokio::join!(http, jobs);
        background.cancel();
        for task in [maintenance, advisor, purge, process] {
            let _ = task.await;
        }
        tracing::info!("stopped");
        served
    }
}

/// Forgets, now and then, the clients the rate limiters no longer need to remember.
fn spawn_limiter_purge(
    limiters: Vec<LimiterConfig>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LIMITER_PURGE_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => for limiter in &limiters {
                    limiter.limiter().retain_recent();
                    limiter.limiter().shrink_to_fit();
                },
            }
        }
    })
}
