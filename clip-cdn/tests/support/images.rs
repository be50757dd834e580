//! An image origin on loopback, as an application would write it: verify the transform
//! query first, then read the file, then render it with the optimizer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode, Uri};
use clip_cdn::Cdn;
use clip_cdn::image::Optimizer;

/// The repository's test photos.
pub fn photos_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images")
}

struct ImageOriginState {
    cdn: Cdn,
    dir: PathBuf,
    optimizer: Optimizer,
}

pub struct ImageOrigin {
    pub addr: SocketAddr,
}

impl ImageOrigin {
    /// Serves `dir` with `cdn` verifying transform queries (the page side's keys and manifest).
    pub async fn start(cdn: Cdn, dir: PathBuf) -> ImageOrigin {
        let state = Arc::new(ImageOriginState {
            cdn,
            dir,
            optimizer: Optimizer::new(2),
        });
        let app = axum::Router::new().fallback(serve).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ImageOrigin { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn respond(status: u16, body: impl Into<Body>) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(body.into())
        .unwrap()
}

/// Verify first (a refused query costs no I/O), then read, then render.
async fn serve(State(origin): State<Arc<ImageOriginState>>, uri: Uri) -> Response<Body> {
    let (path, query) = (uri.path(), uri.query().unwrap_or(""));
    let request = match origin.cdn.verify_transform(path, query) {
        Ok(r) => r,
        Err(e) => return respond(e.http_status(), e.to_string()),
    };
    let file = path.trim_start_matches('/').replace("%20", " ");
    if file.contains("..") {
        return respond(400, "bad path");
    }
    let Ok(bytes) = tokio::fs::read(origin.dir.join(&file)).await else {
        return respond(404, "no such file");
    };
    match origin.cdn.render(&request, bytes, &origin.optimizer).await {
        Ok(rendition) => {
            let mut response = Response::builder().status(StatusCode::OK);
            for (name, value) in rendition.headers() {
                response = response.header(name, value);
            }
            response.body(Body::from(rendition.bytes)).unwrap()
        }
        Err(e) => respond(e.http_status(), e.to_string()),
    }
}
