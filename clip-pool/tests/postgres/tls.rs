//! TLS exactly as libpq 16 documents it: every `sslmode` x `sslrootcert` x kind of server,
//! against one real server reconfigured between kinds, each cell checked against the
//! documented outcome and, where libpq 15 behaves the same (everything but
//! `sslrootcert=system`, new in 16), against libpq itself through `psql`.

use std::path::Path;
use std::process::Command;

use clip_pool::BuildError;
use clip_pool::launcher::{LocalPostgres, PASSWORD, USER, postgres_bindir};
use clip_pool::postgres;

use crate::{config, make_ca, make_server_cert};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// TLS with a certificate from our CA for the host we dial (127.0.0.1).
    Right,
    /// Our CA, but a certificate for another host name.
    WrongHost,
    /// A certificate for the right host from a CA we do not trust.
    WrongCa,
    /// No TLS at all.
    NoTls,
    /// The right certificate, and plain connections rejected (`hostnossl ... reject`).
    TlsOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Absent,
    File,
    System,
}

/// What a connection attempt ends as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Plain,
    Tls,
    Fails,
}

const MODES: [Option<&str>; 7] = [
    None,
    Some("disable"),
    Some("allow"),
    Some("prefer"),
    Some("require"),
    Some("verify-ca"),
    Some("verify-full"),
];

/// libpq 16's documented behaviour (libpq.sgml, sections sslmode, sslrootcert and 34.19
/// "SSL Support"; fe-connect.c for the retries).
fn documented(mode: Option<&str>, root: Root, server: Server) -> Outcome {
    use Outcome::*;
    use Server::*;
    // sslrootcert=system: the default sslmode becomes verify-full and any weaker one is an
    // error; the system store does not know our test CA.
    if root == Root::System {
        return Fails;
    }
    // A root file (sslrootcert, or ~/.postgresql/root.crt) makes every mode that uses TLS
    // check the chain ("If a root CA file is present, verify the certificate in the same
    // way as if verify-ca was specified"); only verify-full checks the host name.
    let chain_ok = server != WrongCa;
    match mode.unwrap_or("prefer") {
        "disable" => match server {
            TlsOnly => Fails,
            _ => Plain,
        },
        // First plain; if the server refuses that, TLS.
        "allow" => match server {
            TlsOnly if root == Root::File && !chain_ok => Fails,
            TlsOnly => Tls,
            _ => Plain,
        },
        // First TLS; if that fails (no TLS, or the handshake fails), plain.
        "prefer" => match server {
            NoTls => Plain,
            WrongCa if root == Root::File => Plain,
            _ => Tls,
        },
        "require" => match server {
            NoTls => Fails,
            WrongCa if root == Root::File => Fails,
            _ => Tls,
        },
        // Without a root certificate these modes cannot verify anything: they fail.
        "verify-ca" => match (root, server) {
            (Root::Absent, _) | (_, NoTls | WrongCa) => Fails,
            _ => Tls,
        },
        "verify-full" => match (root, server) {
            (Root::Absent, _) | (_, NoTls | WrongCa | WrongHost) => Fails,
            _ => Tls,
        },
        other => panic!("unknown sslmode {other}"),
    }
}

fn query_string(mode: Option<&str>, root: Root, ca: &Path) -> String {
    let mut params = Vec::new();
    if let Some(mode) = mode {
        params.push(format!("sslmode={mode}"));
    }
    match root {
        Root::Absent => {}
        Root::File => params.push(format!("sslrootcert={}", ca.display())),
        Root::System => params.push("sslrootcert=system".into()),
    }
    params.join("&")
}

const ENCRYPTED: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// What our pool makes of `url`; a failure also says whether it was refused before any
/// connection was tried.
async fn ours(url: &str) -> (Outcome, Option<bool>, String) {
    match postgres::connect(url, config(1)).await {
        Ok(pool) => {
            let ssl: bool = pool
                .execute(async |c| c.query_one(ENCRYPTED, &[]).await.map(|r| r.get(0)))
                .await
                .unwrap();
            let outcome = if ssl { Outcome::Tls } else { Outcome::Plain };
            (outcome, None, String::new())
        }
        Err(e) => {
            if let BuildError::Connect(_) = &e {
                let text = e.to_string();
                // A TLS failure says what to change.
                if text.contains("TLS") || text.contains("certificate") {
                    assert!(
                        text.contains("sslmode") || text.contains("sslrootcert"),
                        "{text}"
                    );
                }
            }
            let refused = matches!(e, BuildError::Config(_));
            (Outcome::Fails, Some(refused), e.to_string())
        }
    }
}

/// The combinations libpq refuses outright: there is nothing to verify the server with, or
/// `sslrootcert=system` with a mode that would not check the host (any public certificate
/// would pass). Never tried, least of all against the system's roots.
fn refused_outright(mode: Option<&str>, root: Root) -> bool {
    match root {
        Root::System => mode.is_some_and(|m| m != "verify-full"),
        Root::Absent => matches!(mode, Some("verify-ca" | "verify-full")),
        Root::File => false,
    }
}

