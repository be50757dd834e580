//! One source over HTTP with retries: exponential backoff with full jitter, `Retry-After`
//! honoured (up to a cap, beyond which the source is given up), an overall deadline; only
//! timeouts (ours or a 408), connection errors, 5xx and 429 are retried.
//!
//! Each attempt must see its response headers within `request_timeout` (time to first
//! byte: a source that does not answer is unwell); the body then has until the source's
//! deadline, so a large asset on a slow link is not mistaken for a failing source.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;

use crate::config::CdnConfig;
use crate::inflight::InflightBytes;

/// A fetched body and its content type.
pub(crate) struct Body {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

/// Why a source gave up.
pub(crate) struct Failure {
    pub message: String,
    /// The source itself is unwell (timeouts to first byte, connection errors, 5xx, 429):
    /// counts towards its circuit.
    pub unhealthy: bool,
    /// The HTTP status of a final answer that is not retried (404, 403, ...).
    pub status: Option<StatusCode>,
}

enum Attempt {
    Done(Body),
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// A final answer: not retried, and not the source's health at fault.
    Fail {
        message: String,
        status: Option<StatusCode>,
    },
}

/// Reads the body, giving up as soon as it grows past `limit` bytes (a declared
/// `Content-Length` above it is refused before reading anything), within the in-flight
/// byte budget (reserved before the bytes are buffered; waits for room until `deadline`).
async fn read_body(
    mut response: reqwest::Response,
    url: &str,
    limit: u64,
    budget: &InflightBytes,
    deadline: Instant,
) -> Result<Bytes, Attempt> {
    let fail = |message: String| Attempt::Fail {
        message,
        status: None,
    };
    let too_big = |n: u64| {
        fail(format!(
            "GET {url}: body of {n} bytes or more is above CDN_MAX_ASSET_BYTES={limit}"
        ))
    };
    let no_room = || {
        fail(format!(
            "GET {url}: no room in CDN_MAX_INFLIGHT_BYTES before the deadline (too many large fetches at once)"
        ))
    };
    let declared = response.content_length();
    if let Some(declared) = declared.filter(|&n| n > limit) {
        return Err(too_big(declared));
    }
    let mut reserved = budget.reservation();
    if !reserved.cover(declared.unwrap_or(0), deadline).await {
        return Err(no_room());
    }
    // Sized once from Content-Length when there is one (no doubling copies).
    let mut body = bytes::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let len = body.len() as u64 + chunk.len() as u64;
                if len > limit {
                    return Err(too_big(len));
                }
                // Without a length, reserve ahead in 64 KiB steps as the body grows.
                let ahead = match declared {
                    Some(_) => len,
                    None => len.next_multiple_of(64 << 10).min(limit),
                };
                if !reserved.cover(ahead, deadline).await {
                    return Err(no_room());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                return Err(Attempt::Retry {
                    message: format!("GET {url}: body: {e}"),
                    after: None,
                });
            }
        }
    }
}

/// One GET: headers within `timeout`, the body by `deadline`.
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    deadline: Instant,
    limit: u64,
    budget: &InflightBytes,
) -> Attempt {
    let response = match tokio::time::timeout(timeout, client.get(url).send()).await {
        Ok(Ok(r)) => r,
        // A redirect to another host was refused (see `Cdn::new`): an answer, not an outage.
        Ok(Err(e)) if e.is_redirect() => {
            return Attempt::Fail {
                message: format!("GET {url}: {e}"),
                status: None,
            };
        }
        Ok(Err(e)) => {
            return Attempt::Retry {
                message: format!("GET {url}: {e}"),
                after: None,
            };
        }
        Err(_) => {
            return Attempt::Retry {
                message: format!("GET {url}: no response within {timeout:?}"),
                after: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(response, url, limit, budget, deadline);
        return match tokio::time::timeout_at(deadline.into(), body).await {
            Ok(Ok(bytes)) => Attempt::Done(Body {
                bytes,
                content_type,
            }),
            Ok(Err(failed)) => failed,
            // The source answered: a slow body is the asset's size or the link, not a
            // failing source. Not retried either (it would be as slow again).
            Err(_) => Attempt::Fail {
                message: format!(
                    "GET {url}: body not complete by the deadline (CDN_FETCH_DEADLINE_MS)"
                ),
                status: None,
            },
        };
    }
    let message = format!("GET {url}: HTTP {status}");
    // 408 is the server timing out our request: as retryable as a timeout of ours.
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        Attempt::Retry { message, after }
    } else {
        Attempt::Fail {
            message,
            status: Some(status),
        }
    }
}

/// `Retry-After` is either delay seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The backoff bound before retry number `n` (0-based): base * 2^n, capped.
pub(crate) fn backoff_bound(config: &CdnConfig, n: u32) -> Duration {
    config
        .retry_base
        .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
        .min(config.retry_max)
}

/// Fetches `url` with up to `config.retry_attempts` retries; `on_retry` is told each retry.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &str,
    config: &CdnConfig,
    budget: &InflightBytes,
    on_retry: impl Fn(),
) -> Result<Body, Failure> {
    let deadline = Instant::now() + config.fetch_deadline;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure {
                message: format!("GET {url}: deadline of {:?} passed", config.fetch_deadline),
                unhealthy: true,
                status: None,
            });
        }
        let timeout = config.request_timeout.min(left);
        let (message, after) = match attempt(
            client,
            url,
            timeout,
            deadline,
            config.max_asset_bytes,
            budget,
        )
        .await
        {
            Attempt::Done(body) => return Ok(body),
            Attempt::Fail { message, status } => {
                return Err(Failure {
                    message,
                    unhealthy: false,
                    status,
                });
            }
            Attempt::Retry { message, after } => (message, after),
        };
        let unwell = |message: String| {
            Err(Failure {
                message,
                unhealthy: true,
                status: None,
            })
        };
        if n >= config.retry_attempts {
            return unwell(message);
        }
        // A server asking for more time than we allow ourselves: give it up now (the next
        // source serves) rather than ask again early, against its request.
        if let Some(after) = after.filter(|a| *a > config.retry_max) {
            return unwell(format!(
                "{message}: Retry-After {after:?} is beyond CDN_RETRY_MAX_MS"
            ));
        }
        // Full jitter: uniform in [0, bound]; a server's Retry-After wins.
        let bound = backoff_bound(config, n);
        let jitter = Duration::from_millis(fastrand::u64(0..=bound.as_millis() as u64));
        let wait = after.unwrap_or(jitter);
        if wait >= deadline.saturating_duration_since(Instant::now()) {
            return unwell(format!("{message} (no time left to retry)"));
        }
        tracing::debug!(%url, %message, ?wait, "retrying asset fetch");
        on_retry();
        tokio::time::sleep(wait).await;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = CdnConfig::default();
        assert_eq!(backoff_bound(&c, 0), Duration::from_millis(100));
        assert_eq!(backoff_bound(&c, 3), Duration::from_millis(800));
        assert_eq!(backoff_bound(&c, 10), Duration::from_millis(2000));
        assert_eq!(backoff_bound(&c, 40), Duration::from_millis(2000));
    }
}
