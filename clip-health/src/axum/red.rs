//! A tower layer recording RED metrics (rate, errors, duration) per route template.
//!
//! Records `http_requests_total{method,route,status}`, the histogram
//! `http_request_duration_seconds{method,route,status}` (time to response headers) and the
//! gauge `http_requests_in_flight`. `route` is axum's [`MatchedPath`] (`/clips/{id}`),
//! never the raw path, so label cardinality stays bounded; requests that matched no route are
//! labelled `unmatched`. A request whose client went away before the response counts as status 499.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use http::{Method, Request, Response};
use metrics::{Counter, Gauge, Histogram};
use tower::{Layer, Service};

/// Label of requests that matched no route (404 fallback).
const UNMATCHED: &str = "unmatched";
/// Status label of requests dropped before a response (nginx's "client closed request").
const CLIENT_CLOSED: u16 = 499;

/// Records RED metrics for every request of the router it wraps. Apply it with
/// [`Router::layer`](axum::Router::layer) (not around the router from outside), so that the
/// matched route is known:
///
/// ```
/// use clip_health::axum::RedLayer;
/// let app: axum::Router = axum::Router::new()
///     .route("/clips/{id}", axum::routing::get(|| async { "clip" }))
///     .layer(RedLayer::new());
/// # let _ = app;
/// ```
///
/// Metric handles are resolved on first use of each (method, route, status) and cached. Handles
/// made before [`crate::prometheus::install`] are dropped when it runs, so requests served
/// before it are lost but none after; with a recorder installed another way, install it before
/// serving requests, or the series first used before stay on the no-op recorder.
#[derive(Clone, Debug, Default)]
pub struct RedLayer {
    metrics: Arc<RedMetrics>,
}

impl RedLayer {
    /// A layer with its own handle cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one finished request directly, for callers outside tower (and for benchmarks).
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        self.metrics.record(method, route, status, elapsed);
    }

    /// The handle cache, shared with the liveness fast path so both record in the same series.
    pub(crate) fn metrics(&self) -> Arc<RedMetrics> {
        self.metrics.clone()
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RedService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RedLayer`] wraps around each route.
#[derive(Clone, Debug)]
pub struct RedService<S> {
    inner: S,
    metrics: Arc<RedMetrics>,
}

impl<S, B, ResBody> Service<Request<B>> for RedService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let pending = Pending::start(self.metrics.clone(), request.method().clone(), route);
        RedFuture {
            inner: self.inner.call(request),
            pending: Some(pending),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RedService`]: records when the response is ready, or as
    /// status 499 when dropped before that.
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F, ResBody, E> Future for RedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            let status = match &output {
                Ok(response) => response.status().as_u16(),
                Err(_) => 500,
            };
            pending.finish(status);
        }
        Poll::Ready(output)
    }
}

/// One request in flight; dropping it unfinished records it as a client-closed request.
struct Pending {
    metrics: Arc<RedMetrics>,
    /// The recorder generation whose in-flight gauge was incremented, to decrement the same one.
    generation: usize,
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
    done: bool,
}

impl Pending {
    fn start(metrics: Arc<RedMetrics>, method: Method, route: Option<MatchedPath>) -> Self {
        let generation = crate::prometheus::recorder_generation();
        metrics.in_flight(generation).increment(1.0);
        Pending {
            metrics,
            generation,
            method,
            route,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(mut self, status: u16) {
        self.record(status);
    }

    fn record(&mut self, status: u16) {
        self.done = true;
        self.metrics.in_flight(self.generation).decrement(1.0);
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        self.metrics
            .record(&self.method, route, status, self.started.elapsed());
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.record(CLIENT_CLOSED);
        }
    }
}

/// The counter and histogram of one (method, route, status).
#[derive(Debug)]
pub(crate) struct Handles {
    method: Method,
    route: Box<str>,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

type HandleMap = HashMap<u64, Vec<Arc<Handles>>, BuildHasherDefault<PassThrough>>;

/// Handle cache keyed by a hash of (method, route, status); entries check the full key, so a
/// hash collision costs a scan, never a wrong label. One cache per recorder generation
/// (before and after [`crate::prometheus::install`]).
#[derive(Debug, Default)]
pub(crate) struct RedMetrics {
    handles: [RwLock<HandleMap>; 2],
    in_flight: [OnceLock<Gauge>; 2],
}

impl RedMetrics {
    fn in_flight(&self, generation: usize) -> &Gauge {
        self.in_flight[generation].get_or_init(|| metrics::gauge!("http_requests_in_flight"))
    }

    fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        self.handles(method, route, status).observe(elapsed);
    }

    /// The cached handles of (method, route, status), created on first use.
    pub(crate) fn handles(&self, method: &Method, route: &str, status: u16) -> Arc<Handles> {
        let method = normalise(method);
        let hash = key_hash(&method, route, status);
        let matches =
            |h: &&Arc<Handles>| h.status == status && h.method == method && &*h.route == route;
        let handles = &self.handles[crate::prometheus::recorder_generation()];
        let cached = {
            let map = handles.read().unwrap_or_else(|e| e.into_inner());
            map.get(&hash)
                .and_then(|list| list.iter().find(matches).cloned())
        };
        match cached {
            Some(handles) => handles,
            None => {
                let mut map = handles.write().unwrap_or_else(|e| e.into_inner());
                let list = map.entry(hash).or_default();
                match list.iter().find(matches) {
                    Some(handles) => handles.clone(),
                    None => {
                        let handles = Arc::new(Handles::new(method.clone(), route, status));
                        list.push(handles.clone());
                        handles
                    }
                }
            }
        }
    }
}

impl Handles {
    /// Counts one finished request that took `elapsed`.
    pub(crate) fn observe(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }

    fn new(method: Method, route: &str, status: u16) -> Self {
        let labels = [
            ("method", method.as_str().to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        Handles {
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
            method,
            route: route.into(),
            status,
        }
    }
}

/// Standard methods keep their name; any other (clients can send anything) reads `OTHER`,
/// so a client cannot mint label values.
fn normalise(method: &Method) -> Method {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if STANDARD.contains(method) {
        method.clone()
    } else {
        Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
    }
}

fn key_hash(method: &Method, route: &str, status: u16) -> u64 {
    // FNV-1a: a few ns for a short route, deterministic, and collisions are handled above.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in method
        .as_str()
        .as_bytes()
        .iter()
        .chain([0u8].iter())
        .chain(route.as_bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ u64::from(status)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The keys are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_standard_methods_collapse_to_other() {
        assert_eq!(normalise(&Method::GET), Method::GET);
        let odd = Method::from_bytes(b"BREW").expect("extension method");
        assert_eq!(normalise(&odd).as_str(), "OTHER");
    }

    #[test]
    fn keys_differ_by_every_part() {
        let base = key_hash(&Method::GET, "/clips/{id}", 200);
        assert_ne!(base, key_hash(&Method::POST, "/clips/{id}", 200));
        assert_ne!(base, key_hash(&Method::GET, "/clips", 200));
        assert_ne!(base, key_hash(&Method::GET, "/clips/{id}", 404));
    }
}
