//! Automatic clips: ffmpeg's scene detection (`select='gt(scene,T)'` on a small copy of
//! the picture, each selected frame's time and score printed by the `metadata` filter),
//! then N clips of M seconds placed on the strongest cuts without overlapping, filled with
//! evenly placed ones when the video has fewer cuts than clips asked.

use std::path::Path;
use std::time::Duration;

use super::plan::Range;
use super::process;
use super::progress::Stage;
use super::tools::Tools;
use crate::Error;

/// Width of the copy the scene scores are computed on (the score needs no detail).
const DETECTION_WIDTH: u32 = 192;
/// The file the `metadata` filter prints into, in the job's directory.
const SCORES_FILE: &str = "scenes.txt";

/// A scene change: where, and how strong (ffmpeg's scene score, 0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// Seconds from the start.
    pub at: f64,
    /// The scene score.
    pub score: f64,
}

/// Finds the scene changes of `file` scoring above `threshold`.
pub async fn detect(
    tools: &Tools,
    dir: &Path,
    file: &str,
    threshold: f64,
    threads: usize,
    duration: f64,
    stage: Stage<'_>,
) -> Result<Result<Vec<Cut>, String>, Error> {
    let filter = format!(
        "scale={DETECTION_WIDTH}:-2:flags=fast_bilinear,select='gt(scene,{threshold})',\
         metadata=mode=print:file={SCORES_FILE}"
    );
    let mut command = tools.ffmpeg();
    command
        .args(["-progress", "pipe:1", "-nostats", "-filter_threads"])
        .arg(threads.to_string())
        .arg("-threads")
        .arg(threads.to_string())
        .args(["-i", file, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf"])
        .arg(filter)
        .args(["-f", "null", "-"])
        .current_dir(dir);
    let finished = process::run(
        command,
        0,
        stage.ffmpeg_lines(Duration::from_secs_f64(duration)),
    )
    .await?;
    if !finished.status.success() {
        return Ok(Err(format!(
            "ffmpeg could not read the video to find its scenes ({})",
            finished.last_error().unwrap_or("no message")
        )));
    }
    let printed = tokio::fs::read_to_string(dir.join(SCORES_FILE))
        .await
        .unwrap_or_default();
    Ok(Ok(parse_scores(&printed)))
}

/// Reads the `metadata` filter's print-out: a `pts_time:` line, then the frame's
/// `lavfi.scene_score=` line.
pub fn parse_scores(printed: &str) -> Vec<Cut> {
    let mut cuts = Vec::new();
    let mut at = None;
    for line in printed.lines() {
        if let Some(time) = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("pts_time:"))
        {
            at = time.parse::<f64>().ok();
        } else if let Some(score) = line.trim().strip_prefix("lavfi.scene_score=")
            && let (Some(at), Ok(score)) = (at.take(), score.parse::<f64>())
        {
            cuts.push(Cut { at, score });
        }
    }
    cuts
}

/// Up to `count` clips of `length` seconds in a video of `duration`, on the strongest
/// `cuts` first, never overlapping; fewer cuts than clips leave room for clips placed
/// from the start on. In time order.
pub fn place(cuts: &[Cut], duration: f64, count: usize, length: f64) -> Vec<Range> {
    if duration <= length {
        return vec![Range {
            start: 0.0,
            end: duration,
        }];
    }
    let mut strongest: Vec<Cut> = cuts
        .iter()
        .copied()
        .filter(|c| c.at >= 0.0 && c.at < duration)
        .collect();
    strongest.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.at.total_cmp(&b.at)));
    // Then the regular places: the start, and every `length` after it.
    let regular = (0..)
        .map(|i| f64::from(i) * length)
        .take_while(|at| *at < duration)
        .map(|at| Cut { at, score: 0.0 });
    let mut picked: Vec<Range> = Vec::with_capacity(count);
    for cut in strongest.into_iter().chain(regular) {
        if picked.len() == count {
            break;
        }
        // A clip starting too near the end starts earlier instead, to keep its length.
        let start = cut.at.min(duration - length);
        let range = Range {
            start,
            end: start + length,
        };
        if picked.iter().all(|p| !p.overlaps(&range)) {
            picked.push(range);
        }
    }
    picked.sort_by(|a, b| a.start.total_cmp(&b.start));
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(at: f64, score: f64) -> Cut {
        Cut { at, score }
    }

    fn starts(ranges: &[Range]) -> Vec<f64> {
        ranges.iter().map(|r| r.start).collect()
    }

    #[test]
    fn parses_the_metadata_print_out() {
        let printed = "frame:0    pts:38400   pts_time:3\nlavfi.scene_score=0.717079\n\
                       frame:1    pts:76800   pts_time:6.04\nlavfi.scene_score=0.738991\n";
        assert_eq!(
            parse_scores(printed),
            [cut(3.0, 0.717079), cut(6.04, 0.738991)]
        );
        assert_eq!(parse_scores(""), []);
        assert_eq!(parse_scores("lavfi.scene_score=0.5\n"), []);
    }

    #[test]
    fn clips_start_on_the_strongest_cuts() {
        let cuts = [cut(3.0, 0.5), cut(6.0, 0.9), cut(6.5, 0.8), cut(12.0, 0.7)];
        let ranges = place(&cuts, 20.0, 2, 4.0);
        // 6.5 overlaps the clip at 6; 12 is the next strongest.
        assert_eq!(starts(&ranges), [6.0, 12.0]);
        assert!(ranges.iter().all(|r| (r.end - r.start - 4.0).abs() < 1e-9));
    }

    #[test]
    fn too_few_cuts_are_filled_from_the_start() {
        let ranges = place(&[cut(5.0, 0.6)], 20.0, 3, 4.0);
        assert_eq!(starts(&ranges), [0.0, 5.0, 12.0]);
    }

    #[test]
    fn a_cut_near_the_end_keeps_the_clip_length() {
        let ranges = place(&[cut(9.5, 0.9)], 10.0, 1, 3.0);
        assert_eq!(starts(&ranges), [7.0]);
        assert!((ranges[0].end - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_short_video_is_one_clip_and_a_full_one_stops_adding() {
        assert_eq!(starts(&place(&[], 2.0, 3, 5.0)), [0.0]);
        assert_eq!(place(&[], 2.0, 3, 5.0)[0].end, 2.0);
        // A third clip would overlap: 10 s hold two clips of 4 s.
        assert_eq!(starts(&place(&[], 10.0, 10, 4.0)), [0.0, 4.0]);
    }
}
