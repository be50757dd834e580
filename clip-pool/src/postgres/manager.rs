//! The bb8 manager for PostgreSQL: opens connections with the URL's TLS policy and spawns
//! their I/O tasks; reports a failed attempt as what it is (auth, refused, unknown host,
//! TLS, timeout) with what to do about it.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode as Wire;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connection::{Limits, Link, ParamTypes, PgConnection, describe};
use super::options::{PgOptions, SslMode, StatementMode};
use super::tls;
use crate::{ConfigError, PoolConfig};

/// What kind of failure a connection attempt met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Wrong user or password, or the server's pg_hba.conf refuses us.
    Authentication,
    /// The database named in the URL does not exist.
    UnknownDatabase,
    /// Nothing listens at the host and port.
    Refused,
    /// The host name does not resolve.
    UnknownHost,
    /// The TLS handshake failed (certificate, name, or the server has no TLS).
    Tls,
    /// No answer within the connect timeout.
    Timeout,
    /// The server's `max_connections` is reached.
    TooManyConnections,
    /// The server is starting up, shutting down or in recovery.
    NotReady,
    /// Anything else.
    Other,
}

/// A failed PostgreSQL connection attempt.
// The driver's error is described in the message, so it is not also a `source` (one message
// per failure); `inner()` reaches it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PgConnectError {
    failure: ConnectFailure,
    message: String,
    // Not named `source`: thiserror would make it the error's source.
    driver: tokio_postgres::Error,
}

impl PgConnectError {
    /// The kind of failure.
    pub fn failure(&self) -> ConnectFailure {
        self.failure
    }

    /// The tokio-postgres error.
    pub fn inner(&self) -> &tokio_postgres::Error {
        &self.driver
    }

    fn classify(source: tokio_postgres::Error, target: &str) -> Self {
        use ConnectFailure::*;
        let text = match source.as_db_error() {
            Some(_) => describe(&source),
            None => error_chain(&source),
        };
        let (failure, advice) = match source.code() {
            Some(c) if *c == SqlState::INVALID_PASSWORD => (
                Authentication,
                "check the user and password of the database URL".to_owned(),
            ),
            // pg_hba.conf: no line for this host, user and database, or a `reject` line; its
            // message names the encryption when that is what the line depends on.
            Some(c) if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => (
                Authentication,
                if text.contains("encryption") {
                    "the server's pg_hba.conf decides by encryption: check sslmode in the \
                     database URL"
                        .to_owned()
                } else {
                    "the server's pg_hba.conf does not let this user in from here: check the \
                     user and database of the database URL, or ask the database's owner"
                        .to_owned()
                },
            ),
            Some(c) if *c == SqlState::INVALID_CATALOG_NAME => (
                UnknownDatabase,
                "check the database name of the database URL".to_owned(),
            ),
            Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => (
                TooManyConnections,
                "lower DB_MAX_CONNECTIONS x instances, or put a pooler in front".to_owned(),
            ),
            Some(c) if *c == SqlState::CANNOT_CONNECT_NOW => (
                NotReady,
                "the server is starting or stopping; the pool retries".to_owned(),
            ),
            _ if text.contains("TLS") || text.contains("certificate") || text.contains("tls") => (
                Tls,
                "check sslmode and sslrootcert (the server's CA) in the database URL".to_owned(),
            ),
            _ if text.contains("refused") => (
                Refused,
                format!("is PostgreSQL running and accepting TCP connections at {target}?"),
            ),
            _ if text.contains("lookup")
                || text.contains("resolve")
                || text.contains("not known") =>
            {
                (
                    UnknownHost,
                    format!("the host of {target} does not resolve"),
                )
            }
            _ if text.contains("timed out") || text.contains("timeout") => (
                Timeout,
                format!("{target} did not answer within the connect timeout"),
            ),
            _ => (Other, format!("connecting to {target}")),
        };
        Self {
            failure,
            message: format!("{text} ({advice})"),
            driver: source,
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Opens PostgreSQL connections for a [`crate::Pool`].
pub struct PgManager {
    options: PgOptions,
    tls: Option<MakeRustlsConnect>,
    param_types: Arc<ParamTypes>,
    target: String,
    limits: Limits,
}

impl std::fmt::Debug for PgManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgManager")
            .field("target", &self.target)
            .field("ssl_mode", &self.options.ssl_mode)
            .field("statements", &self.options.statements)
            .finish()
    }
}

impl PgManager {
    /// A manager for a `postgres://` URL or `key=value` string (see [`PgOptions::parse`]).
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Self::from_options(PgOptions::parse(url)?)
    }

