//! One registered check: its settings, and how one run of it is guarded (timeout, panics, blocking).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{CheckOutcome, Criticality};

/// Longest accepted check timeout: a readiness probe waits up to this long for the first result.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

type BoxedRun = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = CheckOutcome> + Send>> + Send + Sync>;

/// A named dependency check with its criticality, timeout, readiness and reporting options.
///
/// [`HealthRegistryBuilder::check`](crate::HealthRegistryBuilder::check) covers the common case;
/// build a `Check` directly for the options:
///
/// ```
/// use std::time::Duration;
/// use clip_health::{Check, CheckOutcome, Criticality, HealthRegistry};
///
/// let queue = Check::new("queue", Criticality::NonCritical, Duration::from_millis(500), || async {
///     let pending = 12; // ask the queue here
///     CheckOutcome::pass().observed(pending, "jobs")
/// })
/// .measurement("length")
/// .component_type("component")
/// .failure_threshold(3)
/// .affects_readiness(false); // a long queue is no reason to leave the load balancer
/// let health = HealthRegistry::builder().with_check(queue).build();
/// # let _ = health;
/// ```
#[derive(Clone)]
pub struct Check {
    pub(crate) name: Cow<'static, str>,
    pub(crate) criticality: Criticality,
    pub(crate) affects_readiness: bool,
    pub(crate) timeout: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) measurement: Cow<'static, str>,
    pub(crate) component_type: Cow<'static, str>,
    run: BoxedRun,
}

impl Check {
    /// A check named `name` (the draft's component name) that runs `run` under `timeout`.
    ///
    /// `run` returns anything convertible into a [`CheckOutcome`]: a `CheckOutcome`, a
    /// [`Status`](crate::Status), or a `Result<(), E>` / `Result<CheckOutcome, E>`.
    pub fn new<F, Fut, O>(
        name: impl Into<Cow<'static, str>>,
        criticality: Criticality,
        timeout: Duration,
        run: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Into<CheckOutcome> + 'static,
    {
        let run: BoxedRun = Arc::new(move || {
            let fut = run();
            Box::pin(async move { fut.await.into() })
        });
        Self {
            name: name.into(),
            criticality,
            affects_readiness: true,
            timeout,
            failure_threshold: 1,
            measurement: Cow::Borrowed("responseTime"),
            component_type: Cow::Borrowed("component"),
            run,
        }
    }

    /// Whether a critical failure of this check fails readiness (default `true`). With `false`
    /// the check stays in the full report (`/api/health`), where its criticality still decides
    /// between `fail` and `warn`, but readiness neither runs it nor waits for it.
    ///
    /// Use `false` for a dependency that every replica shares (the one database, a third-party
    /// API): when it is down, it is down for all of them, and failing readiness would take every
    /// replica out of the load balancer at once, turning degraded service into no service
    /// (Spring Boot's probe guidance). Keep `true` for what is this instance's own (its pool,
    /// its disk, its warm-up), where moving traffic to the other replicas helps.
    pub fn affects_readiness(mut self, affects: bool) -> Self {
        self.affects_readiness = affects;
        self
    }

    /// Report `fail` only after `n` consecutive failures (timeouts and panics count); the
    /// failures before that read `warn`, so one blip does not pull the instance out of rotation.
    /// `0` and `1` both mean "fail at once" (the default).
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n.max(1);
        self
    }

    /// The draft's measurement name, the part after `:` in the report key
    /// (default `responseTime`, whose value is filled with the check's duration in ms
    /// when the check reports no value of its own).
    pub fn measurement(mut self, measurement: impl Into<Cow<'static, str>>) -> Self {
        self.measurement = measurement.into();
        self
    }

    /// The draft's `componentType`, e.g. `"datastore"`, `"component"` or `"system"`
    /// (default `"component"`: the draft wants one wherever a component is named).
    pub fn component_type(mut self, component_type: impl Into<Cow<'static, str>>) -> Self {
        self.component_type = component_type.into();
        self
    }

    /// Why this check cannot be registered as it is, if it cannot: the draft forbids ':' in
    /// names (the report key is `name:measurement`), and a timeout must let a check answer
    /// while a probe still waits.
    pub(crate) fn problem(&self) -> Option<String> {
        for (what, text) in [("name", &self.name), ("measurement", &self.measurement)] {
            if text.is_empty() {
                return Some(format!("the {what} is empty"));
            }
            if text.contains(':') {
                return Some(format!(
                    "the {what} {text:?} contains ':', which separates name and measurement in the report"
                ));
            }
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Some(format!(
                "timeout {:?} is outside 1 ms ..= {} s: zero always fails, and a probe waits that long",
                self.timeout,
                MAX_TIMEOUT.as_secs()
            ));
        }
        None
    }

    /// The key of this check in a report: `name:measurement`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.measurement)
    }

    /// Runs the check once, guarded, and always ends within the check's timeout:
    /// - the closure is called on tokio's blocking pool, so a panic or a blocking call in its
    ///   synchronous part (before it returns its future) reaches neither the caller nor the
    ///   async workers that answer liveness;
    /// - its future runs on a task of its own, aborted when the timeout fires;
    /// - a timeout reads `fail` with output "timeout ..", a panic `fail` with its message.
    ///
    /// `closure_busy` is the slot's flag for "a call of the closure has not returned yet": while
    /// it is set (a call blocked past an earlier timeout), the closure is not called again, so a
    /// check that blocks forever holds one blocking thread, not one per probe.
    pub(crate) async fn run_guarded(&self, closure_busy: &Arc<AtomicBool>) -> CheckOutcome {
        if closure_busy.swap(true, Ordering::AcqRel) {
            return CheckOutcome::fail(
                "blocked: the previous call of this check's closure has not returned yet \
                 (it blocks its thread before returning a future)",
            );
        }
        let run = self.run.clone();
        // Cleared when the closure returns or unwinds, or when it is dropped uncalled (the
        // runtime shutting down), so the flag never outlives the call.
        let done = ClearOnDrop(closure_busy.clone());
        let guarded = async move {
            let future = tokio::task::spawn_blocking(move || {
                let _done = done;
                run()
            })
            .await?;
            AbortOnDrop(tokio::spawn(future)).wait().await
        };
        match tokio::time::timeout(self.timeout, guarded).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) if join_error.is_panic() => {
                CheckOutcome::fail(format!("check panicked: {}", panic_message(join_error)))
            }
            Ok(Err(_cancelled)) => {
                CheckOutcome::fail("check was cancelled (runtime shutting down)")
            }
            Err(_elapsed) => {
                let still_blocked = if closure_busy.load(Ordering::Acquire) {
                    " (its closure is still blocked before returning a future)"
                } else {
                    ""
                };
                CheckOutcome::fail(format!(
                    "timeout: no answer within {} ms{still_blocked}",
                    self.timeout.as_millis()
                ))
            }
        }
    }
}

fn panic_message(join_error: tokio::task::JoinError) -> String {
    let payload = join_error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Clears the "closure running" flag when dropped.
struct ClearOnDrop(Arc<AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("criticality", &self.criticality)
            .field("affects_readiness", &self.affects_readiness)
            .field("timeout", &self.timeout)
            .field("failure_threshold", &self.failure_threshold)
            .field("measurement", &self.measurement)
            .field("component_type", &self.component_type)
            .finish_non_exhaustive()
    }
}

/// Aborts the check's task when its run stops waiting for it (the timeout fired), so a hung
/// check does not pile up tasks.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn wait(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
