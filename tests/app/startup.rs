//! Start-up as the binary does it: a bad variable stops it naming the variable, and the
//! embedded PostgreSQL keeps its data across starts, and a `DATABASE_URL_FILE` with TLS
//! is honoured.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clip_pool::launcher::{LocalPostgres, Options, ServerTls};

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

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
fn certificates(dir: &std::path::Path) -> TestResult<(std::path::PathBuf, ServerTls)> {
    let run = |args: &[&str]| -> TestResult {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()?;
        ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=clip-app test CA",
    ])?;
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ])?;
    Ok((
        dir.join("ca.pem"),
        ServerTls {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        },
    ))
}

pub async fn a_database_url_file_with_tls_is_honoured(_ctx: Arc<Ctx>) -> TestResult {
    let dir = tempfile::tempdir()?;
    let (ca, tls) = certificates(dir.path())?;
    let pg = LocalPostgres::start_with(Options {
        tls: Some(tls),
        ..Options::default()
    })
    .await?;
    let url = pg.url_with(&format!("sslmode=verify-full&sslrootcert={}", ca.display()));
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("{url}\n"))?;
    let url_file = url_file.to_str().ok_or("utf-8 path")?;
    let mut child = ChildApp::spawn(&[("DATABASE_URL", ""), ("DATABASE_URL_FILE", url_file)])?;
    create_project(&child.url, "over TLS").await?;
    // Every connection of the app is encrypted, as the server sees it.
    let observer = clip_pool::postgres::connect(
        &pg.url(),
        clip_pool::PoolConfig {
            min_connections: 1,
            pool_size: 1,
            max_connections: 1,
            ..clip_pool::PoolConfig::default()
        },
    )
    .await?;
    let (encrypted, plain): (i64, i64) = observer
        .execute(async |c| {
            c.query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.application_name = 'clip-pool' AND a.pid <> pg_backend_pid()",
                &[],
            )
            .await
            .map(|r| (r.get(0), r.get(1)))
        })
        .await?;
    ensure!(
        encrypted >= 1 && plain == 0,
        "app connections: {encrypted} encrypted, {plain} plain"
    );
    child.signal("TERM")?;
    ensure!(child.wait(Duration::from_secs(15))?.success(), "clean stop");

    // A CA that did not sign the server's certificate: start-up refuses, saying why.
    let other = tempfile::tempdir()?;
    let (wrong_ca, _) = certificates(other.path())?;
    let wrong = pg.url_with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    ));
    match ChildApp::spawn(&[("DATABASE_URL", wrong.as_str())]) {
        Ok(_) => Err("a server signed by another CA was trusted".into()),
        Err(e) => {
            let message = e.to_string();
            ensure!(
                message.contains("sslrootcert") || message.contains("certificate"),
                "{message}"
            );
            ensure!(
                !message.contains(clip_pool::launcher::PASSWORD),
                "the password leaked: {message}"
            );
            Ok(())
        }
    }
}
