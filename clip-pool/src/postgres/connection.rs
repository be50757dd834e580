//! The connection a closure receives: a `tokio_postgres::Client` (through `Deref`) whose
//! `query*` / `execute` methods reuse prepared statements per connection, or send unnamed
//! statements when a transaction-mode pooler sits in between; they also follow the session's
//! transaction state and notice errors that break the connection.

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::error::{Severity, SqlState};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::options::StatementMode;
use super::session::{Effect, Session, Tx, effect};
use super::transaction::PgTransaction;

/// A query error, with advice when the cause is recognisable.
// The driver's error is described in the message, so it is not also a `source` (one message
// per failure); `code()`, `as_db_error()` and `into_inner()` reach it.
#[derive(Debug, thiserror::Error)]
#[error("{}{}", describe(driver), hint.map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct PgError {
    // Not named `source`: thiserror would make it the error's source.
    driver: tokio_postgres::Error,
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

const NO_ANSWER_HINT: &str = "the server did not answer within DB_STATEMENT_TIMEOUT + 1 s: \
    the connection was closed";

const POOLER_HINT: &str = "named prepared statements do not survive a transaction-mode pooler \
    (pgbouncer, Supavisor on port 6543): add pgbouncer=true to the database URL to use unnamed \
    statements";

impl PgError {
    /// The SQLSTATE, for errors the server sent.
    pub fn code(&self) -> Option<&SqlState> {
        self.driver.code()
    }

    /// The server's error, with message, detail and position.
    pub fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        self.driver.as_db_error()
    }

    /// Advice on what to change, when the cause is recognisable.
    pub fn hint(&self) -> Option<&'static str> {
        self.hint
    }

    /// The tokio-postgres error.
    pub fn into_inner(self) -> tokio_postgres::Error {
        self.driver
    }

    /// A statement the server did not answer in time (`DB_STATEMENT_TIMEOUT` + 1 s).
    fn no_answer() -> Self {
        Self {
            // tokio-postgres' own "timeout waiting for server", as its blocking client uses.
            driver: tokio_postgres::Error::__private_api_timeout(),
            hint: Some(NO_ANSWER_HINT),
        }
    }
}

/// Whether `e` leaves the connection unusable: closed, an I/O failure, a `FATAL` from the
/// server (shutdown, terminated backend), a connection exception (class 08), or, on a pool
/// that writes, SQLSTATE 25006: the server became a read-only standby (a demoted primary).
fn breaks_connection(e: &tokio_postgres::Error, evict_read_only: bool) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            matches!(
                db.parsed_severity(),
                Some(Severity::Fatal | Severity::Panic)
            ) || db.code().code().starts_with("08")
                || (evict_read_only && *db.code() == SqlState::READ_ONLY_SQL_TRANSACTION)
        }
        None => std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>()),
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(driver: tokio_postgres::Error) -> Self {
        Self { driver, hint: None }
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

/// FNV-1a: the statement cache is looked up on every call with the SQL text as its key; the
/// keys are the program's own strings (no attacker chooses them), so the DoS resistance of
/// the default SipHash buys nothing, and FNV is several times cheaper on short texts.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// Prepared statements of one connection, oldest evicted first (generic for its tests), each
/// with the effect of its text on the session.
struct StatementCache<S = (Statement, Effect)> {
    map: HashMap<String, S, FnvBuild>,
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

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// A pooled PostgreSQL connection.
///
/// Derefs to [`tokio_postgres::Client`] for everything (COPY, simple queries, custom
/// statements); its own `query`, `query_one`, `query_opt` and `execute` take SQL text and
/// cost one round trip once the statement is cached, and [`PgConnection::begin`] opens a
/// transaction that keeps using them. They take `&self` (but `begin`), so closures of
/// [`crate::Pool::execute_shared`] use the cache too.
///
/// Between borrowers the pool rolls back a transaction left open; that costs nothing after a
/// closure that used only these methods (they follow the transaction state), and one round
/// trip after a closure that reached the raw client, whose statements are not seen.
pub struct PgConnection {
    client: Client,
    /// Locked only for lookups and inserts, never across an await: shared calls use it too.
    cache: Mutex<StatementCache>,
    mode: StatementMode,
    param_types: Arc<ParamTypes>,
    pub(crate) session: Session,
    /// Set by an error that leaves the connection unusable.
    broken: AtomicBool,
    limits: Limits,
    pub(crate) link: Link,
}

/// Awaits a statement of the connection, bounded in time when the pool has a statement
/// timeout: `None` when the server did not answer in time. A macro rather than a function
/// taking the future: that would hold the (large) statement future twice, as an argument and
/// as what it awaits, and wrap every poll.
macro_rules! bounded {
    ($conn:expr, $statement:expr) => {
        match $conn.limits.answer_within {
            None => Some($statement.await),
            Some(limit) => tokio::time::timeout(limit, $statement).await.ok(),
        }
    };
}

/// Per-pool limits a connection applies to its own statements.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    /// A statement not answered within this fails and breaks the connection.
    pub answer_within: Option<Duration>,
    /// SQLSTATE 25006 (read-only transaction) breaks the connection: a write pool whose
    /// server was demoted must reconnect (to the new primary).
    pub evict_read_only: bool,
}

/// What closing the connection needs: its I/O task and the TLS it was opened with (a cancel
/// request goes over the same).
pub(crate) struct Link {
    pub driver: Option<tokio::task::JoinHandle<()>>,
    pub tls: Option<MakeRustlsConnect>,
}

impl Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Whatever runs through the raw client is not followed: the next reset asks.
        self.session.touched_raw();
        &self.client
    }
}

