//! Every input is probed before any decoding: `ffprobe -of json -show_format -show_streams`
//! says what the file is, then a look at the packets of its last seconds (demuxing only)
//! says whether it is all there. A file that is not a video, has no video stream, is
//! corrupt, truncated, too long, too large or of an absurd size is refused here with a
//! sentence its uploader understands.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::process;
use super::tools::Tools;
use crate::Error;
use crate::config::VideoConfig;

/// The largest ffprobe JSON read (thousands of streams would be an attack, not a video).
const MAX_PROBE_JSON: usize = 4 << 20;
/// How long ffprobe may take over a file's header.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// The containers accepted, as ffprobe names them, and as users know them.
const CONTAINERS: &[&str] = &["mov", "mp4", "matroska", "webm"];
/// The smallest width or height a video may have.
pub const MIN_DIMENSION: u32 = 16;
/// How much shorter than it says a file may end before it counts as truncated.
const TRUNCATION_SLACK: f64 = 1.0;
/// The seconds at the end of a file whose packets the truncation check reads.
const TAIL_SECONDS: f64 = 3.0;

/// A video fit to cut clips from.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The container (ffprobe's `format_name`).
    pub container: String,
    /// Seconds.
    pub duration: f64,
    /// Displayed width (rotation and pixel aspect ratio applied).
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// Frames per second (30 when the file does not say).
    pub frame_rate: f64,
    /// Video codec.
    pub video_codec: String,
    /// Audio codec, if it has sound.
    pub audio_codec: Option<String>,
}

impl VideoInfo {
    /// The duration of one frame, seconds.
    pub fn frame(&self) -> f64 {
        1.0 / self.frame_rate
    }
}

/// Why a file was refused, in words for its uploader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Probes `file` (in the job's directory `dir`, so no path shows in messages): its header,
/// then whether its packets reach the end it declares. `Ok(Err(..))` is a refused input;
/// `Err` is ffprobe itself failing.
pub async fn probe(
    tools: &Tools,
    dir: &Path,
    file: &str,
    limits: &VideoConfig,
) -> Result<Result<VideoInfo, Refused>, Error> {
    let info = match header(tools, dir, file, limits).await? {
        Ok(info) => info,
        Err(refused) => return Ok(Err(refused)),
    };
    let tail = read_tail(tools, dir, file, info.duration).await?;
    Ok(check_complete(info, tail))
}

/// What the header of `file` says, checked against the limits.
pub async fn header(
    tools: &Tools,
    dir: &Path,
    file: &str,
    limits: &VideoConfig,
) -> Result<Result<VideoInfo, Refused>, Error> {
    let mut command = tools.ffprobe();
    command
        .args(["-of", "json", "-show_format", "-show_streams", file])
        .current_dir(dir);
    let finished =
        tokio::time::timeout(PROBE_TIMEOUT, process::run(command, MAX_PROBE_JSON, |_| {}))
            .await
            .map_err(|_| Error::Ffmpeg(format!("ffprobe took over {PROBE_TIMEOUT:?}")))??;
    if !finished.status.success() {
        return Ok(Err(unreadable(&finished.stderr.join("\n"), file)));
    }
    Ok(inspect(&finished.stdout, limits))
}

/// What a failed ffprobe means for the user.
fn unreadable(stderr: &str, file: &str) -> Refused {
    let lower = stderr.to_ascii_lowercase();
    Refused(if lower.contains("moov atom not found") {
        "the file is incomplete or corrupt: its MP4/MOV index (the moov box) is missing, so \
         the upload was cut short, the recording never finished, or the file is damaged; \
         upload the complete file"
            .to_owned()
    } else if lower.contains("invalid data found") || lower.contains("end of file") {
        "the file is not a video ffmpeg can read, or it is corrupt: upload an MP4, MOV, \
         WebM or MKV video"
            .to_owned()
    } else {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let detail = last
            .split_once(&format!("{file}: "))
            .map_or(last, |(_, d)| d)
            .trim();
        format!("the file could not be read as a video ({detail})")
    })
}

#[derive(Debug, Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Debug, Deserialize)]
struct Format {
    format_name: Option<String>,
    format_long_name: Option<String>,
    duration: Option<String>,
    size: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    sample_aspect_ratio: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    disposition: HashMap<String, i64>,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
}

#[derive(Debug, Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

