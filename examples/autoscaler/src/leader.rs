//! One active autoscaler per fleet. The leader holds a lock that its death releases:
//!
//! - a PostgreSQL session-level advisory lock (`pg_try_advisory_lock`) when the autoscaler has
//!   a database URL: the server drops it when the leader's connection ends;
//! - else an exclusive `flock` on a lock file (the local fleet's `autoscaler.lock`): the
//!   kernel drops it when the leader's process ends, however it ends.
//!
//! Any other autoscaler of the fleet stays passive and tries again every second.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// Which lock elects the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSpec {
    /// An advisory lock keyed by `key` in the database at `url`.
    Postgres {
        /// The connection string.
        url: String,
        /// What is hashed into the lock's number (`clip-autoscaler/FLEET`).
        key: String,
    },
    /// An exclusive `flock` on this file.
    File(PathBuf),
}

impl LockSpec {
    /// For `/status`: which lock, without secrets.
    pub fn describe(&self) -> String {
        match self {
            LockSpec::Postgres { key, .. } => format!("postgres advisory lock hashtext('{key}')"),
            LockSpec::File(p) => format!("flock {}", p.display()),
        }
    }

    /// Takes the lock if nobody holds it: `Ok(None)` when another autoscaler leads.
    pub async fn try_acquire(&self) -> Result<Option<Held>, Error> {
        match self {
            LockSpec::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        action: "create",
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|source| Error::Io {
                        action: "open the lock file",
                        path: path.clone(),
                        source,
                    })?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(Held::File(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
                        action: "lock",
                        path: path.clone(),
                        source,
                    }),
                }
            }
            LockSpec::Postgres { url, key } => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| {
                        Error::Lock(format!(
                            "cannot connect to PostgreSQL for the advisory lock: {e}"
                        ))
                    })?;
                let task = tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("leader lock connection ended: {e}");
                    }
                });
                let row = client
                    .query_one("SELECT pg_try_advisory_lock(hashtext($1)::bigint)", &[key])
                    .await
                    .map_err(|e| Error::Lock(format!("pg_try_advisory_lock failed: {e}")))?;
                let got: bool = row.get(0);
                if got {
                    Ok(Some(Held::Postgres { client, task }))
                } else {
                    task.abort();
                    Ok(None)
                }
            }
        }
    }
}

/// A lock this autoscaler holds; dropping it releases it.
#[derive(Debug)]
pub enum Held {
    /// The locked file (closing it unlocks).
    File(File),
    /// The connection holding the advisory lock (closing it unlocks).
    Postgres {
        /// The session.
        client: tokio_postgres::Client,
        /// The task driving its connection.
        task: tokio::task::JoinHandle<()>,
    },
}

impl Held {
    /// Whether the lock is still ours. A file lock lasts as long as the process; an advisory
    /// lock as long as its connection, which is checked with a round trip.
    pub async fn still_held(&self) -> bool {
        match self {
            Held::File(_) => true,
            Held::Postgres { client, .. } => {
                !client.is_closed()
                    && tokio::time::timeout(Duration::from_secs(5), client.simple_query("SELECT 1"))
                        .await
                        .is_ok_and(|r| r.is_ok())
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Postgres { task, .. } = self {
            task.abort();
        }
    }
}
