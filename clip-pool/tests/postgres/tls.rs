use std::path::Path;
use std::process::Command;

use clip_pool::BuildError;
use clip_pool::launcher::{LocalPostgres, Options, ServerTls};
use clip_pool::postgres::{self, ConnectFailure, PgConnectError};

use crate::config;

/// A CA and a server certificate for `localhost` / 127.0.0.1, made with the openssl CLI.
fn make_ca_and_server(dir: &Path, name: &str) -> (std::path::PathBuf, ServerTls) {
    let run = |args: &[&str]| {
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
    };
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} test CA"),
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
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
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join(ca),
        ServerTls {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        },
    )
}

fn tls_failure(e: &BuildError) -> Option<ConnectFailure> {
    match e {
        BuildError::Connect(c) => c
            .downcast_ref::<PgConnectError>()
            .map(PgConnectError::failure),
        BuildError::Config(_) => None,
    }
}

#[tokio::test]
async fn verify_full_accepts_the_right_ca_and_refuses_the_wrong_one() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, server) = make_ca_and_server(certs.path(), "good");
    let other = tempfile::tempdir().unwrap();
    let (wrong_ca, _) = make_ca_and_server(other.path(), "evil");
    let pg = LocalPostgres::start_with(Options {
        tls: Some(server),
        ..Options::default()
    })
    .await
    .unwrap();

    let url = pg
        .url_with(&format!("sslmode=verify-full&sslrootcert={}", ca.display()))
        .replace("127.0.0.1", "localhost");
    let pool = postgres::connect(&url, config(2)).await.unwrap();
    let ssl: bool = pool
        .execute(async |c| {
            c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map(|r| r.get(0))
        })
        .await
        .unwrap();
    assert!(ssl, "the connection must be encrypted");

    let url = pg.url_with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    ));
    let err = postgres::connect(&url, config(2)).await.unwrap_err();
    assert_eq!(tls_failure(&err), Some(ConnectFailure::Tls), "{err}");
    assert!(err.to_string().contains("sslrootcert"), "{err}");
}

#[tokio::test]
async fn sslmode_require_without_tls_on_the_server_fails_and_disable_does_not() {
    let pg = LocalPostgres::start().await.unwrap();
    let err = postgres::connect(&pg.url_with("sslmode=require"), config(2))
        .await
        .unwrap_err();
    assert_eq!(tls_failure(&err), Some(ConnectFailure::Tls), "{err}");
    postgres::connect(&pg.url_with("sslmode=prefer"), config(2))
        .await
        .unwrap();
    let err = postgres::connect(
        &pg.url_with("sslmode=verify-full&sslrootcert=/nonexistent.pem"),
        config(2),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(_)) && err.to_string().contains("nonexistent"),
        "{err}"
    );
}
