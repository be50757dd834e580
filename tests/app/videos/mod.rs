//! Video clip jobs end to end, with real ffmpeg on videos the tests make with ffmpeg's
//! `lavfi` sources (test patterns with scene cuts, a sine tone), small and a few seconds
//! long: clips cut to the frame and served with byte ranges, bad inputs refused with clear
//! messages, cancellation and a killed instance, the project page playing a clip.

pub mod clips;
pub mod failures;
pub mod page;
pub mod recovery;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clip_pool::postgres::PgPool;
use serde_json::Value;

use crate::ensure;
use crate::support::{TestResult, client, eventually};

/// Frames per second of the test videos.
pub const FPS: f64 = 25.0;

/// A directory of test media made by ffmpeg.
pub struct Media {
    dir: tempfile::TempDir,
}

impl Media {
    pub fn new() -> TestResult<Media> {
        Ok(Media {
            dir: tempfile::tempdir()?,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `ffmpeg -y <args> <output>` in the directory; the output's bytes.
    pub async fn ffmpeg(&self, args: &[&str], output: &str) -> TestResult<Vec<u8>> {
        let result = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(output)
            .current_dir(self.dir.path())
            .output()
            .await?;
        ensure!(
            result.status.success(),
            "ffmpeg {args:?} {output}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        Ok(std::fs::read(self.path(output))?)
    }

    /// Three scenes of `scene` seconds (a test pattern, colour bars, the pattern in other
    /// colours: cuts at `scene` and `2 * scene`) with a 440 Hz tone, H.264/AAC in MP4.
    pub async fn scenes(
        &self,
        name: &str,
        (width, height): (u32, u32),
        scene: f64,
        extra: &[&str],
    ) -> TestResult<Vec<u8>> {
        let size = format!("size={width}x{height}:rate={FPS}:duration={scene}");
        let a = format!("testsrc2={size}");
        let b = format!("smptebars={size}");
        let c = format!("testsrc2={size},hue=h=180:s=2");
        let tone = format!(
            "sine=frequency=440:sample_rate=48000:duration={}",
            3.0 * scene
        );
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            &a,
            "-f",
            "lavfi",
            "-i",
            &b,
            "-f",
            "lavfi",
            "-i",
            &c,
            "-f",
            "lavfi",
            "-i",
            &tone,
            "-filter_complex",
            "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]",
            "-map",
            "[v]",
            "-map",
            "3:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ];
        args.extend_from_slice(extra);
        self.ffmpeg(&args, name).await
    }

    /// What ffprobe says of the file `name`.
    pub async fn probe(&self, name: &str) -> TestResult<Value> {
        let result = tokio::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-of",
                "json",
                "-show_format",
                "-show_streams",
                name,
            ])
            .current_dir(self.dir.path())
            .output()
            .await?;
        ensure!(
            result.status.success(),
            "ffprobe {name}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        Ok(serde_json::from_slice(&result.stdout)?)
    }

    /// Decodes every frame of `name`: whatever ffmpeg complains about.
    pub async fn decode_errors(&self, name: &str) -> TestResult<String> {
        let result = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i", name, "-f", "null", "-"])
            .current_dir(self.dir.path())
            .output()
            .await?;
        let mut errors = String::from_utf8_lossy(&result.stderr).into_owned();
        if !result.status.success() {
            errors.push_str(&format!(" (exit {})", result.status));
        }
        Ok(errors)
    }
}

/// A number in ffprobe's JSON (they come as strings).
pub fn number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// Uploads `bytes` as a video of `project`; the answer's status and JSON.
pub async fn upload_video(
    app_url: &str,
    project: i64,
    name: &str,
    bytes: Vec<u8>,
) -> TestResult<(u16, Value)> {
    let response = client()
        .post(format!(
            "{app_url}/api/projects/{project}/videos?filename={name}"
        ))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Uploads a video that must be accepted; its id.
pub async fn uploaded_video(
    app_url: &str,
    project: i64,
    name: &str,
    bytes: Vec<u8>,
) -> TestResult<i64> {
    let (status, body) = upload_video(app_url, project, name, bytes).await?;
    ensure!(status == 201, "upload {name}: {status} {body}");
    body["video"]["id"]
        .as_i64()
        .ok_or_else(|| "no video id".into())
}

/// Asks for clips of `video`; the job's id.
pub async fn request_clips(app_url: &str, video: i64, request: Value) -> TestResult<i64> {
    let response = client()
        .post(format!("{app_url}/api/videos/{video}/clips"))
        .json(&request)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(status == 202, "clip request {request}: {status} {body}");
    body["job"]["id"].as_i64().ok_or_else(|| "no job id".into())
}

/// The job as `GET /api/jobs/{id}` shows it.
pub async fn job(app_url: &str, job: i64) -> Option<Value> {
    client()
        .get(format!("{app_url}/api/jobs/{job}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Waits for the job to end (cancelled counts); its JSON.
pub async fn ended(app_url: &str, id: i64, limit: Duration) -> TestResult<Value> {
    eventually(&format!("job {id} to end"), limit, || async move {
        let job = job(app_url, id).await?;
        matches!(
            job["state"].as_str(),
            Some("succeeded" | "failed" | "dead" | "cancelled")
        )
        .then_some(job)
    })
    .await
}

/// A connection to the test database, to look into its storage.
pub async fn database(database_url: &str) -> TestResult<PgPool> {
    Ok(clip_pool::postgres::connect(
        database_url,
        clip_pool::PoolConfig {
            min_connections: 1,
            pool_size: 1,
            max_connections: 1,
            ..clip_pool::PoolConfig::default()
        },
    )
    .await?)
}

/// The storage keys (PostgreSQL storage) starting with `prefix`.
pub async fn stored_keys(db: &PgPool, prefix: &str) -> TestResult<Vec<String>> {
    let pattern = format!("{prefix}%");
    let rows = db
        .execute(async |c| {
            c.query(
                "SELECT key FROM blobs WHERE key LIKE $1 ORDER BY key",
                &[&pattern],
            )
            .await
        })
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The ffmpeg and ffprobe processes working in a directory under `root` (their current
/// directory: the jobs run them there).
pub fn ffmpeg_under(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
            comm.trim().starts_with("ff") && cwd.starts_with(root)
        })
        .collect()
}

/// The job directories left under `root`.
pub fn work_dirs(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.starts_with("job-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of a counter or gauge series in Prometheus text (`name{labels}` exactly).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
}
