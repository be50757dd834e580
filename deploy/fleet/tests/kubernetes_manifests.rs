//! `deploy/kubernetes/scaling-config.yaml`: parsed back into typed Kubernetes objects and
//! checked against the scaling policy's defaults and the app's contract, and equal to a fresh
//! generation (so nobody edits it by hand and nothing drifts).

use std::time::Duration;

use clip_fleet::kubernetes::{self, ManifestOptions, NAMESPACE};
use clip_fleet::{Environment, Profile};
use clip_scaling_policy::ScalingConfig;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscaler};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::Deserialize;

const COMMITTED: &str = include_str!("../../kubernetes/scaling-config.yaml");

/// The committed file, as typed objects.
#[derive(Default)]
struct Manifests {
    namespaces: Vec<Namespace>,
    config_maps: Vec<ConfigMap>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    budgets: Vec<PodDisruptionBudget>,
    autoscalers: Vec<HorizontalPodAutoscaler>,
}

fn parse(yaml: &str) -> Manifests {
    let mut m = Manifests::default();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = serde_yaml_ng::Value::deserialize(document).unwrap();
        let kind = value["kind"].as_str().unwrap().to_owned();
        let api_version = value["apiVersion"].as_str().unwrap().to_owned();
        macro_rules! typed {
            ($list:ident) => {
                m.$list.push(serde_yaml_ng::from_value(value).unwrap())
            };
        }
        match (api_version.as_str(), kind.as_str()) {
            ("v1", "Namespace") => typed!(namespaces),
            ("v1", "ConfigMap") => typed!(config_maps),
            ("apps/v1", "Deployment") => typed!(deployments),
            ("v1", "Service") => typed!(services),
            ("policy/v1", "PodDisruptionBudget") => typed!(budgets),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => typed!(autoscalers),
            other => panic!("unexpected object {other:?}"),
        }
    }
    m
}

fn named<
    'a,
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    list: &'a [T],
    name: &str,
) -> &'a T {
    list.iter()
        .find(|o| o.metadata().name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no object named {name}"))
}

#[test]
fn the_committed_file_is_a_fresh_generation() {
    let fresh = kubernetes::render(&ManifestOptions::new(Profile::for_environment(
        Environment::Production,
    )))
    .unwrap();
    assert!(
        fresh == COMMITTED,
        "deploy/kubernetes/scaling-config.yaml is stale: run\n  \
         cargo run -p clip-fleet -- kubernetes --env production -o deploy/kubernetes/scaling-config.yaml"
    );
}

#[test]
fn every_object_lives_in_the_namespace() {
    let m = parse(COMMITTED);
    assert_eq!(m.namespaces.len(), 1);
    assert_eq!(m.namespaces[0].metadata.name.as_deref(), Some(NAMESPACE));
    let namespaces = m
        .config_maps
        .iter()
        .map(|o| &o.metadata)
        .chain(m.deployments.iter().map(|o| &o.metadata))
        .chain(m.services.iter().map(|o| &o.metadata))
        .chain(m.budgets.iter().map(|o| &o.metadata))
        .chain(m.autoscalers.iter().map(|o| &o.metadata));
    for meta in namespaces {
        assert_eq!(
            meta.namespace.as_deref(),
            Some(NAMESPACE),
            "{:?}",
            meta.name
        );
    }
}

fn check_rules(rules: &HPAScalingRules, max_percent: u32, max_pods: u32, period: Duration) {
    assert_eq!(rules.select_policy.as_deref(), Some("Max"));
    let policies = rules.policies.as_ref().unwrap();
    let by_type = |t: &str| policies.iter().find(|p| p.type_ == t).unwrap();
    assert_eq!(by_type("Percent").value, max_percent as i32);
    assert_eq!(by_type("Pods").value, max_pods as i32);
    for p in policies {
        assert_eq!(p.period_seconds as u64, period.as_secs());
    }
}

