//! Videos and the clips cut from them. A clip's poster is an asset of role `poster` (so
//! `/img` serves it like any image) with its renditions; a job's clips, posters and
//! renditions are recorded together in one transaction when the job succeeds, and deleted
//! together by job when an attempt is retried or cancelled.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::{Db, Rendition};
use crate::Error;

/// An uploaded video.
#[derive(Debug, Clone, Serialize)]
pub struct Video {
    /// Its id.
    pub id: i64,
    /// The project it belongs to.
    pub project_id: i64,
    /// The name it was uploaded with.
    pub filename: String,
    /// The media type its first bytes show (or the client declared).
    pub content_type: Option<String>,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Where it is stored.
    #[serde(skip)]
    pub storage_key: String,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Seconds, once a job has probed it.
    pub duration_seconds: Option<f64>,
    /// Displayed width in pixels, once probed.
    pub width: Option<i32>,
    /// Displayed height in pixels, once probed.
    pub height: Option<i32>,
    /// The video codec (`h264`, `vp9`, ...), once probed.
    pub video_codec: Option<String>,
    /// The audio codec, once probed (none for a silent video).
    pub audio_codec: Option<String>,
}

/// What an upload records.
#[derive(Debug)]
pub struct NewVideo<'a> {
    /// The project.
    pub project_id: i64,
    /// The uploaded name.
    pub filename: &'a str,
    /// Its media type.
    pub content_type: Option<&'a str>,
    /// Bytes stored.
    pub size: i64,
    /// SHA-256 of the bytes.
    pub sha256: &'a str,
    /// Where they are stored.
    pub storage_key: &'a str,
}

/// What ffprobe found in a video.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Seconds.
    pub duration: f64,
    /// Displayed width.
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// Video codec.
    pub video_codec: String,
    /// Audio codec, if it has sound.
    pub audio_codec: Option<String>,
}

/// A video as the project page shows it: with the state of its newest clip job.
#[derive(Debug, Clone)]
pub struct VideoCard {
    /// The video.
    pub video: Video,
    /// Its newest clip job: state, progress (percent) and last error.
    pub job: Option<(String, f32, Option<String>)>,
}

/// A clip as the API and the pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Clip {
    /// Its id.
    pub id: i64,
    /// The video it was cut from.
    pub video_id: i64,
    /// The job that cut it.
    pub job_id: i64,
    /// Its place among the job's clips, from 1.
    pub seq: i32,
    /// Where it starts in the video, seconds.
    pub start_seconds: f64,
    /// Where it ends in the video, seconds.
    pub end_seconds: f64,
    /// Its duration as probed back from the file.
    pub duration_seconds: f64,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Bytes of the MP4.
    pub size: i64,
    /// SHA-256 of the MP4 (its strong ETag).
    pub sha256: String,
    /// Where the MP4 is stored.
    #[serde(skip)]
    pub storage_key: String,
    /// The poster frame: an image asset (`/img/{id}/{sha256}`).
    pub poster: Option<Poster>,
}

/// A clip's poster frame.
#[derive(Debug, Clone, Serialize)]
pub struct Poster {
    /// Its asset id.
    pub asset_id: i64,
    /// SHA-256 of the poster original: the version in its `/img` URL.
    pub sha256: String,
}

/// A clip a job made, with its poster, to record.
#[derive(Debug)]
pub struct NewClip {
    /// Its place among the job's clips, from 1.
    pub seq: i32,
    /// Start in the video, seconds.
    pub start: f64,
    /// End in the video, seconds.
    pub end: f64,
    /// Duration probed back.
    pub duration: f64,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
    /// Bytes.
    pub size: i64,
    /// SHA-256.
    pub sha256: String,
    /// Where it is stored.
    pub storage_key: String,
    /// The poster original (a JPEG frame).
    pub poster: NewPoster,
}

/// A poster frame and its renditions, stored.
#[derive(Debug)]
pub struct NewPoster {
    /// Bytes of the original.
    pub size: i64,
    /// SHA-256 of the original.
    pub sha256: String,
    /// Where the original is stored.
    pub storage_key: String,
    /// Its renditions (WebP and JPEG at the rendition widths).
    pub renditions: Vec<Rendition>,
}