/// Checks ffprobe's JSON against the limits.
pub fn inspect(json: &[u8], limits: &VideoConfig) -> Result<VideoInfo, Refused> {
    let refuse = |text: String| Err(Refused(text));
    let Ok(parsed) = serde_json::from_slice::<ProbeJson>(json) else {
        return refuse(
            "the file could not be read as a video (its description is unreadable)".into(),
        );
    };
    let Some(format) = parsed.format else {
        return refuse("the file is not a video ffmpeg can read".into());
    };
    let container = format.format_name.clone().unwrap_or_default();
    if !container.split(',').any(|name| CONTAINERS.contains(&name)) {
        return refuse(format!(
            "the file is {}, not a video we accept: upload an MP4, MOV, WebM or MKV video",
            described(&container, format.format_long_name.as_deref())
        ));
    }
    if let Some(size) = format.size.as_deref().and_then(|s| s.parse::<u64>().ok())
        && size > limits.max_bytes
    {
        return refuse(format!(
            "the file is {}; at most {} are accepted",
            megabytes(size),
            megabytes(limits.max_bytes)
        ));
    }
    let declared = seconds(format.duration.as_deref());
    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    let Some(video) = parsed.streams.iter().find(|s| {
        s.codec_type.as_deref() == Some("video")
            && s.disposition.get("attached_pic").copied().unwrap_or(0) == 0
    }) else {
        return refuse(match (audio, declared) {
            (Some(a), _) => format!(
                "the file holds only sound ({}), no picture: upload a video",
                a.codec_name.as_deref().unwrap_or("audio")
            ),
            (None, Some(d)) if d <= 0.0 => "the video is empty: it holds no frames".to_owned(),
            (None, _) => "the file holds no video stream".to_owned(),
        });
    };
    let (Some(w), Some(h)) = (video.width, video.height) else {
        return refuse(
            "the video stream does not say its picture size: the file is corrupt".into(),
        );
    };
    if w < MIN_DIMENSION || h < MIN_DIMENSION {
        return refuse(format!(
            "the video is {w}x{h} pixels: too small to cut clips from (at least {MIN_DIMENSION} \
             pixels a side)"
        ));
    }
    let max = limits.max_dimension;
    if w > max || h > max {
        return refuse(format!(
            "the video is {w}x{h} pixels; at most {max} pixels a side are accepted"
        ));
    }
    let (width, height) = displayed(video, w, h);
    let frame_rate = rate(video.avg_frame_rate.as_deref())
        .or_else(|| rate(video.r_frame_rate.as_deref()))
        .unwrap_or(30.0);
    let duration = seconds(video.duration.as_deref())
        .or(declared)
        .unwrap_or(0.0);
    if duration < 1.0 / frame_rate {
        return refuse(format!(
            "the video is empty: it lasts {duration:.2} s, less than one frame"
        ));
    }
    if duration > limits.max_duration.as_secs_f64() {
        return refuse(format!(
            "the video lasts {}; at most {} are accepted",
            clock(duration),
            clock(limits.max_duration.as_secs_f64())
        ));
    }
    Ok(VideoInfo {
        container,
        duration,
        width,
        height,
        frame_rate,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        audio_codec: audio.map(|a| a.codec_name.clone().unwrap_or_else(|| "unknown".into())),
    })
}

/// The picture as shown: non-square pixels stretched, a quarter turn swapping the sides.
fn displayed(video: &Stream, w: u32, h: u32) -> (u32, u32) {
    let sar = video
        .sample_aspect_ratio
        .as_deref()
        .and_then(|s| rate(Some(s)))
        .filter(|r| (0.1..=10.0).contains(r))
        .unwrap_or(1.0);
    let width = ((f64::from(w) * sar).round() as u32).max(1);
    let rotation = video
        .side_data_list
        .iter()
        .find_map(|d| d.rotation)
        .or_else(|| video.tags.get("rotate").and_then(|r| r.parse().ok()))
        .unwrap_or(0.0);
    let quarter_turns = (rotation / 90.0).round() as i64;
    if quarter_turns.rem_euclid(2) == 1 {
        (h, width)
    } else {
        (width, h)
    }
}

/// What the packets of a file's last seconds show.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tail {
    /// The end of the last video packet, if any could be read.
    end: Option<f64>,
    /// The demuxer met the end of the file where packets should have been.
    cut_short: bool,
}

