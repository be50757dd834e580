//! Fetching instances' `/metrics` and readiness over HTTP, each bounded by a timeout, all of a
//! round at once.

use std::time::Duration;

use futures_util::future::join_all;

use crate::sample::InstanceSample;

/// Why an instance gave no sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeFailure {
    /// A short class for the `reason` label: `timeout`, `connect`, `status`, `body`, `parse`.
    pub reason: &'static str,
    /// The whole story, for `/status` and the log.
    pub message: String,
}

/// Largest `/metrics` page read (a clip-app page is about 20 KiB): a runaway exporter must not
/// exhaust the autoscaler's memory.
const MAX_PAGE_BYTES: usize = 16 << 20;

/// An instance's answer to its readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// 2xx.
    Ready,
    /// It answered otherwise, or refused the connection (starting, draining, gone).
    NotReady,
    /// It took the connection and said nothing (a hung or stopped process): it cannot tell,
    /// so it stays counted and its metrics are missing.
    Silent,
}

/// An HTTP client for the fleet's instances.
#[derive(Debug, Clone)]
pub struct Scraper {
    client: reqwest::Client,
    timeout: Duration,
}

impl Scraper {
    /// A scraper whose every request (connect, headers, body) ends within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("clip-autoscaler/", env!("CARGO_PKG_VERSION")))
            .build()
            // Only a broken TLS backend fails here, and this client has none.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client, timeout }
    }

    /// Scrapes every URL at once; results in the same order.
    pub async fn scrape_all(&self, urls: &[String]) -> Vec<Result<InstanceSample, ScrapeFailure>> {
        join_all(urls.iter().map(|u| self.scrape(u))).await
    }

    /// Scrapes one `/metrics` URL.
    pub async fn scrape(&self, url: &str) -> Result<InstanceSample, ScrapeFailure> {
        let response = self
            .client
            .get(url)
            .header("accept", "text/plain; version=0.0.4")
            .send()
            .await
            .map_err(|e| self.failure(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ScrapeFailure {
                reason: "status",
                message: format!("GET {url} answered {status}"),
            });
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(url, &e))? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(ScrapeFailure {
                    reason: "body",
                    message: format!("GET {url}: the page is larger than {MAX_PAGE_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body);
        InstanceSample::parse(&body).map_err(|e| ScrapeFailure {
            reason: "parse",
            message: format!("GET {url}: {e}"),
        })
    }

    /// What the readiness URL says within the timeout.
    pub async fn readiness(&self, url: &str) -> Readiness {
        match self.client.get(url).send().await {
            Ok(r) if r.status().is_success() => Readiness::Ready,
            Ok(_) => Readiness::NotReady,
            Err(e) if e.is_timeout() => Readiness::Silent,
            Err(_) => Readiness::NotReady,
        }
    }

    fn failure(&self, url: &str, e: &reqwest::Error) -> ScrapeFailure {
        let reason = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else {
            "body"
        };
        let message = if e.is_timeout() {
            format!("GET {url}: no answer within {:?}", self.timeout)
        } else {
            // reqwest's Display omits the cause ("error sending request"): show the chain.
            let mut text = format!("GET {url}: {e}");
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        };
        ScrapeFailure { reason, message }
    }
}
