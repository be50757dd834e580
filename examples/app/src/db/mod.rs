//! The app's PostgreSQL: the pool (clip-pool), the migrations, and the queries of projects,
//! assets, videos and clips. The job queue's SQL lives with the queue (`crate::jobs::queue`), the
//! storage backend's with the backend (`crate::storage`).

mod assets;
mod migrate;
mod projects;
mod videos;

use clip_pool::postgres::{PgConnection, PgError, PgPool};

pub use assets::{Asset, NewAsset, Rendition};
pub use projects::{Page, Project};
pub use videos::{Clip, NewClip, NewPoster, NewVideo, Poster, Probed, Video, VideoCard};

use crate::Error;

/// A handle on the database: cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    /// Wraps a pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for its stats and health.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs read-only statements on a shared connection (queries of concurrent callers
    /// pipeline on it): for single statements that need no transaction.
    pub async fn read<T>(
        &self,
        f: impl AsyncFnOnce(&PgConnection) -> Result<T, PgError>,
    ) -> Result<T, Error> {
        Ok(self.pool.execute_shared(f).await?)
    }

    /// Runs `f` with a connection of its own (transactions, writes).
    pub async fn write<T>(
        &self,
        f: impl AsyncFnOnce(&mut PgConnection) -> Result<T, PgError>,
    ) -> Result<T, Error> {
        Ok(self.pool.execute(f).await?)
    }
}
