//! A minimal service wired with clip-health: health routes, `/metrics`, the RED layer, the
//! liveness fast path and a dependency check, on a current-thread tokio runtime. SIGTERM (what
//! Kubernetes sends) or Ctrl-C drains: readiness fails for `DRAIN_SECONDS` (default 2) while
//! in-flight and new requests are still served, then the server exits. In production make the
//! drain at least the readiness probe's `periodSeconds × failureThreshold` plus the load
//! balancer's propagation delay (35 s with Kubernetes' defaults), within the pod's
//! `terminationGracePeriodSeconds`.
//!
//! ```text
//! cargo run -p clip-health --example health_server -- 127.0.0.1:3000 [dependency-host:port]
//! curl -i localhost:3000/health
//! curl -i -H 'Authorization: Bearer demo-token' localhost:3000/api/health
//! curl localhost:3000/metrics
//! ```
//! The optional second argument is a TCP address checked as a critical dependency (e.g. your
//! Postgres at 127.0.0.1:5432); without it the check always passes.
//!
//! On this current-thread runtime one thread answers everything: a check must not block inside
//! its `async` body (that would stall liveness too). Blocking before the closure returns its
//! future is safe: clip-health calls the closure on tokio's blocking pool.

use std::time::Duration;

use axum::extract::Request;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Router, ServiceExt};
use clip_health::axum::{LivenessLayer, RedLayer};
use clip_health::{Check, CheckOutcome, Criticality, HealthConfig, HealthRegistry};
use tower::Layer;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let dependency = args.next();
    let drain = match std::env::var("DRAIN_SECONDS").map(|v| v.trim().parse::<u64>()) {
        Err(_) => Duration::from_secs(2),
        Ok(Ok(seconds)) => Duration::from_secs(seconds),
        Ok(Err(e)) => {
            eprintln!("health_server: DRAIN_SECONDS must be a whole number of seconds: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // One thread: the figure of scripts/compare/health.sh is per core, against one nginx worker.
    // A current-thread runtime skips the work-stealing scheduler's cross-thread bookkeeping.
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(serve(addr, dependency, drain)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("health_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(
    addr: String,
    dependency: Option<String>,
    drain: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = clip_health::prometheus::install()?;
    let mut config = HealthConfig::from_env()?;
    config
        .details_token
        .get_or_insert_with(|| "demo-token".to_owned());

    let dependency_check = Check::new(
        "dependency",
        Criticality::Critical,
        Duration::from_secs(2),
        move || {
            let target = dependency.clone();
            async move {
                let Some(target) = target else {
                    return CheckOutcome::pass();
                };
                match tokio::net::TcpStream::connect(&target).await {
                    Ok(_) => CheckOutcome::pass(),
                    Err(e) => CheckOutcome::fail(format!("cannot connect to {target}: {e}")),
                }
            }
        },
    )
    .component_type("datastore")
    .failure_threshold(2);

    let health = HealthRegistry::builder()
        .with_check(dependency_check)
        .config(config)
        .version(env!("CARGO_PKG_VERSION"))
        .service_id(format!("health_server-{}", std::process::id()))
        .description("clip-health example server")
        .require_startup()
        .build();

    let red = RedLayer::new();
    let app = Router::new()
        .route("/clips/{id}", get(|| async { "a clip" }))
        .merge(clip_health::axum::router(health.clone(), Some(prometheus)))
        .layer(red.clone());
    // Liveness probes answered before routing, recorded in the same RED series.
    let app = LivenessLayer::recording(&red).layer(app);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    health.mark_started();

    let draining = health.clone();
    // As nginx does by default: small responses leave at once instead of waiting on Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Fail readiness first so the load balancer stops sending, keep serving meanwhile,
            // then stop accepting and finish what is in flight.
            draining.start_draining();
            eprintln!("draining for {} s, then shutting down", drain.as_secs());
            tokio::time::sleep(drain).await;
        })
        .await?;
    Ok(())
}

/// SIGTERM (Kubernetes, docker stop, systemd) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => eprintln!("cannot listen for SIGTERM ({e}); Ctrl-C only"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
