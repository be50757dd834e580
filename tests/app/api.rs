//! Every route, the projects API, and what bad requests get.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::ensure;
use crate::support::{
    Ctx, TestApp, TestResult, client, create_project, finished_job, get_json, jpeg, upload,
};

const TOKEN: &str = "test-admin-token-0123456789";

/// The metrics CONTRACTS.md promises the autoscaler.
const CONTRACT_METRICS: &[&str] = &[
    "http_requests_total{",
    "http_request_duration_seconds_bucket{",
    "process_cpu_seconds_total ",
    "clip_process_cpu_usage_percent ",
    "clip_process_memory_usage_percent ",
    "process_resident_memory_bytes ",
    "clip_jobs_pending ",
    "clip_jobs_running ",
    "clip_job_duration_seconds_bucket{kind=\"image\"",
    "clip_jobs_completed_total{kind=\"image\"}",
    "clip_jobs_failed_total{kind=\"image\",reason=\"invalid_input\"}",
    "clip_app_info{instance=\"api-routes\"",
    "clip_pool_connections{",
];

pub async fn every_route_answers_with_its_status_type_and_shape(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(
        &ctx,
        &db,
        &[("ADMIN_TOKEN", TOKEN), ("INSTANCE_ID", "api-routes")],
    )
    .await?;
    let project = create_project(&app.url, "Routes & <things>").await?;
    let uploaded = upload(&app.url, project, "photo.jpg", jpeg(400, 300, false)).await?;
    let asset = uploaded["asset"]["id"].as_i64().ok_or("asset id")?;
    let image_path = uploaded["asset"]["image_path"]
        .as_str()
        .ok_or("image_path")?
        .to_owned();
    let job = uploaded["job"]["id"].as_i64().ok_or("job id")?;
    let done = finished_job(&app.url, job, Duration::from_secs(30)).await?;
    ensure!(done["state"] == "succeeded", "job: {done}");

    let http = client();
    // (method, path, admin, status, content type prefix, what the body must contain)
    let cases: Vec<(&str, String, bool, u16, &str, &str)> = vec![
        (
            "GET",
            "/".into(),
            false,
            200,
            "text/html",
            "Routes &amp; &lt;things&gt;",
        ),
        (
            "GET",
            format!("/projects/{project}"),
            false,
            200,
            "text/html",
            "srcset=",
        ),
        (
            "GET",
            "/projects/987654".into(),
            false,
            404,
            "application/problem+json",
            "\"status\":404",
        ),
        (
            "GET",
            "/api/projects".into(),
            false,
            200,
            "application/json",
            "\"items\":[",
        ),
        (
            "GET",
            format!("/api/projects/{project}"),
            false,
            200,
            "application/json",
            "\"created_at\":",
        ),
        (
            "GET",
            format!("/api/projects/{project}/assets"),
            false,
            200,
            "application/json",
            "\"renditions\":[{",
        ),
        (
            "GET",
            format!("/api/jobs/{job}"),
            false,
            200,
            "application/json",
            "\"state\":\"succeeded\"",
        ),
        (
            "GET",
            format!("{image_path}?w=128"),
            false,
            200,
            "image/jpeg",
            "",
        ),
        ("GET", format!("/img/{asset}"), false, 200, "image/jpeg", ""),
        (
            "GET",
            format!("/media/assets/{asset}"),
            false,
            200,
            "image/jpeg",
            "",
        ),
        (
            "GET",
            "/health".into(),
            false,
            200,
            "application/health+json",
            "\"status\":\"pass\"",
        ),
        (
            "GET",
            "/lb-health".into(),
            false,
            200,
            "application/health+json",
            "\"status\":\"pass\"",
        ),
        (
            "GET",
            "/api/health".into(),
            false,
            200,
            "application/health+json",
            "\"status\"",
        ),
        (
            "GET",
            "/api/health/ready".into(),
            false,
            200,
            "application/health+json",
            "\"status\"",
        ),
        (
            "GET",
            "/api/health".into(),
            true,
            200,
            "application/health+json",
            "\"postgres:connections\"",
        ),
        (
            "GET",
            "/metrics".into(),
            false,
            200,
            "text/plain",
            "http_requests_total",
        ),
        (
            "GET",
            "/api/admin/db-stats".into(),
            true,
            200,
            "application/json",
            "\"utilization\"",
        ),
        (
            "GET",
            "/api/admin/cdn-stats".into(),
            true,
            200,
            "application/json",
            "\"image_cache\"",
        ),
        (
            "GET",
            "/api/admin/scaling".into(),
            true,
            200,
            "application/json",
            "\"summary\"",
        ),
        (
            "GET",
            "/status".into(),
            true,
            200,
            "application/json",
            "\"instance\":\"api-routes\"",
        ),
        (
            "GET",
            "/admin/scaling".into(),
            true,
            200,
            "text/html",
            "Scaling dashboard",
        ),
        (
            "POST",
            "/api/projects".into(),
            false,
            201,
            "application/json",
            "\"name\":\"second\"",
        ),
        (
            "DELETE",
            "/api/projects/987654".into(),
            false,
            404,
            "application/problem+json",
            "not found",
        ),
    ];
    for (method, path, admin, status, content_type, needle) in cases {
        let mut request = http.request(method.parse()?, app.at(&path));
        if admin {
            request = request.bearer_auth(TOKEN);
        }
        if method == "POST" {
            request = request.json(&serde_json::json!({ "name": "second" }));
        }
        let response = request.send().await?;
        let got_status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let text = String::from_utf8_lossy(&body);
        ensure!(
            got_status == status,
            "{method} {path}: {got_status}, want {status}: {text}"
        );
        let got_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        ensure!(
            got_type.starts_with(content_type),
            "{method} {path}: content type {got_type:?}"
        );
        ensure!(
            text.contains(needle),
            "{method} {path}: body lacks {needle:?}: {text:.300}"
        );
        ensure!(
            headers.get("x-instance-id").and_then(|v| v.to_str().ok()) == Some("api-routes"),
            "{method} {path}: no X-Instance-Id"
        );
        if content_type == "application/json" {
            serde_json::from_slice::<Value>(&body)?;
        }
    }

    let metrics = app.metrics().await?;
    for name in CONTRACT_METRICS {
        ensure!(metrics.contains(name), "/metrics lacks {name}");
    }

    let deleted = http
        .delete(app.at(&format!("/api/projects/{project}")))
        .send()
        .await?;
    ensure!(deleted.status() == 204, "delete: {}", deleted.status());
    let gone = http
        .get(app.at(&format!("/api/projects/{project}")))
        .send()
        .await?;
    ensure!(gone.status() == 404, "deleted project: {}", gone.status());
    let gone = http
        .get(app.at(&format!("/media/assets/{asset}")))
        .send()
        .await?;
    ensure!(gone.status() == 404, "deleted asset: {}", gone.status());
    app.stop().await
}