/// Reads the video packets of the file's last seconds (demuxing, no decoding).
async fn read_tail(tools: &Tools, dir: &Path, file: &str, duration: f64) -> Result<Tail, Error> {
    let from = (duration - TAIL_SECONDS).max(0.0);
    let mut command = tools.ffprobe();
    command
        .args(["-select_streams", "v:0", "-read_intervals"])
        .arg(format!("{from:.3}%"))
        .args([
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            file,
        ])
        .current_dir(dir);
    let mut end: Option<f64> = None;
    let finished = tokio::time::timeout(
        PROBE_TIMEOUT,
        process::run(command, 0, |line| {
            let mut fields = line.split(',');
            let pts = fields.next().and_then(|f| f.parse::<f64>().ok());
            let length = fields.next().and_then(|f| f.parse::<f64>().ok());
            if let Some(pts) = pts {
                let packet_end = pts + length.unwrap_or(0.0);
                end = Some(end.map_or(packet_end, |e: f64| e.max(packet_end)));
            }
        }),
    )
    .await
    .map_err(|_| Error::Ffmpeg(format!("ffprobe took over {PROBE_TIMEOUT:?}")))??;
    let cut_short = finished.stderr.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("partial file") || l.contains("ended prematurely")
    });
    Ok(Tail { end, cut_short })
}

/// Refuses a file whose packets stop before the duration it declares.
fn check_complete(info: VideoInfo, tail: Tail) -> Result<VideoInfo, Refused> {
    let end = tail.end.unwrap_or(0.0).min(info.duration);
    if tail.cut_short || end + TRUNCATION_SLACK.max(2.0 * info.frame()) < info.duration {
        return Err(Refused(format!(
            "the file is truncated: it says it lasts {} but its pictures stop {}; upload the \
             complete file",
            clock(info.duration),
            if end > 0.0 && end < info.duration - info.frame() {
                format!("at {}", clock(end))
            } else {
                "before its end".to_owned()
            }
        )));
    }
    Ok(info)
}

