//! clip-pool against real PostgreSQL servers that the tests start on loopback.

mod basics;
mod cancel;
mod errors;
mod failures;
mod health;
mod lane;
mod persistent;
mod pooler;
mod recovery;
mod replicas;
mod secrets;
mod sessions;
mod timeouts;
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clip_pool::PoolConfig;
use clip_pool::launcher::ServerTls;
use tokio::net::{TcpListener, TcpStream};

/// A small, quick configuration for tests.
pub fn config(max: u32) -> PoolConfig {
    PoolConfig {
        min_connections: 1,
        pool_size: max.min(4),
        max_connections: max,
        acquire_timeout: Duration::from_secs(2),
        maintenance_interval: Duration::from_millis(100),
        ..PoolConfig::default()
    }
}

/// `n` connections opened at start and kept: floor, target and ceiling alike.
pub fn fixed(n: u32) -> PoolConfig {
    PoolConfig {
        min_connections: n,
        pool_size: n,
        ..config(n)
    }
}

/// A plain client beside the pool, to see what the server sees.
pub async fn observer(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("observer connection");
    tokio::spawn(connection);
    client
}

/// Backends the server holds for `application_name`, and how many of them run a statement.
pub async fn backends(observer: &tokio_postgres::Client, application_name: &str) -> (i64, i64) {
    let row = observer
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active') \
             FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .expect("pg_stat_activity");
    (row.get(0), row.get(1))
}

/// A loopback TCP proxy that holds each new connection for `delay` before it forwards it:
/// a database that takes that long to accept.
pub struct SlowProxy {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    pub async fn start(upstream: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Log lines written by a `tracing_subscriber::fmt` subscriber.
#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber writing here, at every level.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA named `name`: its certificate's path.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A server certificate signed by the CA `ca`, for the subject alternative names `san`.
pub fn make_server_cert(dir: &Path, ca: &str, name: &str, san: &str) -> ServerTls {
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=postgres server",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
    ServerTls {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    }
}
