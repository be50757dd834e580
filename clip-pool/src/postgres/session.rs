//! What a borrower may have left in its session, tracked without a round trip: whether a
//! transaction is open (from the statements the connection's own methods sent), and whether
//! the raw client was used (then nothing is known). The reset between borrowers reads it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

/// The transaction state as far as the connection's own methods have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Tx {
    /// Outside any transaction block.
    Idle = 0,
    /// A transaction block is open (or aborted): a `ROLLBACK` ends it.
    Open = 1,
    /// A statement changed it in a way not followed here: ask the server.
    Unknown = 2,
}

/// Session state a reset may have to clear, updated with relaxed atomics (the shared lane
/// uses a connection from several calls at once).
#[derive(Default)]
pub(crate) struct Session {
    tx: AtomicU8,
    /// The raw client was reached (`Deref`, `client()`): any statement may have run.
    raw: AtomicBool,
    /// A statement prepared with SQL `PREPARE` may exist (the full reset deallocates those).
    sql_prepared: AtomicBool,
}

impl Session {
    pub fn tx(&self) -> Tx {
        match self.tx.load(Relaxed) {
            0 => Tx::Idle,
            1 => Tx::Open,
            _ => Tx::Unknown,
        }
    }

    pub fn set_tx(&self, tx: Tx) {
        self.tx.store(tx as u8, Relaxed);
    }

    pub fn touched_raw(&self) {
        // A load first: the flag is usually set already, and a store would dirty the line.
        if !self.raw.load(Relaxed) {
            self.raw.store(true, Relaxed);
        }
    }

    pub fn raw(&self) -> bool {
        self.raw.load(Relaxed)
    }

    pub fn sql_prepared(&self) -> bool {
        self.sql_prepared.load(Relaxed) || self.raw()
    }

    /// Whether the transaction part needs attention before the next borrower.
    pub fn dirty(&self) -> bool {
        self.tx.load(Relaxed) != Tx::Idle as u8 || self.raw()
    }

    /// After a reset: nothing left.
    pub fn clean(&self) {
        self.set_tx(Tx::Idle);
        self.raw.store(false, Relaxed);
        self.sql_prepared.store(false, Relaxed);
    }

    /// Follows the effect of a statement sent through the connection's own methods.
    pub fn note(&self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Begins => self.set_tx(Tx::Open),
            Effect::Ends => self.set_tx(Tx::Idle),
            Effect::Unknown => self.set_tx(Tx::Unknown),
            Effect::Prepares => self.sql_prepared.store(true, Relaxed),
        }
    }
}

/// What a statement does to the session's transaction (or prepared statements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    None,
    /// `BEGIN`, `START TRANSACTION`, `COMMIT AND CHAIN`: a block is open afterwards.
    Begins,
    /// `COMMIT`, `END`, `ROLLBACK`, `ABORT`, `PREPARE TRANSACTION`: none is open afterwards.
    Ends,
    /// A transaction statement whose effect is not followed (a comment hides the keyword).
    Unknown,
    /// SQL `PREPARE name AS ...`.
    Prepares,
}

/// The effect of `sql`, from its first words (cheap: this runs once per statement text).
pub(crate) fn effect(sql: &str) -> Effect {
    let mut words = words(sql);
    let Some(first) = words.next() else {
        return Effect::Unknown; // only comments: nothing known
    };
    let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    match first {
        w if is(w, "BEGIN") || is(w, "START") => Effect::Begins,
        w if is(w, "COMMIT") || is(w, "END") || is(w, "ROLLBACK") || is(w, "ABORT") => {
            let rest: Vec<&str> = words.collect();
            if rest.iter().any(|w| is(w, "CHAIN")) && !rest.iter().any(|w| is(w, "NO")) {
                Effect::Begins
            } else if rest.iter().any(|w| is(w, "TO")) {
                Effect::None // ROLLBACK TO SAVEPOINT: the block stays as it was
            } else {
                Effect::Ends
            }
        }
        w if is(w, "PREPARE") => match words.next() {
            Some(w) if is(w, "TRANSACTION") => Effect::Ends,
            _ => Effect::Prepares,
        },
        _ => Effect::None,
    }
}

/// The words of `sql`, comments and punctuation skipped (`--` to the end of the line,
/// nestable `/* */`).
fn words(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    std::iter::from_fn(move || {
        loop {
            rest = rest
                .trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '/');
            if let Some(after) = rest.strip_prefix("--") {
                rest = after.find('\n').map_or("", |i| &after[i..]);
            } else if rest.starts_with("/*") {
                let mut depth = 0;
                let mut end = rest.len();
                let bytes = rest.as_bytes();
                let mut i = 0;
                while i + 1 < bytes.len() {
                    match (bytes[i], bytes[i + 1]) {
                        (b'/', b'*') => {
                            depth += 1;
                            i += 2;
                        }
                        (b'*', b'/') => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                end = i;
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
                rest = &rest[end..];
            } else if rest.starts_with(['-', '/']) {
                rest = &rest[1..];
            } else {
                break;
            }
        }
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_statements_are_recognised_through_case_and_comments() {
        for (sql, want) in [
            ("SELECT 1", Effect::None),
            ("  begin", Effect::Begins),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", Effect::Begins),
            ("start transaction read only", Effect::Begins),
            ("/* app=x */ BEGIN", Effect::Begins),
            ("-- note\nCOMMIT", Effect::Ends),
            ("/* a /* nested */ b */ rollback", Effect::Ends),
            ("END", Effect::Ends),
            ("abort", Effect::Ends),
            ("COMMIT AND CHAIN", Effect::Begins),
            ("COMMIT AND NO CHAIN", Effect::Ends),
            ("ROLLBACK TO SAVEPOINT a", Effect::None),
            ("rollback to a", Effect::None),
            ("PREPARE TRANSACTION 'x'", Effect::Ends),
            ("PREPARE q AS SELECT 1", Effect::Prepares),
            ("SAVEPOINT a", Effect::None),
            ("SET search_path = x", Effect::None),
            ("SELECT 'BEGIN'", Effect::None),
            ("UPDATE t SET n = n - 1", Effect::None),
            ("/* only a comment */", Effect::Unknown),
            ("", Effect::Unknown),
        ] {
            assert_eq!(effect(sql), want, "{sql:?}");
        }
    }
}
