//! The video clip job: the source copied from storage into a work directory, probed
//! (`probe`), the clips planned (explicit ranges, or placed on scene changes:
//! `scenes`), each cut by one ffmpeg run (`cut`) with progress from its `-progress`
//! output (`progress`), probed back, its poster optimized by clip-cdn into WebP and JPEG
//! renditions, everything stored, then recorded in one transaction.
//!
//! An attempt starts by deleting what earlier attempts of the job left (a worker killed
//! mid-job), so a retried job ends with its clips once. Cancellation and the wall-clock
//! limit stop an attempt from outside (`crate::jobs::dispatch`): the attempt's future is
//! dropped, which kills ffmpeg and removes the work directory, then [`discard`] deletes
//! what it had stored.

mod cut;
pub mod plan;
mod probe;
mod process;
mod progress;
mod scenes;
mod tools;
mod workdir;

use std::path::Path;

use bytes::Bytes;
use clip_cdn::image::{Format, ImageOptions};
use futures_util::future::OptionFuture;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

pub use plan::{ClipRequest, Range};
pub use probe::{MIN_DIMENSION, VideoInfo};
pub use tools::Tools;

use super::image::rendition_key;
use super::queue::{ClaimedJob, Queue};
use super::{JobContext, Outcome};
use crate::Error;
use crate::config::VideoConfig;
use crate::db::{NewClip, NewPoster, Probed, Rendition, Video};
use crate::storage::Storage;
use plan::Plan;
use progress::Progress;
use workdir::WorkDir;

/// The source's name in the work directory (no extension: ffprobe reads the bytes).
const SOURCE: &str = "source";
/// Poster renditions are made in these formats (at the `RENDITION_WIDTHS` that fit).
const POSTER_FORMATS: [Format; 2] = [Format::WebP, Format::Jpeg];
/// The share of the progress bar scene detection takes in an automatic job.
const DETECTION_SHARE: f32 = 20.0;
/// Where the progress bar stands when every clip is cut (storing comes after).
const CUT_DONE: f32 = 97.0;
/// Scene changes listed in a job's result, at most.
const SCENES_SHOWN: usize = 100;

/// What a video job's row carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// The video to cut.
    pub video_id: i64,
    /// Its project (the prefix of every stored output).
    pub project_id: i64,
    /// What the user asked for.
    pub request: ClipRequest,
}

/// The storage prefix of everything job `job` stores.
fn job_prefix(project_id: i64, video_id: i64, job: i64) -> String {
    format!("projects/{project_id}/videos/{video_id}/jobs/{job}/")
}

/// Checks ffmpeg and prepares the work directory (removing what killed jobs left there),
/// when this instance runs video jobs; `None` when it runs none (`VIDEO_WORKERS=0`).
pub async fn prepare(config: &VideoConfig) -> Result<Option<Tools>, Error> {
    if config.workers == 0 {
        return Ok(None);
    }
    let tools = Tools::check().await?;
    tokio::fs::create_dir_all(&config.work_dir)
        .await
        .map_err(|e| {
            Error::config(
                "VIDEO_WORK_DIR",
                Some(config.work_dir.display().to_string()),
                format!("cannot create the directory: {e}"),
            )
        })?;
    workdir::sweep(&config.work_dir).await;
    tracing::info!(version = %tools.version, workers = config.workers, threads = config.threads, "video jobs run here");
    Ok(Some(tools))
}

/// Deletes what the attempts of `job` stored and recorded.
pub async fn discard(ctx: &JobContext, job: &ClaimedJob) -> Result<(), Error> {
    let Ok(payload) = serde_json::from_value::<Payload>(job.payload.clone()) else {
        return Ok(()); // a payload that never parsed never stored anything
    };
    ctx.db.delete_job_clips(job.id).await?;
    ctx.storage
        .delete_prefix(&job_prefix(payload.project_id, payload.video_id, job.id))
        .await
}