impl DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        self.session.touched_raw();
        &mut self.client
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgConnection {
    pub(crate) fn new(
        client: Client,
        mode: StatementMode,
        param_types: Arc<ParamTypes>,
        limits: Limits,
        link: Link,
    ) -> Self {
        let capacity = match mode {
            StatementMode::Cached { capacity } => capacity,
            StatementMode::TransactionPooler => 0,
        };
        Self {
            client,
            cache: Mutex::new(StatementCache {
                map: HashMap::with_capacity_and_hasher(capacity.min(64), FnvBuild::default()),
                order: VecDeque::new(),
                capacity,
            }),
            mode,
            param_types,
            session: Session::default(),
            broken: AtomicBool::new(false),
            limits,
            link,
        }
    }

    /// The client itself, for its `&str` methods (which prepare anew on every call). What
    /// runs through it is not followed: the pool checks the transaction state afterwards
    /// (one round trip).
    pub fn client(&self) -> &Client {
        self.session.touched_raw();
        &self.client
    }

    /// The raw client, for the pool's own statements (not counted as the borrower's).
    pub(crate) fn own_client(&self) -> &Client {
        &self.client
    }

    /// How this connection sends statements.
    pub fn statement_mode(&self) -> StatementMode {
        self.mode
    }

    /// Whether an error has left this connection unusable (it will be closed).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Relaxed) || self.client.is_closed()
    }

    /// Opens a transaction; its `query*` / `execute` use this connection's statement cache.
    /// Commit it with [`PgTransaction::commit`]; if it is dropped (an error returned with
    /// `?`), the pool rolls it back before the next borrower.
    pub async fn begin(&mut self) -> Result<PgTransaction<'_>, PgError> {
        self.simple("BEGIN").await?;
        Ok(PgTransaction::new(self))
    }

    /// A statement without parameters, over the simple protocol (one round trip, no
    /// prepare), followed like the cached ones.
    pub(crate) async fn simple(&self, sql: &str) -> Result<(), PgError> {
        let effect = effect(sql);
        self.before(effect);
        let outcome = bounded!(self, self.client.batch_execute(sql));
        self.after(sql, effect, outcome)
    }

    /// Before one of the borrower's statements is sent.
    fn before(&self, effect: Effect) {
        if effect == Effect::Begins {
            // Before it is sent: if the call is cut short now, a rollback is still due.
            self.session.set_tx(Tx::Open);
        }
    }

    /// After one of the borrower's statements: follows its effect on the transaction state
    /// and notes errors (and silence) that break the connection.
    fn after<T>(
        &self,
        sql: &str,
        effect: Effect,
        outcome: Option<Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        match outcome {
            None => {
                self.broken.store(true, Relaxed);
                Err(PgError::no_answer())
            }
            Some(Ok(v)) => {
                self.session.note(effect);
                Ok(v)
            }
            Some(Err(e)) => {
                if e.as_db_error().is_some() && effect != Effect::Begins {
                    // The server ran it: a failed COMMIT still ends the transaction.
                    self.session.note(effect);
                }
                Err(self.explain(sql, e))
            }
        }
    }

    /// The statement for `sql`, prepared once per connection.
    pub async fn prepare_cached(&self, sql: &str) -> Result<Statement, PgError> {
        self.prepare_entry(sql).await.map(|(s, _)| s)
    }

    /// The cached statement for `sql` and its effect on the session.
    async fn prepare_entry(&self, sql: &str) -> Result<(Statement, Effect), PgError> {
        if let Some(entry) = self.cache.lock().ok().and_then(|c| c.map.get(sql).cloned()) {
            return Ok(entry);
        }
        // Boxed: a prepare's future is large, and every call's would carry it otherwise.
        Box::pin(self.prepare_uncached(sql)).await
    }

    async fn prepare_uncached(&self, sql: &str) -> Result<(Statement, Effect), PgError> {
        let outcome = bounded!(self, self.client.prepare(sql));
        let statement = self.after(sql, Effect::None, outcome)?;
        let entry = (statement, effect(sql));
        if let Ok(mut cache) = self.cache.lock()
            && cache.capacity > 0
        {
            cache.insert(sql, entry.clone());
        }
        Ok(entry)
    }

    /// All rows of `sql`.
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let (s, effect) = self.prepare_entry(sql).await?;
                self.before(effect);
                let outcome = bounded!(self, self.client.query(&s, params));
                self.after(sql, effect, outcome)
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                let effect = effect(sql);
                self.before(effect);
                let outcome = bounded!(self, self.client.query_typed(sql, &typed));
                self.after(sql, effect, outcome)
            }
        }
    }

    /// Exactly one row of `sql` (an error for zero or several).
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let (s, effect) = self.prepare_entry(sql).await?;
                self.before(effect);
                let outcome = bounded!(self, self.client.query_one(&s, params));
                self.after(sql, effect, outcome)
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                let effect = effect(sql);
                self.before(effect);
                let outcome = bounded!(self, self.client.query_typed_one(sql, &typed));
                self.after(sql, effect, outcome)
            }
        }
    }

    /// At most one row of `sql`.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let (s, effect) = self.prepare_entry(sql).await?;
                self.before(effect);
                let outcome = bounded!(self, self.client.query_opt(&s, params));
                self.after(sql, effect, outcome)
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                let effect = effect(sql);
                self.before(effect);
                let outcome = bounded!(self, self.client.query_typed_opt(sql, &typed));
                self.after(sql, effect, outcome)
            }
        }
    }

    /// Runs `sql` and returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        match self.mode {
            StatementMode::Cached { .. } => {
                let (s, effect) = self.prepare_entry(sql).await?;
                self.before(effect);
                let outcome = bounded!(self, self.client.execute(&s, params));
                self.after(sql, effect, outcome)
            }
            StatementMode::TransactionPooler => {
                let typed = self.typed(sql, params).await?;
                let effect = effect(sql);
                self.before(effect);
                let outcome = bounded!(self, self.client.execute_typed(sql, &typed));
                self.after(sql, effect, outcome)
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
            let outcome = bounded!(self, self.client.prepare(sql));
            match self.after(sql, Effect::None, outcome) {
                Ok(statement) => return Ok(statement.params().into()),
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_PSTATEMENT) && attempts < 3 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Adds the pooler hint to the errors a transaction-mode pooler causes, and forgets
    /// the statement so the next call prepares it again. A schema change also breaks a
    /// cached statement ("cached plan must not change result type", after `ALTER TABLE`
    /// under a `SELECT *`): forgotten too, or it would fail on this connection until evicted.
    fn explain(&self, sql: &str, source: tokio_postgres::Error) -> PgError {
        if breaks_connection(&source, self.limits.evict_read_only) {
            self.broken.store(true, Relaxed);
        }
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
        let cached = matches!(self.mode, StatementMode::Cached { .. });
        PgError {
            driver: source,
            hint: (pooler_symptom && cached).then_some(POOLER_HINT),
        }
    }
}

impl PgConnection {
    /// Forgets every cached statement: dropping them closes them on the server.
    pub(crate) fn forget_statements(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_prepared_twice_is_cached_once_and_capacity_holds() {
        let mut cache = StatementCache {
            map: HashMap::default(),
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
