//! Graceful shutdown: the signal (SIGTERM or Ctrl-C), and the deadline every part of the
//! shutdown works against. On the signal, readiness fails at once; after
//! `SHUTDOWN_DRAIN_DELAY` the listener closes and idle keep-alive connections with it;
//! requests in flight and running jobs finish; at `GRACEFUL_SHUTDOWN_TIMEOUT` whatever is
//! left is cut, and unfinished jobs go back to the queue.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The shutdown of one app: when it began and when it must be over.
#[derive(Clone, Debug)]
pub struct Shutdown {
    begun: CancellationToken,
    at: Arc<OnceLock<Instant>>,
    timeout: Duration,
}

impl Shutdown {
    /// A shutdown that must end `timeout` after it begins.
    pub fn new(timeout: Duration) -> Self {
        Self {
            begun: CancellationToken::new(),
            at: Arc::new(OnceLock::new()),
            timeout,
        }
    }

    /// Begins the shutdown (again: no effect).
    pub fn begin(&self) {
        self.at.get_or_init(Instant::now);
        self.begun.cancel();
    }

    /// Resolves once the shutdown has begun.
    pub async fn begun(&self) {
        self.begun.cancelled().await;
    }

    /// Whether it has begun.
    pub fn has_begun(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// When everything must be over (`None` before it begins).
    pub fn deadline(&self) -> Option<Instant> {
        self.at.get().map(|at| *at + self.timeout)
    }

    /// Resolves at the deadline (never before the shutdown begins).
    pub async fn deadline_reached(&self) {
        self.begun().await;
        if let Some(deadline) = self.deadline() {
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
