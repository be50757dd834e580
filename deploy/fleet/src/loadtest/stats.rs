//! From the requests oha recorded to the figures of the report: per phase and per time
//! bucket, exact percentiles over latency-corrected durations (a request's time counts from
//! when it was due, not when a busy connection got round to sending it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::FleetError;

/// One answered request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// When it was due, in seconds since the test started.
    pub at_seconds: f64,
    /// Latency-corrected duration, seconds.
    pub seconds: f64,
    /// HTTP status.
    pub status: u16,
}

/// How a response counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 1xx-3xx.
    Ok,
    /// 429: the load balancer's or the app's rate limit.
    RateLimited,
    /// Any other 4xx or 5xx.
    Error,
}

impl Outcome {
    /// The outcome of a status code.
    pub fn of(status: u16) -> Self {
        match status {
            429 => Self::RateLimited,
            s if s >= 400 => Self::Error,
            _ => Self::Ok,
        }
    }
}

/// Reads the requests oha stored in `database`, shifting their times by `offset_seconds`
/// (when that oha started, relative to the test's start).
pub fn read_requests(database: &Path, offset_seconds: f64) -> Result<Vec<Request>, FleetError> {
    let sqlite = |e: rusqlite::Error| FleetError::Tool {
        program: "oha".into(),
        message: format!("reading its request database {}: {e}", database.display()),
    };
    if !database.exists() {
        // oha creates the file only when a request was answered.
        return Ok(Vec::new());
    }
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sqlite)?;
    let mut statement = connection
        .prepare("SELECT COALESCE(start_latency_correction, start), duration, status FROM oha")
        .map_err(sqlite)?;
    let rows = statement
        .query_map([], |row| {
            Ok(Request {
                at_seconds: offset_seconds + row.get::<_, f64>(0)?,
                seconds: row.get(1)?,
                status: u16::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            })
        })
        .map_err(sqlite)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
}

/// Figures of a set of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Answered 1xx-3xx.
    pub ok: u64,
    /// Answered 429.
    pub rate_limited: u64,
    /// Answered with another 4xx/5xx, or not answered at all (refused, reset, timed out).
    pub errors: u64,
    /// Answered requests per second over the span.
    pub throughput: f64,
    /// Latency percentiles of answered requests, seconds.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Figures {
    /// `requests` answered over `span` seconds, plus `unanswered` failures.
    pub fn of(requests: &[Request], unanswered: u64, span: f64) -> Self {
        let mut durations: Vec<f64> = requests.iter().map(|r| r.seconds).collect();
        durations.sort_by(f64::total_cmp);
        let mut f = Figures {
            requests: requests.len() as u64 + unanswered,
            errors: unanswered,
            throughput: if span > 0.0 {
                requests.len() as f64 / span
            } else {
                0.0
            },
            p50: percentile(&durations, 0.50),
            p95: percentile(&durations, 0.95),
            p99: percentile(&durations, 0.99),
            max: durations.last().copied().unwrap_or(0.0),
            ..Figures::default()
        };
        for r in requests {
            match Outcome::of(r.status) {
                Outcome::Ok => f.ok += 1,
                Outcome::RateLimited => f.rate_limited += 1,
                Outcome::Error => f.errors += 1,
            }
        }
        f
    }

    /// Errors as a fraction of requests.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Figures per time bucket, for the charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, seconds since the test started.
    pub at_seconds: f64,
    /// The bucket's figures.
    pub figures: Figures,
}

/// Cuts `requests` into buckets of `width`, from 0 to `end_seconds`.
pub fn buckets(requests: &[Request], width: Duration, end_seconds: f64) -> Vec<Bucket> {
    let width = width.as_secs_f64().max(0.1);
    let count = (end_seconds / width).ceil().max(1.0) as usize;
    let mut by_bucket: BTreeMap<usize, Vec<Request>> = BTreeMap::new();
    for r in requests {
        let i = ((r.at_seconds.max(0.0) / width) as usize).min(count - 1);
        by_bucket.entry(i).or_default().push(*r);
    }
    (0..count)
        .map(|i| Bucket {
            at_seconds: i as f64 * width,
            figures: Figures::of(
                by_bucket.get(&i).map(Vec::as_slice).unwrap_or(&[]),
                0,
                width,
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(at: f64, ms: f64, status: u16) -> Request {
        Request {
            at_seconds: at,
            seconds: ms / 1000.0,
            status,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.95), 95.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
    }

    #[test]
    fn figures_count_429_apart_from_errors_and_include_unanswered() {
        let rs = [
            request(0.1, 1.0, 200),
            request(0.2, 2.0, 429),
            request(0.3, 3.0, 503),
            request(0.4, 4.0, 304),
        ];
        let f = Figures::of(&rs, 2, 2.0);
        assert_eq!((f.requests, f.ok, f.rate_limited, f.errors), (6, 2, 1, 3));
        assert_eq!(f.throughput, 2.0);
        assert_eq!(f.max, 0.004);
        assert_eq!(f.error_ratio(), 0.5);
    }

    #[test]
    fn buckets_cover_the_whole_test_even_when_empty() {
        let rs = [request(0.5, 1.0, 200), request(2.5, 9.0, 200)];
        let b = buckets(&rs, Duration::from_secs(1), 4.0);
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].figures.requests, 1);
        assert_eq!(b[1].figures.requests, 0);
        assert_eq!(b[2].figures.p99, 0.009);
    }
}
