//! The background health probe: every `health_interval` it asks the CDN for one known
//! asset (the URL pages use, so the CDN answers it from its cache) and feeds the CDN's
//! circuit with the answer, so page URLs fall back to the origin, and come back, in an
//! application that never calls `fetch`. It follows the circuit: nothing while it is open
//! and cooling down, one probe when it is half-open.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use reqwest::StatusCode;

use super::{Cdn, Inner};
use crate::url_path::{encode_path, normalize};

impl Cdn {
    /// Starts the background health probe of the CDN (see `CdnConfig::health_interval`)
    /// on the current tokio runtime, unless it runs already, the interval is 0, no CDN is
    /// configured or there is no runtime. `Cdn::new` calls it when it runs inside a
    /// runtime; call it yourself after building the `Cdn` outside one. The task ends with
    /// the last clone of the `Cdn` (or with its runtime). Returns whether this call started it.
    pub fn spawn_health_probe(&self) -> bool {
        let inner = &self.inner;
        let interval = inner.config.health_interval;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if interval.is_zero()
            || inner.cdn_breaker.is_none()
            || inner.probe_started.swap(true, Ordering::AcqRel)
        {
            return false;
        }
        runtime.spawn(probe_loop(Arc::downgrade(inner), interval));
        true
    }
}

async fn probe_loop(inner: Weak<Inner>, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate: start one interval in
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return; // the Cdn is gone
        };
        inner.probe_cdn().await;
    }
}

impl Inner {
    /// One probe, when the circuit lets one go out.
    async fn probe_cdn(&self) {
        let (Some(base), Some(breaker)) = (&self.config.base_url, &self.cdn_breaker) else {
            return;
        };
        let manifest = self
            .manifest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let path = match &self.config.health_path {
            Some(p) => normalize(p),
            None => match manifest
                .critical()
                .next()
                .or_else(|| manifest.paths().next())
            {
                Some(p) => p.to_owned(),
                None => {
                    tracing::debug!("no CDN_HEALTH_PATH and an empty manifest: nothing to probe");
                    return;
                }
            },
        };
        if !breaker.allow() {
            return; // open and cooling down
        }
        let mut url = format!("{base}{}", encode_path(&path));
        if let Some(v) = manifest.version(&path) {
            url.push_str("?v=");
            url.push_str(v);
        }
        // Time to first byte only: the headers tell whether the CDN serves; the body is
        // dropped unread.
        let answer =
            tokio::time::timeout(self.config.request_timeout, self.http.get(&url).send()).await;
        match answer {
            Ok(Ok(response)) => {
                let status = response.status();
                if status.is_server_error()
                    || status == StatusCode::FORBIDDEN
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    tracing::debug!(%url, %status, "CDN health probe failed");
                    breaker.failure();
                } else {
                    breaker.success();
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(%url, error = %e, "CDN health probe failed");
                breaker.failure();
            }
            Err(_) => {
                tracing::debug!(%url, "CDN health probe: no answer in time");
                breaker.failure();
            }
        }
    }
}
