//! A liveness fast path in front of an axum app: `GET /health` and `GET /lb-health` answered
//! before routing, with the response of [`super::router`]'s routes and their RED metrics.
//!
//! Probes arrive every few seconds from every load balancer and orchestrator, and a liveness
//! answer is a constant; routing it through the app costs more than building it. Everything
//! else (including `HEAD` and other methods on these paths) goes to the wrapped service
//! unchanged. The fast path never waits for the wrapped service's `poll_ready`: an app that
//! applies backpressure is busy, and a busy instance must not fail its liveness probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response};
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceExt};

use super::red::{Handles, RedLayer, RedMetrics};
use super::{HEALTH_JSON_VALUE, LIVE_BODY, NO_STORE};

/// The liveness paths of [`super::router`], answered by the fast path.
const LIVENESS_PATHS: [&str; 2] = ["/health", "/lb-health"];

/// Answers `GET /health` and `GET /lb-health` in front of the app it wraps, with the same
/// status, headers and body as [`router`](super::router)'s liveness routes, and records them in
/// the same RED series (`route="/health"` or `"/lb-health"`) as the given [`RedLayer`] would.
/// It answers those two paths whatever the wrapped app routes, so use it only where
/// [`router`](super::router) is merged at the root (not nested under a prefix). Wrap the
/// finished app (after `Router::layer`), and serve it with
/// [`axum::ServiceExt::into_make_service`]:
///
/// ```no_run
/// # async fn run(health: clip_health::HealthRegistry) -> std::io::Result<()> {
/// use axum::ServiceExt;
/// use clip_health::axum::{LivenessLayer, RedLayer};
/// use tower::Layer;
///
/// let red = RedLayer::new();
/// let app = axum::Router::new()
///     .route("/clips/{id}", axum::routing::get(|| async { "clip" }))
///     .merge(clip_health::axum::router(health, None))
///     .layer(red.clone());
/// let app = LivenessLayer::recording(&red).layer(app);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, ServiceExt::<axum::extract::Request>::into_make_service(app)).await
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LivenessLayer {
    shared: Arc<FastPath>,
}

impl LivenessLayer {
    /// A fast path that records no metrics (for apps without a [`RedLayer`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A fast path recording its answers in the series of `red`.
    pub fn recording(red: &RedLayer) -> Self {
        LivenessLayer {
            shared: Arc::new(FastPath {
                red: Some(red.metrics()),
                ..FastPath::default()
            }),
        }
    }
}

impl<S> Layer<S> for LivenessLayer {
    type Service = Liveness<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Liveness {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Metric handles of the two liveness routes, resolved on first use and then reused (the
/// labels are fixed), once per recorder generation (before and after
/// [`crate::prometheus::install`]).
#[derive(Debug, Default)]
struct FastPath {
    red: Option<Arc<RedMetrics>>,
    handles: [[OnceLock<Arc<Handles>>; 2]; 2],
}

impl FastPath {
    fn record(&self, route: usize, started: Instant) {
        let Some(red) = &self.red else { return };
        let generation = crate::prometheus::recorder_generation();
        let handles = self.handles[generation][route]
            .get_or_init(|| red.handles(&Method::GET, LIVENESS_PATHS[route], 200));
        // The answer is built within `call`, so it is never observed in flight: no gauge update.
        handles.observe(started.elapsed());
    }
}

/// The service [`LivenessLayer`] puts in front of an app.
#[derive(Clone, Debug)]
pub struct Liveness<S> {
    inner: S,
    shared: Arc<FastPath>,
}

impl<S, B, ResBody> Service<Request<B>> for Liveness<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = LivenessFuture<Oneshot<S, Request<B>>, ResBody>;

    /// Always ready: a liveness probe must not wait on the app's backpressure (a concurrency
    /// limit, a buffer, a load shedder), or kubelet restarts a pod that is busy, not dead.
    /// Routed requests wait for the app's readiness in their own future instead.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() == Method::GET {
            let path = request.uri().path().as_bytes();
            if let Some(route) = LIVENESS_PATHS.iter().position(|p| p.as_bytes() == path) {
                let started = Instant::now();
                let response = live_response();
                self.shared.record(route, started);
                return LivenessFuture::answered(response);
            }
        }
        // Tower's pattern for routers: drive a clone of the app to readiness for this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        LivenessFuture::routed(inner.oneshot(request))
    }
}

/// The liveness answer: static body, static header values.
fn live_response<B: From<Bytes>>() -> Response<B> {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, HEALTH_JSON_VALUE);
    headers.insert(CACHE_CONTROL, NO_STORE);
    let mut response = Response::new(B::from(Bytes::from_static(LIVE_BODY.as_bytes())));
    *response.headers_mut() = headers;
    response
}

pin_project_lite::pin_project! {
    /// The response future of [`Liveness`]: a liveness answer, or the wrapped service's future.
    pub struct LivenessFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Answered { response: Option<Response<B>> },
        Routed { #[pin] inner: F },
    }
}

impl<F, B> LivenessFuture<F, B> {
    fn answered(response: Response<B>) -> Self {
        LivenessFuture {
            state: State::Answered {
                response: Some(response),
            },
        }
    }

    fn routed(inner: F) -> Self {
        LivenessFuture {
            state: State::Routed { inner },
        }
    }
}

impl<F, B, E> Future for LivenessFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("LivenessFuture polled after completion"),
            },
            StateProj::Routed { inner } => inner.poll(cx),
        }
    }
}
