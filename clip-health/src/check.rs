//! One registered check: its settings, and how it runs (under its timeout, behind a panic guard).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{CheckOutcome, Criticality};

type BoxedRun = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = CheckOutcome> + Send>> + Send + Sync>;

/// A named dependency check with its criticality, timeout and reporting options.
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
/// .failure_threshold(3);
/// let health = HealthRegistry::builder().with_check(queue).build();
/// # let _ = health;
/// ```
#[derive(Clone)]
pub struct Check {
    pub(crate) name: Cow<'static, str>,
    pub(crate) criticality: Criticality,
    pub(crate) timeout: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) measurement: Cow<'static, str>,
    pub(crate) component_type: Option<Cow<'static, str>>,
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
            timeout,
            failure_threshold: 1,
            measurement: Cow::Borrowed("responseTime"),
            component_type: None,
            run,
        }
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

    /// The draft's `componentType`, e.g. `"datastore"`, `"component"` or `"system"`.
    pub fn component_type(mut self, component_type: impl Into<Cow<'static, str>>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    /// The key of this check in a report: `name:measurement`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.measurement)
    }

    /// Runs the check once on its own task, so that neither a panic nor a hang escapes:
    /// a timeout reads `fail` with output "timeout ..", a panic `fail` with its message.
    pub(crate) async fn run_guarded(&self) -> CheckOutcome {
        let task = AbortOnDrop(tokio::spawn((self.run)()));
        match tokio::time::timeout(self.timeout, task.wait()).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) if join_error.is_panic() => {
                let payload = join_error.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                CheckOutcome::fail(format!("check panicked: {message}"))
            }
            Ok(Err(_cancelled)) => {
                CheckOutcome::fail("check was cancelled (runtime shutting down)")
            }
            Err(_elapsed) => CheckOutcome::fail(format!(
                "timeout: no answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("criticality", &self.criticality)
            .field("timeout", &self.timeout)
            .field("failure_threshold", &self.failure_threshold)
            .field("measurement", &self.measurement)
            .field("component_type", &self.component_type)
            .finish_non_exhaustive()
    }
}

/// Aborts the check's task when the caller stops waiting (timeout, or the HTTP request went away),
/// so a hung check does not pile up tasks.
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
