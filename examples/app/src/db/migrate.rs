//! Versioned SQL migrations (`examples/app/migrations/V*__*.sql`, embedded at build time)
//! applied by refinery. Instances starting together take a PostgreSQL advisory lock first,
//! so the first migrates and the others find the work done.

use clip_pool::postgres::PgError;

use super::Db;
use crate::Error;

refinery::embed_migrations!("migrations");

/// The advisory lock key of the migrations (any constant shared by every instance).
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"clip-mig");

impl Db {
    /// Applies the migrations not applied yet; returns how many this call applied.
    pub async fn migrate(&self) -> Result<usize, Error> {
        let outcome = self
            .write(async |c| {
                c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                    .await?;
                let result = migrations::runner().run_async(&mut **c).await;
                // Unlock on every path: the connection goes back to the pool.
                c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                    .await?;
                Ok::<_, PgError>(result)
            })
            .await?;
        let report = outcome.map_err(|e| Error::Migration(e.to_string()))?;
        Ok(report.applied_migrations().len())
    }
}
