//! nginx in front of the app: its configuration (rendered from the same template as the local
//! and Compose modes), Deployment and LoadBalancer Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SecretVolumeSource, Service, ServicePort,
    ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{LB, ManifestOptions, TLS_SECRET, cpu_memory, empty_dir, labels, metadata};

/// The rendered nginx.conf as a ConfigMap.
pub fn config_map(nginx_conf: &str) -> ConfigMap {
    ConfigMap {
        metadata: metadata(LB, LB),
        data: Some(BTreeMap::from([(
            "nginx.conf".to_owned(),
            nginx_conf.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

/// Two nginx replicas; the config's checksum in an annotation rolls them when it changes.
pub fn deployment(options: &ManifestOptions, nginx_conf: &str) -> Deployment {
    let lb_health = Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/lb-health".into()),
            port: IntOrString::String("status".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    let checksum = format!("{:016x}", fnv1a(nginx_conf.as_bytes()));
    let container = Container {
        name: "nginx".into(),
        image: Some(options.nginx_image.clone()),
        ports: Some(vec![
            port("http", 80),
            port("https", 443),
            port("status", 8080),
        ]),
        liveness_probe: Some(lb_health.clone()),
        readiness_probe: Some(lb_health),
        resources: Some(ResourceRequirements {
            requests: Some(cpu_memory("100m", "64Mi")),
            limits: Some(cpu_memory("1", "256Mi")),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: "/etc/nginx/nginx.conf".into(),
                sub_path: Some("nginx.conf".into()),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tls".into(),
                mount_path: "/etc/nginx/tls".into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "cache".into(),
                mount_path: "/var/cache/nginx".into(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    Deployment {
        metadata: metadata(LB, LB),
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector {
                match_labels: Some(labels(LB)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(LB)),
                    annotations: Some(BTreeMap::from([(
                        "creator-clip/nginx-conf-checksum".to_owned(),
                        checksum,
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "config".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: LB.into(),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        Volume {
                            name: "tls".into(),
                            secret: Some(SecretVolumeSource {
                                secret_name: Some(TLS_SECRET.into()),
                                ..SecretVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        empty_dir("cache"),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The public entry point: ports 80 and 443 (the status port stays inside the cluster).
pub fn service() -> Service {
    let port = |name: &str, number: i32| ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    };
    Service {
        metadata: metadata(LB, LB),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            // Keep the client's address (nginx's rate limits are per client).
            external_traffic_policy: Some("Local".into()),
            selector: Some(labels(LB)),
            ports: Some(vec![port("http", 80), port("https", 443)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// FNV-1a: a stable checksum of the config, so `kubectl apply` rolls nginx when it changes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
