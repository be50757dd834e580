//! The kubernetes actuator against a local HTTP server standing in for the API server (no
//! cluster runs here): every request it sends is checked (method, path, query, bearer token,
//! content type, JSON merge patch body), and it refuses to scale a Deployment an HPA owns.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use clip_autoscaler::Error;
use clip_autoscaler::actuator::kubernetes::{Kubernetes, KubernetesConfig};
use clip_autoscaler::actuator::{Actuator, Phase};
use serde_json::{Value, json};

const TOKEN: &str = "test-service-account-token";
const NS: &str = "creator-clip-ai";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Option<Value>,
}

#[derive(Default)]
struct Api {
    seen: Mutex<Vec<Seen>>,
    hpa_owns_the_deployment: Mutex<bool>,
}

fn pod(name: &str, ip: &str, ready: bool, deleting: bool) -> Value {
    let mut metadata = json!({ "name": name, "namespace": NS, "labels": { "app": "clip-app" } });
    if deleting {
        metadata["deletionTimestamp"] = json!("2026-11-30T06:00:00Z");
    }
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": { "containers": [{ "name": "app", "image": "creator-clip/clip-app" }] },
        "status": {
            "podIP": ip,
            "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }]
        }
    })
}

async fn api(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    api.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        uri: uri.to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).ok(),
    });
    let deployment = format!("/apis/apps/v1/namespaces/{NS}/deployments/clip-app");
    let body = match (method.as_str(), uri.path()) {
        ("GET", p) if p == deployment => json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "clip-app", "namespace": NS },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "clip-app", "tier": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "clip-app", "tier": "web" } },
                    "spec": { "containers": [{ "name": "app", "image": "creator-clip/clip-app" }] }
                }
            },
            "status": { "replicas": 3, "readyReplicas": 2 }
        }),
        ("GET", p) if p == format!("/api/v1/namespaces/{NS}/pods") => json!({
            "apiVersion": "v1", "kind": "PodList", "metadata": {},
            "items": [
                pod("clip-app-a", "127.0.0.11", true, false),
                pod("clip-app-b", "127.0.0.12", true, false),
                pod("clip-app-c", "127.0.0.13", false, false),
                pod("clip-app-d", "127.0.0.14", true, true),
            ]
        }),
        ("GET", p)
            if p == format!("/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers") =>
        {
            let items = if *api.hpa_owns_the_deployment.lock().unwrap() {
                vec![json!({
                    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": { "name": "clip-app", "namespace": NS },
                    "spec": {
                        "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "clip-app" },
                        "minReplicas": 3, "maxReplicas": 20
                    }
                })]
            } else {
                vec![json!({
                    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": { "name": "other", "namespace": NS },
                    "spec": {
                        "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "another-app" },
                        "maxReplicas": 5
                    }
                })]
            };
            json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": items })
        }
        ("PATCH", p) if p == format!("{deployment}/scale") => json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": { "name": "clip-app", "namespace": NS },
            "spec": { "replicas": 5 },
            "status": { "replicas": 3 }
        }),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({
                    "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": format!("the fake API server has no {method} {uri}")
                })),
            );
        }
    };
    (StatusCode::OK, axum::Json(body))
}

async fn fake_cluster() -> (Arc<Api>, tempfile::TempDir, KubernetesConfig) {
    let state = Arc::new(Api::default());
    let app = Router::new().fallback(api).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             clusters:\n- name: test\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: autoscaler\n    namespace: {NS}\n\
             users:\n- name: autoscaler\n  user:\n    token: {TOKEN}\n"
        ),
    )
    .unwrap();
    let config = KubernetesConfig {
        kubeconfig: Some(kubeconfig),
        ..KubernetesConfig::default()
    };
    (state, dir, config)
}

fn take(api: &Api) -> Vec<Seen> {
    std::mem::take(&mut *api.seen.lock().unwrap())
}

#[tokio::test]
async fn observes_the_deployment_and_its_pods_then_patches_the_scale_subresource() {
    let (api, _dir, config) = fake_cluster().await;
    let k = Kubernetes::connect(config).await.unwrap();

    k.check().await.unwrap();
    let view = k.observe().await.unwrap();
    let phases: Vec<(&str, Phase)> = view
        .instances
        .iter()
        .map(|i| (i.id.as_str(), i.phase))
        .collect();
    assert_eq!(
        phases,
        [
            ("clip-app-a", Phase::Ready),
            ("clip-app-b", Phase::Ready),
            ("clip-app-c", Phase::Starting),
            ("clip-app-d", Phase::Draining)
        ]
    );
    assert_eq!(
        view.instances[0].metrics_url,
        "http://127.0.0.11:3000/metrics"
    );
    assert_eq!(view.current(), 3);

    let seen = take(&api);
    let requests: Vec<(Method, &str)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.uri.as_str()))
        .collect();
    assert_eq!(
        requests,
        [
            (
                Method::GET,
                "/apis/autoscaling/v2/namespaces/creator-clip-ai/horizontalpodautoscalers?"
            ),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/creator-clip-ai/deployments/clip-app"
            ),
            (
                Method::GET,
                "/api/v1/namespaces/creator-clip-ai/pods?&labelSelector=app%3Dclip-app%2Ctier%3Dweb"
            ),
        ]
    );
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{s:?}"
        );
    }

    // The replica count it observed: asking for it again sends nothing.
    k.scale_to(3).await.unwrap();
    assert!(take(&api).is_empty());

    k.scale_to(5).await.unwrap();
    let seen = take(&api);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, Method::GET, "the HPA check comes first");
    assert!(
        seen[0].uri.starts_with(
            "/apis/autoscaling/v2/namespaces/creator-clip-ai/horizontalpodautoscalers"
        )
    );
    let patch = &seen[1];
    assert_eq!(patch.method, Method::PATCH);
    assert_eq!(
        patch.uri,
        "/apis/apps/v1/namespaces/creator-clip-ai/deployments/clip-app/scale?"
    );
    assert_eq!(
        patch.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.body, Some(json!({ "spec": { "replicas": 5 } })));
    let status = k.status();
    assert_eq!(status.desired, Some(5));
    assert!(
        status
            .last_action
            .unwrap()
            .contains("scaled deployment creator-clip-ai/clip-app to 5")
    );
}

#[tokio::test]
async fn refuses_to_fight_an_hpa_that_targets_the_same_deployment() {
    let (api, _dir, config) = fake_cluster().await;
    *api.hpa_owns_the_deployment.lock().unwrap() = true;
    let k = Kubernetes::connect(config).await.unwrap();

    let err = k.check().await.unwrap_err();
    assert!(matches!(err, Error::HpaConflict { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("kubectl -n creator-clip-ai delete hpa clip-app"),
        "{err}"
    );

    k.observe().await.unwrap();
    take(&api);
    let err = k.scale_to(6).await.unwrap_err();
    assert!(matches!(err, Error::HpaConflict { .. }), "{err}");
    let seen = take(&api);
    assert!(
        seen.iter().all(|s| s.method != Method::PATCH),
        "no PATCH may be sent: {seen:?}"
    );
    assert!(
        k.status()
            .last_error
            .unwrap()
            .contains("HorizontalPodAutoscaler clip-app")
    );
}