const VIDEO_COLUMNS: &str = "v.id, v.project_id, v.filename, v.content_type, v.size, v.sha256, \
    v.storage_key, v.created_at, v.duration_seconds, v.width, v.height, v.video_codec, \
    v.audio_codec";

const CLIP_COLUMNS: &str = "c.id, c.video_id, c.job_id, c.seq, c.start_seconds, c.end_seconds, \
    c.duration_seconds, c.width, c.height, c.size, c.sha256, c.storage_key, \
    a.id, a.sha256";

impl From<&Row> for Video {
    fn from(row: &Row) -> Self {
        Video {
            id: row.get(0),
            project_id: row.get(1),
            filename: row.get(2),
            content_type: row.get(3),
            size: row.get(4),
            sha256: row.get(5),
            storage_key: row.get(6),
            created_at: row.get(7),
            duration_seconds: row.get(8),
            width: row.get(9),
            height: row.get(10),
            video_codec: row.get(11),
            audio_codec: row.get(12),
        }
    }
}

impl From<&Row> for Clip {
    fn from(row: &Row) -> Self {
        Clip {
            id: row.get(0),
            video_id: row.get(1),
            job_id: row.get(2),
            seq: row.get(3),
            start_seconds: row.get(4),
            end_seconds: row.get(5),
            duration_seconds: row.get(6),
            width: row.get(7),
            height: row.get(8),
            size: row.get(9),
            sha256: row.get(10),
            storage_key: row.get(11),
            poster: row.get::<_, Option<i64>>(12).map(|asset_id| Poster {
                asset_id,
                sha256: row.get(13),
            }),
        }
    }
}

impl Db {
    /// Records an uploaded video.
    pub async fn create_video(&self, new: &NewVideo<'_>) -> Result<Video, Error> {
        let sql = format!(
            "INSERT INTO videos AS v (project_id, filename, content_type, size, sha256, storage_key)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {VIDEO_COLUMNS}"
        );
        let row = self
            .write(async |c| {
                c.query_one(
                    &sql,
                    &[
                        &new.project_id,
                        &new.filename,
                        &new.content_type,
                        &new.size,
                        &new.sha256,
                        &new.storage_key,
                    ],
                )
                .await
            })
            .await?;
        Ok(Video::from(&row))
    }

    /// The video, if it exists.
    pub async fn video(&self, id: i64) -> Result<Option<Video>, Error> {
        let sql = format!("SELECT {VIDEO_COLUMNS} FROM videos v WHERE v.id = $1");
        let row = self.read(async |c| c.query_opt(&sql, &[&id]).await).await?;
        Ok(row.as_ref().map(Video::from))
    }

