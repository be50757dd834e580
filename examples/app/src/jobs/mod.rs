//! Background work: the queue in PostgreSQL ([`Queue`]), the workers that run its jobs, the
//! image renditions job, and the upkeep every instance does (requeueing the jobs of dead
//! workers, sampling the queue length, sweeping interrupted uploads).

mod image;
mod maintenance;
pub mod queue;
mod worker;

use clip_cdn::image::Optimizer;

pub use maintenance::spawn_maintenance;
pub use queue::{JobKind, JobView, Queue};
pub use worker::Workers;

use crate::config::ImagesConfig;
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
}

impl Outcome {
    /// One word for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Invalid(_) => "failed: invalid input",
            Outcome::Transient(_) => "failed: transient",
        }
    }
}
