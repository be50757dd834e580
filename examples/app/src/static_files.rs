//! The stylesheets, scripts and icon of the pages and the dashboard, compiled into the
//! binary (the app runs from any directory and never reaches outside itself for them) and
//! served under `/static/{name}`. Page templates link them through [`url()`], which appends
//! the content's digest: a versioned URL is immutable for a year, an unversioned one is
//! revalidated with its ETag.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// A file served under `/static/`.
#[derive(Debug)]
pub struct StaticFile {
    /// Its name in the URL.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

struct Served {
    file: &'static StaticFile,
    /// The first 16 hex digits of its SHA-256: the `?v=` of its URL, and its ETag.
    version: String,
}

static FILES: LazyLock<Vec<Served>> = LazyLock::new(|| {
    crate::pages::ASSETS
        .iter()
        .chain(crate::dashboard::ASSETS)
        .map(|file| {
            let digest = Sha256::digest(file.body.as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            Served { file, version: hex }
        })
        .collect()
});

fn find(name: &str) -> Option<&'static Served> {
    FILES.iter().find(|s| s.file.name == name)
}

/// The versioned URL of the static file `name` (`/static/app.css?v=..`).
///
/// Names are the constants of this crate's templates; an unknown one still gives a
/// working (unversioned) URL rather than a panic.
pub fn url(name: &str) -> String {
    match find(name) {
        Some(served) => format!("/static/{name}?v={}", served.version),
        None => format!("/static/{name}"),
    }
}

/// The answer to `GET /static/{name}?v={version}` with `If-None-Match: {if_none_match}`.
pub fn response(name: &str, version: Option<&str>, if_none_match: Option<&str>) -> Response {
    let Some(served) = find(name) else {
        return Problem::not_found(format!("no static file {name}")).into_response();
    };
    let etag = format!("\"{}\"", served.version);
    // The digest in the URL makes the content immutable; without it (or with an old one)
    // the browser revalidates.
    let cache = if version == Some(served.version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if if_none_match.is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(served.file.content_type),
            )],
            served.file.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(response: &Response, name: axum::http::HeaderName) -> String {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn versioned_urls_are_immutable_and_etags_revalidate() {
        let url = url("app.css");
        let version = url.split("?v=").nth(1).expect("a digest in the URL");
        let fresh = response("app.css", Some(version), None);
        assert_eq!(fresh.status(), StatusCode::OK);
        assert!(header(&fresh, CACHE_CONTROL).contains("immutable"));
        assert!(header(&fresh, CONTENT_TYPE).starts_with("text/css"));
        let stale = response("app.css", Some("0000"), None);
        assert_eq!(header(&stale, CACHE_CONTROL), "no-cache");
        let etag = header(&fresh, ETAG);
        let again = response("app.css", None, Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn an_unknown_file_is_a_404() {
        assert_eq!(
            response("nope.js", None, None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(url("nope.js"), "/static/nope.js");
    }
}
