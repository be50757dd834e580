//! No secret in any message: passwords full of URL delimiters, in both connection-string
//! forms, never reach an error, a `Display`, a `Debug` or a log line.

use clip_pool::launcher::LocalPostgres;
use clip_pool::postgres::{self, PgOptions, redact};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::{Logs, config};

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The ways a user writes a connection string with this password, valid or not.
fn connection_strings(password: &str, port: u16) -> Vec<String> {
    let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
    vec![
        // As they should: percent-encoded.
        format!(
            "postgres://clip:{}@127.0.0.1:{port}/postgres?sslmode=disable",
            percent_encode(password)
        ),
        // As pasted from a secret manager, raw, with a parameter we do not know.
        format!("postgres://clip:{password}@127.0.0.1:{port}/postgres?sslmode=disable&bogus=1"),
        format!("postgres://clip:{password}@127.0.0.1:{port}/postgres?sslmode=sometimes"),
        format!("postgresql://clip:{password}@127.0.0.1:{port},127.0.0.1:{port}/postgres"),
        format!(
            "postgres://clip@127.0.0.1:{port}/postgres?sslmode=disable&password={}",
            percent_encode(password)
        ),
        // key=value, quoted as libpq wants, and with mistakes around it.
        format!("host=127.0.0.1 port={port} user=clip password='{quoted}' sslmode=disable"),
        format!("host=127.0.0.1 port={port} user=clip password='{quoted}' sslmode=maybe"),
        format!("host=127.0.0.1 port={port} user=clip password='{quoted}' bogus"),
        format!("host=127.0.0.1 port={port} user=clip password={password} sslmode=disable"),
    ]
}

/// Everything a user or an operator could see about an attempt with `url`.
fn everything_said(rt: &tokio::runtime::Runtime, url: &str) -> String {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let mut said = vec![redact(url)];
    match PgOptions::parse(url) {
        Ok(options) => said.push(format!("{options:?}")),
        Err(e) => said.push(format!("{e} {e:?}")),
    }
    rt.block_on(async {
        match postgres::connect(url, config(1)).await {
            Ok(pool) => said.push(format!("{pool:?}")),
            Err(e) => said.push(format!("{e} {e:?} {e:#?}")),
        }
        if let Ok(pool) = postgres::connect_lazy(url, config(1)) {
            let e = pool
                .execute(async |c| c.execute("SELECT 1", &[]).await)
                .await
                .map(|_| ());
            said.push(format!("{e:?} {pool:?}"));
            if let Err(e) = e {
                said.push(e.to_string());
            }
            if let Some(e) = pool.last_connect_error() {
                said.push(format!("{e} {e:?}"));
            }
        }
    });
    said.push(logs.text());
    said.join("\n")
}

#[test]
fn a_password_never_appears_in_any_message() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // One server for every case: attempts reach a real authentication failure.
    let pg = rt.block_on(LocalPostgres::start()).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&"[a-zA-Z0-9/?@#%: ]{3,16}", |body| {
        // A fixed prefix makes a chance match with the rest of the text impossible.
        let password = format!("Zq{body}");
        for url in connection_strings(&password, pg.port()) {
            let said = everything_said(&rt, &url);
            if said.contains(&password) {
                return Err(TestCaseError::fail(format!(
                    "{password:?} appears when connecting with {url:?}:\n{said}"
                )));
            }
        }
        Ok(())
    });
    drop(pg);
    if let Err(e) = result {
        panic!("{e}");
    }
}
