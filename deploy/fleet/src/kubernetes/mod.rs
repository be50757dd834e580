//! The Kubernetes manifests (`deploy/kubernetes/scaling-config.yaml`) as typed `k8s-openapi`
//! objects, so every field name and type is the API's own: the app (ConfigMap, Deployment,
//! Service, PodDisruptionBudget, Secret references), its HorizontalPodAutoscaler (thresholds and
//! behaviour from `clip_scaling_policy::ScalingConfig`), and the nginx load balancer in front.

mod app;
mod autoscaling;
mod balancer;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Namespace, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

pub use app::{PRE_STOP_SLEEP_SECONDS, graceful_period_seconds};
pub use autoscaling::horizontal_pod_autoscaler;

use crate::nginx::NginxSettings;
use crate::{FleetError, Mode, Profile};

/// The namespace every object lives in.
pub const NAMESPACE: &str = "creator-clip-ai";
/// Name of the app's Deployment, Service, HPA, PDB and ConfigMap.
pub const APP: &str = "clip-app";
/// Name of the Secret the app reads `database-url` and `admin-token` from (created by the operator).
pub const APP_SECRET: &str = "clip-app-secrets";
/// Name of the load balancer's Deployment, Service and ConfigMap.
pub const LB: &str = "clip-lb";
/// Name of the `kubernetes.io/tls` Secret nginx serves (created by the operator or cert-manager).
pub const TLS_SECRET: &str = "clip-tls";
/// The port the app listens on in a container.
pub const APP_PORT: u16 = 3000;
/// How nginx reaches the app: its Service's cluster DNS name.
pub const APP_SERVICE_ADDRESS: &str = "clip-app.creator-clip-ai.svc.cluster.local:3000";

/// What the generator is asked for.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// The environment's profile.
    pub profile: Profile,
    /// The app's container image.
    pub app_image: String,
    /// The load balancer's container image.
    pub nginx_image: String,
    /// Include the request-rate and queue-length metrics in the HPA. They need the Prometheus
    /// adapter (custom and external metrics APIs); without it the HPA cannot read them and will
    /// not scale down, so leave them out on clusters that only run metrics-server.
    pub custom_metrics: bool,
}

impl ManifestOptions {
    /// The defaults for a profile: the images built by `deploy/Dockerfile` and the official
    /// nginx image, with the custom metrics.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            app_image: "creator-clip/clip-app:latest".into(),
            nginx_image: "nginx:1.27-alpine".into(),
            custom_metrics: true,
        }
    }
}

/// Labels shared by an object and the selector that finds its pods.
pub(crate) fn labels(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), component.to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            "creator-clip".to_owned(),
        ),
    ])
}

/// Metadata of a namespaced object.
pub(crate) fn metadata(name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        labels: Some(labels(component)),
        ..ObjectMeta::default()
    }
}

/// A pod volume that lives as long as the pod (scratch space on a read-only root).
pub(crate) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// A `{cpu, memory}` quantity map (resource requests or limits).
pub(crate) fn cpu_memory(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ])
}

fn yaml_document<T: Serialize>(object: &T) -> Result<String, FleetError> {
    serde_yaml_ng::to_string(object).map_err(|e| FleetError::Serialize {
        what: "a Kubernetes object",
        message: e.to_string(),
    })
}

/// Renders every manifest, in the order `kubectl apply -f` should create them, as one
/// multi-document YAML with a header that says where it comes from.
pub fn render(options: &ManifestOptions) -> Result<String, FleetError> {
    let profile = &options.profile;
    let nginx = NginxSettings::for_mode(Mode::Kubernetes, profile.clone(), "").render()?;
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.to_owned()),
            labels: Some(labels("creator-clip")),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let documents = [
        yaml_document(&namespace)?,
        yaml_document(&app::config_map(profile))?,
        yaml_document(&app::deployment(options))?,
        yaml_document(&app::service())?,
        yaml_document(&app::pod_disruption_budget())?,
        yaml_document(&autoscaling::horizontal_pod_autoscaler(
            &profile.scaling,
            options.custom_metrics,
        ))?,
        yaml_document(&balancer::config_map(&nginx))?,
        yaml_document(&balancer::deployment(options, &nginx))?,
        yaml_document(&balancer::service())?,
    ];
    let s = &profile.scaling;
    let mut out = format!(
        "# Generated by `clip-fleet kubernetes --env {env}` (deploy/fleet/src/kubernetes): do not edit.\n\
         # Regenerate: cargo run -p clip-fleet -- kubernetes --env {env} > deploy/kubernetes/scaling-config.yaml\n\
         #\n\
         # Before applying, create the secrets the pods read (they are referenced, never stored here):\n\
         #   kubectl -n {NAMESPACE} create secret generic {APP_SECRET} --from-literal=database-url=postgres://... --from-literal=admin-token=...\n\
         #   kubectl -n {NAMESPACE} create secret tls {TLS_SECRET} --cert=tls.crt --key=tls.key\n\
         #\n\
         # The HPA follows clip_scaling_policy::ScalingConfig ({env}): {min}..{max} replicas, CPU {cpu}% and\n\
         # memory {mem}% of requests{custom}; scale-up at most {up_pct}% or {up_n} pods per {up_period}s,\n\
         # scale-down at most {down_pct}% or {down_n} pod per {down_period}s after a {window}s stabilization window.\n\
         # The policy's scale-up cooldown ({up_cool}s) has no HPA equivalent; its scale-down cooldown is the window.\n\
         # The Deployment sets no replica count: the HPA owns it (starting at minReplicas).\n",
        env = profile.environment,
        min = s.min_instances,
        max = s.max_instances,
        cpu = s.cpu.up,
        mem = s.memory.up,
        custom = if options.custom_metrics {
            format!(
                ", {} req/s per pod and {} pending jobs (Prometheus adapter)",
                s.request_rate.up, s.queue_length.up
            )
        } else {
            String::new()
        },
        up_pct = s.scale_up_step.max_percent,
        up_n = s.scale_up_step.max_instances,
        up_period = s.scale_up_step.period.as_secs(),
        down_pct = s.scale_down_step.max_percent,
        down_n = s.scale_down_step.max_instances,
        down_period = s.scale_down_step.period.as_secs(),
        window = s.scale_down_stabilization.as_secs(),
        up_cool = s.scale_up_cooldown.as_secs(),
    );
    for document in documents {
        out.push_str("---\n");
        out.push_str(&document);
    }
    Ok(out)
}