    /// The project's videos, newest first (at most `limit`).
    pub async fn project_videos(&self, project_id: i64, limit: i64) -> Result<Vec<Video>, Error> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos v WHERE v.project_id = $1 ORDER BY v.id DESC LIMIT $2"
        );
        let rows = self
            .read(async |c| c.query(&sql, &[&project_id, &limit]).await)
            .await?;
        Ok(rows.iter().map(Video::from).collect())
    }

    /// The project's newest `limit` videos, each with its newest clip job.
    pub async fn video_cards(&self, project_id: i64, limit: i64) -> Result<Vec<VideoCard>, Error> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS}, j.state, j.progress, j.last_error FROM videos v
             LEFT JOIN LATERAL (SELECT state, progress, last_error FROM jobs
                                WHERE jobs.project_id = v.project_id AND jobs.kind = 'video'
                                  AND jobs.payload @> jsonb_build_object('video_id', v.id)
                                ORDER BY jobs.id DESC LIMIT 1) j ON true
             WHERE v.project_id = $1 ORDER BY v.id DESC LIMIT $2"
        );
        let rows = self
            .read(async |c| c.query(&sql, &[&project_id, &limit]).await)
            .await?;
        Ok(rows
            .iter()
            .map(|row| VideoCard {
                video: Video::from(row),
                job: row
                    .get::<_, Option<String>>(13)
                    .map(|state| (state, row.get(14), row.get(15))),
            })
            .collect())
    }

    /// Records what ffprobe found.
    pub async fn save_probe(&self, video_id: i64, probed: &Probed) -> Result<(), Error> {
        let width = i32::try_from(probed.width).unwrap_or(i32::MAX);
        let height = i32::try_from(probed.height).unwrap_or(i32::MAX);
        self.write(async |c| {
            c.execute(
                "UPDATE videos SET duration_seconds = $2, width = $3, height = $4,
                    video_codec = $5, audio_codec = $6 WHERE id = $1",
                &[
                    &video_id,
                    &probed.duration,
                    &width,
                    &height,
                    &probed.video_codec,
                    &probed.audio_codec,
                ],
            )
            .await
        })
        .await?;
        Ok(())
    }

    /// The clip, if it exists.
    pub async fn clip(&self, id: i64) -> Result<Option<Clip>, Error> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips c LEFT JOIN assets a ON a.id = c.poster_asset_id
             WHERE c.id = $1"
        );
        let row = self.read(async |c| c.query_opt(&sql, &[&id]).await).await?;
        Ok(row.as_ref().map(Clip::from))
    }

    /// The clips of the video, in the order their jobs cut them.
    pub async fn video_clips(&self, video_id: i64) -> Result<Vec<Clip>, Error> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips c LEFT JOIN assets a ON a.id = c.poster_asset_id
             WHERE c.video_id = $1 ORDER BY c.job_id, c.seq"
        );
        let rows = self
            .read(async |c| c.query(&sql, &[&video_id]).await)
            .await?;
        Ok(rows.iter().map(Clip::from).collect())
    }

    /// The newest `limit` clips of the project's videos, newest job first, in cut order.
    pub async fn project_clips(&self, project_id: i64, limit: i64) -> Result<Vec<Clip>, Error> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips c JOIN videos v ON v.id = c.video_id
             LEFT JOIN assets a ON a.id = c.poster_asset_id
             WHERE v.project_id = $1 ORDER BY c.job_id DESC, c.seq LIMIT $2"
        );
        let rows = self
            .read(async |c| c.query(&sql, &[&project_id, &limit]).await)
            .await?;
        Ok(rows.iter().map(Clip::from).collect())
    }

    /// Records the clips a job made, their posters (assets of role `poster`) and the
    /// posters' renditions, all or nothing. Returns each clip's id and its poster's asset id,
    /// in order.
    pub async fn save_clips(
        &self,
        job_id: i64,
        video: &Video,
        clips: &[&NewClip],
    ) -> Result<Vec<(i64, i64)>, Error> {
        self.write(async |c| {
            let tx = c.transaction().await?;
            let mut ids = Vec::with_capacity(clips.len());
            for clip in clips {
                let poster = &clip.poster;
                let filename = format!("{} clip {} poster.jpg", video.filename, clip.seq);
                let asset_id: i64 = tx
                    .query_one(
                        "INSERT INTO assets (project_id, filename, content_type, size, sha256,
                            storage_key, role)
                         VALUES ($1, $2, 'image/jpeg', $3, $4, $5, 'poster') RETURNING id",
                        &[
                            &video.project_id,
                            &filename,
                            &poster.size,
                            &poster.sha256,
                            &poster.storage_key,
                        ],
                    )
                    .await?
                    .get(0);
                for r in &poster.renditions {
                    tx.execute(
                        "INSERT INTO renditions (asset_id, width, height, format, size, sha256,
                            storage_key) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                    .await?;
                }
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO clips (video_id, job_id, seq, start_seconds, end_seconds,
                            duration_seconds, width, height, size, sha256, storage_key,
                            poster_asset_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                        &[
                            &video.id,
                            &job_id,
                            &clip.seq,
                            &clip.start,
                            &clip.end,
                            &clip.duration,
                            &clip.width,
                            &clip.height,
                            &clip.size,
                            &clip.sha256,
                            &clip.storage_key,
                            &asset_id,
                        ],
                    )
                    .await?
                    .get(0);
                ids.push((id, asset_id));
            }
            tx.commit().await?;
            Ok(ids)
        })
        .await
    }

    /// Deletes the clips of a job and their posters (an attempt starting over, or a
    /// cancelled job); returns how many clips went.
    pub async fn delete_job_clips(&self, job_id: i64) -> Result<u64, Error> {
        self.write(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "DELETE FROM assets WHERE id IN
                    (SELECT poster_asset_id FROM clips WHERE job_id = $1)",
                &[&job_id],
            )
            .await?;
            let n = tx
                .execute("DELETE FROM clips WHERE job_id = $1", &[&job_id])
                .await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}
