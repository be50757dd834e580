//! The video clip jobs' settings: how many run at once and with how many ffmpeg threads, the
//! limits an uploaded video must meet, what a clip is encoded as, and where the work happens.

use std::path::PathBuf;
use std::time::Duration;

use super::env::Env;
use crate::Error;

/// The x264 presets, fastest first (what `CLIP_PRESET` accepts).
pub const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

const MIB: u64 = 1024 * 1024;

/// Video uploads and the clip jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// `VIDEO_WORKERS` (default: one per core): video jobs run at once on this instance. 0
    /// runs none here (an API-only instance), and then ffmpeg need not be installed.
    pub workers: usize,
    /// `VIDEO_THREADS` (default: cores / `VIDEO_WORKERS`, at least 1): ffmpeg's `-threads`,
    /// so the jobs of one instance use about its cores and no more.
    pub threads: usize,
    /// `VIDEO_MAX_BYTES` (default 1 GiB): the largest video upload.
    pub max_bytes: u64,
    /// `VIDEO_MAX_DURATION` s (default 3600): the longest video accepted.
    pub max_duration: Duration,
    /// `VIDEO_MAX_DIMENSION` px (default 8192): the largest width or height accepted.
    pub max_dimension: u32,
    /// `VIDEO_JOB_TIMEOUT` ms (default 1800000): a clip job still running then is stopped
    /// and fails.
    pub job_timeout: Duration,
    /// `VIDEO_UPLOAD_TIMEOUT` ms (default 3600000): how long a video upload may take (the
    /// other routes have `REQUEST_TIMEOUT`).
    pub upload_timeout: Duration,
    /// `VIDEO_WORK_DIR` (default `<temp dir>/clip-video`): where jobs keep the source and
    /// their outputs while they work.
    pub work_dir: PathBuf,
    /// `CLIP_HEIGHT` px (default 720): the short side of the clips (never upscaled).
    pub clip_height: u32,
    /// `CLIP_CRF` (default 23): x264's constant rate factor, 0 (lossless) to 51.
    pub crf: u8,
    /// `CLIP_PRESET` (default `veryfast`): x264's speed/size trade-off.
    pub preset: String,
    /// `CLIP_AUDIO_BITRATE` kbit/s (default 128): AAC.
    pub audio_kbps: u32,
    /// `CLIP_MAX_COUNT` (default 20): the most clips one job may cut.
    pub max_clips: usize,
    /// `CLIP_MAX_SECONDS` (default 300): the longest clip.
    pub max_clip_seconds: f64,
    /// `CLIP_SCENE_THRESHOLD` (default 0.3): the scene score (0..1) above which ffmpeg's
    /// `select='gt(scene,T)'` sees a cut, for automatic clips.
    pub scene_threshold: f64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        let cores = cores();
        Self {
            workers: cores,
            threads: 1,
            max_bytes: 1024 * MIB,
            max_duration: Duration::from_secs(3600),
            max_dimension: 8192,
            job_timeout: Duration::from_secs(1800),
            upload_timeout: Duration::from_secs(3600),
            work_dir: std::env::temp_dir().join("clip-video"),
            clip_height: 720,
            crf: 23,
            preset: "veryfast".to_owned(),
            audio_kbps: 128,
            max_clips: 20,
            max_clip_seconds: 300.0,
            scene_threshold: 0.3,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl VideoConfig {
    /// Reads the variables through `env`; unset ones take their defaults.
    pub(super) fn read(env: &Env<'_>) -> Result<Self, Error> {
        let d = Self::default();
        let workers = env
            .number(
                "VIDEO_WORKERS",
                0usize,
                256,
                "a whole number between 0 and 256",
            )?
            .unwrap_or(d.workers);
        let threads = env
            .number(
                "VIDEO_THREADS",
                1usize,
                64,
                "a whole number between 1 and 64",
            )?
            .unwrap_or_else(|| (cores() / workers.max(1)).max(1));
        let seconds = |name: &str, default: Duration| -> Result<Duration, Error> {
            Ok(env
                .number(name, 1u64, 86_400, "seconds between 1 and 86400")?
                .map_or(default, Duration::from_secs))
        };
        Ok(Self {
            workers,
            threads,
            max_bytes: env
                .number(
                    "VIDEO_MAX_BYTES",
                    1024u64,
                    64 * 1024 * MIB,
                    "bytes between 1024 and 68719476736",
                )?
                .unwrap_or(d.max_bytes),
            max_duration: seconds("VIDEO_MAX_DURATION", d.max_duration)?,
            max_dimension: env
                .number(
                    "VIDEO_MAX_DIMENSION",
                    64u32,
                    16_384,
                    "pixels between 64 and 16384",
                )?
                .unwrap_or(d.max_dimension),
            job_timeout: env.millis("VIDEO_JOB_TIMEOUT")?.unwrap_or(d.job_timeout),
            upload_timeout: env
                .millis("VIDEO_UPLOAD_TIMEOUT")?
                .unwrap_or(d.upload_timeout),
            work_dir: env
                .get("VIDEO_WORK_DIR")
                .map_or(d.work_dir, |(_, dir)| PathBuf::from(dir)),
            clip_height: env
                .number("CLIP_HEIGHT", 64u32, 4320, "pixels between 64 and 4320")?
                .unwrap_or(d.clip_height),
            crf: env
                .number("CLIP_CRF", 0u8, 51, "a whole number between 0 and 51")?
                .unwrap_or(d.crf),
            preset: env
                .parsed(
                    "CLIP_PRESET",
                    "an x264 preset such as veryfast or medium",
                    |s| X264_PRESETS.contains(&s).then(|| s.to_owned()),
                )?
                .unwrap_or(d.preset),
            audio_kbps: env
                .number(
                    "CLIP_AUDIO_BITRATE",
                    16u32,
                    512,
                    "kbit/s between 16 and 512",
                )?
                .unwrap_or(d.audio_kbps),
            max_clips: env
                .number(
                    "CLIP_MAX_COUNT",
                    1usize,
                    100,
                    "a whole number between 1 and 100",
                )?
                .unwrap_or(d.max_clips),
            max_clip_seconds: env
                .parsed("CLIP_MAX_SECONDS", "seconds between 1 and 3600", |s| {
                    s.parse::<f64>().ok().filter(|v| (1.0..=3600.0).contains(v))
                })?
                .unwrap_or(d.max_clip_seconds),
            scene_threshold: env
                .parsed(
                    "CLIP_SCENE_THRESHOLD",
                    "a scene score between 0.01 and 1",
                    |s| s.parse::<f64>().ok().filter(|v| (0.01..=1.0).contains(v)),
                )?
                .unwrap_or(d.scene_threshold),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<VideoConfig, Error> {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        VideoConfig::read(&Env::new(&lookup))
    }

    #[test]
    fn threads_follow_the_workers_so_an_instance_uses_its_cores() {
        let c = read(&[("VIDEO_WORKERS", "1")]).expect("valid");
        assert_eq!(c.threads, cores());
        let c = read(&[("VIDEO_WORKERS", "0")]).expect("an API-only instance");
        assert_eq!((c.workers, c.threads), (0, cores()));
        let c = read(&[("VIDEO_WORKERS", "64")]).expect("valid");
        assert_eq!(c.threads, 1);
        let c = read(&[("VIDEO_WORKERS", "2"), ("VIDEO_THREADS", "3")]).expect("valid");
        assert_eq!(c.threads, 3);
    }

    #[test]
    fn defaults_cut_720p_clips_with_bounded_inputs() {
        let c = read(&[]).expect("valid");
        assert_eq!(c.clip_height, 720);
        assert_eq!(c.preset, "veryfast");
        assert_eq!(c.max_duration, Duration::from_secs(3600));
        assert_eq!(c.workers, cores());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("VIDEO_WORKERS", "-1"),
            ("VIDEO_THREADS", "0"),
            ("VIDEO_MAX_BYTES", "1GB"),
            ("VIDEO_MAX_DURATION", "0"),
            ("VIDEO_MAX_DIMENSION", "8"),
            ("CLIP_HEIGHT", "720p"),
            ("CLIP_CRF", "60"),
            ("CLIP_PRESET", "quick"),
            ("CLIP_MAX_SECONDS", "nan"),
            ("CLIP_SCENE_THRESHOLD", "2"),
            ("VIDEO_JOB_TIMEOUT", "soon"),
        ] {
            let error = read(&[(name, value)]).expect_err(name);
            assert!(error.to_string().contains(name), "{name}: {error}");
        }
    }
}
