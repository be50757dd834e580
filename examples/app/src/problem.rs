//! Errors as `application/problem+json` (RFC 9457): a status, a title, a detail a client can
//! act on, never internal detail. Internal failures are logged with their cause and answered
//! with a generic text and the request id to quote.

use std::time::Duration;

use axum::http::header::{CONTENT_RANGE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An HTTP error answer.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    headers: HeaderMap,
}

#[derive(Serialize)]
struct Body<'a> {
    r#type: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    /// A problem with `status` and a detail for the client.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            headers: HeaderMap::new(),
        }
    }

    /// 400 with what is wrong.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail).retry_after(retry_after)
    }

    /// Adds `Retry-After` in whole seconds (at least 1).
    pub fn retry_after(mut self, after: Duration) -> Self {
        let seconds = after.as_secs_f64().ceil().max(1.0) as u64;
        self.headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = serde_json::to_vec(&Body {
            r#type: "about:blank",
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
        })
        .unwrap_or_default();
        let mut response = (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_JSON),
            )],
            body,
        )
            .into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => Problem::not_found(what),
            Error::BadRequest(detail) => Problem::bad_request(detail),
            Error::TooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the limit of {limit} bytes"),
            ),
            Error::RangeNotSatisfiable { size } => {
                let mut p = Problem::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the range is outside the object's {size} bytes"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    p.headers.insert(CONTENT_RANGE, v);
                }
                p
            }
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "answering 503: database unavailable");
                Problem::unavailable(
                    "the database is unavailable right now; retry shortly",
                    Duration::from_secs(1),
                )
            }
            other => {
                tracing::error!(error = %other, "answering 500");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server log has the details (quote the x-request-id header)",
                )
            }
        }
    }
}

/// Handlers return `Result<T, Problem>`; `?` on an [`Error`] converts.
pub type ApiResult<T> = Result<T, Problem>;

/// The largest plain-text error body taken over as a problem's detail.
const MAX_DETAIL: usize = 1024;

/// Makes every error answer a problem document: those built by layers and by axum itself
/// (405, 413 from the body limit, 503 from the timeout) come as plain text or empty.
/// Answers with a content type of their own (problem, health, HTML) are left alone.
pub async fn normalize(response: Response) -> Response {
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_DETAIL)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let detail = match (status, text) {
        (StatusCode::SERVICE_UNAVAILABLE, None) => {
            "the request took longer than REQUEST_TIMEOUT; retry shortly".to_owned()
        }
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            "the body is larger than this endpoint accepts".to_owned()
        }
        // axum adds the Allow header after this layer.
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            "method not allowed on this path; the Allow header lists those that are".to_owned()
        }
        (_, Some(text)) => text,
        (_, None) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut problem = Problem::new(status, detail);
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(RETRY_AFTER) {
        problem = problem.retry_after(Duration::from_secs(1));
    }
    let mut response = problem.into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