/// Runs one attempt of a video job.
pub async fn run(ctx: &JobContext, queue: &Queue, job: &ClaimedJob) -> Outcome {
    let Some(tools) = &ctx.tools else {
        return Outcome::Transient("this instance has no ffmpeg (VIDEO_WORKERS=0)".into());
    };
    let payload: Payload = match serde_json::from_value(job.payload.clone()) {
        Ok(payload) => payload,
        Err(e) => return Outcome::Invalid(format!("the job's request is unreadable: {e}")),
    };
    let plan = match payload.request.check(&ctx.video) {
        Ok(plan) => plan,
        Err(why) => return Outcome::Invalid(why),
    };
    let video = match ctx.db.video(payload.video_id).await {
        Ok(Some(video)) => video,
        Ok(None) => return Outcome::Invalid(format!("video {} was deleted", payload.video_id)),
        Err(e) => return transient(e),
    };
    // Whatever an attempt killed mid-way left behind goes first.
    if let Err(e) = discard(ctx, job).await {
        return transient(e);
    }
    workdir::sweep(&ctx.video.work_dir).await;
    let dir = match WorkDir::create(&ctx.video.work_dir, job.id).await {
        Ok(dir) => dir,
        Err(e) => return transient(e),
    };
    let job_run = JobRun {
        ctx,
        tools,
        job,
        video: &video,
        dir: &dir,
        progress: Progress::start(queue.clone(), job.id),
        prefix: format!(
            "{}a{}/",
            job_prefix(video.project_id, video.id, job.id),
            job.attempt
        ),
    };
    match job_run.run(plan).await {
        Ok(outcome) => outcome,
        Err(e) => transient(e),
    }
}

/// One attempt at a job, with what it works on.
struct JobRun<'a> {
    ctx: &'a JobContext,
    tools: &'a Tools,
    job: &'a ClaimedJob,
    video: &'a Video,
    dir: &'a WorkDir,
    progress: Progress,
    /// Where this attempt stores its outputs.
    prefix: String,
}

/// A clip ffmpeg has cut, in the work directory.
struct Cut {
    seq: usize,
    range: Range,
    clip_file: String,
    poster_file: String,
}

/// A clip cut and stored, not yet recorded.
struct Made {
    clip: NewClip,
    info: VideoInfo,
}

