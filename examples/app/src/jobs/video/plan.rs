//! What a user asks for (`POST /api/videos/{id}/clips`, kept in the job's payload): explicit
//! ranges, or automatic clips around scene changes; checked against the limits when asked,
//! and against the video's real length once it is probed.

use serde::{Deserialize, Serialize};

use crate::config::VideoConfig;

/// The shortest clip, seconds.
pub const MIN_CLIP_SECONDS: f64 = 0.1;

/// A stretch of the video, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Where it starts.
    pub start: f64,
    /// Where it ends.
    pub end: f64,
}

impl Range {
    /// Its length in seconds.
    pub fn length(&self) -> f64 {
        self.end - self.start
    }

    /// Whether it shares more than an instant with `other`.
    pub fn overlaps(&self, other: &Range) -> bool {
        const INSTANT: f64 = 1e-6;
        self.start < other.end - INSTANT && other.start < self.end - INSTANT
    }
}

/// Automatic clips: `count` clips of `seconds` around scene changes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auto {
    /// How many clips (fewer when the video is too short for them).
    pub count: usize,
    /// How long each is, seconds.
    pub seconds: f64,
    /// The scene score above which a frame starts a new scene (default
    /// `CLIP_SCENE_THRESHOLD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// The body of a clip request: exactly one of `clips` and `auto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipRequest {
    /// Explicit ranges: `[{"start": 1.5, "end": 4}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clips: Option<Vec<Range>>,
    /// Automatic clips: `{"count": 3, "seconds": 5}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<Auto>,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// These ranges.
    Explicit(Vec<Range>),
    /// Clips around scene changes, the threshold settled.
    Auto {
        /// How many.
        count: usize,
        /// How long each.
        seconds: f64,
        /// The scene score threshold.
        threshold: f64,
    },
}

impl ClipRequest {
    /// Checks the request against the limits; the error says what to change.
    pub fn check(&self, limits: &VideoConfig) -> Result<Plan, String> {
        let max_seconds = limits.max_clip_seconds;
        let max_clips = limits.max_clips;
        match (&self.clips, &self.auto) {
            (Some(ranges), None) => {
                if ranges.is_empty() || ranges.len() > max_clips {
                    return Err(format!("ask for 1 to {max_clips} clips"));
                }
                for (i, r) in ranges.iter().enumerate() {
                    let n = i + 1;
                    if !(r.start.is_finite() && r.end.is_finite()) || r.start < 0.0 {
                        return Err(format!(
                            "clip {n}: start and end are seconds from the start of the video"
                        ));
                    }
                    if r.length() < MIN_CLIP_SECONDS {
                        return Err(format!(
                            "clip {n}: end must come at least {MIN_CLIP_SECONDS} s after start"
                        ));
                    }
                    if r.length() > max_seconds {
                        return Err(format!(
                            "clip {n} lasts {:.1} s; clips last at most {max_seconds} s",
                            r.length()
                        ));
                    }
                }
                Ok(Plan::Explicit(ranges.clone()))
            }
            (None, Some(auto)) => {
                if auto.count == 0 || auto.count > max_clips {
                    return Err(format!("auto.count: ask for 1 to {max_clips} clips"));
                }
                if !(1.0..=max_seconds).contains(&auto.seconds) {
                    return Err(format!(
                        "auto.seconds: clips last from 1 to {max_seconds} s"
                    ));
                }
                let threshold = auto.threshold.unwrap_or(limits.scene_threshold);
                if !(threshold > 0.0 && threshold <= 1.0) {
                    return Err("auto.threshold: a scene score above 0, at most 1".to_owned());
                }
                Ok(Plan::Auto {
                    count: auto.count,
                    seconds: auto.seconds,
                    threshold,
                })
            }
            _ => Err(
                "give either \"clips\": [{\"start\": 0, \"end\": 5}] or \"auto\": \
                 {\"count\": 3, \"seconds\": 5}"
                    .to_owned(),
            ),
        }
    }
}

/// Fits explicit ranges to a video of `duration` seconds (`frame` seconds a frame): a range
/// overshooting the end by less than half a frame is trimmed; one past it is refused.
pub fn fit(ranges: &[Range], duration: f64, frame: f64) -> Result<Vec<Range>, String> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n = i + 1;
            if r.start >= duration - MIN_CLIP_SECONDS {
                return Err(format!(
                    "clip {n} starts at {:.2} s, at or past the end of the video ({duration:.2} s)",
                    r.start
                ));
            }
            if r.end > duration + frame / 2.0 {
                return Err(format!(
                    "clip {n} ends at {:.2} s, past the end of the video ({duration:.2} s)",
                    r.end
                ));
            }
            Ok(Range {
                start: r.start,
                end: r.end.min(duration),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<Plan, String> {
        let request: ClipRequest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        request.check(&VideoConfig::default())
    }

    #[test]
    fn explicit_and_automatic_requests_are_read() {
        assert_eq!(
            request(r#"{"clips": [{"start": 1, "end": 2.5}]}"#),
            Ok(Plan::Explicit(vec![Range {
                start: 1.0,
                end: 2.5
            }]))
        );
        assert_eq!(
            request(r#"{"auto": {"count": 3, "seconds": 4}}"#),
            Ok(Plan::Auto {
                count: 3,
                seconds: 4.0,
                threshold: 0.3
            })
        );
    }

    #[test]
    fn bad_requests_say_what_to_change() {
        for (json, expected) in [
            (r#"{}"#, "either"),
            (
                r#"{"clips": [], "auto": {"count": 1, "seconds": 2}}"#,
                "either",
            ),
            (r#"{"clips": []}"#, "1 to 20 clips"),
            (
                r#"{"clips": [{"start": 3, "end": 2}]}"#,
                "clip 1: end must come",
            ),
            (
                r#"{"clips": [{"start": -1, "end": 2}]}"#,
                "seconds from the start",
            ),
            (r#"{"clips": [{"start": 0, "end": 900}]}"#, "at most 300 s"),
            (r#"{"auto": {"count": 0, "seconds": 2}}"#, "auto.count"),
            (r#"{"auto": {"count": 2, "seconds": 0.5}}"#, "auto.seconds"),
            (
                r#"{"auto": {"count": 2, "seconds": 2, "threshold": 0}}"#,
                "auto.threshold",
            ),
        ] {
            let error = request(json).expect_err(json);
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn ranges_must_fit_the_video() {
        let r = |start, end| Range { start, end };
        assert_eq!(fit(&[r(1.0, 9.01)], 9.0, 0.04), Ok(vec![r(1.0, 9.0)]));
        let error = fit(&[r(1.0, 2.0), r(8.0, 12.0)], 9.0, 0.04).expect_err("too far");
        assert!(error.contains("clip 2 ends at 12.00 s"), "{error}");
        let error = fit(&[r(9.0, 10.0)], 9.0, 0.04).expect_err("after the end");
        assert!(error.contains("clip 1 starts at 9.00 s"), "{error}");
    }
}