fn seconds(text: Option<&str>) -> Option<f64> {
    text?
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// `num/den` (`30000/1001`) as a number; `None` for `0/0` and nonsense.
fn rate(text: Option<&str>) -> Option<f64> {
    let (num, den) = text?.split_once(['/', ':'])?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    let r = num / den;
    (r.is_finite() && r > 0.0).then_some(r)
}

/// `1 h 02 min 05 s`, `4 min 10 s`, `9.0 s`.
pub fn clock(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match (whole / 3600, (whole % 3600) / 60, whole % 60) {
        (0, 0, _) => format!("{seconds:.1} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, s) => format!("{h} h {m:02} min {s:02} s"),
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// What a refused container is, in words: `an image`, `an audio file (MP3)`, `an AVI file`.
fn described(name: &str, long_name: Option<&str>) -> String {
    const AUDIO: &[&str] = &["mp3", "wav", "flac", "ogg", "aac", "w64", "aiff", "opus"];
    let long_name = long_name.unwrap_or(name);
    if name == "image2" || name.ends_with("_pipe") || name == "gif" {
        "an image".to_owned()
    } else if name.split(',').any(|n| AUDIO.contains(&n)) {
        format!("an audio file ({long_name})")
    } else if name.is_empty() {
        "of an unknown format".to_owned()
    } else {
        let article = match long_name.chars().next().map(|c| c.to_ascii_lowercase()) {
            Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
            _ => "a",
        };
        format!("{article} {long_name} file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> VideoConfig {
        VideoConfig::default()
    }

    fn json(format: &str, streams: &str) -> Vec<u8> {
        format!(r#"{{"streams": [{streams}], "format": {format}}}"#).into_bytes()
    }

    const MP4: &str = r#"{"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "format_long_name": "QuickTime / MOV", "duration": "9.000000", "size": "1500000"}"#;
    const H264: &str = r#"{"codec_type": "video", "codec_name": "h264", "width": 640, "height": 360, "sample_aspect_ratio": "1:1", "avg_frame_rate": "25/1", "r_frame_rate": "25/1", "duration": "9.000000", "disposition": {"attached_pic": 0}}"#;
    const AAC: &str = r#"{"codec_type": "audio", "codec_name": "aac", "duration": "9.000000"}"#;

    fn refused(json: &[u8]) -> String {
        match inspect(json, &limits()) {
            Ok(info) => panic!("accepted {info:?}"),
            Err(Refused(why)) => why,
        }
    }

    #[test]
    fn a_video_with_sound_is_described() {
        let info = inspect(&json(MP4, &format!("{H264}, {AAC}")), &limits()).expect("a video");
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.duration, 9.0);
        assert_eq!(info.frame_rate, 25.0);
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert!((info.frame() - 0.04).abs() < 1e-9);
    }

    #[test]
    fn audio_only_images_and_other_containers_are_refused_in_words() {
        assert!(refused(&json(MP4, AAC)).contains("only sound (aac)"));
        let jpeg = r#"{"format_name": "image2", "format_long_name": "image2 sequence", "duration": "0.04"}"#;
        let why = refused(&json(jpeg, H264));
        assert!(
            why.contains("is an image, not a video") && why.contains("MP4, MOV, WebM or MKV"),
            "{why}"
        );
        let avi = r#"{"format_name": "avi", "format_long_name": "AVI (Audio Video Interleaved)"}"#;
        assert!(refused(&json(avi, H264)).contains("an AVI (Audio Video Interleaved) file"));
        let mp3 = r#"{"format_name": "mp3", "format_long_name": "MP2/3 (MPEG audio layer 2/3)"}"#;
        assert!(refused(&json(mp3, AAC)).contains("an audio file (MP2/3"));
    }

    #[test]
    fn empty_videos_are_refused() {
        let empty = r#"{"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "0.000000"}"#;
        assert!(refused(&json(empty, "")).contains("empty"));
        let still = H264.replace(r#""duration": "9.000000""#, r#""duration": "0.010000""#);
        assert!(refused(&json(MP4, &still)).contains("less than one frame"));
    }

    #[test]
    fn limits_of_length_size_and_resolution_are_enforced() {
        let long = H264.replace("9.000000", "7200.5");
        let why = refused(&json(MP4, &long));
        assert!(
            why.contains("2 h 00 min 01 s") && why.contains("1 h 00 min 00 s"),
            "{why}"
        );
        let huge = H264.replace(r#""width": 640"#, r#""width": 40000"#);
        assert!(refused(&json(MP4, &huge)).contains("40000x360"));
        let tiny = H264.replace(r#""height": 360"#, r#""height": 2"#);
        assert!(refused(&json(MP4, &tiny)).contains("too small"));
        let big = MP4.replace("1500000", "5000000000");
        assert!(refused(&json(&big, H264)).contains("5000.0 MB"));
    }

    #[test]
    fn rotation_and_pixel_aspect_give_the_displayed_size() {
        let portrait = H264.replace(
            r#""disposition""#,
            r#""side_data_list": [{"rotation": -90}], "disposition""#,
        );
        let info = inspect(&json(MP4, &portrait), &limits()).expect("a video");
        assert_eq!((info.width, info.height), (360, 640));
        let anamorphic = H264.replace(
            r#""sample_aspect_ratio": "1:1""#,
            r#""sample_aspect_ratio": "4:3""#,
        );
        let info = inspect(&json(MP4, &anamorphic), &limits()).expect("a video");
        assert_eq!((info.width, info.height), (853, 360));
    }

    #[test]
    fn garbage_and_unreadable_files_get_a_sentence() {
        assert!(refused(b"not json").contains("could not be read"));
        assert!(
            unreadable("source: Invalid data found when processing input", "source")
                .0
                .contains("not a video")
        );
        assert!(
            unreadable("[mov] moov atom not found", "source")
                .0
                .contains("incomplete")
        );
        let other = unreadable("source: Permission denied", "source").0;
        assert!(
            other.contains("(Permission denied)") && !other.contains("source:"),
            "{other}"
        );
    }

    #[test]
    fn a_file_whose_packets_stop_early_is_truncated() {
        let info = inspect(&json(MP4, H264), &limits()).expect("a video");
        let tail = |end, cut_short| Tail { end, cut_short };
        assert!(check_complete(info.clone(), tail(Some(9.0), false)).is_ok());
        assert!(check_complete(info.clone(), tail(Some(8.5), false)).is_ok());
        let why = check_complete(info.clone(), tail(Some(2.5), false))
            .expect_err("truncated")
            .0;
        assert!(
            why.contains("stop at 2.5 s") && why.contains("9.0 s"),
            "{why}"
        );
        assert!(check_complete(info.clone(), tail(None, false)).is_err());
        let why = check_complete(info, tail(Some(9.0), true))
            .expect_err("cut short")
            .0;
        assert!(why.contains("stop before its end"), "{why}");
    }

    #[test]
    fn clocks_read_naturally() {
        assert_eq!(clock(9.04), "9.0 s");
        assert_eq!(clock(250.0), "4 min 10 s");
        assert_eq!(clock(3725.0), "1 h 02 min 05 s");
    }
}