    /// A manager for options built or adjusted by hand.
    pub fn from_options(options: PgOptions) -> Result<Self, ConfigError> {
        let tls = tls::connector(&options)?;
        let host = match options.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = options.config.get_ports().first().copied().unwrap_or(5432);
        Ok(Self {
            tls,
            param_types: Arc::default(),
            target: format!("{host}:{port}"),
            options,
            limits: Limits {
                answer_within: None,
                evict_read_only: true,
            },
        })
    }

    /// Takes the pool's settings that act on each connection: the statement timeout (sent
    /// to the server at startup, so a session reset keeps it, and enforced on the client
    /// one second later for a server that does not answer at all).
    pub(crate) fn adapt_to(&mut self, config: &PoolConfig) {
        let Some(timeout) = config.statement_timeout else {
            return;
        };
        self.limits.answer_within = Some(timeout + Duration::from_secs(1));
        // A transaction-mode pooler does not pass startup options on.
        if matches!(self.options.statements, StatementMode::Cached { .. }) {
            let setting = format!("-c statement_timeout={}", timeout.as_millis());
            let options = match self.options.config.get_options() {
                Some(theirs) if !theirs.is_empty() => format!("{theirs} {setting}"),
                _ => setting,
            };
            self.options.config.options(options);
        }
    }

    /// A manager for the replicas of a [`crate::ReplicatedPool`]: a read-only server is
    /// what they are, not a reason to reconnect.
    pub(crate) fn for_replica(mut self) -> Self {
        self.limits.evict_read_only = false;
        self
    }

    /// The options in force.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// One connection as `sslmode` says: `allow` tries plain TCP first and TLS if the server
    /// refuses it; `prefer` tries TLS first and plain TCP if the server has none or the
    /// handshake fails (a certificate that does not verify against `sslrootcert`), as libpq.
    async fn open(&self) -> Result<(tokio_postgres::Client, Link), tokio_postgres::Error> {
        match self.options.ssl_mode {
            SslMode::Disable => self.attempt(Wire::Disable).await,
            SslMode::Allow => match self.attempt(Wire::Disable).await {
                Err(e) if refused_for_encryption(&e) => self.attempt(Wire::Require).await,
                done => done,
            },
            SslMode::Prefer => match self.attempt(Wire::Prefer).await {
                Err(e) if tls_failed(&e) || refused_for_encryption(&e) => {
                    self.attempt(Wire::Disable).await
                }
                done => done,
            },
            _ => self.attempt(Wire::Require).await,
        }
    }

    async fn attempt(
        &self,
        wire: Wire,
    ) -> Result<(tokio_postgres::Client, Link), tokio_postgres::Error> {
        let mut config = self.options.config.clone();
        config.ssl_mode(wire);
        match (&self.tls, wire) {
            (Some(tls), Wire::Prefer | Wire::Require) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                let driver = Some(tokio::spawn(drive(connection)));
                let tls = Some(tls.clone());
                Ok((client, Link { driver, tls }))
            }
            _ => {
                let (client, connection) = config.connect(NoTls).await?;
                let driver = Some(tokio::spawn(drive(connection)));
                Ok((client, Link { driver, tls: None }))
            }
        }
    }
}

/// Runs a connection's I/O until the client is dropped or the server goes away.
async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "postgres connection ended with an error");
    }
}

/// The TLS handshake failed (tokio-postgres has no public error kind to match on; its
/// message for that kind is fixed).
fn tls_failed(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() && e.to_string() == "error performing TLS handshake"
}

/// The server's pg_hba.conf refused this connection (SQLSTATE 28000): with `allow` /
/// `prefer`, the other choice of encryption may be let in.
fn refused_for_encryption(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

impl bb8::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = PgConnectError;

    async fn connect(&self) -> Result<PgConnection, PgConnectError> {
        let (client, link) = self
            .open()
            .await
            .map_err(|e| PgConnectError::classify(e, &self.target))?;
        Ok(PgConnection::new(
            client,
            self.options.statements,
            self.param_types.clone(),
            self.limits,
            link,
        ))
    }

    async fn is_valid(&self, conn: &mut PgConnection) -> Result<(), PgConnectError> {
        conn.own_client()
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| PgConnectError::classify(e, &self.target))
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.is_broken()
    }
}
