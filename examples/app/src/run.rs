//! What the binary does, as a function (tests run it in a child process to kill it):
//! logging, the configuration, the database (the configured URL, or an embedded
//! PostgreSQL kept in `CLIP_DATA_DIR`), the Prometheus recorder, the listener, and the
//! app until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;

use clip_pool::launcher::{LocalPostgres, Options};
use tokio::net::TcpListener;

use crate::config::DatabaseConfig;
use crate::{App, AppConfig, Error, shutdown};

/// Runs the server configured by the process environment until it is told to stop.
pub async fn from_env() -> Result<(), Error> {
    init_logging();
    let config = AppConfig::from_env()?;
    let (url, embedded) = match &config.database {
        DatabaseConfig::Url(url) => (url.clone(), None),
        DatabaseConfig::Embedded { data_dir } => {
            let pg = start_embedded(data_dir).await?;
            (pg.url(), Some(pg))
        }
    };
    let prometheus = crate::telemetry::install_recorder()?;
    let app = App::build(config.clone(), &url, Some(prometheus)).await?;
    let address = SocketAddr::new(config.server.host, config.server.port);
    let listener = TcpListener::bind(address).await.map_err(|e| {
        Error::config(
            "PORT",
            Some(config.server.port.to_string()),
            format!("cannot listen on {address} ({e}); set HOST / PORT"),
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(Error::io("reading the listening address"))?;
    announce(&config, bound);
    app.serve(listener, shutdown::signal()).await?;
    drop(embedded); // a clean stop of the embedded PostgreSQL, after the app
    Ok(())
}

async fn start_embedded(data_dir: &Path) -> Result<LocalPostgres, Error> {
    let shown = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let pg = LocalPostgres::start_persistent(&shown, Options::default())
        .await
        .map_err(|source| Error::Embedded {
            dir: shown.display().to_string(),
            source,
        })?;
    println!(
        "embedded PostgreSQL: data in {} (kept and reused on the next start; CLIP_DATA_DIR moves it), on 127.0.0.1:{}",
        shown.display(),
        pg.port()
    );
    Ok(pg)
}

fn announce(config: &AppConfig, bound: SocketAddr) {
    let host = if bound.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        bound.ip().to_string()
    };
    let base = format!("http://{host}:{}", bound.port());
    println!(
        "clip-app {} listening on {bound} as {}",
        env!("CARGO_PKG_VERSION"),
        config.server.instance_id
    );
    println!("  pages:     {base}/   {base}/admin/scaling (admin token)");
    println!("  api:       {base}/api/projects");
    println!("  health:    {base}/health   {base}/api/health/ready   {base}/api/health");
    println!("  metrics:   {base}/metrics");
    if config.admin.token.is_none() {
        println!("  admin endpoints are off: set ADMIN_TOKEN to turn them on");
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests running the app twice in one process) keeps the first.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
