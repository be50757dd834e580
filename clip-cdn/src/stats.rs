//! Counters of the asset manager, readable as [`CdnStats`] (`/api/admin/cdn-stats`) and
//! exported as `clip_cdn_*` metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};
use serde::Serialize;

use crate::breaker::BreakerState;

/// Where an asset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The CDN (`CDN_BASE_URL`).
    Cdn,
    /// The origin (`CDN_ORIGIN_URL`): the CDN failed or is off.
    Origin,
    /// The local asset directory (`CDN_LOCAL_DIR`): CDN and origin failed.
    Local,
}

impl Source {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Source::Cdn => "cdn",
            Source::Origin => "origin",
            Source::Local => "local",
        }
    }
}

/// What a preload did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreloadReport {
    /// Assets asked for.
    pub requested: usize,
    /// Assets now in the cache.
    pub ok: usize,
    /// Assets that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Wall time of the whole preload (serialised as `elapsed_seconds`).
    #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
    pub elapsed: Duration,
    /// True when `CDN_PRELOAD_CRITICAL=false` turned preloading off.
    pub skipped: bool,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A snapshot of the counters since start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdnStats {
    /// `fetch` calls.
    pub requests: u64,
    /// Served from the memory cache.
    pub cache_hits: u64,
    /// Not in the cache (fetched, or joined a fetch in flight).
    pub cache_misses: u64,
    /// `cache_hits / requests` (0 with no request).
    pub hit_rate: f64,
    /// Misses that joined a fetch already in flight instead of starting one.
    pub coalesced: u64,
    /// Fetches from the CDN that failed (after retries).
    pub cdn_failures: u64,
    /// Assets served by the origin because the CDN failed or its circuit was open.
    pub fallbacks_to_origin: u64,
    /// Assets served from the local directory because CDN and origin failed.
    pub fallbacks_to_local: u64,
    /// The guide's "failed assets": fallbacks to origin plus to local.
    pub failed_assets: u64,
    /// Assets no source could provide.
    pub unavailable: u64,
    /// HTTP retries.
    pub retries: u64,
    /// Each configured source's circuit (CDN first, then origin), by `host:port`.
    pub breakers: Vec<(String, BreakerState)>,
    /// The last preload, if any.
    pub last_preload: Option<PreloadReport>,
    /// Entries in the memory cache.
    pub cache_entries: u64,
    /// Bytes in the memory cache.
    pub cache_bytes: u64,
    /// Bytes reserved right now by bodies being read (bounded by `CDN_MAX_INFLIGHT_BYTES`).
    pub inflight_bytes: u64,
}

/// Atomic counters plus their metric handles (registered once, not per call).
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub hits: AtomicU64,
    pub coalesced: AtomicU64,
    pub cdn_failures: AtomicU64,
    pub to_origin: AtomicU64,
    pub to_local: AtomicU64,
    pub unavailable: AtomicU64,
    pub retries: AtomicU64,
    m_requests: Counter,
    m_hits: Counter,
    m_coalesced: Counter,
    m_failures: [Counter; 3],
    m_fallbacks: [Counter; 2],
    m_unavailable: Counter,
    m_retries: Counter,
    m_duration: [Histogram; 3],
    m_preload_ok: Counter,
    m_preload_failed: Counter,
}

/// The slot of `source` in the per-source handle arrays.
fn slot(source: Source) -> usize {
    match source {
        Source::Cdn => 0,
        Source::Origin => 1,
        Source::Local => 2,
    }
}

impl Counters {
    pub fn new() -> Self {
        let by_source = |name: &'static str| {
            [Source::Cdn, Source::Origin, Source::Local]
                .map(|s| counter!(name, "source" => s.label()))
        };
        Counters {
            requests: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            cdn_failures: AtomicU64::new(0),
            to_origin: AtomicU64::new(0),
            to_local: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            m_requests: counter!("clip_cdn_requests_total"),
            m_hits: counter!("clip_cdn_cache_hits_total"),
            m_coalesced: counter!("clip_cdn_coalesced_total"),
            m_failures: by_source("clip_cdn_fetch_failures_total"),
            m_fallbacks: [
                counter!("clip_cdn_fallbacks_total", "to" => "origin"),
                counter!("clip_cdn_fallbacks_total", "to" => "local"),
            ],
            m_unavailable: counter!("clip_cdn_unavailable_total"),
            m_retries: counter!("clip_cdn_retries_total"),
            m_duration: [Source::Cdn, Source::Origin, Source::Local]
                .map(|s| histogram!("clip_cdn_fetch_duration_seconds", "source" => s.label())),
            m_preload_ok: counter!("clip_cdn_preload_assets_total", "result" => "ok"),
            m_preload_failed: counter!("clip_cdn_preload_assets_total", "result" => "failed"),
        }
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
        self.m_requests.increment(1);
    }

    pub fn hit(&self) {
        self.hits.fetch_add(1, Relaxed);
        self.m_hits.increment(1);
    }

    pub fn coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
        self.m_coalesced.increment(1);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
        self.m_retries.increment(1);
    }

    pub fn source_failed(&self, source: Source) {
        if source == Source::Cdn {
            self.cdn_failures.fetch_add(1, Relaxed);
        }
        self.m_failures[slot(source)].increment(1);
    }

    pub fn served(&self, source: Source, fell_back: bool, took: Duration) {
        self.m_duration[slot(source)].record(took.as_secs_f64());
        if !fell_back {
            return;
        }
        match source {
            Source::Origin => {
                self.to_origin.fetch_add(1, Relaxed);
                self.m_fallbacks[0].increment(1);
            }
            Source::Local => {
                self.to_local.fetch_add(1, Relaxed);
                self.m_fallbacks[1].increment(1);
            }
            Source::Cdn => {}
        }
    }

    pub fn preloaded(&self, ok: usize, failed: usize) {
        self.m_preload_ok.increment(ok as u64);
        self.m_preload_failed.increment(failed as u64);
    }

    pub fn unavailable(&self) {
        self.unavailable.fetch_add(1, Relaxed);
        self.m_unavailable.increment(1);
    }
}
