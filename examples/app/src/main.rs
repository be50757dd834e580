//! The `clip-app` binary: configuration from the environment, an embedded PostgreSQL when
//! no `DATABASE_URL` is given, and SIGTERM / Ctrl-C for a graceful shutdown.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match clip_app::run::from_env().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clip-app: {e}");
            ExitCode::FAILURE
        }
    }
}
