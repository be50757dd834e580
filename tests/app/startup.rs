//! Start-up as the binary does it: a bad variable stops it naming the variable, and the
//! embedded PostgreSQL keeps its data across starts.

use std::sync::Arc;
use std::time::Duration;

use crate::ensure;
use crate::support::{ChildApp, Ctx, TestResult, client, create_project};

pub async fn a_bad_variable_stops_start_up_naming_it(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    for (variable, value) in [
        ("PORT", "http"),
        ("STORAGE_URL", "ftp://example.com/x"),
        ("MAX_CONCURRENT_REQUESTS", "0"),
        ("DB_POOL_SIZE", "500"),
        ("ADMIN_TOKEN", "short"),
    ] {
        match ChildApp::spawn(&[("DATABASE_URL", db.as_str()), (variable, value)]) {
            Ok(mut child) => {
                child.signal("KILL")?;
                let _ = child.wait(Duration::from_secs(5));
                return Err(format!("{variable}={value} was accepted").into());
            }
            Err(e) => {
                let message = e.to_string();
                ensure!(message.contains(variable), "{variable}: {message}");
                ensure!(
                    value == "short" || !message.contains("panicked"),
                    "{variable}: {message}"
                );
            }
        }
    }
    Ok(())
}

pub async fn the_embedded_database_keeps_its_data_across_starts(_ctx: Arc<Ctx>) -> TestResult {
    let home = tempfile::tempdir()?;
    let data = home.path().join("clip-data");
    let data_dir = data.to_str().ok_or("utf-8 path")?;
    let vars = [("CLIP_DATA_DIR", data_dir), ("DATABASE_URL", "")];
    let mut first = ChildApp::spawn(&vars)?;
    let project = create_project(&first.url, "kept").await?;
    first.signal("TERM")?;
    let status = first.wait(Duration::from_secs(30))?;
    ensure!(status.success(), "clean stop: {}", first.stderr());
    ensure!(
        data.join("data/PG_VERSION").is_file(),
        "the cluster is in CLIP_DATA_DIR"
    );

    let mut second = ChildApp::spawn(&vars)?;
    let response = client()
        .get(format!("{}/api/projects/{project}", second.url))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "the project survived: {}",
        response.status()
    );
    second.signal("TERM")?;
    let status = second.wait(Duration::from_secs(30))?;
    ensure!(status.success(), "clean stop: {}", second.stderr());
    Ok(())
}
