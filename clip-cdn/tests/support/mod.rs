//! Real servers for the fetch tests: a scriptable HTTP origin (axum on 127.0.0.1:0) and
//! nginx as a caching CDN in front of it, each started by the test and stopped on drop.

#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode, Uri};
use futures_util::StreamExt;

pub mod html;
pub mod images;

/// What the origin does for a path: fail a number of times first, answer slowly, or 404.
#[derive(Clone, Default)]
pub struct Behaviour {
    pub fail_first: usize,
    pub fail_status: u16,
    pub retry_after: Option<u64>,
    pub delay: Duration,
    pub missing: bool,
    /// Serve this many bytes in 1 KiB chunks with no `Content-Length` (0: the normal body).
    pub streamed_bytes: usize,
    /// Pause between those chunks: a slow body after prompt headers.
    pub chunk_delay: Duration,
    /// Answer `302 Found` with this `Location`.
    pub redirect_to: Option<String>,
}

#[derive(Default)]
pub struct OriginState {
    behaviours: Mutex<HashMap<String, Behaviour>>,
    hits: Mutex<HashMap<String, usize>>,
    /// Full request URIs (path and query), in order.
    pub log: Mutex<Vec<String>>,
    pub down: AtomicBool,
    pub total: AtomicUsize,
}

pub struct Origin {
    pub addr: SocketAddr,
    pub state: Arc<OriginState>,
}

impl Origin {
    pub async fn start() -> Origin {
        let state = Arc::new(OriginState::default());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Origin { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn behave(&self, path: &str, b: Behaviour) {
        self.state
            .behaviours
            .lock()
            .unwrap()
            .insert(path.to_owned(), b);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// While down, every request gets a 503.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

/// The body the origin serves for `path`.
pub fn content(path: &str) -> String {
    format!("content of {path}")
}

async fn serve(State(state): State<Arc<OriginState>>, uri: Uri) -> Response<Body> {
    let path = uri.path().to_owned();
    state.log.lock().unwrap().push(uri.to_string());
    state.total.fetch_add(1, Ordering::SeqCst);
    let hit = {
        let mut hits = state.hits.lock().unwrap();
        let n = hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let b = state
        .behaviours
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_default();
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    if state.down.load(Ordering::SeqCst) {
        return Response::builder()
            .status(503)
            .body(Body::from("down"))
            .unwrap();
    }
    if let Some(location) = b.redirect_to {
        return Response::builder()
            .status(302)
            .header("location", location)
            .body(Body::from("moved"))
            .unwrap();
    }
    if b.missing {
        return Response::builder()
            .status(404)
            .body(Body::from("no such asset"))
            .unwrap();
    }
    if hit <= b.fail_first {
        let mut r = Response::builder().status(status(if b.fail_status == 0 {
            503
        } else {
            b.fail_status
        }));
        if let Some(s) = b.retry_after {
            r = r.header("retry-after", s.to_string());
        }
        return r.body(Body::from("try later")).unwrap();
    }
    if b.streamed_bytes > 0 {
        let (total, pause) = (b.streamed_bytes, b.chunk_delay);
        let chunks =
            futures_util::stream::iter(0..total.div_ceil(1024)).then(move |i| async move {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                Ok::<_, std::io::Error>(vec![b'x'; (total - i * 1024).min(1024)])
            });
        return Response::builder().body(Body::from_stream(chunks)).unwrap();
    }
    Response::builder()
        .header("content-type", "text/plain")
        .header("cache-control", "public, max-age=600")
        .body(Body::from(content(&path)))
        .unwrap()
}

/// A loopback address nothing listens on.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// nginx as a caching reverse proxy (the "CDN") in front of `upstream`.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clip-cdn-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect(
            "nginx is needed by the CDN tests: run scripts/install-deps.sh (apt-get install nginx)",
        )
}

impl Nginx {
    pub fn start(upstream: SocketAddr) -> Nginx {
        let dir = temp_dir("nginx");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.display();
        // Single process, no `user` directive: runs as whoever runs the tests (root included).
        let conf = format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=cdn:1m max_size=64m inactive=1h use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://{upstream};
      proxy_cache cdn;
      proxy_cache_valid 200 10m;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status;
    }}
  }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { addr, child, dir }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
