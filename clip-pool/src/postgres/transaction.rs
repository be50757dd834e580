//! A transaction on a pooled connection that keeps its statement cache: `c.begin()`, the
//! same cached `query*` / `execute`, then `commit()`. Dropped without a commit (an error
//! returned with `?`), it is rolled back by the pool before the next borrower.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use super::connection::{PgConnection, PgError};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// An open transaction, from [`PgConnection::begin`].
///
/// Not committed when dropped: the pool sends the `ROLLBACK` (the drop itself cannot
/// wait for the server). As in PostgreSQL, a statement that failed inside the transaction
/// aborts it: later statements fail, and `commit` then rolls back.
pub struct PgTransaction<'c> {
    conn: &'c PgConnection,
}

impl<'c> PgTransaction<'c> {
    pub(super) fn new(conn: &'c mut PgConnection) -> Self {
        Self { conn }
    }

    /// All rows of `sql` (a cached statement).
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        self.conn.query(sql, params).await
    }

    /// Exactly one row of `sql` (an error for zero or several).
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        self.conn.query_one(sql, params).await
    }

    /// At most one row of `sql`.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        self.conn.query_opt(sql, params).await
    }

    /// Runs `sql` and returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        self.conn.execute(sql, params).await
    }

    /// The cached statement for `sql`.
    pub async fn prepare_cached(&self, sql: &str) -> Result<Statement, PgError> {
        self.conn.prepare_cached(sql).await
    }

    /// Commits. If a statement failed earlier in the transaction, PostgreSQL rolls back
    /// instead (and says so only through that earlier error).
    pub async fn commit(self) -> Result<(), PgError> {
        self.conn.simple("COMMIT").await
    }

    /// Rolls back now rather than when the pool gets the connection back.
    pub async fn rollback(self) -> Result<(), PgError> {
        self.conn.simple("ROLLBACK").await
    }
}

impl std::fmt::Debug for PgTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction").finish_non_exhaustive()
    }
}
