//! `Cdn`: URLs that point at the CDN (or the origin when it is off or down), and fetches
//! that fall back CDN -> origin -> local file behind a byte-bounded memory cache whose
//! concurrent misses share one fetch.

use std::collections::HashMap;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::stream::{self, StreamExt};
use moka::future::Cache;

use crate::breaker::{Breaker, BreakerState};
use crate::config::CdnConfig;
use crate::error::{Error, Result};
use crate::image_url::ImageUrl;
use crate::inflight::InflightBytes;
use crate::manifest::Manifest;
use crate::stats::{CdnStats, Counters, PreloadReport, Source};
use crate::transform::{self, TransformRequest};
use crate::url_path::{decode_path, encode_path, has_dot_segment, normalize};

mod health;
mod sources;

/// A fetched asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Root-relative path (`/images/a.jpg`).
    pub path: String,
    /// Content version from the manifest, if it lists the asset.
    pub version: Option<String>,
    /// The content.
    pub bytes: Bytes,
    /// `Content-Type` as served (guessed from the extension for local files).
    pub content_type: Option<String>,
    /// Where the content came from.
    pub source: Source,
    /// Whether this call was served from the memory cache.
    pub from_cache: bool,
}

/// Cache key: the path and its content version, so a new version never sees the old bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: String,
    version: Option<String>,
}

type InFlight = Shared<BoxFuture<'static, Result<Asset>>>;

/// Bytes a cache entry costs besides its path and body (an estimate of `Key`, `Asset` and
/// moka's per-entry node).
const ENTRY_OVERHEAD: usize = 256;

struct Inner {
    config: CdnConfig,
    /// `config.allowed_widths` sorted and deduplicated, for srcsets and snapping.
    widths: Vec<u32>,
    /// The CDN's circuit, when `CDN_BASE_URL` is set (and the CDN enabled).
    cdn_breaker: Option<Breaker>,
    /// The origin's circuit, when `CDN_ORIGIN_URL` is set.
    origin_breaker: Option<Breaker>,
    manifest: RwLock<Arc<Manifest>>,
    cache: Cache<Key, Asset>,
    /// Fetches under way, each tagged with its id so only its own task removes it.
    in_flight: Mutex<HashMap<Key, (u64, InFlight)>>,
    next_fetch_id: AtomicU64,
    /// Bumped by every invalidation: a fetch that started before one does not fill the cache.
    generation: AtomicU64,
    /// Fills (generation check and insert) hold it shared, invalidations exclusively: an
    /// invalidation waits for inserts under way, and no fill from before it lands after it.
    fill_lock: tokio::sync::RwLock<()>,
    /// Bytes being read by all fetches together.
    inflight: InflightBytes,
    http: reqwest::Client,
    /// Set once the background health probe runs, so it never runs twice.
    probe_started: AtomicBool,
    counters: Counters,
    last_preload: Mutex<Option<PreloadReport>>,
}

/// The CDN URL and asset manager. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Cdn {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cdn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdn")
            .field("base_url", &self.inner.config.base_url)
            .finish_non_exhaustive()
    }
}

fn host_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default().unwrap_or(0)
    ))
}

/// Follows redirects only within the host (scheme, host and port) the request went to:
/// a source's open redirect must not turn `fetch(path)` into a request to another host
/// (a metadata service, an internal port), whose answer would be cached as the asset.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let to = attempt.url();
        let same = attempt.previous().first().is_some_and(|from| {
            from.scheme() == to.scheme()
                && from.host_str() == to.host_str()
                && from.port_or_known_default() == to.port_or_known_default()
        });
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same {
            attempt.follow()
        } else {
            let refused = format!("redirect to another host refused: {to}");
            attempt.error(refused)
        }
    })
}

/// A breaker for a source at `base`, when there is one.
fn breaker(source: Source, base: Option<&String>, config: &CdnConfig) -> Option<Breaker> {
    let host = host_of(base?)?;
    Some(Breaker::new(
        source,
        host,
        config.breaker_failures,
        config.breaker_cooldown,
    ))
}

