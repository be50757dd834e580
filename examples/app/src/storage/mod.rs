//! Where originals and renditions live, behind one interface every instance shares:
//! PostgreSQL by default (no extra service), or any `object_store` backend (`file://`,
//! `s3://`, `gs://`, `az://`) chosen by `STORAGE_URL`.
//!
//! Built for media: [`Storage::put`] consumes a byte stream without holding the whole file
//! in memory, and reads are two steps, [`Storage::open`] (the size) then [`Storage::read`]
//! (a byte range as a stream), so HTTP `Range` requests read only what they serve.

mod objects;
mod postgres;

use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::config::StorageConfig;
use crate::db::Db;

use objects::ObjectBlobs;
use postgres::PgBlobs;

/// A stream of bytes read from storage.
pub type ByteStream = BoxStream<'static, Result<Bytes, Error>>;

/// A stream of bytes to store (it may borrow the request it comes from).
pub type UploadStream<'a> = BoxStream<'a, Result<Bytes, Error>>;

/// What [`Storage::put`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of them, lowercase hex.
    pub sha256: String,
}

/// A stored file found by [`Storage::open`].
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// Its size in bytes.
    pub size: u64,
    location: Location,
}

#[derive(Debug, Clone)]
enum Location {
    Postgres { blob_id: i64 },
    Object { path: object_store::path::Path },
}

/// The storage backend in force. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Chunks in the app's PostgreSQL.
    Postgres(PgBlobs),
    /// An `object_store` backend.
    Objects(ObjectBlobs),
}

impl Storage {
    /// Opens the backend `config` names; a backend that cannot be reached or configured
    /// stops start-up with an error naming `STORAGE_URL`.
    pub async fn open_backend(config: &StorageConfig, db: &Db) -> Result<Self, Error> {
        match config {
            StorageConfig::Postgres => Ok(Storage::Postgres(PgBlobs::new(db.clone()))),
            StorageConfig::ObjectStore(url) => {
                Ok(Storage::Objects(ObjectBlobs::connect(url).await?))
            }
        }
    }

    /// A short description for logs and `/status` (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Storage::Postgres(_) => "postgres".to_owned(),
            Storage::Objects(o) => o.describe(),
        }
    }

    /// Writes `body` under `key` (replacing what was there), refusing more than `limit`
    /// bytes with [`Error::TooLarge`]; a failed or refused write leaves nothing behind.
    pub async fn put(
        &self,
        key: &str,
        body: UploadStream<'_>,
        limit: u64,
    ) -> Result<Stored, Error> {
        match self {
            Storage::Postgres(s) => s.put(key, body, limit).await,
            Storage::Objects(s) => s.put(key, body, limit).await,
        }
    }

    /// Writes bytes already in memory.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<Stored, Error> {
        let limit = bytes.len() as u64;
        self.put(
            key,
            futures_util::stream::once(async { Ok(bytes) }).boxed(),
            limit,
        )
        .await
    }

    /// Finds the file under `key` ([`Error::NotFound`] if there is none).
    pub async fn open(&self, key: &str) -> Result<StoredFile, Error> {
        match self {
            Storage::Postgres(s) => s.open(key).await,
            Storage::Objects(s) => s.open(key).await,
        }
    }

    /// The bytes `range` of an opened file (inclusive, within its size), as a stream.
    pub async fn read(
        &self,
        file: &StoredFile,
        range: RangeInclusive<u64>,
    ) -> Result<ByteStream, Error> {
        if range.start() > range.end() || *range.end() >= file.size {
            return Err(Error::RangeNotSatisfiable { size: file.size });
        }
        match (self, &file.location) {
            (Storage::Postgres(s), Location::Postgres { blob_id }) => Ok(s.read(*blob_id, range)),
            (Storage::Objects(s), Location::Object { path }) => s.read(path, range).await,
            _ => Err(Error::Storage(
                "a file opened by one backend was read from another".into(),
            )),
        }
    }

    /// The whole file under `key` in memory, refused above `limit` bytes (images to decode).
    pub async fn read_all(&self, key: &str, limit: u64) -> Result<Bytes, Error> {
        let file = self.open(key).await?;
        if file.size > limit {
            return Err(Error::TooLarge { limit });
        }
        if file.size == 0 {
            return Ok(Bytes::new());
        }
        let stream = self.read(&file, 0..=file.size - 1).await?;
        let mut out = BytesMut::with_capacity(file.size as usize);
        let mut stream = stream;
        while let Some(chunk) = stream.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// Deletes the file under `key`, if there is one.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        match self {
            Storage::Postgres(s) => s.delete(key).await,
            Storage::Objects(s) => s.delete(key).await,
        }
    }

    /// Deletes every file whose key starts with `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        match self {
            Storage::Postgres(s) => s.delete_prefix(prefix).await,
            Storage::Objects(s) => s.delete_prefix(prefix).await,
        }
    }

    /// Removes what interrupted writes left behind (a process killed mid-upload); returns
    /// how many pieces went. Object stores clean their own incomplete uploads.
    pub async fn sweep(&self) -> Result<u64, Error> {
        match self {
            Storage::Postgres(s) => s.sweep_orphans().await,
            Storage::Objects(_) => Ok(0),
        }
    }
}

/// Counts and hashes the bytes of an upload, refusing them past the limit.
struct Tally {
    size: u64,
    limit: u64,
    hasher: Sha256,
}

impl Tally {
    fn new(limit: u64) -> Self {
        Self {
            size: 0,
            limit,
            hasher: Sha256::new(),
        }
    }

    fn add(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.hasher.update(bytes);
        Ok(())
    }

    fn finish(self) -> Stored {
        Stored {
            size: self.size,
            sha256: hex(&self.hasher.finalize()),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
