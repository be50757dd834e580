//! PostgreSQL between borrowers and at the end: roll back what a borrower left open (or
//! reset the whole session), and, when a connection is closed while a statement of a call cut
//! short still runs, ask the server to cancel it and keep counting the connection until the
//! server has let go of it.

use std::any::Any;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::connection::PgConnection;
use super::session::Tx;
use crate::ResetPolicy;
use crate::release::{BoxFuture, Release, Slot};

/// The session reset of `DB_RESET=full`: what `DISCARD ALL` does but `DEALLOCATE ALL`, which
/// would also drop tokio-postgres' own type-lookup statements (it cannot prepare them again,
/// and queries on enum or composite types would fail). The statement cache is cleared
/// instead (its statements are closed), and statements made with SQL `PREPARE` deallocated.
/// Npgsql resets the same way for the same reason. Every part may run in one round trip.
const FULL_RESET: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
    UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; \
    DISCARD SEQUENCES";

/// Whether the session is inside a transaction block: a statement that is not the first of
/// its transaction. PostgreSQL documents that `statement_timestamp()` equals
/// `transaction_timestamp()` only during the first command of a transaction; this one goes
/// over the simple protocol, one message, so outside a block it is that first command.
const IN_TRANSACTION: &str = "SELECT pg_catalog.now() <> pg_catalog.statement_timestamp()";

/// How often a cancel request is repeated while the server has not let the connection go:
/// a request that arrived before the statement started is ignored by the server.
const CANCEL_REPEAT: Duration = Duration::from_millis(500);

/// How long a backend may take to exit once its socket is closed (it stays listed in
/// `pg_stat_activity` meanwhile): the slot is held that much longer, so a replacement does
/// not open before it is gone.
const BACKEND_EXIT: Duration = Duration::from_millis(20);

pub(crate) struct PgRelease {
    pub policy: ResetPolicy,
    /// How long a closing connection may take to wind down before its socket is dropped.
    pub patience: Duration,
}

fn pg<C: 'static>(conn: &C) -> Option<&PgConnection> {
    (conn as &dyn Any).downcast_ref()
}

fn pg_mut<C: 'static>(conn: &mut C) -> Option<&mut PgConnection> {
    (conn as &mut dyn Any).downcast_mut()
}

impl<C: Send + 'static> Release<C> for PgRelease {
    fn needs_reset(&self, conn: &C) -> bool {
        pg(conn).is_some_and(|c| self.policy == ResetPolicy::Full || c.session.dirty())
    }

    fn reset<'a>(&'a self, conn: &'a mut C) -> BoxFuture<'a, bool> {
        let policy = self.policy;
        Box::pin(async move {
            match pg_mut(conn) {
                Some(c) => reset(c, policy).await.is_ok(),
                None => true,
            }
        })
    }

    fn is_broken(&self, conn: &C) -> bool {
        pg(conn).is_some_and(PgConnection::is_broken)
    }

    fn close(&self, conn: Box<C>, interrupted: bool, slot: Slot) {
        let Ok(conn) = (conn as Box<dyn Any>).downcast::<PgConnection>() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the runtime is gone, and its tasks with it
        };
        runtime.spawn(wind_down(*conn, interrupted, self.patience, slot));
    }
}

/// Brings the session back to what a new borrower expects; an error means the connection
/// cannot be trusted.
async fn reset(c: &mut PgConnection, policy: ResetPolicy) -> Result<(), tokio_postgres::Error> {
    let client = c.own_client();
    let in_transaction = match c.session.tx() {
        Tx::Open => true,
        Tx::Idle if !c.session.raw() => false,
        _ => in_transaction(client).await?,
    };
    if in_transaction {
        client.batch_execute("ROLLBACK").await?;
    }
    if policy == ResetPolicy::Full {
        if c.session.sql_prepared() {
            deallocate_sql_prepared(client).await?;
        }
        client.batch_execute(FULL_RESET).await?;
        c.forget_statements();
    }
    c.session.clean();
    Ok(())
}

async fn in_transaction(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    match client.simple_query(IN_TRANSACTION).await {
        Ok(messages) => Ok(messages.iter().any(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0) == Some("t"),
            _ => false,
        })),
        // An aborted transaction refuses every statement: that answers the question too.
        Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Statements a borrower prepared with SQL `PREPARE` (the protocol-level ones of the
/// statement cache are closed by dropping them).
async fn deallocate_sql_prepared(
    client: &tokio_postgres::Client,
) -> Result<(), tokio_postgres::Error> {
    let rows = client
        .simple_query("SELECT quote_ident(name) FROM pg_prepared_statements WHERE from_sql")
        .await?;
    for message in rows {
        if let SimpleQueryMessage::Row(row) = message
            && let Some(name) = row.get(0)
        {
            client.batch_execute(&format!("DEALLOCATE {name}")).await?;
        }
    }
    Ok(())
}

/// Closes a connection the pool gave up: a cancel request first if a statement of a call
/// cut short may still run (so it stops holding locks and a backend), then the client goes
/// and its I/O task sends `Terminate` once the server has answered what was pending. The
/// pool's slot is held until that task ends, or `patience` runs out (then the socket is
/// dropped).
async fn wind_down(mut conn: PgConnection, interrupted: bool, patience: Duration, slot: Slot) {
    let token = interrupted.then(|| conn.own_client().cancel_token());
    let tls = conn.link.tls.clone();
    let Some(mut driver) = conn.link.driver.take() else {
        return drop((conn, slot));
    };
    drop(conn);
    let give_up = Instant::now() + patience;
    loop {
        if let Some(token) = &token {
            let sent = match &tls {
                Some(tls) => {
                    tokio::time::timeout_at(give_up.into(), token.cancel_query(tls.clone())).await
                }
                None => tokio::time::timeout_at(give_up.into(), token.cancel_query(NoTls)).await,
            };
            if let Ok(Err(e)) = sent {
                tracing::debug!(error = %e, "cancel request failed");
            }
        }
        let wait = CANCEL_REPEAT.min(give_up.saturating_duration_since(Instant::now()));
        if tokio::time::timeout(wait, &mut driver).await.is_ok() {
            tokio::time::sleep(BACKEND_EXIT).await;
            break;
        }
        if Instant::now() >= give_up {
            tracing::debug!(
                ?patience,
                "closing connection did not wind down: socket dropped"
            );
            driver.abort();
            break;
        }
    }
    drop(slot);
}