/// libpq itself (through psql), with a home directory that holds no `~/.postgresql`.
fn libpq(url: &str, home: &Path) -> Outcome {
    let out = Command::new(postgres_bindir().unwrap().join("psql"))
        .arg(url)
        .args(["-XAtqc", ENCRYPTED])
        .env("HOME", home)
        .env("PGCONNECT_TIMEOUT", "5")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .output()
        .expect("psql");
    match (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim(),
    ) {
        (true, "t") => Outcome::Tls,
        (true, "f") => Outcome::Plain,
        _ => Outcome::Fails,
    }
}

#[tokio::test]
async fn sslmode_and_sslrootcert_behave_as_libpq_documents() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    let ca = make_ca(dir, "ours");
    make_ca(dir, "theirs");
    let right = make_server_cert(dir, "ours", "right", "IP:127.0.0.1,DNS:localhost");
    let wrong_host = make_server_cert(dir, "ours", "wrong-host", "DNS:elsewhere.invalid");
    let wrong_ca = make_server_cert(dir, "theirs", "wrong-ca", "IP:127.0.0.1,DNS:localhost");
    let home = tempfile::tempdir().unwrap();

    let mut pg = LocalPostgres::start().await.unwrap();
    let mut wrong = Vec::new();
    for server in [
        Server::Right,
        Server::WrongHost,
        Server::WrongCa,
        Server::NoTls,
        Server::TlsOnly,
    ] {
        match server {
            Server::Right => pg.set_tls(Some(&right), false).await,
            Server::WrongHost => pg.set_tls(Some(&wrong_host), false).await,
            Server::WrongCa => pg.set_tls(Some(&wrong_ca), false).await,
            Server::NoTls => pg.set_tls(None, false).await,
            Server::TlsOnly => pg.set_tls(Some(&right), true).await,
        }
        .unwrap();
        for root in [Root::Absent, Root::File, Root::System] {
            for mode in MODES {
                let query = query_string(mode, root, &ca);
                let url = format!(
                    "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/postgres?{query}",
                    pg.port()
                );
                let expected = documented(mode, root, server);
                let (got, refused, why) = ours(&url).await;
                if got != expected {
                    wrong.push(format!(
                        "{server:?} {query:?}: expected {expected:?}, got {got:?} {why}"
                    ));
                }
                // pg_hba.conf refusing plain TCP: the advice is about sslmode, not the password.
                if server == Server::TlsOnly && mode == Some("disable") && !why.contains("sslmode")
                {
                    wrong.push(format!(
                        "{server:?} {query:?}: advice misses sslmode: {why}"
                    ));
                }
                if refused_outright(mode, root) && refused != Some(true) {
                    wrong.push(format!(
                        "{server:?} {query:?}: must be refused as a configuration error: {why}"
                    ));
                }
                // libpq 15 reads `system` as a file name; the rest it shares with 16.
                if root != Root::System {
                    let theirs = libpq(&url, home.path());
                    assert_eq!(
                        theirs, expected,
                        "libpq disagrees with the table for {server:?} {query:?}"
                    );
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ from libpq:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_missing_root_certificate_file_is_a_configuration_error() {
    let pg = LocalPostgres::start().await.unwrap();
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

/// Set in the child process of `sslrootcert_system_trusts_the_systems_roots_for_verify_full`:
/// the URL to connect to, and whether that must succeed.
const CHILD_URL: &str = "CLIP_POOL_TEST_SYSTEM_ROOTS_URL";
const CHILD_EXPECTS: &str = "CLIP_POOL_TEST_SYSTEM_ROOTS_EXPECT";

/// `sslrootcert=system` with a CA the system trusts: the system store is read when the pool
/// is built, so the check runs in a child process of this test binary whose system store is
/// our test CA (`SSL_CERT_FILE`, honoured as OpenSSL does). verify-full semantics: the right
/// host connects over TLS, a certificate for another host name is refused.
#[tokio::test]
async fn sslrootcert_system_trusts_the_systems_roots_for_verify_full() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        // The child: connect as told, report through the assertion.
        let expected = std::env::var(CHILD_EXPECTS).unwrap();
        let (got, _, why) = ours(&url).await;
        assert_eq!(format!("{got:?}"), expected, "{why}");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let ca = make_ca(certs.path(), "system");
    let right = make_server_cert(certs.path(), "system", "right", "IP:127.0.0.1");
    let wrong_host = make_server_cert(certs.path(), "system", "wrong", "DNS:elsewhere.invalid");
    let mut pg = LocalPostgres::start().await.unwrap();
    for (cert, expected) in [(&right, Outcome::Tls), (&wrong_host, Outcome::Fails)] {
        pg.set_tls(Some(cert), false).await.unwrap();
        let url = format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/postgres?sslrootcert=system",
            pg.port()
        );
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "tls::sslrootcert_system_trusts_the_systems_roots_for_verify_full",
                "--exact",
                "--test-threads=1",
            ])
            .env(CHILD_URL, &url)
            .env(CHILD_EXPECTS, format!("{expected:?}"))
            .env("SSL_CERT_FILE", &ca)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && said.contains("1 passed"),
            "expected {expected:?} with the system roots:\n{said}{}",
            String::from_utf8_lossy(&child.stderr)
        );
    }
}
