//! The autoscaler's `GET /status`, as the dashboard shows it: fetched with a short timeout,
//! at most once per [`FRESH_FOR`] however many dashboards poll, its JSON passed through
//! untouched (the autoscaler owns its shape; the page reads the fields it knows). When it
//! does not answer, the view says why in words.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;
use url::Url;

/// How long one answer is shown before the autoscaler is asked again.
const FRESH_FOR: Duration = Duration::from_secs(2);
/// How long the dashboard waits for the autoscaler.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// The largest `/status` document read.
const MAX_BODY: usize = 1024 * 1024;

/// What the dashboard shows of the autoscaler.
#[derive(Debug, Clone, Serialize)]
pub struct AutoscalerView {
    /// Its `/status` URL; `None` when `AUTOSCALER_URL=off`.
    pub url: Option<String>,
    /// Whether it answered with a status document.
    pub reachable: bool,
    /// Its `/status` JSON.
    pub status: Option<serde_json::Value>,
    /// Why there is no status, in words.
    pub error: Option<String>,
}

/// Reads the autoscaler's status.
#[derive(Debug)]
pub struct Autoscaler {
    status_url: Option<Url>,
    client: reqwest::Client,
    last: Mutex<Option<(Instant, AutoscalerView)>>,
}

impl Autoscaler {
    /// A reader of the autoscaler at `base` (none: the view says it is not configured).
    pub fn new(base: Option<&Url>) -> Self {
        Self {
            status_url: base.and_then(|b| b.join("status").ok()),
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .no_proxy()
                .build()
                .unwrap_or_default(),
            last: Mutex::new(None),
        }
    }

    /// The autoscaler's status, at most 2 s old. Concurrent callers share one request.
    pub async fn view(&self) -> AutoscalerView {
        let mut last = self.last.lock().await;
        if let Some((at, view)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return view.clone();
        }
        let view = self.fetch().await;
        *last = Some((Instant::now(), view.clone()));
        view
    }

    async fn fetch(&self) -> AutoscalerView {
        let Some(url) = &self.status_url else {
            return AutoscalerView {
                url: None,
                reachable: false,
                status: None,
                error: Some("no autoscaler is configured (AUTOSCALER_URL=off)".to_owned()),
            };
        };
        let (status, error) = match self.status(url).await {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        AutoscalerView {
            url: Some(url.to_string()),
            reachable: status.is_some(),
            status,
            error,
        }
    }

    async fn status(&self, url: &Url) -> Result<serde_json::Value, String> {
        let mut response = self
            .client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !response.status().is_success() {
            return Err(format!("it answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("its status is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("its status is not JSON ({e})"))
    }
}

/// The cause of a failed request in a few words: the innermost error says what happened
/// ("Connection refused"), the outer ones only that a request failed.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} ms", TIMEOUT.as_millis());
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_reported_in_words() {
        // Bind and drop: the port is free, nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let base = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let view = Autoscaler::new(Some(&base)).view().await;
        assert!(!view.reachable);
        assert_eq!(view.url.as_deref(), Some(format!("{base}status").as_str()));
        let error = view.error.unwrap_or_default();
        assert!(error.to_lowercase().contains("refused"), "{error}");
    }

    #[tokio::test]
    async fn without_a_url_it_says_none_is_configured() {
        let view = Autoscaler::new(None).view().await;
        assert!(!view.reachable && view.url.is_none());
        assert!(
            view.error
                .unwrap_or_default()
                .contains("AUTOSCALER_URL=off")
        );
    }
}
