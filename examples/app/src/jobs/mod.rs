//! Background work: the queue in PostgreSQL ([`Queue`]), the workers that run its jobs, the
//! image renditions job, the video clip job ([`video`]: ffmpeg), and the upkeep every
//! instance does (requeueing the jobs of dead workers, sampling the queue length, sweeping
//! interrupted uploads).

mod dispatch;
mod image;
mod maintenance;
pub mod queue;
pub mod stats;
pub mod video;
mod worker;

use clip_cdn::image::Optimizer;

pub use maintenance::spawn_maintenance;
pub use queue::{JobKind, JobView, Queue};
pub use worker::Workers;

use crate::config::{ImagesConfig, VideoConfig};
use crate::db::Db;
use crate::storage::Storage;

/// What the jobs work with.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The database.
    pub db: Db,
    /// Where originals are read and renditions written.
    pub storage: Storage,
    /// Image work on blocking threads, bounded (shared with `/img`).
    pub optimizer: Optimizer,
    /// Which renditions to make.
    pub images: ImagesConfig,
    /// The largest original a job reads.
    pub max_source_bytes: u64,
    /// The video jobs' settings.
    pub video: VideoConfig,
    /// ffmpeg and ffprobe (none on an instance with `VIDEO_WORKERS=0`).
    pub tools: Option<video::Tools>,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done, with what it produced.
    Succeeded(serde_json::Value),
    /// The input cannot be processed; retrying will not help. The text is for the user.
    Invalid(String),
    /// Something that may pass (storage, database); worth another attempt.
    Transient(String),
    /// Stopped at its kind's wall-clock limit: failed, not retried. The text is for the user.
    TimedOut(String),
    /// Stopped because `DELETE /api/jobs/{id}` asked.
    Cancelled,
}

impl Outcome {
    /// One word for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Invalid(_) => "failed: invalid input",
            Outcome::Transient(_) => "failed: transient",
            Outcome::TimedOut(_) => "failed: timed out",
            Outcome::Cancelled => "cancelled",
        }
    }
}