#[test]
fn the_hpa_is_the_scaling_policy_defaults() {
    let config = ScalingConfig::default();
    let m = parse(COMMITTED);
    let hpa = named(&m.autoscalers, "clip-app");
    let spec = hpa.spec.as_ref().unwrap();
    assert_eq!(spec.scale_target_ref.kind, "Deployment");
    assert_eq!(spec.scale_target_ref.name, "clip-app");
    assert_eq!(spec.min_replicas, Some(config.min_instances as i32));
    assert_eq!(spec.max_replicas, config.max_instances as i32);
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(3), 20));

    let metrics = spec.metrics.as_ref().unwrap();
    let resource = |name: &str| {
        metrics
            .iter()
            .filter_map(|m| m.resource.as_ref())
            .find(|r| r.name == name)
            .unwrap()
            .target
            .average_utilization
    };
    assert_eq!(resource("cpu"), Some(config.cpu.up as i32));
    assert_eq!(resource("memory"), Some(config.memory.up as i32));
    let pods = metrics.iter().find_map(|m| m.pods.as_ref()).unwrap();
    assert_eq!(pods.metric.name, "http_requests_per_second");
    assert_eq!(
        pods.target.average_value.as_ref().unwrap().0,
        format!("{}", config.request_rate.up)
    );
    let external = metrics.iter().find_map(|m| m.external.as_ref()).unwrap();
    assert_eq!(external.metric.name, "clip_jobs_pending");
    assert_eq!(
        external.target.value.as_ref().unwrap().0,
        format!("{}", config.queue_length.up)
    );

    let behavior = spec.behavior.as_ref().unwrap();
    let up = behavior.scale_up.as_ref().unwrap();
    assert_eq!(up.stabilization_window_seconds, Some(0));
    check_rules(
        up,
        config.scale_up_step.max_percent,
        config.scale_up_step.max_instances,
        config.scale_up_step.period,
    );
    let down = behavior.scale_down.as_ref().unwrap();
    assert_eq!(
        down.stabilization_window_seconds,
        Some(config.scale_down_stabilization.as_secs() as i32)
    );
    check_rules(
        down,
        config.scale_down_step.max_percent,
        config.scale_down_step.max_instances,
        config.scale_down_step.period,
    );
}

#[test]
fn the_app_deployment_probes_drains_and_is_sized() {
    let profile = Profile::for_environment(Environment::Production);
    let m = parse(COMMITTED);
    let deployment = named(&m.deployments, "clip-app");
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, None, "the HPA owns the replica count");
    let pod = spec.template.spec.as_ref().unwrap();
    let container = &pod.containers[0];
    let path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(path(&container.liveness_probe), "/health");
    assert_eq!(path(&container.readiness_probe), "/api/health/ready");
    assert_eq!(path(&container.startup_probe), "/health");

    let grace = pod.termination_grace_period_seconds.unwrap();
    let shutdown = profile.graceful_shutdown_timeout.as_secs() as i64;
    let pre_stop = container
        .lifecycle
        .as_ref()
        .unwrap()
        .pre_stop
        .as_ref()
        .unwrap()
        .sleep
        .as_ref()
        .unwrap()
        .seconds;
    assert!(pre_stop > 0);
    assert!(
        grace > shutdown + pre_stop,
        "terminationGracePeriodSeconds {grace} must exceed the pre-stop sleep {pre_stop} + GRACEFUL_SHUTDOWN_TIMEOUT {shutdown}"
    );

    let resources = container.resources.as_ref().unwrap();
    let requests = resources.requests.as_ref().unwrap();
    let limits = resources.limits.as_ref().unwrap();
    assert_eq!(requests["cpu"].0, profile.resources.cpu_request);
    assert_eq!(limits["memory"].0, profile.resources.memory_limit);

    // Secrets are referenced (mounted from a Secret the operator creates), never inlined.
    let volumes = pod.volumes.as_ref().unwrap();
    let secret = volumes.iter().find_map(|v| v.secret.as_ref()).unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some(kubernetes::APP_SECRET));
    assert!(
        !COMMITTED.contains("kind: Secret\n"),
        "no Secret object is generated"
    );

    // Pods and Service agree on labels and port.
    let service = named(&m.services, "clip-app");
    let selector = service.spec.as_ref().unwrap().selector.as_ref().unwrap();
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    for (k, v) in selector {
        assert_eq!(pod_labels.get(k), Some(v));
    }
    let budget = named(&m.budgets, "clip-app");
    assert!(budget.spec.as_ref().unwrap().max_unavailable.is_some());
}

#[test]
fn the_config_map_carries_the_profile_and_the_load_balancer_config() {
    let profile = Profile::for_environment(Environment::Production);
    let m = parse(COMMITTED);
    let app = named(&m.config_maps, "clip-app").data.as_ref().unwrap();
    for (key, value) in profile.app_env() {
        assert_eq!(app.get(key), Some(&value), "{key}");
    }
    assert_eq!(app["GRACEFUL_SHUTDOWN_TIMEOUT"], "30000");
    let lb = named(&m.config_maps, "clip-lb").data.as_ref().unwrap();
    assert!(lb["nginx.conf"].contains(kubernetes::APP_SERVICE_ADDRESS));
}

#[test]
fn other_environments_and_resource_only_metrics_generate_too() {
    let staging = Profile::for_environment(Environment::Staging);
    let mut options = ManifestOptions::new(staging.clone());
    options.custom_metrics = false;
    let m = parse(&kubernetes::render(&options).unwrap());
    let spec = m.autoscalers[0].spec.as_ref().unwrap();
    assert_eq!(spec.max_replicas, staging.scaling.max_instances as i32);
    let metrics = spec.metrics.as_ref().unwrap();
    assert!(metrics.iter().all(|m| m.type_ == "Resource"));
}