impl Cdn {
    /// Builds the manager from a validated config. Needs no runtime until `fetch`; inside
    /// one it also starts the CDN's background health probe
    /// ([`spawn_health_probe`](Cdn::spawn_health_probe)).
    pub fn new(mut config: CdnConfig) -> Result<Cdn> {
        config.validate()?;
        // Paths start with '/': a base ending in one would double it.
        for url in [&mut config.base_url, &mut config.origin_url]
            .into_iter()
            .flatten()
        {
            url.truncate(url.trim_end_matches('/').len());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .redirect(same_host_redirects())
            .user_agent(concat!("clip-cdn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                variable: "CDN_BASE_URL",
                value: String::new(),
                reason: format!("HTTP client: {e}"),
            })?;
        let cache = Cache::builder()
            .max_capacity(config.cache_max_bytes)
            .weigher(|k: &Key, a: &Asset| {
                // The body, and what every entry costs besides (key, metadata, moka's own
                // bookkeeping), so even empty assets are bounded in number.
                let size = a.bytes.len() + k.path.len() + a.path.len() + ENTRY_OVERHEAD;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .time_to_live(config.cache_ttl)
            .build();
        let mut widths = config.allowed_widths.clone();
        widths.sort_unstable();
        widths.dedup();
        let inner = Inner {
            widths,
            cdn_breaker: breaker(
                Source::Cdn,
                config.base_url.as_ref().filter(|_| config.enabled),
                &config,
            ),
            origin_breaker: breaker(Source::Origin, config.origin_url.as_ref(), &config),
            manifest: RwLock::new(Arc::new(Manifest::new())),
            cache,
            in_flight: Mutex::new(HashMap::new()),
            next_fetch_id: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            fill_lock: tokio::sync::RwLock::new(()),
            inflight: InflightBytes::new(config.max_inflight_bytes),
            http,
            probe_started: AtomicBool::new(false),
            counters: Counters::new(),
            last_preload: Mutex::new(None),
            config,
        };
        let cdn = Cdn {
            inner: Arc::new(inner),
        };
        cdn.spawn_health_probe();
        Ok(cdn)
    }

    /// The configuration in force.
    pub fn config(&self) -> &CdnConfig {
        &self.inner.config
    }

    /// The manifest in force.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.inner
            .manifest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs a manifest (e.g. after a deploy) and invalidates the cached assets whose
    /// hash changed or that it no longer lists; returns those paths.
    pub async fn set_manifest(&self, manifest: Manifest) -> Vec<String> {
        let new = Arc::new(manifest);
        let old = {
            let mut slot = self
                .inner
                .manifest
                .write()
                .unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *slot, new.clone())
        };
        // Compared with the manifest installed here, not whatever a concurrent call installed since.
        let changed = old.changed_in(&new);
        // One pass over the cache; entries of the new versions (warmed by `preload(&new)`
        // before the switch) stay.
        let stale: HashMap<String, Option<String>> = changed
            .iter()
            .map(|p| (p.clone(), new.version(p).map(str::to_owned)))
            .collect();
        self.invalidate_where(move |k| stale.get(&k.path).is_some_and(|v| *v != k.version))
            .await;
        changed
    }

    /// Whether the CDN is configured, enabled and its circuit closed. While it is open
    /// or half-open (cooldown over, but no probe has succeeded yet) pages get origin URLs.
    pub fn cdn_healthy(&self) -> bool {
        self.inner.config.cdn_active()
            && self
                .inner
                .cdn_breaker
                .as_ref()
                .is_none_or(|b| b.state() == BreakerState::Closed)
    }

    /// Base URL that pages should load from right now.
    pub(crate) fn serving_base(&self) -> &str {
        match &self.inner.config.base_url {
            Some(base) if self.cdn_healthy() => base,
            _ => self.origin_base(),
        }
    }

    /// The allowed widths, ascending, each once.
    pub(crate) fn sorted_widths(&self) -> &[u32] {
        &self.inner.widths
    }

    pub(crate) fn origin_base(&self) -> &str {
        self.inner.config.origin_url.as_deref().unwrap_or("")
    }

    /// The URL of `path` with its content version: on the CDN when it is enabled and
    /// healthy, on the origin otherwise (root-relative without `CDN_ORIGIN_URL`).
    pub fn url(&self, path: &str) -> String {
        let path = normalize(path);
        let manifest = self.manifest();
        let base = self.serving_base();
        let mut out = String::with_capacity(base.len() + path.len() + 16);
        out.push_str(base);
        out.push_str(&encode_path(&path));
        if let Some(v) = manifest.version(&path) {
            out.push_str("?v=");
            out.push_str(v);
        }
        out
    }

    /// A builder for image transform URLs, `srcset`s and `<img>` HTML.
    pub fn image(&self, path: &str) -> ImageUrl<'_> {
        ImageUrl::new(self, path)
    }

    /// Origin side of transform URLs: accepts the query of a request for `path` only when
    /// it is exactly what [`Cdn::image`] writes for it today: canonical spelling (known
    /// parameters, once each, in order, values as written), `v` equal to the manifest's
    /// version (absent when the manifest does not list the path), and a valid signature
    /// when signing keys are set (unsigned queries are then refused), or within the
    /// allow-lists when they are not. Anything else is an error naming the problem
    /// ([`Error::http_status`] maps it to 400, a signature failure to 403).
    ///
    /// Call it before reading the source: a refused query costs no I/O.
    pub fn verify_transform(&self, path: &str, query: &str) -> Result<TransformRequest> {
        let request = transform::parse_query(query)?;
        let path = normalize(path);
        // The request path arrives percent-encoded (`/my%20photo.jpg`); the manifest lists
        // the file's own name.
        let manifest = self.manifest();
        let current = manifest
            .version(&path)
            .or_else(|| decode_path(&path).and_then(|decoded| manifest.version(&decoded)));
        transform::check_version(&path, &request, current)?;
        // Signatures cover the path as it is written in the URL (percent-encoded).
        transform::check(&self.inner.config, &encode_path(&path), &request)?;
        Ok(request)
    }

    /// Fetches `path`: the memory cache, else CDN -> origin -> local directory, each HTTP
    /// source with retries behind its circuit breaker. Concurrent misses of one asset share
    /// one fetch; each caller waits at most `coalesce_timeout` for it. A path with a `.`
    /// or `..` segment (also percent-encoded) is refused with [`Error::BadPath`].
    pub async fn fetch(&self, path: &str) -> Result<Asset> {
        let inner = &self.inner;
        inner.counters.request();
        let path = normalize(path);
        if has_dot_segment(&path) {
            return Err(Error::BadPath {
                path,
                reason: "it has a '.' or '..' segment (URL parsing would resolve it, \
                         possibly outside CDN_BASE_URL / CDN_ORIGIN_URL): pass the asset's own path"
                    .into(),
            });
        }
        let version = self.manifest().version(&path).map(str::to_owned);
        self.fetch_key(Key { path, version }).await
    }

    /// The cache, else one shared fetch of `key`.
    async fn fetch_key(&self, key: Key) -> Result<Asset> {
        let inner = &self.inner;
        if let Some(mut asset) = inner.cache.get(&key).await {
            inner.counters.hit();
            asset.from_cache = true;
            return Ok(asset);
        }
        let shared = {
            let mut in_flight = inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, f)) = in_flight.get(&key) {
                inner.counters.coalesced();
                f.clone()
            } else {
                // The fetch runs as its own task: a caller that gives up does not cancel it for the others.
                let id = inner.next_fetch_id.fetch_add(1, Relaxed);
                // Read here, under the in-flight lock that invalidations also take: a
                // fetch registered before an invalidation carries the older generation.
                let generation = inner.generation.load(Acquire);
                let task = tokio::spawn(Inner::fetch_and_cache(
                    inner.clone(),
                    key.clone(),
                    id,
                    generation,
                ));
                let path = key.path.clone();
                let f = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(Error::Unavailable {
                            path,
                            last: format!("fetch task failed: {e}"),
                        })
                    })
                }
                .boxed()
                .shared();
                in_flight.insert(key.clone(), (id, f.clone()));
                f
            }
        };
        let wait = inner.config.coalesce_timeout;
        tokio::time::timeout(wait, shared)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    path: key.path,
                    after: wait,
                })
            })
    }

    /// Warms the cache with the critical assets of `manifest`, at the versions it lists (at
    /// most `preload_concurrency` at once), and reports what happened. Call it with a new
    /// manifest before [`set_manifest`](Cdn::set_manifest): the switch keeps what it warmed.
    pub async fn preload(&self, manifest: &Manifest) -> PreloadReport {
        let started = Instant::now();
        if !self.inner.config.preload_critical {
            return PreloadReport {
                skipped: true,
                ..PreloadReport::default()
            };
        }
        let keys: Vec<Key> = manifest
            .critical()
            .map(|p| Key {
                path: p.to_owned(),
                version: manifest.version(p).map(str::to_owned),
            })
            .collect();
        let results: Vec<(String, Result<Asset>)> = stream::iter(keys)
            .map(async |key| {
                self.inner.counters.request();
                let path = key.path.clone();
                (path, self.fetch_key(key).await)
            })
            .buffer_unordered(self.inner.config.preload_concurrency)
            .collect()
            .await;
        let mut report = PreloadReport {
            requested: results.len(),
            ..PreloadReport::default()
        };
        for (path, result) in results {
            match result {
                Ok(_) => report.ok += 1,
                Err(e) => report.failed.push((path, e.to_string())),
            }
        }
        report.failed.sort();
        report.elapsed = started.elapsed();
        self.inner
            .counters
            .preloaded(report.ok, report.failed.len());
        *self
            .inner
            .last_preload
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }

    /// Drops every cached version of `path`.
    pub async fn invalidate(&self, path: &str) {
        let path = normalize(path);
        self.invalidate_where(move |k| k.path == path).await;
    }

    /// Drops every cached asset whose path starts with `prefix` (e.g. `/images/`).
    pub async fn invalidate_prefix(&self, prefix: &str) {
        let prefix = normalize(prefix);
        self.invalidate_where(move |k| k.path.starts_with(&prefix))
            .await;
    }

    /// Empties the cache.
    pub async fn invalidate_all(&self) {
        self.invalidate_where(|_| true).await;
    }

    /// Drops the cached entries `keep_out` selects. Atomic with fills: when it returns,
    /// no entry from a fetch that started before it is in the cache, nor will be.
    async fn invalidate_where(&self, keep_out: impl Fn(&Key) -> bool) {
        let inner = &self.inner;
        {
            // Waits for inserts under way; fills from before cannot insert after this.
            let _no_fills = inner.fill_lock.write().await;
            inner.generation.fetch_add(1, AcqRel);
            self.forget_in_flight(&keep_out);
            // Each entry by its key: exact and immediate (moka's predicates only cover
            // entries inserted before them, and are applied later).
            let doomed: Vec<Key> = inner
                .cache
                .iter()
                .filter(|(k, _)| keep_out(k))
                .map(|(k, _)| Key::clone(&k))
                .collect();
            for key in doomed {
                inner.cache.invalidate(&key).await;
            }
        }
        inner.cache.run_pending_tasks().await;
    }

    /// Fetches that started before an invalidation carry the old content: later callers
    /// must start their own instead of joining them (the old ones finish for their waiters).
    fn forget_in_flight(&self, invalidated: impl Fn(&Key) -> bool) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| !invalidated(key));
    }

    /// Counters since start, the circuits and the last preload.
    pub fn stats(&self) -> CdnStats {
        let c = &self.inner.counters;
        let requests = c.requests.load(Relaxed);
        let hits = c.hits.load(Relaxed);
        let (to_origin, to_local) = (c.to_origin.load(Relaxed), c.to_local.load(Relaxed));
        CdnStats {
            requests,
            cache_hits: hits,
            cache_misses: requests.saturating_sub(hits),
            hit_rate: if requests == 0 {
                0.0
            } else {
                hits as f64 / requests as f64
            },
            coalesced: c.coalesced.load(Relaxed),
            cdn_failures: c.cdn_failures.load(Relaxed),
            fallbacks_to_origin: to_origin,
            fallbacks_to_local: to_local,
            failed_assets: to_origin + to_local,
            unavailable: c.unavailable.load(Relaxed),
            retries: c.retries.load(Relaxed),
            breakers: [&self.inner.cdn_breaker, &self.inner.origin_breaker]
                .into_iter()
                .flatten()
                .map(|b| (b.host().to_owned(), b.state()))
                .collect(),
            last_preload: self
                .inner
                .last_preload
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            cache_entries: self.inner.cache.entry_count(),
            cache_bytes: self.inner.cache.weighted_size(),
            inflight_bytes: self.inner.inflight.in_use(),
        }
    }
}