impl JobRun<'_> {
    /// `Ok` with the outcome for the user; `Err` for a failure of ours (storage, database,
    /// ffmpeg not starting), worth another attempt.
    async fn run(&self, plan: Plan) -> Result<Outcome, Error> {
        let dir = self.dir.path();
        let size = match copy_source(
            &self.ctx.storage,
            &self.video.storage_key,
            &dir.join(SOURCE),
        )
        .await
        {
            Ok(size) => size,
            Err(Error::NotFound(_)) => {
                return Ok(Outcome::Invalid(
                    "the video's file is missing from storage".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        if size == 0 {
            return Ok(Outcome::Invalid("the video file is empty (0 bytes)".into()));
        }
        let info = match probe::probe(self.tools, dir, SOURCE, &self.ctx.video).await? {
            Ok(info) => info,
            Err(refused) => return Ok(Outcome::Invalid(refused.0)),
        };
        self.ctx
            .db
            .save_probe(
                self.video.id,
                &Probed {
                    duration: info.duration,
                    width: info.width,
                    height: info.height,
                    video_codec: info.video_codec.clone(),
                    audio_codec: info.audio_codec.clone(),
                },
            )
            .await?;

        let mut scenes = None;
        let (ranges, cut_from) = match plan {
            Plan::Explicit(ranges) => match plan::fit(&ranges, info.duration, info.frame()) {
                Ok(ranges) => (ranges, 0.0),
                Err(why) => return Ok(Outcome::Invalid(why)),
            },
            Plan::Auto {
                count,
                seconds,
                threshold,
            } => {
                let stage = self.progress.stage(0.0, DETECTION_SHARE);
                let cuts = match scenes::detect(
                    self.tools,
                    dir,
                    SOURCE,
                    threshold,
                    self.ctx.video.threads,
                    info.duration,
                    stage,
                )
                .await?
                {
                    Ok(cuts) => cuts,
                    Err(why) => return Ok(Outcome::Invalid(why)),
                };
                let ranges = scenes::place(&cuts, info.duration, count, seconds);
                scenes = Some(cuts);
                (ranges, DETECTION_SHARE)
            }
        };

        // Each clip is finished (probed back, its poster made, both stored) while ffmpeg
        // cuts the next one: the waits of storage and of the probe hide behind the encode.
        let total: f64 = ranges.iter().map(Range::length).sum();
        let mut done = 0.0;
        let mut made = Vec::with_capacity(ranges.len());
        let mut finishing = None;
        for (i, range) in ranges.iter().enumerate() {
            let seq = i + 1;
            let share = (CUT_DONE - cut_from) * (range.length() / total) as f32;
            let from = cut_from + (CUT_DONE - cut_from) * (done / total) as f32;
            let cut = self.cut(seq, *range, &info, self.progress.stage(from, share));
            let (cut, finished) = tokio::join!(cut, OptionFuture::from(finishing.take()));
            if let Some(finished) = finished {
                match finished? {
                    Ok(clip) => made.push(clip),
                    Err(why) => return Ok(Outcome::Invalid(why)),
                }
            }
            match cut? {
                Ok(cut) => finishing = Some(self.finish(cut)),
                Err(why) => return Ok(Outcome::Invalid(why)),
            }
            done += range.length();
        }
        if let Some(last) = finishing {
            match last.await? {
                Ok(clip) => made.push(clip),
                Err(why) => return Ok(Outcome::Invalid(why)),
            }
        }

        let clips: Vec<&NewClip> = made.iter().map(|m| &m.clip).collect();
        let ids = self
            .ctx
            .db
            .save_clips(self.job.id, self.video, &clips)
            .await?;
        Ok(Outcome::Succeeded(self.result(
            &made,
            &ids,
            scenes.as_deref(),
        )))
    }

    /// Cuts clip `seq` of `range` into the work directory.
    async fn cut(
        &self,
        seq: usize,
        range: Range,
        source: &VideoInfo,
        stage: progress::Stage<'_>,
    ) -> Result<Result<Cut, String>, Error> {
        let (clip_file, poster_file) = (format!("clip-{seq}.mp4"), format!("poster-{seq}.jpg"));
        let size = cut::clip_size(source.width, source.height, self.ctx.video.clip_height);
        let args = cut::arguments(
            SOURCE,
            range,
            size,
            &self.ctx.video,
            &clip_file,
            &poster_file,
        );
        let dir = self.dir.path();
        if let Err(message) = cut::run(self.tools, dir, &args, range.length(), stage).await? {
            let during = format!(
                "ffmpeg could not cut clip {seq} ({:.2} s to {:.2} s): {message}",
                range.start, range.end
            );
            return match ours(&message) {
                true => Err(Error::Ffmpeg(during)),
                false => Ok(Err(during)),
            };
        }
        // The cut is done; what follows for this clip is quick.
        stage.done(1.0);
        Ok(Ok(Cut {
            seq,
            range,
            clip_file,
            poster_file,
        }))
    }

    /// Probes a cut clip back, makes its poster renditions and stores it all.
    async fn finish(&self, cut: Cut) -> Result<Result<Made, String>, Error> {
        let Cut {
            seq,
            range,
            clip_file,
            poster_file,
        } = cut;
        let dir = self.dir.path();
        let info = match probe::header(self.tools, dir, &clip_file, &self.ctx.video).await? {
            Ok(info) => info,
            Err(refused) => {
                return Ok(Err(format!(
                    "clip {seq} ({:.2} s to {:.2} s) came out unplayable ({}): the video is \
                     unreadable there",
                    range.start, range.end, refused.0
                )));
            }
        };
        let poster = match tokio::fs::read(dir.join(&poster_file)).await {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => {
                return Ok(Err(format!(
                    "clip {seq} ({:.2} s to {:.2} s) has no picture to make a poster from",
                    range.start, range.end
                )));
            }
        };
        let base = format!("{}clip-{seq}/", self.prefix);
        let clip_key = format!("{base}clip.mp4");
        let clip_path = dir.join(&clip_file);
        let (stored, poster) = tokio::join!(
            store_file(&self.ctx.storage, &clip_key, &clip_path),
            self.poster(&base, poster, info.width),
        );
        let (stored, poster) = match (stored?, poster?) {
            (stored, Ok(poster)) => (stored, poster),
            (_, Err(why)) => return Ok(Err(format!("the poster of clip {seq}: {why}"))),
        };
        let clip = NewClip {
            seq: i32::try_from(seq).unwrap_or(i32::MAX),
            start: range.start,
            end: range.end,
            duration: info.duration,
            width: i32::try_from(info.width).unwrap_or(i32::MAX),
            height: i32::try_from(info.height).unwrap_or(i32::MAX),
            size: i64::try_from(stored.size).unwrap_or(i64::MAX),
            sha256: stored.sha256,
            storage_key: clip_key,
            poster,
        };
        Ok(Ok(Made { clip, info }))
    }

    /// Stores the poster frame and its renditions by clip-cdn's optimizer: WebP and JPEG at
    /// each `RENDITION_WIDTHS` the frame covers (the smallest one at least).
    async fn poster(
        &self,
        base: &str,
        original: Bytes,
        width: u32,
    ) -> Result<Result<NewPoster, String>, Error> {
        let original_key = format!("{base}poster/original");
        let stored = self
            .ctx
            .storage
            .put_bytes(&original_key, original.clone())
            .await?;
        let mut widths: Vec<u32> = self.ctx.images.rendition_widths.clone();
        widths.sort_unstable();
        let smallest = widths.first().copied();
        widths.retain(|w| *w <= width);
        if widths.is_empty() {
            widths.extend(smallest);
        }
        let mut renditions = Vec::with_capacity(widths.len() * POSTER_FORMATS.len());
        for format in POSTER_FORMATS {
            for &w in &widths {
                let options = ImageOptions {
                    width: Some(w),
                    format,
                    ..ImageOptions::default()
                };
                let out = match self.ctx.optimizer.optimize(original.clone(), options).await {
                    Ok(out) => out,
                    Err(e @ clip_cdn::Error::WorkerStopped(_)) => return Err(Error::Cdn(e)),
                    Err(e) => return Ok(Err(e.to_string())),
                };
                let key = rendition_key(&original_key, w, format);
                let rendition = self.ctx.storage.put_bytes(&key, out.bytes.into()).await?;
                renditions.push(Rendition {
                    width: i32::try_from(w).unwrap_or(i32::MAX),
                    height: i32::try_from(out.height).unwrap_or(i32::MAX),
                    format: format.extension().to_owned(),
                    size: i64::try_from(rendition.size).unwrap_or(i64::MAX),
                    sha256: rendition.sha256,
                    storage_key: key,
                });
            }
        }
        Ok(Ok(NewPoster {
            size: i64::try_from(stored.size).unwrap_or(i64::MAX),
            sha256: stored.sha256,
            storage_key: original_key,
            renditions,
        }))
    }

    /// The job's result: the clips with their URLs and posters.
    fn result(
        &self,
        made: &[Made],
        ids: &[(i64, i64)],
        scenes: Option<&[scenes::Cut]>,
    ) -> serde_json::Value {
        let clips: Vec<serde_json::Value> = made
            .iter()
            .zip(ids)
            .map(|(m, (id, poster))| {
                let c = &m.clip;
                json!({
                    "id": id,
                    "seq": c.seq,
                    "start": c.start,
                    "end": c.end,
                    "duration": c.duration,
                    "width": c.width,
                    "height": c.height,
                    "frame_rate": m.info.frame_rate,
                    "size": c.size,
                    "url": format!("/media/clips/{id}"),
                    "poster": {
                        "asset_id": poster,
                        "image_path": format!("/img/{poster}/{}", c.poster.sha256),
                        "renditions": c.poster.renditions.iter().map(|r| json!({
                            "width": r.width, "height": r.height, "format": r.format, "size": r.size,
                        })).collect::<Vec<_>>(),
                    },
                })
            })
            .collect();
        let mut result = json!({
            "video_id": self.video.id,
            "video_url": format!("/api/videos/{}", self.video.id),
            "clips": clips,
        });
        if let Some(cuts) = scenes {
            result["scene_changes"] = cuts
                .iter()
                .take(SCENES_SHOWN)
                .map(|c| json!({ "at": c.at, "score": c.score }))
                .collect();
        }
        result
    }
}

/// Whether an ffmpeg failure is this machine's (disk, memory), not the input's.
fn ours(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "no space left",
        "cannot allocate memory",
        "too many open files",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// Copies the stored file `key` into `path`, chunk by chunk; its size.
async fn copy_source(storage: &Storage, key: &str, path: &Path) -> Result<u64, Error> {
    let stored = storage.open(key).await?;
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(Error::io("creating the job's copy of the video"))?;
    if stored.size > 0 {
        let mut chunks = storage.read(&stored, 0..=stored.size - 1).await?;
        while let Some(chunk) = chunks.try_next().await? {
            out.write_all(&chunk)
                .await
                .map_err(Error::io("writing the job's copy of the video"))?;
        }
    }
    out.flush()
        .await
        .map_err(Error::io("writing the job's copy of the video"))?;
    Ok(stored.size)
}

/// Stores the file at `path` under `key`, streamed.
async fn store_file(
    storage: &Storage,
    key: &str,
    path: &Path,
) -> Result<crate::storage::Stored, Error> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(Error::io("reading a clip the job made"))?;
    let size = file
        .metadata()
        .await
        .map_err(Error::io("reading a clip the job made"))?
        .len();
    let body = tokio_util::io::ReaderStream::new(file)
        .map_err(|e| Error::io("reading a clip the job made")(e))
        .boxed();
    storage.put(key, body, size).await
}

/// A failure of ours: worth another attempt. The cause goes to the log; users read the
/// job's text, so it names the part that failed, nothing internal.
fn transient(e: Error) -> Outcome {
    tracing::warn!(error = %e, "video job attempt failed");
    Outcome::Transient(
        match e {
            Error::Unavailable(_) => "the database was unavailable",
            Error::Storage(_) | Error::NotFound(_) => "storage failed",
            Error::Io { .. } => "the work directory failed",
            Error::Ffmpeg(_) => "ffmpeg failed on this server",
            Error::Cdn(_) => "the image optimizer was stopping",
            _ => "internal error (the server log has the details)",
        }
        .to_owned(),
    )
}
