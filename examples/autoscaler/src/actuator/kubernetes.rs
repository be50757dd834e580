//! `kubernetes`: the Deployment's `scale` subresource through the API server (the `kube`
//! crate; in-cluster service account, else `KUBECONFIG` / `~/.kube/config`).
//!
//! - observe: the Deployment (its replicas and pod selector), then its pods: a pod whose Ready
//!   condition is true is ready, one being deleted is draining, any other is starting; metrics
//!   are scraped from the pod's IP.
//! - scale: `PATCH .../deployments/NAME/scale` with the JSON merge patch
//!   `{"spec":{"replicas":N}}`; Kubernetes then drains pods as the Deployment says (readiness,
//!   preStop, `terminationGracePeriodSeconds`).
//! - It refuses to fight an HPA: before leading and before every change it lists the
//!   namespace's `autoscaling/v2` HorizontalPodAutoscalers, and one whose `scaleTargetRef` is
//!   this Deployment stops it with [`Error::HpaConflict`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};

use super::{Actuator, ActuatorStatus, BoxFuture, FleetView, Instance, Journal, Phase};
use crate::Error;

/// Which Deployment, and how to reach its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// `KUBERNETES_NAMESPACE` (default `creator-clip-ai`).
    pub namespace: String,
    /// `AUTOSCALER_DEPLOYMENT` (default `clip-app`).
    pub deployment: String,
    /// The pods' HTTP port (`AUTOSCALER_INSTANCE_PORT`, default 3000).
    pub port: u16,
    /// A kubeconfig file to use instead of the in-cluster configuration (`KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// Path of the pods' Prometheus page.
    pub metrics_path: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: "creator-clip-ai".into(),
            deployment: "clip-app".into(),
            port: 3000,
            kubeconfig: None,
            metrics_path: "/metrics".into(),
        }
    }
}

/// Drives a Deployment's replica count.
pub struct Kubernetes {
    config: KubernetesConfig,
    client: Client,
    journal: Journal,
    /// `spec.replicas` as last observed or set.
    replicas: Mutex<Option<u32>>,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn api_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::actuator("kubernetes", format!("{what}: {e}"))
}

impl Kubernetes {
    /// Connects with `config.kubeconfig`, else the in-cluster configuration, else the default
    /// kubeconfig.
    pub async fn connect(config: KubernetesConfig) -> Result<Self, Error> {
        let client = match &config.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| api_error(&format!("cannot read kubeconfig {}", path.display()), e))?;
                let cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .map_err(|e| api_error(&format!("kubeconfig {}", path.display()), e))?;
                Client::try_from(cfg).map_err(|e| api_error("cannot build a client", e))?
            }
            None => Client::try_default().await.map_err(|e| {
                api_error(
                    "no in-cluster configuration and no kubeconfig (set KUBECONFIG, or run in a pod with a service account)",
                    e,
                )
            })?,
        };
        let detail = format!("deployment {}/{}", config.namespace, config.deployment);
        Ok(Self {
            config,
            client,
            journal: Journal::new("kubernetes", detail),
            replicas: Mutex::new(None),
        })
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.config.namespace)
    }

    /// Fails when an HPA in the namespace targets this Deployment.
    async fn refuse_hpa(&self) -> Result<(), Error> {
        let hpas: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.client.clone(), &self.config.namespace);
        let list = hpas
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("cannot list HorizontalPodAutoscalers (autoscaling/v2)", e))?;
        for hpa in list.items {
            let Some(spec) = hpa.spec else { continue };
            let target = &spec.scale_target_ref;
            if target.kind == "Deployment" && target.name == self.config.deployment {
                return Err(Error::HpaConflict {
                    hpa: hpa.metadata.name.unwrap_or_default(),
                    namespace: self.config.namespace.clone(),
                    deployment: self.config.deployment.clone(),
                });
            }
        }
        Ok(())
    }

    fn replicas(&self) -> std::sync::MutexGuard<'_, Option<u32>> {
        self.replicas.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Actuator for Kubernetes {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.refuse_hpa())
    }

    fn observe(&self) -> BoxFuture<'_, Result<FleetView, Error>> {
        Box::pin(async move {
            let name = &self.config.deployment;
            let deployment = self
                .deployments()
                .get(name)
                .await
                .map_err(|e| api_error(&format!("cannot read deployment {name}"), e))?;
            let spec = deployment.spec.unwrap_or_default();
            *self.replicas() = spec.replicas.and_then(|r| u32::try_from(r).ok());
            let labels: BTreeMap<String, String> = spec.selector.match_labels.unwrap_or_default();
            if labels.is_empty() {
                return Err(api_error(
                    &format!("deployment {name}"),
                    "its selector has no matchLabels to find its pods by",
                ));
            }
            let selector = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.config.namespace);
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| api_error(&format!("cannot list pods {selector}"), e))?;
            let mut view = FleetView::default();
            for pod in list.items {
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                let deleting = pod.metadata.deletion_timestamp.is_some();
                let status = pod.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                let phase = match (deleting, ready) {
                    (true, _) => Phase::Draining,
                    (false, true) => Phase::Ready,
                    (false, false) => Phase::Starting,
                };
                match status.pod_ip {
                    Some(ip) => {
                        let base = if ip.contains(':') {
                            format!("http://[{ip}]:{}", self.config.port)
                        } else {
                            format!("http://{ip}:{}", self.config.port)
                        };
                        view.instances.push(Instance {
                            id: pod_name,
                            metrics_url: format!("{base}{}", self.config.metrics_path),
                            readiness_url: format!("{base}/api/health/ready"),
                            phase,
                        });
                    }
                    // Not scheduled or not started yet: no address to scrape.
                    None if phase == Phase::Starting => view.pending += 1,
                    None => {}
                }
            }
            Ok(view)
        })
    }

    fn scale_to(&self, target: u32) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.journal.set_desired(target);
            if *self.replicas() == Some(target) {
                return Ok(());
            }
            let result = async {
                self.refuse_hpa().await?;
                let patch = serde_json::json!({ "spec": { "replicas": target } });
                let scale = self
                    .deployments()
                    .patch_scale(
                        &self.config.deployment,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| {
                        api_error(
                            &format!("cannot scale deployment {}", self.config.deployment),
                            e,
                        )
                    })?;
                Ok::<_, Error>(scale.spec.and_then(|s| s.replicas))
            }
            .await;
            match result {
                Ok(replicas) => {
                    *self.replicas() = replicas
                        .and_then(|r| u32::try_from(r).ok())
                        .or(Some(target));
                    self.journal.action(format!(
                        "scaled deployment {}/{} to {target} replicas",
                        self.config.namespace, self.config.deployment
                    ));
                    Ok(())
                }
                Err(e) => {
                    self.journal.error(e.to_string());
                    Err(e)
                }
            }
        })
    }

    fn status(&self) -> ActuatorStatus {
        self.journal.snapshot(Vec::new())
    }
}
