//! The source chain behind [`Cdn::fetch`](super::Cdn::fetch): CDN, then origin (each
//! over HTTP with retries behind its host's circuit breaker), then the local directory.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use reqwest::StatusCode;

use super::{Asset, Inner, Key};
use crate::breaker::Breaker;
use crate::error::{Error, Result};
use crate::inflight::InflightBytes;
use crate::retry;
use crate::stats::Source;
use crate::url_path::encode_path;

impl Inner {
    pub(super) async fn fetch_uncached(&self, key: &Key) -> Result<Asset> {
        let mut last =
            String::from("no source configured: set CDN_BASE_URL, CDN_ORIGIN_URL or CDN_LOCAL_DIR");
        let mut fell_back = false;
        let mut query = String::new();
        if let Some(v) = &key.version {
            query = format!("?v={v}");
        }
        let remotes = [
            (
                Source::Cdn,
                self.config
                    .base_url
                    .as_ref()
                    .filter(|_| self.config.enabled),
                &self.cdn_breaker,
            ),
            (
                Source::Origin,
                self.config.origin_url.as_ref(),
                &self.origin_breaker,
            ),
        ];
        for (source, base, breaker) in remotes {
            let (Some(base), Some(breaker)) = (base, breaker) else {
                continue;
            };
            if !breaker.allow() {
                // Not a failure of the source (it was not asked): no counter, no warning
                // per request while the circuit is open.
                let host = breaker.host();
                tracing::debug!(source = source.label(), %host, "circuit open: source skipped");
                last = format!("circuit open for {host}: skipped");
                fell_back = true;
                continue;
            }
            // Encoded as in page URLs, so server-side fetches share the CDN's cache keys.
            let url = format!("{base}{}{query}", encode_path(&key.path));
            let started = Instant::now();
            match self.fetch_http(source, breaker, &url).await {
                Ok(body) => {
                    self.counters.served(source, fell_back, started.elapsed());
                    return Ok(self.asset(key, body.bytes, body.content_type, source));
                }
                Err(message) => {
                    self.counters.source_failed(source);
                    tracing::warn!(source = source.label(), %message, "asset source failed, falling back");
                    last = message;
                    fell_back = true;
                }
            }
        }
        if let Some(dir) = &self.config.local_dir {
            let started = Instant::now();
            match local_file(dir, &key.path) {
                Some(file) => match read_limited(
                    &file,
                    self.config.max_asset_bytes,
                    &self.inflight,
                    started + self.config.fetch_deadline,
                )
                .await
                {
                    Ok(bytes) => {
                        self.counters
                            .served(Source::Local, fell_back, started.elapsed());
                        return Ok(self.asset(
                            key,
                            Bytes::from(bytes),
                            content_type_of(&key.path),
                            Source::Local,
                        ));
                    }
                    Err(e) => {
                        self.counters.source_failed(Source::Local);
                        last = format!("{}: {e}", file.display());
                    }
                },
                None => last = format!("{} is not a plain relative path", key.path),
            }
        }
        self.counters.unavailable();
        Err(Error::Unavailable {
            path: key.path.clone(),
            last,
        })
    }

    fn asset(
        &self,
        key: &Key,
        bytes: Bytes,
        content_type: Option<String>,
        source: Source,
    ) -> Asset {
        Asset {
            path: key.path.clone(),
            version: key.version.clone(),
            bytes,
            content_type,
            source,
            from_cache: false,
        }
    }

    /// One HTTP source with retries; the caller has checked that its circuit allows it.
    /// The outcome settles the circuit: the source failing (no answer in time, connection
    /// errors, 5xx, 429, and for the CDN a 403: a misconfigured CDN denies everything)
    /// counts against it; any other answer, a 404 included, counts for it.
    async fn fetch_http(
        &self,
        source: Source,
        breaker: &Breaker,
        url: &str,
    ) -> Result<retry::Body, String> {
        let retried = || self.counters.retry();
        match retry::get(&self.http, url, &self.config, &self.inflight, retried).await {
            Ok(body) => {
                breaker.success();
                Ok(body)
            }
            Err(failure) => {
                let denied = source == Source::Cdn && failure.status == Some(StatusCode::FORBIDDEN);
                if failure.unhealthy || denied {
                    breaker.failure();
                } else {
                    breaker.success();
                }
                Err(failure.message)
            }
        }
    }
}

fn content_type_of(path: &str) -> Option<String> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "html" => "text/html",
        "woff2" => "font/woff2",
        "mp4" => "video/mp4",
        _ => return None,
    };
    Some(mime.to_owned())
}

/// Reads `file` whole unless it is larger than `limit` bytes, within the in-flight byte
/// budget. It reads as many bytes as the file had when opened (one that grows meanwhile
/// is cut there, never read past what was reserved).
async fn read_limited(
    file: &Path,
    limit: u64,
    budget: &InflightBytes,
    deadline: Instant,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let opened = tokio::fs::File::open(file).await?;
    let size = opened.metadata().await?.len();
    if size > limit {
        return Err(std::io::Error::other(format!(
            "larger than CDN_MAX_ASSET_BYTES={limit}"
        )));
    }
    let mut reserved = budget.reservation();
    if !reserved.cover(size, deadline).await {
        return Err(std::io::Error::other(
            "no room in CDN_MAX_INFLIGHT_BYTES before the deadline",
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    opened.take(size).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// `dir` joined with `path`, refusing anything but plain names (no `..`, no absolute parts).
fn local_file(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
        .filter(|_| !path.contains('\0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_stay_inside_the_directory() {
        let dir = Path::new("/srv/assets");
        assert_eq!(
            local_file(dir, "/images/a.jpg"),
            Some(PathBuf::from("/srv/assets/images/a.jpg"))
        );
        assert_eq!(local_file(dir, "/../etc/passwd"), None);
        assert_eq!(local_file(dir, "/images/../../x"), None);
    }
}
