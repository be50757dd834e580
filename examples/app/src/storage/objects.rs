//! The `object_store` backend: a directory (`file:///dir`), S3 and compatibles (`s3://`),
//! GCS (`gs://`) or Azure (`az://`). Uploads go up as multipart uploads (parts of 5 MiB
//! in flight while the body still streams in); reads are ranged GETs.

use std::ops::RangeInclusive;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};

use super::{ByteStream, Location, Stored, StoredFile, Tally, UploadStream};
use crate::Error;

/// Parts uploaded at once per file.
const PARTS_IN_FLIGHT: usize = 4;

/// Files in an object store.
#[derive(Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("url", &self.url)
            .finish()
    }
}

fn storage_error(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { path, .. } => {
            Error::NotFound(format!("stored file {path}"))
        }
        other => Error::Storage(other.to_string()),
    }
}

impl ObjectBlobs {
    /// Opens the store `url` names, with credentials from the provider's usual variables,
    /// and checks that it answers (a listing), so a wrong URL stops start-up.
    pub(super) async fn connect(url: &url::Url) -> Result<Self, Error> {
        let bad = |reason: String| Error::config("STORAGE_URL", Some(url.to_string()), reason);
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| bad("not a local directory".into()))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = std::env::vars().filter_map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            (k.starts_with("aws_") || k.starts_with("google_") || k.starts_with("azure_"))
                .then_some((k, v))
        });
        let (store, prefix) = object_store::parse_url_opts(url, options)
            .map_err(|e| bad(format!("cannot open the store: {e}")))?;
        let store: Arc<dyn ObjectStore> = Arc::from(store);
        store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| bad(format!("the store does not answer: {e}")))?;
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        Ok(Self {
            store,
            prefix,
            url: shown.to_string(),
        })
    }

    pub(super) fn describe(&self) -> String {
        self.url.clone()
    }

    fn path(&self, key: &str) -> Path {
        key.split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |path, part| path.child(part))
    }

    pub(super) async fn put(
        &self,
        key: &str,
        mut body: UploadStream<'_>,
        limit: u64,
    ) -> Result<Stored, Error> {
        let path = self.path(key);
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(storage_error)?;
        let mut writer = WriteMultipart::new(upload);
        let mut tally = Tally::new(limit);
        let written: Result<(), Error> = async {
            while let Some(bytes) = body.try_next().await? {
                tally.add(&bytes)?;
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(storage_error)?;
                writer.put(bytes);
            }
            Ok(())
        }
        .await;
        match written {
            Ok(()) => {
                writer.finish().await.map_err(storage_error)?;
                Ok(tally.finish())
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key, error = %abort, "could not abort a failed upload");
                }
                Err(e)
            }
        }
    }

    pub(super) async fn open(&self, key: &str) -> Result<StoredFile, Error> {
        let path = self.path(key);
        let meta = self.store.head(&path).await.map_err(storage_error)?;
        Ok(StoredFile {
            size: meta.size,
            location: Location::Object { path },
        })
    }

    pub(super) async fn read(
        &self,
        path: &Path,
        range: RangeInclusive<u64>,
    ) -> Result<ByteStream, Error> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(*range.start()..*range.end() + 1)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(path, options)
            .await
            .map_err(storage_error)?;
        Ok(result.into_stream().map_err(storage_error).boxed())
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), Error> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<(), Error> {
        let prefix = self.path(prefix);
        let locations = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(storage_error)?;
        Ok(())
    }
}
