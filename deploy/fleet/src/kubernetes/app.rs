//! The app's objects: its ConfigMap, Deployment (probes, resources, drain on stop, secrets
//! mounted as files), Service and PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler, ObjectFieldSelector,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, SleepAction,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{APP, APP_PORT, APP_SECRET, ManifestOptions, cpu_memory, empty_dir, labels, metadata};
use crate::Profile;

/// How long a stopping pod keeps serving before the app sees SIGTERM: the time endpoints take
/// to drop it from the Service and from nginx's connections.
pub const PRE_STOP_SLEEP_SECONDS: i64 = 5;
/// Where the Secret's keys appear as files (`DATABASE_URL_FILE`, `ADMIN_TOKEN_FILE`).
const SECRETS_DIR: &str = "/run/secrets/clip";

/// `terminationGracePeriodSeconds`: the pre-stop sleep, the app's `GRACEFUL_SHUTDOWN_TIMEOUT`,
/// and a margin, so Kubernetes never kills a pod that is still draining.
pub fn graceful_period_seconds(profile: &Profile) -> i64 {
    let drain = i64::try_from(profile.graceful_shutdown_timeout.as_secs()).unwrap_or(i64::MAX);
    PRE_STOP_SLEEP_SECONDS
        .saturating_add(drain)
        .saturating_add(10)
}

/// The profile's variables, read by every pod through `envFrom`.
pub fn config_map(profile: &Profile) -> ConfigMap {
    let mut data: BTreeMap<String, String> = profile
        .app_env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    data.insert("HOST".into(), "0.0.0.0".into());
    data.insert("PORT".into(), APP_PORT.to_string());
    data.insert(
        "DATABASE_URL_FILE".into(),
        format!("{SECRETS_DIR}/database-url"),
    );
    data.insert(
        "ADMIN_TOKEN_FILE".into(),
        format!("{SECRETS_DIR}/admin-token"),
    );
    // Pod addresses are private: believe X-Forwarded-For from nginx inside the cluster.
    data.insert(
        "TRUSTED_PROXIES".into(),
        "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16".into(),
    );
    ConfigMap {
        metadata: metadata(APP, APP),
        data: Some(data),
        ..ConfigMap::default()
    }
}

fn http_probe(path: &str, period: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

fn resources(profile: &Profile) -> ResourceRequirements {
    let r = &profile.resources;
    ResourceRequirements {
        requests: Some(cpu_memory(&r.cpu_request, &r.memory_request)),
        limits: Some(cpu_memory(&r.cpu_limit, &r.memory_limit)),
        ..ResourceRequirements::default()
    }
}

fn selector() -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(APP)),
        ..LabelSelector::default()
    }
}

/// The app's Deployment. No `replicas`: the HPA owns the count.
pub fn deployment(options: &ManifestOptions) -> Deployment {
    let profile = &options.profile;
    let container = Container {
        name: APP.into(),
        image: Some(options.app_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: i32::from(APP_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: APP.into(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        env: Some(vec![EnvVar {
            // Every response's X-Instance-Id names the pod.
            name: "INSTANCE_ID".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        resources: Some(resources(profile)),
        // Up to a minute to start (migrations on first deploy), then liveness and readiness.
        startup_probe: Some(http_probe("/health", 2, 30)),
        liveness_probe: Some(http_probe("/health", 10, 3)),
        readiness_probe: Some(http_probe("/api/health/ready", 5, 2)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_SLEEP_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "secrets".into(),
                mount_path: SECRETS_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let secret_item = |key: &str| KeyToPath {
        key: key.into(),
        path: key.into(),
        ..KeyToPath::default()
    };
    let mut annotations = BTreeMap::new();
    annotations.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
    annotations.insert("prometheus.io/port".to_owned(), APP_PORT.to_string());
    annotations.insert("prometheus.io/path".to_owned(), "/metrics".to_owned());
    Deployment {
        metadata: metadata(APP, APP),
        spec: Some(DeploymentSpec {
            selector: selector(),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(APP)),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    termination_grace_period_seconds: Some(graceful_period_seconds(profile)),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(10001),
                        run_as_group: Some(10001),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname".into(),
                        when_unsatisfiable: "ScheduleAnyway".into(),
                        label_selector: Some(selector()),
                        ..TopologySpreadConstraint::default()
                    }]),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "secrets".into(),
                            secret: Some(SecretVolumeSource {
                                secret_name: Some(APP_SECRET.into()),
                                items: Some(vec![
                                    secret_item("database-url"),
                                    secret_item("admin-token"),
                                ]),
                                default_mode: Some(0o400),
                                ..SecretVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        empty_dir("tmp"),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The app's ClusterIP Service (what nginx and Prometheus reach).
pub fn service() -> Service {
    Service {
        metadata: metadata(APP, APP),
        spec: Some(ServiceSpec {
            selector: Some(labels(APP)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(APP_PORT),
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Voluntary disruptions (node drains, upgrades) take one pod at a time.
pub fn pod_disruption_budget() -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: metadata(APP, APP),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector()),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
