//! Assets (uploaded images) and their renditions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::Db;
use crate::Error;

/// An uploaded image.
#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    /// Its id.
    pub id: i64,
    /// The project it belongs to.
    pub project_id: i64,
    /// The name it was uploaded with.
    pub filename: String,
    /// The `Content-Type` it was uploaded with.
    pub content_type: Option<String>,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex: the version in its URLs.
    pub sha256: String,
    /// Where the original is stored.
    #[serde(skip)]
    pub storage_key: String,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The renditions rendered so far.
    pub renditions: Vec<Rendition>,
}

/// A rendered size and format of an asset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rendition {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// `webp`, `jpg` or `png`.
    pub format: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex: its strong ETag.
    pub sha256: String,
    /// Where it is stored.
    #[serde(skip_serializing)]
    pub storage_key: String,
}

/// What an upload records.
#[derive(Debug)]
pub struct NewAsset<'a> {
    /// The project.
    pub project_id: i64,
    /// The uploaded name.
    pub filename: &'a str,
    /// The uploaded `Content-Type`.
    pub content_type: Option<&'a str>,
    /// Bytes stored.
    pub size: i64,
    /// SHA-256 of the bytes.
    pub sha256: &'a str,
    /// Where they are stored.
    pub storage_key: &'a str,
}

const ASSET_COLUMNS: &str = "a.id, a.project_id, a.filename, a.content_type, a.size, a.sha256, a.storage_key, a.created_at, \
     coalesce((SELECT json_agg(json_build_object('width', r.width, 'height', r.height, \
     'format', r.format, 'size', r.size, 'sha256', r.sha256, 'storage_key', r.storage_key) \
     ORDER BY r.format, r.width) FROM renditions r WHERE r.asset_id = a.id), '[]')";

impl TryFrom<&Row> for Asset {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self, Error> {
        let renditions: serde_json::Value = row.get(8);
        Ok(Asset {
            id: row.get(0),
            project_id: row.get(1),
            filename: row.get(2),
            content_type: row.get(3),
            size: row.get(4),
            sha256: row.get(5),
            storage_key: row.get(6),
            created_at: row.get(7),
            renditions: serde_json::from_value(renditions)
                .map_err(|e| Error::Storage(format!("renditions of an asset: {e}")))?,
        })
    }
}

impl Db {
    /// Records an upload and queues its job in one statement, so neither exists without
    /// the other. `kind` and `max_attempts` fill the queue's row (see `crate::jobs::queue`).
    /// Returns the asset and the job's id.
    pub async fn create_asset_with_job(
        &self,
        new: &NewAsset<'_>,
        kind: &str,
        max_attempts: i32,
    ) -> Result<(Asset, i64), Error> {
        let row = self
            .write(async |c| {
                c.query_one(
                    "WITH a AS (
                        INSERT INTO assets (project_id, filename, content_type, size, sha256, storage_key)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        RETURNING id, project_id, filename, content_type, size, sha256, storage_key, created_at),
                     j AS (
                        INSERT INTO jobs (kind, project_id, payload, max_attempts)
                        SELECT $7, a.project_id, jsonb_build_object('asset_id', a.id), $8 FROM a
                        RETURNING id)
                     SELECT a.id, a.project_id, a.filename, a.content_type, a.size, a.sha256,
                            a.storage_key, a.created_at, '[]'::json, j.id FROM a, j",
                    &[
                        &new.project_id,
                        &new.filename,
                        &new.content_type,
                        &new.size,
                        &new.sha256,
                        &new.storage_key,
                        &kind,
                        &max_attempts,
                    ],
                )
                .await
            })
            .await?;
        Ok((Asset::try_from(&row)?, row.get(9)))
    }

    /// The asset with its renditions.
    pub async fn asset(&self, id: i64) -> Result<Option<Asset>, Error> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets a WHERE a.id = $1");
        let row = self.read(async |c| c.query_opt(&sql, &[&id]).await).await?;
        row.as_ref().map(Asset::try_from).transpose()
    }

    /// The project's uploaded images, newest first (at most `limit`); clip posters aside.
    pub async fn project_assets(&self, project_id: i64, limit: i64) -> Result<Vec<Asset>, Error> {
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets a WHERE a.project_id = $1 AND a.role = 'image'
             ORDER BY a.id DESC LIMIT $2"
        );
        let rows = self
            .read(async |c| c.query(&sql, &[&project_id, &limit]).await)
            .await?;
        rows.iter().map(Asset::try_from).collect()
    }

    /// Records (or replaces) a rendition of an asset.
    pub async fn save_rendition(&self, asset_id: i64, r: &Rendition) -> Result<(), Error> {
        self.write(async |c| {
            c.execute(
                "INSERT INTO renditions (asset_id, width, height, format, size, sha256, storage_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (asset_id, width, format) DO UPDATE SET height = EXCLUDED.height,
                    size = EXCLUDED.size, sha256 = EXCLUDED.sha256, storage_key = EXCLUDED.storage_key",
                &[
                    &asset_id,
                    &r.width,
                    &r.height,
                    &r.format,
                    &r.size,
                    &r.sha256,
                    &r.storage_key,
                ],
            )
            .await
        })
        .await?;
        Ok(())
    }
}
