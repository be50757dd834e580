//! Cutting one clip: a single ffmpeg run seeks to the start (accurately: the frames before
//! it are decoded and dropped), scales the picture to the clip size, encodes H.264/AAC into
//! an MP4 whose index comes first (`+faststart`, so a browser plays it while it loads), and
//! from the same decoded frames writes the poster: the most representative frame of the
//! first second (ffmpeg's `thumbnail` filter) as a high-quality JPEG.

use std::path::Path;
use std::time::Duration;

use super::plan::Range;
use super::process;
use super::progress::Stage;
use super::tools::Tools;
use crate::Error;
use crate::config::VideoConfig;

/// Frames among which the poster is chosen (about the first second).
const POSTER_CANDIDATES: u32 = 25;

/// The clip's size for a picture shown at `width` x `height`: the short side at most
/// `short_side` (never upscaled), the aspect kept, both even (H.264 in 4:2:0 needs it).
pub fn clip_size(width: u32, height: u32, short_side: u32) -> (u32, u32) {
    let short = width.min(height).max(1);
    let scale = f64::from(short_side.min(short)) / f64::from(short);
    let even = |side: u32| ((f64::from(side) * scale / 2.0).round() as u32 * 2).max(2);
    (even(width), even(height))
}

/// The arguments after `ffmpeg -nostdin -hide_banner -loglevel error` that cut `range` of
/// `source` into `clip` (MP4) and `poster` (JPEG), `size` pixels.
pub fn arguments(
    source: &str,
    range: Range,
    size: (u32, u32),
    config: &VideoConfig,
    clip: &str,
    poster: &str,
) -> Vec<String> {
    let threads = config.threads.to_string();
    let (width, height) = size;
    let filter = format!(
        "[0:v:0]scale={width}:{height},setsar=1,split=2[clip][still];\
         [still]thumbnail={POSTER_CANDIDATES}[poster]"
    );
    // `-threads` bounds the decoder (before `-i`) and the encoders (after it); the filter
    // graph has its own pool, one thread per core unless told.
    let mut args: Vec<String> = [
        "-progress",
        "pipe:1",
        "-nostats",
        "-filter_complex_threads",
        &threads,
        "-threads",
        &threads,
        "-ss",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("{:.6}", range.start));
    args.push("-t".into());
    args.push(format!("{:.6}", range.length()));
    args.extend(
        [
            "-i",
            source,
            "-filter_complex",
            &filter,
            "-map",
            "[clip]",
            "-map",
            "0:a:0?",
            "-c:v",
            "libx264",
            "-preset",
            &config.preset,
            "-crf",
            &config.crf.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            &format!("{}k", config.audio_kbps),
            "-ac",
            "2",
            "-threads",
            &threads,
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-sn",
            "-dn",
            "-y",
            clip,
            "-map",
            "[poster]",
            "-frames:v",
            "1",
            "-q:v",
            "2",
            "-update",
            "1",
            "-y",
            poster,
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args
}

/// Runs one cut in `dir`. `Ok(Err(..))`: ffmpeg could not make this clip of this input.
pub async fn run(
    tools: &Tools,
    dir: &Path,
    args: &[String],
    length: f64,
    stage: Stage<'_>,
) -> Result<Result<(), String>, Error> {
    let mut command = tools.ffmpeg();
    command.args(args).current_dir(dir);
    tracing::debug!(
        dir = %dir.display(),
        command = %shell_words(&tools.ffmpeg.to_string_lossy(), command.as_std().get_args()),
        "ffmpeg"
    );
    let finished = process::run(
        command,
        0,
        stage.ffmpeg_lines(Duration::from_secs_f64(length)),
    )
    .await?;
    if finished.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(finished
            .last_error()
            .unwrap_or("ffmpeg failed without a message")
            .to_owned()))
    }
}

/// The command as a shell line (the log line `scripts/compare/clips.sh` replays).
fn shell_words<'a>(program: &str, args: impl Iterator<Item = &'a std::ffi::OsStr>) -> String {
    let quote = |word: &str| {
        if !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:+=,%@".contains(c))
        {
            word.to_owned()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    };
    std::iter::once(quote(program))
        .chain(args.map(|a| quote(&a.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_720p_at_most_with_even_sides() {
        assert_eq!(clip_size(1920, 1080, 720), (1280, 720));
        assert_eq!(clip_size(1080, 1920, 720), (720, 1280));
        assert_eq!(clip_size(640, 360, 720), (640, 360), "never upscaled");
        assert_eq!(clip_size(853, 480, 720), (854, 480));
        assert_eq!(clip_size(3840, 1600, 720), (1728, 720));
    }

    #[test]
    fn the_command_cuts_accurately_and_names_both_outputs() {
        let config = VideoConfig {
            threads: 2,
            ..VideoConfig::default()
        };
        let range = Range {
            start: 1.5,
            end: 4.0,
        };
        let args = arguments(
            "source",
            range,
            (1280, 720),
            &config,
            "clip.mp4",
            "poster.jpg",
        );
        let line = args.join(" ");
        assert!(
            line.contains("-ss 1.500000 -t 2.500000 -i source"),
            "{line}"
        );
        assert!(line.contains("scale=1280:720"), "{line}");
        assert!(
            line.contains("-c:v libx264 -preset veryfast -crf 23"),
            "{line}"
        );
        assert!(line.contains("-movflags +faststart"), "{line}");
        assert!(
            line.contains("-filter_complex_threads 2 -threads 2 -ss"),
            "{line}"
        );
        assert!(line.contains("-ac 2 -threads 2 -movflags"), "{line}");
        assert!(line.ends_with("-y poster.jpg"), "{line}");
        let shown = shell_words("ffmpeg", args.iter().map(std::ffi::OsStr::new));
        assert!(shown.contains("'[0:v:0]scale=1280:720,"), "{shown}");
        assert!(shown.contains(" '0:a:0?' "), "{shown}");
    }
}
