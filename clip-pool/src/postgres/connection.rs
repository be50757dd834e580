//! The connection a closure receives: a `tokio_postgres::Client` (through `Deref`) whose
//! `query*` / `execute` methods reuse prepared statements per connection, or send unnamed
//! statements when a transaction-mode pooler sits in between.

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use super::options::StatementMode;

/// A query error, with advice when the cause is recognisable.
#[derive(Debug, thiserror::Error)]
#[error("{}{}", describe(source), hint.map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct PgError {
    #[source]
    source: tokio_postgres::Error,
    hint: Option<&'static str>,
}

/// The server's own words for database errors (tokio-postgres prints only "db error").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(cause) if !e.to_string().contains(&cause.to_string()) => format!("{e}: {cause}"),
            _ => e.to_string(),
        },
    }
}

const POOLER_HINT: &str = "named prepared statements do not survive a transaction-mode pooler \
    (pgbouncer, Supavisor on port 6543): add pgbouncer=true to the database URL to use unnamed \
    statements";

impl PgError {
    /// The SQLSTATE, for errors the server sent.
    pub fn code(&self) -> Option<&SqlState> {
        self.source.code()
    }

    /// The server's error, with message, detail and position.
    pub fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        self.source.as_db_error()
    }

    /// Advice on what to change, when the cause is recognisable.
    pub fn hint(&self) -> Option<&'static str> {
        self.hint
    }

    /// The tokio-postgres error.
    pub fn into_inner(self) -> tokio_postgres::Error {
        self.source
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(source: tokio_postgres::Error) -> Self {
        Self { source, hint: None }
    }
}

/// Parameter types learned per SQL text, shared by a pool's connections (pooler mode).
#[derive(Default)]
pub(crate) struct ParamTypes(Mutex<HashMap<String, Arc<[Type]>>>);

/// Distinct statements whose parameter types are remembered before the memory is reset.
const PARAM_TYPES_CAPACITY: usize = 4096;

impl ParamTypes {
    fn get(&self, sql: &str) -> Option<Arc<[Type]>> {
        self.0.lock().ok()?.get(sql).cloned()
    }

    fn insert(&self, sql: &str, types: Arc<[Type]>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= PARAM_TYPES_CAPACITY {
                map.clear();
            }
            map.insert(sql.to_owned(), types);
        }
    }
}

/// Prepared statements of one connection, oldest evicted first (generic for its tests).
struct StatementCache<S = Statement> {
    map: HashMap<String, S>,
    order: VecDeque<String>,
    capacity: usize,
}

impl<S> StatementCache<S> {
    fn insert(&mut self, sql: &str, statement: S) {
        // Shared calls that missed together prepare the same text twice: keep the first, so
        // `order` never holds a key twice (an eviction would then drop a live statement and
        // let the map outgrow its capacity).
        if self.map.contains_key(sql) {
            return;
        }
        if self.map.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.map.remove(&oldest);
        }
        self.map.insert(sql.to_owned(), statement);
        self.order.push_back(sql.to_owned());
    }

    fn remove(&mut self, sql: &str) {
        if self.map.remove(sql).is_some() {
            self.order.retain(|s| s != sql);
        }
    }
}

/// A pooled PostgreSQL connection.
///
/// Derefs to [`tokio_postgres::Client`] for everything (transactions, COPY, simple
/// queries); its own `query`, `query_one`, `query_opt` and `execute` take SQL text and
/// cost one round trip once the statement is cached. They take `&self`, so closures of
/// [`crate::Pool::execute_shared`] use the cache too.
pub struct PgConnection {
    client: Client,
    /// Locked only for lookups and inserts, never across an await: shared calls use it too.
    cache: Mutex<StatementCache>,
    mode: StatementMode,
    param_types: Arc<ParamTypes>,
}

impl Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgConnection {
    pub(crate) fn new(client: Client, mode: StatementMode, param_types: Arc<ParamTypes>) -> Self {
        let capacity = match mode {
            StatementMode::Cached { capacity } => capacity,
            StatementMode::TransactionPooler => 0,
        };
        Self {
            client,
            cache: Mutex::new(StatementCache {
                map: HashMap::with_capacity(capacity.min(64)),
                order: VecDeque::new(),
                capacity,
            }),
            mode,
            param_types,
        }
    }

    /// The client itself, for its `&str` methods (which prepare anew on every call).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How this connection sends statements.
    pub fn statement_mode(&self) -> StatementMode {
        self.mode
    }

