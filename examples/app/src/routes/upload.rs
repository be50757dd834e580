//! Receiving an upload, for images and videos alike: a multipart body (the file in a field
//! named `file`, or the first field with a file name) or a raw body (named by
//! `?filename=`), streamed into storage under a byte limit, never whole in memory, with its
//! first bytes kept to tell its format.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::Error;
use crate::problem::{ApiResult, Problem};
use crate::storage::{Storage, Stored, UploadStream};

/// How many first bytes of an upload are kept to tell its format.
const HEAD_BYTES: usize = 64;

/// An upload, stored.
#[derive(Debug)]
pub struct Received {
    /// The name it came with (control characters dropped, at most 200 characters).
    pub filename: String,
    /// The `Content-Type` the client declared.
    pub declared_type: Option<String>,
    /// Its first bytes.
    pub head: Vec<u8>,
    /// What storage wrote.
    pub stored: Stored,
}

/// Streams the body of `request` into `storage` under `key`, refusing more than `limit`
/// bytes (413) and empty uploads (400; nothing is left stored). `filename` is the raw
/// body's name (`?filename=`).
pub async fn receive(
    storage: &Storage,
    request: Request,
    key: &str,
    limit: u64,
    filename: Option<String>,
) -> ApiResult<Received> {
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let (filename, declared_type, stored) = if is_multipart {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|r| Problem::new(r.status(), r.body_text()))?;
        let field = loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.file_name().is_some() || field.name() == Some("file") => {
                    break field;
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(Problem::bad_request(
                        "the multipart body has no file: send it in a field named \"file\"",
                    ));
                }
                Err(e) => return Err(Problem::new(e.status(), e.body_text())),
            }
        };
        let filename = field.file_name().unwrap_or("upload").to_owned();
        let declared = field.content_type().map(str::to_owned);
        let body: UploadStream<'_> = field
            .map_err(move |e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge { limit },
                _ => Error::BadRequest(format!("the upload was interrupted: {}", e.body_text())),
            })
            .inspect_ok(|bytes| remember_head(&mut head, bytes))
            .boxed();
        let stored = storage.put(key, body, limit).await;
        (filename, declared, stored)
    } else {
        let declared = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: UploadStream<'_> = raw_body(request.into_body(), limit)
            .inspect_ok(|bytes| remember_head(&mut head, bytes))
            .boxed();
        let stored = storage.put(key, body, limit).await;
        (
            filename.unwrap_or_else(|| "upload".to_owned()),
            declared,
            stored,
        )
    };
    let stored = stored?;
    if stored.size == 0 {
        let _ = storage.delete(key).await;
        return Err(Problem::bad_request("the upload is empty"));
    }
    Ok(Received {
        filename: filename
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
        declared_type,
        head,
        stored,
    })
}

/// The request body as an upload stream; the body limit layer's refusal is `TooLarge`.
fn raw_body(body: Body, limit: u64) -> impl futures_util::Stream<Item = Result<Bytes, Error>> {
    body.into_data_stream().map_err(move |e| {
        if is_length_limit(&e) {
            Error::TooLarge { limit }
        } else {
            Error::BadRequest(format!("the upload was interrupted: {e}"))
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Keeps the first bytes of an upload, to tell its format.
fn remember_head(head: &mut Vec<u8>, bytes: &Bytes) {
    let missing = head.capacity().saturating_sub(head.len());
    head.extend_from_slice(&bytes[..missing.min(bytes.len())]);
}
