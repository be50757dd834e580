//! What every handler shares: the configuration and the composed parts. Cheap to clone.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use clip_cdn::Cdn;
use clip_cdn::image::Optimizer;
use clip_health::HealthRegistry;
use tokio::sync::Semaphore;

use crate::config::AppConfig;
use crate::db::Db;
use crate::jobs::Queue;
use crate::routes::img::ImageCache;
use crate::scaling::ScalingAdvisor;
use crate::storage::Storage;

/// The shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Parts>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Parts {
    /// The configuration it started with.
    pub config: AppConfig,
    /// The database.
    pub db: Db,
    /// Originals and renditions.
    pub storage: Storage,
    /// The job queue.
    pub queue: Queue,
    /// CDN URLs, transforms, asset fetches.
    pub cdn: Cdn,
    /// Image work on blocking threads, bounded (jobs and `/img` share it).
    pub optimizer: Optimizer,
    /// Health checks, readiness, draining.
    pub health: HealthRegistry,
    /// `/img` answers in memory.
    pub img_cache: ImageCache,
    /// The advisory scaling verdict.
    pub scaling: Arc<ScalingAdvisor>,
    /// Permits of `MAX_CONCURRENT_REQUESTS` (free ones show the load).
    pub in_flight: Arc<Semaphore>,
    /// When the app started.
    pub started: Instant,
    /// ffmpeg and ffprobe, checked at start-up (none when `VIDEO_WORKERS=0`).
    pub ffmpeg: Option<crate::jobs::video::Tools>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    /// Requests being handled now (health and metrics aside).
    pub fn requests_in_flight(&self) -> usize {
        self.config
            .http
            .max_concurrent_requests
            .saturating_sub(self.in_flight.available_permits())
    }
}

impl Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}
