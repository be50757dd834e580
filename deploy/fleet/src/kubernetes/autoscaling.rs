//! The HorizontalPodAutoscaler, translated from the scaling policy's configuration so the two
//! cannot drift: the same bounds, up thresholds, step policies and stabilization window.

use std::time::Duration;

use clip_scaling_policy::{ScalingConfig, StepPolicy};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, ExternalMetricSource, HPAScalingPolicy, HPAScalingRules,
    HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{APP, metadata};

/// The per-pod request rate the Prometheus adapter derives from `http_requests_total`.
pub const REQUEST_RATE_METRIC: &str = "http_requests_per_second";
/// The fleet-wide queue length (`clip_jobs_pending`, the same on every instance).
pub const QUEUE_METRIC: &str = "clip_jobs_pending";

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// HPA policies select the larger of the two limits, as `StepPolicy::allowed_change` does.
fn rules(step: &StepPolicy, stabilization: Duration) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(seconds(stabilization)),
        select_policy: Some("Max".into()),
        policies: Some(vec![
            HPAScalingPolicy {
                type_: "Percent".into(),
                value: int(step.max_percent),
                period_seconds: seconds(step.period),
            },
            HPAScalingPolicy {
                type_: "Pods".into(),
                value: int(step.max_instances),
                period_seconds: seconds(step.period),
            },
        ]),
        ..HPAScalingRules::default()
    }
}

fn utilization(resource: &str, percent: f64) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent.round() as i32),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }
}

/// Kubernetes quantities are decimal strings; thresholds are whole in every profile, and a
/// fraction is written in milli-units (`2.5` -> `2500m`).
fn quantity(value: f64) -> Quantity {
    if value.fract() == 0.0 {
        Quantity(format!("{}", value as i64))
    } else {
        Quantity(format!("{}m", (value * 1000.0).round() as i64))
    }
}

/// The app's HPA. Scale-up reacts at once (window 0), as the policy does between cooldowns.
pub fn horizontal_pod_autoscaler(
    config: &ScalingConfig,
    custom_metrics: bool,
) -> HorizontalPodAutoscaler {
    let mut metrics = Vec::new();
    if config.cpu.enabled {
        metrics.push(utilization("cpu", config.cpu.up));
    }
    if config.memory.enabled {
        metrics.push(utilization("memory", config.memory.up));
    }
    if custom_metrics && config.request_rate.enabled {
        metrics.push(MetricSpec {
            type_: "Pods".into(),
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier {
                    name: REQUEST_RATE_METRIC.into(),
                    selector: None,
                },
                target: MetricTarget {
                    type_: "AverageValue".into(),
                    average_value: Some(quantity(config.request_rate.up)),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        });
    }
    if custom_metrics && config.queue_length.enabled {
        // `Value`: replicas = ceil(current * queue / threshold), the policy's own sizing.
        metrics.push(MetricSpec {
            type_: "External".into(),
            external: Some(ExternalMetricSource {
                metric: MetricIdentifier {
                    name: QUEUE_METRIC.into(),
                    selector: None,
                },
                target: MetricTarget {
                    type_: "Value".into(),
                    value: Some(quantity(config.queue_length.up)),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        });
    }
    HorizontalPodAutoscaler {
        metadata: metadata(APP, APP),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: APP.into(),
            },
            min_replicas: Some(int(config.min_instances)),
            max_replicas: int(config.max_instances),
            metrics: Some(metrics),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(&config.scale_up_step, Duration::ZERO)),
                scale_down: Some(rules(
                    &config.scale_down_step,
                    config.scale_down_stabilization,
                )),
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    }
}