impl Inner {
    /// One fetch task: reads the sources, then fills the cache unless an invalidation
    /// came after `generation` (read when the fetch was registered).
    async fn fetch_and_cache(
        self: Arc<Inner>,
        key: Key,
        id: u64,
        generation: u64,
    ) -> Result<Asset> {
        // Removes the in-flight entry however this task ends: finished, panicked, or
        // cancelled by its runtime shutting down. Left behind, the entry would hand every
        // later caller of this key the dead task's error forever.
        let _in_flight = InFlightEntry {
            inner: self.clone(),
            key: key.clone(),
            id,
        };
        let result = self.fetch_uncached(&key).await;
        if let Ok(asset) = &result {
            let filled = {
                let _fill = self.fill_lock.read().await;
                let current = self.generation.load(Acquire) == generation;
                if current {
                    self.cache.insert(key.clone(), asset.clone()).await;
                }
                current
            };
            if filled {
                // Keeps entry_count/weighted_size (stats) current; once per miss, off the hit path.
                self.cache.run_pending_tasks().await;
            }
        }
        result
    }
}

/// The in-flight slot of one fetch task; dropping it frees the key for the next miss.
struct InFlightEntry {
    inner: Arc<Inner>,
    key: Key,
    id: u64,
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // After an invalidation the slot may hold a newer fetch of the same key: keep it.
        if in_flight
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            in_flight.remove(&self.key);
        }
    }
}
