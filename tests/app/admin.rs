//! The admin endpoints: off without a token, 401 without or with a wrong token, 403 from
//! outside the allowed networks, 200 with the token from inside.

use std::sync::Arc;

use serde_json::Value;

use crate::ensure;
use crate::support::{Ctx, TestApp, TestResult, client};

const TOKEN: &str = "admin-token-for-tests-0123";
const ADMIN_PATHS: &[&str] = &[
    "/api/admin/db-stats",
    "/api/admin/cdn-stats",
    "/api/admin/scaling",
    "/status",
    // The page /admin/scaling holds no data and loads without the token (tests/app/dashboard.rs).
    "/api/admin/dashboard",
];

async fn status_of(request: reqwest::RequestBuilder) -> TestResult<(u16, Option<Value>, String)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.json::<Value>().await.ok();
    Ok((status, body, challenge))
}

pub async fn admin_endpoints_need_the_token_and_the_network(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let http = client();

    let off = TestApp::start(&ctx, &db, &[]).await?;
    for path in ADMIN_PATHS {
        let (status, body, _) = status_of(http.get(off.at(path)).bearer_auth(TOKEN)).await?;
        ensure!(status == 403, "{path} without ADMIN_TOKEN: {status}");
        let detail = body
            .as_ref()
            .and_then(|b| b["detail"].as_str())
            .unwrap_or("");
        ensure!(
            detail.contains("ADMIN_TOKEN"),
            "{path}: says how to turn it on: {detail}"
        );
    }
    off.stop().await?;

    let guarded = TestApp::start(&ctx, &db, &[("ADMIN_TOKEN", TOKEN)]).await?;
    for path in ADMIN_PATHS {
        let (status, _, challenge) = status_of(http.get(guarded.at(path))).await?;
        ensure!(
            status == 401 && challenge.starts_with("Bearer"),
            "{path} without a token: {status} {challenge:?}"
        );
        let (status, _, _) = status_of(
            http.get(guarded.at(path))
                .bearer_auth("admin-token-for-tests-0124"),
        )
        .await?;
        ensure!(status == 401, "{path} with a wrong token: {status}");
        let (status, _, _) = status_of(
            http.get(guarded.at(path))
                .header("authorization", format!("Basic {TOKEN}")),
        )
        .await?;
        ensure!(status == 401, "{path} with another scheme: {status}");
        let response = http.get(guarded.at(path)).bearer_auth(TOKEN).send().await?;
        ensure!(
            response.status() == 200,
            "{path} with the token: {}",
            response.status()
        );
    }
    // The health details open to the admin token too, not to anyone.
    let (_, anonymous, _) = status_of(http.get(guarded.at("/api/health"))).await?;
    ensure!(
        anonymous.as_ref().and_then(|b| b.get("checks")).is_none(),
        "anonymous health has no details"
    );
    guarded.stop().await?;

    // From outside the allowed networks: 403 even with the token. Loopback is not a trusted
    // proxy here, so a forged X-Forwarded-For from inside the network changes nothing.
    let fenced = TestApp::start(
        &ctx,
        &db,
        &[
            ("ADMIN_TOKEN", TOKEN),
            ("ADMIN_ALLOWED_NETWORKS", "10.0.0.0/8"),
            ("TRUSTED_PROXIES", "192.0.2.1/32"),
        ],
    )
    .await?;
    for path in ADMIN_PATHS {
        let (status, body, _) = status_of(
            http.get(fenced.at(path))
                .bearer_auth(TOKEN)
                .header("x-forwarded-for", "10.1.2.3"),
        )
        .await?;
        ensure!(status == 403, "{path} from a disallowed network: {status}");
        let detail = body
            .as_ref()
            .and_then(|b| b["detail"].as_str())
            .unwrap_or("");
        ensure!(
            detail.contains("ADMIN_ALLOWED_NETWORKS"),
            "{path}: {detail}"
        );
    }
    fenced.stop().await?;

    // Behind a trusted proxy (loopback, the default), the forwarded client counts.
    let proxied = TestApp::start(
        &ctx,
        &db,
        &[
            ("ADMIN_TOKEN", TOKEN),
            ("ADMIN_ALLOWED_NETWORKS", "10.0.0.0/8"),
        ],
    )
    .await?;
    let inside = http
        .get(proxied.at("/status"))
        .bearer_auth(TOKEN)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await?;
    ensure!(
        inside.status() == 200,
        "a client in 10/8 through the proxy: {}",
        inside.status()
    );
    let outside = http
        .get(proxied.at("/status"))
        .bearer_auth(TOKEN)
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await?;
    ensure!(
        outside.status() == 403,
        "a client outside through the proxy: {}",
        outside.status()
    );
    proxied.stop().await
}
