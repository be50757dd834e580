//! The HTML pages: `/` (projects) and `/projects/{id}` (a project's images through
//! `cdn.image(..).to_html()`: CDN URLs, srcset, lazy loading, origin fallback), and the
//! dashboard page `/admin/scaling`. Server-rendered, no script.

use std::fmt::Write;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use super::extract::Path;
use crate::dashboard;
use crate::html::escape;
use crate::problem::{ApiResult, Problem};
use crate::routes::admin::status_of;
use crate::routes::assets::image_path;
use crate::state::AppState;

/// The display width of thumbnails, CSS pixels.
const THUMBNAIL_WIDTH: u32 = 320;

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head><body>{body}</body></html>",
        escape(title)
    ))
}

/// `GET /`: the newest projects.
pub async fn home(State(app): State<AppState>) -> ApiResult<Response> {
    let projects = app.db.list_projects(None, 50).await?;
    let mut body = String::from("<h1>Creator Clip</h1><h2>Projects</h2><ul>");
    for p in &projects.items {
        let _ = write!(
            body,
            r#"<li><a href="/projects/{}">{}</a></li>"#,
            p.id,
            escape(&p.name)
        );
    }
    if projects.items.is_empty() {
        body.push_str("<li>none yet: <code>POST /api/projects</code></li>");
    }
    body.push_str("</ul>");
    Ok(page("Creator Clip", &body).into_response())
}

/// `GET /projects/{id}`: a project and its images.
pub async fn project(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let project = app
        .db
        .project(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("project {id}")))?;
    let assets = app.db.project_assets(id, 100).await?;
    let mut body = format!(
        r#"<p><a href="/">Projects</a></p><h1>{}</h1>"#,
        escape(&project.name)
    );
    for asset in &assets {
        let html = app
            .cdn
            .image(&image_path(asset))
            .width(THUMBNAIL_WIDTH)
            .alt(&asset.filename)
            .to_html();
        let _ = write!(
            body,
            "<figure>{html}<figcaption>{} ({} renditions)</figcaption></figure>",
            escape(&asset.filename),
            asset.renditions.len()
        );
    }
    if assets.is_empty() {
        body.push_str("<p>No images yet.</p>");
    }
    Ok(page(&project.name, &body).into_response())
}

/// `GET /admin/scaling`: the dashboard.
pub async fn dashboard(State(app): State<AppState>) -> ApiResult<Response> {
    let status = status_of(&app);
    let advice = app.scaling.report();
    Ok(Html(dashboard::render(&status, &advice, &app.cdn.stats())).into_response())
}
