//! The PostgreSQL backend: files in 1 MiB chunks (`blob_chunks`), named by a `blobs` row
//! written only once every chunk is in. Each chunk is one statement on a pooled connection,
//! so a slow upload or download never holds a connection between chunks.

use std::ops::RangeInclusive;

use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};

use super::{ByteStream, Location, Stored, StoredFile, Tally, UploadStream};
use crate::Error;
use crate::db::Db;

/// Bytes per chunk: large enough that a video needs few rows, small enough to buffer.
const CHUNK: usize = 1024 * 1024;

/// Files in the app's PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgBlobs {
    db: Db,
}

impl PgBlobs {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }

    pub(super) async fn put(
        &self,
        key: &str,
        body: UploadStream<'_>,
        limit: u64,
    ) -> Result<Stored, Error> {
        let blob_id: i64 = self
            .db
            .write(async |c| {
                c.query_one("SELECT nextval('blob_ids')", &[])
                    .await
                    .map(|r| r.get(0))
            })
            .await?;
        match self.write_chunks(blob_id, body, limit).await {
            Ok(stored) => {
                self.commit(key, blob_id, &stored).await?;
                Ok(stored)
            }
            Err(e) => {
                if let Err(cleanup) = self.drop_chunks(blob_id).await {
                    tracing::warn!(blob_id, error = %cleanup, "could not remove the chunks of a failed upload; the sweep will");
                }
                Err(e)
            }
        }
    }

    async fn write_chunks(
        &self,
        blob_id: i64,
        mut body: UploadStream<'_>,
        limit: u64,
    ) -> Result<Stored, Error> {
        let mut tally = Tally::new(limit);
        let mut buffer = BytesMut::with_capacity(CHUNK);
        let mut seq: i32 = 0;
        while let Some(bytes) = body.try_next().await? {
            tally.add(&bytes)?;
            buffer.extend_from_slice(&bytes);
            while buffer.len() >= CHUNK {
                let chunk = buffer.split_to(CHUNK);
                self.insert_chunk(blob_id, seq, &chunk).await?;
                seq += 1;
            }
        }
        if !buffer.is_empty() || seq == 0 {
            self.insert_chunk(blob_id, seq, &buffer).await?;
        }
        Ok(tally.finish())
    }

    async fn insert_chunk(&self, blob_id: i64, seq: i32, data: &[u8]) -> Result<(), Error> {
        self.db
            .write(async |c| {
                c.execute(
                    "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)",
                    &[&blob_id, &seq, &data],
                )
                .await
            })
            .await?;
        Ok(())
    }

    /// Names the new chunks `key` and drops the chunks it named before, atomically.
    async fn commit(&self, key: &str, blob_id: i64, stored: &Stored) -> Result<(), Error> {
        let size = i64::try_from(stored.size).unwrap_or(i64::MAX);
        self.db
            .write(async |c| {
                let tx = c.transaction().await?;
                let previous = tx
                    .query_opt(
                        "SELECT blob_id FROM blobs WHERE key = $1 FOR UPDATE",
                        &[&key],
                    )
                    .await?;
                tx.execute(
                    "INSERT INTO blobs (key, blob_id, size, sha256) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (key) DO UPDATE SET blob_id = EXCLUDED.blob_id,
                        size = EXCLUDED.size, sha256 = EXCLUDED.sha256, created_at = now()",
                    &[&key, &blob_id, &size, &stored.sha256],
                )
                .await?;
                if let Some(row) = previous {
                    let old: i64 = row.get(0);
                    tx.execute("DELETE FROM blob_chunks WHERE blob_id = $1", &[&old])
                        .await?;
                }
                Ok(tx.commit().await?)
            })
            .await
    }

    async fn drop_chunks(&self, blob_id: i64) -> Result<(), Error> {
        self.db
            .write(async |c| {
                c.execute("DELETE FROM blob_chunks WHERE blob_id = $1", &[&blob_id])
                    .await
            })
            .await?;
        Ok(())
    }

    pub(super) async fn open(&self, key: &str) -> Result<StoredFile, Error> {
        let row = self
            .db
            .read(async |c| {
                c.query_opt("SELECT blob_id, size FROM blobs WHERE key = $1", &[&key])
                    .await
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("stored file {key}")))?;
        let size: i64 = row.get(1);
        Ok(StoredFile {
            size: u64::try_from(size).unwrap_or(0),
            location: Location::Postgres {
                blob_id: row.get(0),
            },
        })
    }

    /// Streams the range chunk by chunk, reading only the slice of each chunk it needs.
    pub(super) fn read(&self, blob_id: i64, range: RangeInclusive<u64>) -> ByteStream {
        let chunk = CHUNK as u64;
        let (start, end) = (*range.start(), *range.end());
        let (first, last) = (start / chunk, end / chunk);
        let db = self.db.clone();
        futures_util::stream::iter(first..=last)
            .then(move |seq| {
                let db = db.clone();
                async move {
                    let from = if seq == first { start % chunk } else { 0 };
                    let to = if seq == last { end % chunk } else { chunk - 1 };
                    // substring() counts from 1.
                    let (offset, length) = ((from + 1) as i32, (to - from + 1) as i32);
                    let seq = seq as i32;
                    let row = db
                        .read(async |c| {
                            c.query_opt(
                                "SELECT substring(data FROM $3 FOR $4) FROM blob_chunks
                                 WHERE blob_id = $1 AND seq = $2",
                                &[&blob_id, &seq, &offset, &length],
                            )
                            .await
                        })
                        .await?;
                    let data: Vec<u8> = row
                        .ok_or_else(|| {
                            Error::Storage(format!(
                                "chunk {seq} of blob {blob_id} is gone: the file was replaced while it was read"
                            ))
                        })?
                        .get(0);
                    Ok(bytes::Bytes::from(data))
                }
            })
            .boxed()
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), Error> {
        self.db
            .write(async |c| {
                c.execute(
                    "WITH gone AS (DELETE FROM blobs WHERE key = $1 RETURNING blob_id)
                     DELETE FROM blob_chunks WHERE blob_id IN (SELECT blob_id FROM gone)",
                    &[&key],
                )
                .await
            })
            .await?;
        Ok(())
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        self.db
            .write(async |c| {
                let tx = c.transaction().await?;
                tx.execute(
                    "WITH gone AS (DELETE FROM blobs WHERE starts_with(key, $1) RETURNING blob_id)
                     DELETE FROM blob_chunks WHERE blob_id IN (SELECT blob_id FROM gone)",
                    &[&prefix],
                )
                .await?;
                Ok(tx.commit().await?)
            })
            .await
    }

    /// Chunks older than an hour that no blob names: uploads whose process died mid-way.
    pub(super) async fn sweep_orphans(&self) -> Result<u64, Error> {
        self.db
            .write(async |c| {
                c.execute(
                    "DELETE FROM blob_chunks c WHERE c.created_at < now() - interval '1 hour'
                     AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.blob_id = c.blob_id)",
                    &[],
                )
                .await
            })
            .await
    }
}
