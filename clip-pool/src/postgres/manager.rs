//! The bb8 manager for PostgreSQL: opens connections with the URL's TLS policy and spawns
//! their I/O tasks; reports a failed attempt as what it is (auth, refused, unknown host,
//! TLS, timeout) with what to do about it.

use std::sync::Arc;

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connection::{ParamTypes, PgConnection};
use super::options::PgOptions;
use super::tls;
use crate::ConfigError;

/// What kind of failure a connection attempt met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PgConnectError {
    failure: ConnectFailure,
    message: String,
    #[source]
    source: tokio_postgres::Error,
}

impl PgConnectError {
    /// The kind of failure.
    pub fn failure(&self) -> ConnectFailure {
        self.failure
    }

    /// The tokio-postgres error.
    pub fn inner(&self) -> &tokio_postgres::Error {
        &self.source
    }

    fn classify(source: tokio_postgres::Error, target: &str) -> Self {
        use ConnectFailure::*;
        let text = error_chain(&source);
        let (failure, advice) = match source.code() {
            Some(c)
                if *c == SqlState::INVALID_PASSWORD
                    || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
            {
                (
                    Authentication,
                    "check the user and password of the database URL".to_owned(),
                )
            }
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
            source,
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
        })
    }

    /// The options in force.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    async fn open(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let config = &self.options.config;
        Ok(match &self.tls {
            None => {
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(drive(connection));
                client
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                tokio::spawn(drive(connection));
                client
            }
        })
    }
}

/// Runs a connection's I/O until the client is dropped or the server goes away.
async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "postgres connection ended with an error");
    }
}

impl bb8::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = PgConnectError;

    async fn connect(&self) -> Result<PgConnection, PgConnectError> {
        let client = self
            .open()
            .await
            .map_err(|e| PgConnectError::classify(e, &self.target))?;
        Ok(PgConnection::new(
            client,
            self.options.statements,
            self.param_types.clone(),
        ))
    }

    async fn is_valid(&self, conn: &mut PgConnection) -> Result<(), PgConnectError> {
        conn.simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| PgConnectError::classify(e, &self.target))
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.is_closed()
    }
}