    /// The statement for `sql`, prepared once per connection.
    pub async fn prepare_cached(&self, sql: &str) -> Result<Statement, PgError> {
        if let Some(s) = self.cache.lock().ok().and_then(|c| c.map.get(sql).cloned()) {
            return Ok(s);
        }
        let statement = self
            .client
            .prepare(sql)
            .await
            .map_err(|e| self.explain(sql, e))?;
        if let Ok(mut cache) = self.cache.lock()
            && cache.capacity > 0
        {
            cache.insert(sql, statement.clone());
        }
        Ok(statement)
    }

    /// All rows of `sql`.
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let s = self.prepare_cached(sql).await?;
                self.client
                    .query(&s, params)
                    .await
                    .map_err(|e| self.explain(sql, e))
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                Ok(self.client.query_typed(sql, &typed).await?)
            }
        }
    }

    /// Exactly one row of `sql` (an error for zero or several).
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let s = self.prepare_cached(sql).await?;
                self.client
                    .query_one(&s, params)
                    .await
                    .map_err(|e| self.explain(sql, e))
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                Ok(self.client.query_typed_one(sql, &typed).await?)
            }
        }
    }

    /// At most one row of `sql`.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let s = self.prepare_cached(sql).await?;
                self.client
                    .query_opt(&s, params)
                    .await
                    .map_err(|e| self.explain(sql, e))
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                Ok(self.client.query_typed_opt(sql, &typed).await?)
            }
        }
    }

    /// Runs `sql` and returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let s = self.prepare_cached(sql).await?;
                self.client
                    .execute(&s, params)
                    .await
                    .map_err(|e| self.explain(sql, e))
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                Ok(self.client.execute_typed(sql, &typed).await?)
            }
        }
    }

    /// Pairs each parameter with the type the server expects, learned once per SQL text.
    async fn typed<'a>(
        &self,
        sql: &str,
        params: Params<'a>,
    ) -> Result<Vec<(&'a (dyn ToSql + Sync), Type)>, PgError> {
        let types = match self.param_types.get(sql) {
            Some(t) => t,
            None => {
                let learned = self.learn_param_types(sql).await?;
                self.param_types.insert(sql, learned.clone());
                learned
            }
        };
        // A count mismatch is the server's to report, as it would be without a pooler.
        Ok(params
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, types.get(i).cloned().unwrap_or(Type::UNKNOWN)))
            .collect())
    }

    /// One describe round trip. The statement's name is unique in this process; on a pooled
    /// server connection another process may have used it, so a clash is retried under the
    /// next name. The statement is closed right after.
    async fn learn_param_types(&self, sql: &str) -> Result<Arc<[Type]>, PgError> {
        let mut attempts = 0;
        loop {
            match self.client.prepare(sql).await {
                Ok(statement) => return Ok(statement.params().into()),
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_PSTATEMENT) && attempts < 3 => {
                    attempts += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Adds the pooler hint to the errors a transaction-mode pooler causes, and forgets
    /// the statement so the next call prepares it again. A schema change also breaks a
    /// cached statement ("cached plan must not change result type", after `ALTER TABLE`
    /// under a `SELECT *`): forgotten too, or it would fail on this connection until evicted.
    fn explain(&self, sql: &str, source: tokio_postgres::Error) -> PgError {
        let pooler_symptom = matches!(
            source.code(),
            Some(c) if *c == SqlState::INVALID_SQL_STATEMENT_NAME || *c == SqlState::DUPLICATE_PSTATEMENT
        );
        let stale_plan = source.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED);
        if (pooler_symptom || stale_plan)
            && let Ok(mut cache) = self.cache.lock()
        {
            cache.remove(sql);
        }
        PgError {
            source,
            hint: pooler_symptom.then_some(POOLER_HINT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_prepared_twice_is_cached_once_and_capacity_holds() {
        let mut cache = StatementCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: 2,
        };
        // Two shared calls missed on "a" together and both prepared it.
        cache.insert("a", 1);
        cache.insert("a", 2);
        assert_eq!(cache.map.get("a"), Some(&1));
        assert_eq!(cache.order.len(), 1);
        cache.insert("b", 3);
        cache.insert("c", 4);
        cache.insert("d", 5);
        assert_eq!(cache.map.len(), 2, "{:?}", cache.map);
        assert_eq!(cache.order, ["c", "d"]);
    }
}