pub async fn projects_round_trip_in_keyset_pages(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(&ctx, &db, &[]).await?;
    let http = client();
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(create_project(&app.url, &format!("project {i}")).await?);
    }
    let page: Value = get_json(&app.at("/api/projects")).await?;
    let items = page["items"].as_array().ok_or("items")?;
    ensure!(items.len() == 20, "first page has {} items", items.len());
    let first: Vec<i64> = items.iter().filter_map(|p| p["id"].as_i64()).collect();
    let newest: Vec<i64> = ids.iter().rev().take(20).copied().collect();
    ensure!(first == newest, "newest first: {first:?} vs {newest:?}");
    let cursor = page["next_cursor"].as_str().ok_or("next_cursor")?;
    let page: Value = get_json(&app.at(&format!("/api/projects?cursor={cursor}"))).await?;
    let rest: Vec<i64> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .collect();
    let oldest: Vec<i64> = ids.iter().rev().skip(20).copied().collect();
    ensure!(rest == oldest, "second page: {rest:?} vs {oldest:?}");
    ensure!(
        page.get("next_cursor").is_none(),
        "the last page has no cursor: {page}"
    );
    let small: Value = get_json(&app.at("/api/projects?limit=3")).await?;
    ensure!(
        small["items"].as_array().map(Vec::len) == Some(3),
        "limit=3: {small}"
    );

    let one: Value = get_json(&app.at(&format!("/api/projects/{}", ids[7]))).await?;
    ensure!(
        one["name"] == "project 7" && one["id"] == ids[7],
        "read back: {one}"
    );
    let created_at = one["created_at"].as_str().ok_or("created_at")?;
    ensure!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "RFC 3339: {created_at}"
    );
    let response = http
        .delete(app.at(&format!("/api/projects/{}", ids[7])))
        .send()
        .await?;
    ensure!(response.status() == 204, "delete: {}", response.status());
    let response = http
        .delete(app.at(&format!("/api/projects/{}", ids[7])))
        .send()
        .await?;
    ensure!(
        response.status() == 404,
        "delete twice: {}",
        response.status()
    );
    app.stop().await
}

pub async fn bad_requests_get_clear_problems(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let app = TestApp::start(
        &ctx,
        &db,
        &[
            ("MAX_JSON_BODY_BYTES", "1024"),
            ("MAX_UPLOAD_BYTES", "4096"),
        ],
    )
    .await?;
    let project = create_project(&app.url, "target").await?;
    let http = client();
    let json = |body: &str| {
        http.post(app.at("/api/projects"))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        ("broken JSON", json("{\"name\":"), 400, "JSON"),
        (
            "not JSON",
            http.post(app.at("/api/projects")).body("name=x"),
            415,
            "Content-Type",
        ),
        ("missing field", json("{}"), 422, "name"),
        (
            "unknown field",
            json("{\"name\":\"a\",\"owner\":1}"),
            422,
            "owner",
        ),
        ("empty name", json("{\"name\":\"  \"}"), 422, "name must be"),
        (
            "oversized JSON",
            json(&format!("{{\"name\":\"{}\"}}", "x".repeat(4000))),
            413,
            "larger",
        ),
        (
            "unknown project",
            http.get(app.at("/api/projects/424242")),
            404,
            "project 424242",
        ),
        (
            "id not a number",
            http.get(app.at("/api/projects/abc")),
            400,
            "Invalid URL",
        ),
        (
            "unknown job",
            http.get(app.at("/api/jobs/424242")),
            404,
            "job 424242",
        ),
        (
            "unknown image",
            http.get(app.at("/img/424242")),
            404,
            "image 424242",
        ),
        (
            "unknown media",
            http.get(app.at("/media/assets/424242")),
            404,
            "asset 424242",
        ),
        (
            "wrong method",
            http.put(app.at("/api/projects")),
            405,
            "method not allowed",
        ),
        (
            "wrong method on an id",
            http.post(app.at(&format!("/api/projects/{project}"))),
            405,
            "method not allowed",
        ),
        (
            "bad limit",
            http.get(app.at("/api/projects?limit=0")),
            400,
            "limit",
        ),
        (
            "bad cursor",
            http.get(app.at("/api/projects?cursor=xyz")),
            400,
            "cursor",
        ),
        (
            "unknown query",
            http.get(app.at("/api/projects?page=2")),
            400,
            "page",
        ),
        (
            "unknown route",
            http.get(app.at("/api/nothing")),
            404,
            "no route for GET /api/nothing",
        ),
        (
            "oversized upload",
            http.post(app.at(&format!("/api/projects/{project}/assets")))
                .body(vec![0u8; 10_000]),
            413,
            "larger",
        ),
        (
            "empty upload",
            http.post(app.at(&format!("/api/projects/{project}/assets")))
                .body(Vec::new()),
            400,
            "empty",
        ),
        (
            "upload to an unknown project",
            http.post(app.at("/api/projects/424242/assets"))
                .body(vec![1u8; 10]),
            404,
            "project 424242",
        ),
        (
            "multipart without a file",
            http.post(app.at(&format!("/api/projects/{project}/assets")))
                .multipart(reqwest::multipart::Form::new().text("note", "hello")),
            400,
            "no file",
        ),
    ];
    for (what, request, status, needle) in cases {
        let response = request.send().await?;
        let got = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{what}: not JSON: {e}"))?;
        ensure!(got == status, "{what}: {got}, want {status}: {body}");
        ensure!(
            content_type == "application/problem+json",
            "{what}: {content_type}"
        );
        ensure!(
            body["status"] == status && body["title"].is_string(),
            "{what}: shape {body}"
        );
        let detail = body["detail"].as_str().unwrap_or("");
        ensure!(
            detail.contains(needle),
            "{what}: detail {detail:?} lacks {needle:?}"
        );
    }
    // Nothing was created by the refused requests.
    let page: Value = get_json(&app.at("/api/projects")).await?;
    ensure!(
        page["items"].as_array().map(Vec::len) == Some(1),
        "only the target: {page}"
    );
    let assets: Value = get_json(&app.at(&format!("/api/projects/{project}/assets"))).await?;
    ensure!(
        assets["items"].as_array().map(Vec::len) == Some(0),
        "no asset: {assets}"
    );
    app.stop().await
}
